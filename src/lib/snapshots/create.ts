import {randomUUID} from 'node:crypto'
import {checkpoint} from '../common/checkpoint.js'
import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {conflict, noSuchVolume} from '../common/errors.js'
import {whileFrozen} from './freeze.js'
import {HostView} from '../system/host-view.js'
import {copyImage, makeReadOnly, moveIntoPlace, planCopy, removeReadOnlyImage, setMode} from '../images/image-copy.js'
import {intent, pendingConflict} from '../store/intent.js'
import {partialPath} from '../store/layout.js'
import {ensureDirectory, missingImage, removeImage} from '../images/loop-volume.js'
import {validateName} from '../input/names.js'
import {recoverInterrupted} from '../recovery/recovery.js'
import {defaultSnapshotName, describeSnapshot, formatSnapshotRef, parseSnapshotRef, type Snapshot} from './snapshot.js'
import type {CopyMethod, SnapshotRecord} from '../store/state.js'
import {Undo} from '../common/undo.js'

export interface SnapshotRequest {
  volume: string
  /** Default: the UTC time, e.g. 20261125T231800Z. */
  snapshot?: string
  labels?: Record<string, string>
  /** The longest the volume may stay frozen for the copy; default: see maxFreezeMsFor. */
  maxFreezeMs?: number
  /** For `volume export`: the snapshot stays marked as the export's (see SnapshotRecord.pending) until the export removes it. */
  temporary?: boolean
  /**
   * Takes copyImage's place, while frozen: `volume export` reads the image into its stream and
   * writes into `target` only the ranges the stream could not take yet (streams/streamed-copy.ts).
   */
  copy?: (source: string, target: string, options: {sizeBytes: number; signal?: AbortSignal}) => Promise<void>
}

const MiB = 1024 ** 2

/** A reflink takes milliseconds; a copy is given 30 s plus 20 MiB/s of allocated data. */
export function maxFreezeMsFor(method: CopyMethod, allocatedBytes: number): number {
  return method === 'reflink' ? 10_000 : 30_000 + Math.ceil(allocatedBytes / (20 * MiB)) * 1000
}

/** What `snapshot create` reports: the snapshot, and how long the volume was frozen for it. */
export interface CreatedSnapshot extends Snapshot {
  /** null when the volume was not mounted, so not frozen */
  frozenMs: number | null
}

/**
 * Takes a snapshot of a volume, mounted and in use or not. The record is written first, marked
 * pending; the image is copied under a temporary name (while the filesystem is frozen, when it
 * is mounted), flushed, renamed into place and made read-only, and only then is the record
 * marked complete. A failure or an interruption (SIGINT, SIGTERM: the copy is stopped at once)
 * undoes all of it; after a SIGKILL the record stays pending (`incomplete`) and the next
 * command that changes something clears it. An export's temporary snapshot is neither flushed
 * nor made immutable, and `request.copy` may make its copy instead (see SnapshotRequest).
 */
export async function createSnapshot(ctx: Context, request: SnapshotRequest): Promise<CreatedSnapshot> {
  // `db@name`, as `zfs snapshot` takes it, is `db name`.
  const given = request.snapshot === undefined && request.volume.includes('@') ? parseSnapshotRef(request.volume) : undefined
  const volumeName = validateName(given?.volume ?? request.volume)
  const name = validateName(given?.snapshot ?? request.snapshot ?? defaultSnapshotName(), 'snapshot name')
  const ref = formatSnapshotRef({volume: volumeName, snapshot: name})
  requireRoot(ctx.host)
  // Among others, clears the snapshots a killed cbs left half taken or half removed.
  await recoverInterrupted(ctx)
  const volume = ctx.store.read().volumes[volumeName]
  if (!volume) throw noSuchVolume(volumeName)
  const source = ctx.layout.image(volumeName)
  const file = ctx.host.fileInfo(source)
  if (!file) throw missingImage(source, volumeName)
  const method = planCopy(ctx, source)

  const record: SnapshotRecord = {
    name,
    id: randomUUID(),
    volume: volumeName,
    fs: volume.fs,
    sizeBytes: file.sizeBytes,
    method,
    // The volume's labels as they are now, then the snapshot's own (see SNAPSHOT_FILTERS).
    labels: {...volume.labels, ...request.labels},
    createdAt: new Date().toISOString(),
  }
  await ctx.store.update((state) => {
    const current = state.volumes[volumeName]
    if (!current) throw noSuchVolume(volumeName)
    if (current.pending) throw pendingConflict(volumeName, current.pending)
    if (current.snapshots?.[name]) throw conflict(`snapshot ${ref} already exists`, 'choose another name')
    const taking = Object.values(current.snapshots ?? {}).find((each) => each.pending?.operation === 'snapshot')
    if (taking) throw conflict(`a snapshot of volume "${volumeName}" is being taken by process ${taking.pending!.pid}`, 'wait for it to finish')
    current.snapshots = {...current.snapshots, [name]: {...record, pending: intent('snapshot', {startedAt: record.createdAt})}}
  })

  await checkpoint('snapshot:copy')
  const image = ctx.layout.snapshotImage(volumeName, name)
  const partial = partialPath(image)
  const maxFreezeMs = request.maxFreezeMs ?? maxFreezeMsFor(method, file.allocatedBytes)
  let frozenMs: number | null = null
  const undo = new Undo()
  undo.push(`forget ${ref}`, () => ctx.store.update((state) => delete state.volumes[volumeName]?.snapshots?.[name]))
  try {
    await ensureDirectory(ctx, ctx.layout.snapshotsDir)
    await ensureDirectory(ctx, ctx.layout.snapshotDir(volumeName))
    undo.push(`remove ${partial}`, () => removeImage(ctx, partial))
    const copy = async (signal?: AbortSignal) => {
      await checkpoint('snapshot:frozen')
      if (request.copy) await request.copy(source, partial, {sizeBytes: record.sizeBytes, signal})
      else await copyImage(ctx, method, source, partial, {signal, label: `${volumeName} → ${ref}`})
    }
    const mountpoint = mountpointOf(ctx, volumeName)
    if (mountpoint) ({frozenMs} = await whileFrozen(ctx, mountpoint, {maxFreezeMs}, copy))
    else await copy()
    await checkpoint('snapshot:move')
    // Export's snapshot lives only as long as the export, which reads it, and recovery removes
    // it after a crash: it is neither flushed nor made immutable, which on ext4 writes the file
    // out as well (about 0.5 s a GiB here).
    await moveIntoPlace(ctx, partial, image, {flush: !request.temporary})
    undo.push(`remove ${image}`, () => removeReadOnlyImage(ctx, image))
    await (request.temporary ? setMode(ctx, image, 0o400) : makeReadOnly(ctx, image))
    await checkpoint('snapshot:done')
    await ctx.store.update((state) => {
      const snapshot = state.volumes[volumeName].snapshots![name]
      if (request.temporary) snapshot.pending = intent('export')
      else delete snapshot.pending
    })
  } catch (error) {
    const leftovers = await undo.run()
    if (leftovers.length > 0) (error as Error).message += `; could not undo: ${leftovers.join(', ')}`
    throw error
  }
  // Under --dry-run no image was made to read: report the snapshot as the plan leaves it.
  return {...describeSnapshot(ctx, record), ...(ctx.exec.dryRun && {status: 'ready' as const}), frozenMs}
}

/** Where the volume's filesystem is mounted (its own mountpoint first), if it is. */
function mountpointOf(ctx: Context, volume: string): string | undefined {
  const view = HostView.read(ctx.host)
  const device = view.deviceOf(ctx.layout.image(volume))
  if (!device) return undefined
  const own = ctx.layout.mountpoint(volume)
  const mounts = view.mountsOf(device)
  return mounts.find((mount) => mount.mountpoint === own)?.mountpoint ?? mounts[0]?.mountpoint
}
