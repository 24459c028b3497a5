import {mkdirSync} from 'node:fs'
import {join} from 'node:path'
import type {Context} from '../system/context.js'
import {conflict, environment, invalid, notFound, isKind} from '../common/errors.js'
import {CommandFailed} from '../system/exec.js'
import {parseProcFilesystems, readOnlyMountArgs} from '../images/filesystems.js'
import {HostView} from '../system/host-view.js'
import type {Layout} from '../store/layout.js'
import {FileLock} from '../store/lock.js'
import {attach, detach, ensureDirectory, prepareMountpoint, removeMountpoint, unmount} from '../images/loop-volume.js'
import {type FolderLower, type LowerLayers, lowerInUse, lowerLayers, lowerSource, pinFolders, type SnapshotMount} from './lowers.js'
import type {State, UnionType, VolumeRecord} from '../store/state.js'
import {Undo} from '../common/undo.js'
import {type UnionLayers, unionMountArgs} from './union-mount.js'

/**
 * The host steps of a union volume beyond its upper volume: the upper and work folders on it,
 * the snapshots below it mounted read-only (shared by every union volume that stacks them), and
 * the union mount itself.
 */

export type UnionRecord = VolumeRecord & {type: UnionType; lowers: NonNullable<VolumeRecord['lowers']>}

export const isUnion = (record: VolumeRecord): record is UnionRecord => record.type !== 'loop'

const upperDir = (layout: Layout, name: string) => join(layout.upperMount(name), 'upper')
const workDir = (layout: Layout, name: string) => join(layout.upperMount(name), 'work')

/** The state with `record` as given (one being created is not in the store yet). */
const withRecord = (state: State, record: UnionRecord): State => ({...state, volumes: {...state.volumes, [record.name]: record}})

/** What the union mount of `record` stacks. */
function unionLayers(layout: Layout, state: State, record: UnionRecord): {lowers: LowerLayers; layers: UnionLayers} {
  const lowers = lowerLayers(layout, withRecord(state, record), record.name)
  const upper = layout.upperMount(record.name)
  return {lowers, layers: {lowers: lowers.folders, upper: upperDir(layout, record.name), work: workDir(layout, record.name), xino: join(upper, 'xino')}}
}

/**
 * Refuses (exit 2), before anything is created, layers that cannot be stacked: a layer that
 * appears twice (through the lowers of a union volume's snapshot) or a path the mount options
 * cannot carry.
 */
export function checkUnion(ctx: Context, state: State, record: UnionRecord): void {
  const {layers} = unionLayers(ctx.layout, state, record)
  const twice = layers.lowers.find((folder, index) => layers.lowers.indexOf(folder) !== index)
  if (twice) throw invalid(`${twice} would be stacked twice: it is also a lower layer of a snapshot given as --lower`)
  unionMountArgs(record.type, layers, ctx.layout.mountpoint(record.name))
}

/** Refuses (exit 5) --type aufs on a kernel that has no aufs and cannot load it. */
export async function requireAufs(ctx: Context): Promise<void> {
  if (parseProcFilesystems(ctx.host.procFilesystems()).includes('aufs')) return
  try {
    await ctx.exec.run('modprobe', ['--dry-run', '--quiet', 'aufs'])
    return // the kernel loads it on the first aufs mount
  } catch (error) {
    if (!(error instanceof CommandFailed)) throw error
  }
  throw environment('the running kernel has no aufs: it is not in /proc/filesystems and modprobe cannot load it', 'use --type overlay')
}

/** On a freshly mounted upper volume: the folders overlayfs writes to. */
export async function prepareUpper(ctx: Context, name: string): Promise<void> {
  const dirs = [upperDir(ctx.layout, name), workDir(ctx.layout, name)]
  await ctx.exec.change(['mkdir', '-m', '0755', ...dirs], () => {
    for (const dir of dirs) mkdirSync(dir, {mode: 0o755})
  })
}

/**
 * Mounts the snapshots below the union volume, then the union itself on its mountpoint (the
 * upper volume is mounted already). Idempotent; on failure what it mounted is taken back.
 */
export async function mountUnion(ctx: Context, record: UnionRecord, options: {acceptLowers?: boolean} = {}): Promise<void> {
  const dir = ctx.layout.mountpoint(record.name)
  const toRecord = await withLowersLock(ctx, async () => {
    const view = HostView.read(ctx.host)
    const top = view.mountAt(dir)
    if (top?.fstype === record.type) return []
    if (top) throw conflict(`${top.source} is mounted on ${dir}, the mountpoint of volume "${record.name}"`, `unmount it first (umount ${dir})`)
    const state = ctx.store.read()
    const {lowers, layers} = unionLayers(ctx.layout, state, record)
    const pinned = pinFolders(ctx, state, lowers.hostFolders, {union: record.name, accept: options.acceptLowers})
    const undo = new Undo()
    try {
      for (const mount of lowers.mounts) await mountSnapshot(ctx, mount, view, undo)
      if (!ctx.host.fileInfo(dir)) await prepareMountpoint(ctx, dir, undo)
      // --dry-run shows the folders; the mount itself gets their open handles.
      const stacked = ctx.exec.dryRun ? layers : {...layers, lowers: layers.lowers.map((folder) => pinned.pathOf(folder))}
      await ctx.exec.run('mount', unionMountArgs(record.type, stacked, dir), {mutates: true})
    } catch (error) {
      await undo.run()
      throw error
    } finally {
      pinned.close()
    }
    return pinned.toRecord
  })
  if (toRecord.length > 0) await recordIdentities(ctx, toRecord)
}

/** Folders recorded without their identity (an older cbs), or replaced and accepted: as they were mounted. */
async function recordIdentities(ctx: Context, folders: FolderLower[]): Promise<void> {
  await ctx.store.update((state) => {
    for (const {volume, path, identity} of folders) {
      const lower = state.volumes[volume]?.lowers?.find((each) => each.type === 'directory' && each.path === path)
      if (lower?.type === 'directory') lower.identity = identity
    }
  })
}

/** Unmounts the snapshots below a union volume that no other mounted union volume stacks. */
export async function releaseLowers(ctx: Context, record: UnionRecord): Promise<void> {
  await withLowersLock(ctx, async () => {
    const state = ctx.store.read()
    const view = HostView.read(ctx.host)
    for (const mount of lowerLayers(ctx.layout, withRecord(state, record), record.name).mounts) {
      if (lowerInUse(ctx.layout, state, view, mount.ref, record.name)) continue
      const device = view.deviceOf(mount.image)
      try {
        if (device && view.mountAt(mount.mountpoint)?.source === device) await unmount(ctx, mount.mountpoint, mount.ref)
      } catch (error) {
        // Someone is looking into it (a shell's working folder): leave it for the next release.
        if (isKind(error, 'conflict')) continue
        throw error
      }
      if (device) await detach(ctx, device)
      await removeMountpoint(ctx, mount.mountpoint)
    }
  })
}

/** A snapshot is attached read-only and mounted without journal replay: it is never written. */
async function mountSnapshot(ctx: Context, mount: SnapshotMount, view: HostView, undo: Undo): Promise<void> {
  const attached = view.deviceOf(mount.image)
  if (attached && view.mountAt(mount.mountpoint)?.source === attached) return
  if (!ctx.host.fileInfo(mount.image)) throw notFound(`the image of snapshot ${mount.ref} is missing`, 'run `cbs doctor` to see what happened to it')
  await ensureDirectory(ctx, ctx.layout.lowersDir)
  const device = attached ?? (await attach(ctx, mount.image, undo, {readOnly: true}))
  if (!ctx.host.fileInfo(mount.mountpoint)) await prepareMountpoint(ctx, mount.mountpoint, undo)
  await ctx.exec.run('mount', readOnlyMountArgs(mount.fs, device, mount.mountpoint), {mutates: true})
  undo.push(`unmount ${mount.mountpoint}`, () => unmount(ctx, mount.mountpoint, mount.ref))
}

/**
 * Mounting and releasing shared snapshot mounts is serialised between cbs processes, so that a
 * snapshot is never unmounted between being mounted for a union volume and that volume's mount.
 */
async function withLowersLock<T>(ctx: Context, work: () => Promise<T>): Promise<T> {
  if (ctx.exec.dryRun) return work()
  mkdirSync(ctx.layout.root, {recursive: true, mode: 0o700})
  const release = await new FileLock(ctx.layout.lowersLockFile).acquire()
  try {
    return await work()
  } finally {
    release()
  }
}

/** A lower layer as `inspect --json` shows it. */
export type Lower =
  | {source: string; type: 'snapshot'; volume: string; snapshot: string; image: string; mountpoint: string; mounted: boolean}
  | {source: string; type: 'directory'; path: string; exists: boolean}

export function describeLowers(ctx: Context, record: UnionRecord, view: HostView): Lower[] {
  return record.lowers.map((lower) => {
    const source = lowerSource(lower)
    if (lower.type === 'directory') return {source, type: lower.type, path: lower.path, exists: Boolean(ctx.host.fileInfo(lower.path)?.isDirectory)}
    const mountpoint = ctx.layout.lowerMount(source)
    return {source, ...lower, image: ctx.layout.snapshotImage(lower.volume, lower.snapshot), mountpoint, mounted: view.mountAt(mountpoint) !== undefined}
  })
}
