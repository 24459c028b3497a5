import {truncateSync} from 'node:fs'
import type {Context} from '../system/context.js'
import {invalid} from '../common/errors.js'
import {CommandFailed} from '../system/exec.js'
import {growCommand, mountArgs, renewIdCommand} from '../images/filesystems.js'
import {copyImage, moveIntoPlace, planCopy, setMode} from '../images/image-copy.js'
import {partialPath} from '../store/layout.js'
import {attach, ensureDirectory, mount, prepareMountpoint, removeImage, unmount} from '../images/loop-volume.js'
import {findSnapshot, formatSnapshotRef, type SnapshotRef} from '../snapshots/snapshot.js'
import {formatSize} from '../input/sizes.js'
import type {CopyMethod, SnapshotRecord, VolumeRecord, VolumeType} from '../store/state.js'
import type {Undo} from '../common/undo.js'
import {isUnion, mountUnion} from '../union/union-volume.js'

/**
 * `cbs volume create NEW --from VOLUME@SNAPSHOT`: a new, independent volume whose image is a
 * copy of the snapshot's (a reflink where the host can), with a filesystem UUID of its own so
 * that it mounts next to its source, grown when --size is larger. A snapshot of a union volume
 * (its upper layer) makes a union volume over the same lower layers.
 */

export interface Clone {
  ref: SnapshotRef
  snapshot: SnapshotRecord
  image: string
  method: CopyMethod
}

export interface CloneRequest {
  sizeBytes?: number
  fs?: string
  type?: VolumeType
  lowers?: string[]
}

/**
 * Checks a clone before anything is created and fills in what the new volume takes from the
 * snapshot (filesystem, size, type, lowers): exit 3 for a missing snapshot, 4 for one not
 * complete, 2 for a smaller size or a different --fs or --type, 5 when the host lacks room.
 */
export function planClone(ctx: Context, ref: SnapshotRef, request: CloneRequest, record: VolumeRecord): Clone {
  const state = ctx.store.read()
  const {record: snapshot, image} = findSnapshot(ctx, ref, state)
  const source = state.volumes[ref.volume]
  const name = formatSnapshotRef(ref)
  if (request.fs !== undefined && request.fs !== snapshot.fs) throw invalid(`--fs ${request.fs}: ${name} is ${snapshot.fs}`, 'leave --fs out: a clone keeps the filesystem of its snapshot')
  if (request.type !== undefined && request.type !== source.type) throw invalid(`--type ${request.type}: ${name} is a snapshot of a ${source.type} volume`, 'leave --type out')
  if (request.lowers?.length) throw invalid('--lower and --from do not go together', `a clone of ${name} stacks the lower layers of "${ref.volume}"`)
  if (request.sizeBytes !== undefined && request.sizeBytes < snapshot.sizeBytes) {
    throw invalid(`--size ${formatSize(request.sizeBytes)} is smaller than ${name} (${formatSize(snapshot.sizeBytes)})`, 'a clone can only be as large or larger')
  }
  Object.assign(record, {fs: snapshot.fs, type: source.type, sizeBytes: request.sizeBytes ?? snapshot.sizeBytes})
  if (source.lowers) record.lowers = structuredClone(source.lowers)
  const method = planCopy(ctx, image)
  return {ref, snapshot, image, method}
}

/** Builds the clone's image, device and mounts; every step registers its undo. */
export async function buildClone(ctx: Context, record: VolumeRecord, clone: Clone, undo: Undo): Promise<void> {
  const {layout} = ctx
  const union = isUnion(record)
  for (const dir of [layout.imagesDir, ...(union ? [layout.uppersDir] : []), layout.mountsDir]) await ensureDirectory(ctx, dir)
  const image = layout.image(record.name)
  await cloneImage(ctx, record, clone, image, undo)
  const device = await attach(ctx, image, undo)
  const dir = union ? layout.upperMount(record.name) : layout.mountpoint(record.name)
  await prepareMountpoint(ctx, dir, undo)
  if (record.fs === 'xfs') await renewXfsId(ctx, record.name, device, dir)
  await mount(ctx, device, dir, undo)
  if (record.fs !== 'ext4' && record.sizeBytes > clone.snapshot.sizeBytes) {
    const [file, args] = growCommand(record.fs, dir)
    await ctx.exec.run(file, args, {mutates: true})
  }
  if (isUnion(record)) await mountUnion(ctx, record)
}

/** The image, complete and renamed into place: copied, given its own identity, grown (ext4). */
async function cloneImage(ctx: Context, record: VolumeRecord, clone: Clone, image: string, undo: Undo): Promise<void> {
  const partial = partialPath(image)
  undo.push(`remove ${partial}`, () => removeImage(ctx, partial))
  await copyImage(ctx, clone.method, clone.image, partial, {label: `${formatSnapshotRef(clone.ref)} → ${record.name}`})
  await setMode(ctx, partial, 0o600)
  if (record.fs === 'ext4') await fsck(ctx, partial)
  if (record.fs !== 'xfs') {
    const [file, args] = renewIdCommand(record.fs, partial)
    await ctx.exec.run(file, args, {mutates: true})
  }
  if (record.sizeBytes > clone.snapshot.sizeBytes) {
    await ctx.exec.change(['truncate', '--size', String(record.sizeBytes), partial], () => truncateSync(partial, record.sizeBytes))
    if (record.fs === 'ext4') {
      const [file, args] = growCommand('ext4', partial)
      await ctx.exec.run(file, args, {mutates: true})
    }
  }
  await moveIntoPlace(ctx, partial, image)
  undo.push(`remove ${image}`, () => removeImage(ctx, image))
}

/**
 * e2fsck -f -p: replays the journal of a snapshot taken from an unclean volume, and lets
 * tune2fs and resize2fs, which insist on a freshly checked filesystem, do their work. Exit 1
 * and 2 mean it fixed something; that is fine for a copy.
 */
async function fsck(ctx: Context, file: string): Promise<void> {
  try {
    await ctx.exec.run('e2fsck', ['-f', '-p', file], {mutates: true})
  } catch (error) {
    if (!(error instanceof CommandFailed && (error.exitCode === 1 || error.exitCode === 2))) throw error
  }
}

/**
 * A new UUID for an xfs clone: mounting two xfs with one UUID fails. xfs_admin needs a clean
 * log, and a snapshot of a mounted xfs has one to replay: mount it once (nouuid, as its source
 * may be mounted), unmount, then generate. xfs_admin reports a refusal on stderr with exit 0.
 */
export async function renewXfsId(ctx: Context, name: string, device: string, dir: string): Promise<void> {
  await ctx.exec.run('mount', mountArgs(device, dir, ['nouuid']), {mutates: true})
  await unmount(ctx, dir, name)
  const {stdout, stderr} = await ctx.exec.run('xfs_admin', ['-U', 'generate', device], {mutates: true})
  if (/error/i.test(`${stdout}\n${stderr}`)) throw new CommandFailed('xfs_admin', ['-U', 'generate', device], 1, stderr || stdout)
}
