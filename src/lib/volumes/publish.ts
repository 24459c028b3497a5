import {closeSync, mkdirSync, openSync, rmdirSync, statSync, unlinkSync} from 'node:fs'
import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {CbsError, invalid, noSuchVolume} from '../common/errors.js'
import {HostView} from '../system/host-view.js'
import type {MountEntry} from '../system/mountinfo.js'
import {attach, missingImage, unmount} from '../images/loop-volume.js'
import {validateName} from '../input/names.js'
import {validateHostPath} from '../input/host-paths.js'
import {isUnion} from '../union/union-volume.js'
import {mountVolumes} from './mount.js'

/**
 * Publishing a volume at a path of the host (CSI NodePublishVolume): the filesystem, a bind
 * mount of the volume's mountpoint onto a folder; or the raw device, a bind mount of the loop
 * device onto a file (the volume's own mount taken down first: one writer at a time). Both are
 * idempotent: the same publication again is a no-op, a different one at the same path is refused.
 */
export interface Publication {
  name: string
  target: string
  readOnly: boolean
  /** The loop device itself rather than its filesystem. */
  block: boolean
  /** More options of the bind mount (nosuid, noexec, ...): see MOUNT_FLAGS. */
  options?: string[]
}

/** Options a bind mount may be given; anything else would reach mount(8) unchecked. */
const MOUNT_FLAGS = ['ro', 'rw', 'nosuid', 'nodev', 'noexec', 'noatime', 'nodiratime', 'relatime', 'strictatime']

/** Something else, or the same volume otherwise (read-only, block), is already at the target. */
export class PublishedOtherwise extends CbsError {
  constructor(target: string, what: string) {
    super('conflict', `${target} already has ${what} mounted on it`, 'unpublish it first, or publish at another path')
  }
}

export async function publishVolume(ctx: Context, publication: Publication): Promise<void> {
  const {name, target, readOnly, block, options = []} = publication
  for (const option of options) if (!MOUNT_FLAGS.includes(option)) throw invalid(`mount flag "${option}" is not supported`, `use ${MOUNT_FLAGS.join(', ')}`)
  validateName(name)
  validateHostPath(target, 'target path')
  requireRoot(ctx.host)
  const record = ctx.store.read().volumes[name]
  if (!record) throw noSuchVolume(name)
  if (block && isUnion(record)) throw invalid(`volume "${name}" is a union volume, which has no block device of its own`, 'publish it as a filesystem')
  const source = block ? await rawDevice(ctx, name) : await mountedFolder(ctx, name)
  const view = HostView.read(ctx.host)
  const present = view.mountAt(target)
  if (present) {
    if (sameMount(view, present, source, block) && isReadOnly(present.options) === readOnly) return
    throw new PublishedOtherwise(target, present.source === '' ? 'a mount' : `${present.source} (${present.fstype}, ${isReadOnly(present.options) ? 'ro' : 'rw'})`)
  }
  await makeTarget(ctx, target, block)
  await ctx.exec.run('mount', bindArgs(source, target, readOnly, options), {mutates: true})
}

/** Takes a publication down and removes the folder or file it was made on; nothing there is fine. */
export async function unpublishVolume(ctx: Context, target: string): Promise<void> {
  validateHostPath(target, 'target path')
  requireRoot(ctx.host)
  // A target published twice over (it should not be) is cleared layer by layer.
  while (HostView.read(ctx.host).mountAt(target)) {
    await unmount(ctx, target, target)
    if (ctx.exec.dryRun) break // nothing was taken down: one umount is the plan
  }
  await ctx.exec.change(['rm', '-d', target], () => {
    try {
      if (statSync(target).isDirectory()) rmdirSync(target)
      else unlinkSync(target)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  })
}

/** mount(8) arguments for a bind mount, read-only when asked (util-linux remounts it ro itself). */
export function bindArgs(source: string, target: string, readOnly: boolean, options: string[] = []): string[] {
  const all = [...(readOnly ? ['ro'] : []), ...options.filter((option) => option !== 'ro' && option !== 'rw')]
  return ['--bind', ...(all.length > 0 ? ['-o', all.join(',')] : []), source, target]
}

const isReadOnly = (options: string) => options.split(',').includes('ro')

/** The volume brought up (recovery first, as any mount): its mountpoint. */
async function mountedFolder(ctx: Context, name: string): Promise<string> {
  await mountVolumes(ctx, {names: [name]})
  return ctx.layout.mountpoint(name)
}

/** The volume's loop device, attached, with the volume's own filesystem mount taken down. */
async function rawDevice(ctx: Context, name: string): Promise<string> {
  const image = ctx.layout.image(name)
  if (!ctx.host.fileInfo(image)) throw missingImage(image, name)
  const view = HostView.read(ctx.host)
  const own = ctx.layout.mountpoint(name)
  const device = view.deviceOf(image)
  if (device && view.mountAt(own)?.source === device) await unmount(ctx, own, name)
  const others = device ? view.mountsOf(device).filter((mount) => mount.mountpoint !== own) : []
  if (others.length > 0) throw new PublishedOtherwise(others[0].mountpoint, `volume "${name}"'s filesystem`)
  return device ?? (await attach(ctx, image))
}

/** Whether a mount at the target is the bind this publication makes. */
function sameMount(view: HostView, present: MountEntry, source: string, block: boolean): boolean {
  if (block) return statSync(source).rdev === deviceNodeAt(present.mountpoint)
  const folder = view.mountAt(source)
  return folder !== undefined && folder.device === present.device && folder.fstype === present.fstype
}

/** A bind of a device node shows the devtmpfs: compare the node's own device number instead. */
function deviceNodeAt(path: string): number | undefined {
  try {
    return statSync(path).rdev || undefined
  } catch {
    return undefined
  }
}

/** A folder for a filesystem, an empty file for a device; the parent is the CO's to provide. */
async function makeTarget(ctx: Context, target: string, block: boolean): Promise<void> {
  await ctx.exec.change([block ? 'touch' : 'mkdir', target], () => {
    try {
      if (block) closeSync(openSync(target, 'a', 0o600))
      else mkdirSync(target, {mode: 0o750})
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
  })
}
