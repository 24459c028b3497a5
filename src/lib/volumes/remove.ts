import {checkpoint} from '../common/checkpoint.js'
import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {conflict, isKind, noSuchVolume} from '../common/errors.js'
import {HostView} from '../system/host-view.js'
import {finishIntent, intent, isAbandoned, pendingConflict} from '../store/intent.js'
import {stackDepth, unionDependents} from '../union/lowers.js'
import {validateName} from '../input/names.js'
import {discardVolume, recoverInterrupted} from '../recovery/recovery.js'
import {describeSnapshot, formatSnapshotRef, snapshotsOf} from '../snapshots/snapshot.js'
import {refuseWhileWorkedOn} from '../snapshots/remove.js'
import type {State, VolumeRecord} from '../store/state.js'
import {refuseWhileUsed} from '../runtimes/attach.js'
import {bringDown, bringUp, isUp} from './lifecycle.js'
import {describeVolume, type Volume} from './volume.js'

/**
 * Removes volumes: unmount, detach, delete the image, the mountpoint and the record. Every name
 * is checked before anything is touched; a busy volume is refused and left as it was. So is a
 * volume with snapshots, unless `recursive` (as `zfs destroy -r`), which removes them too. `force`
 * (as `docker volume rm -f`) only means that names that do not exist are no error. The intent is recorded first:
 * once the volume is down, a killed or interrupted remove is finished (by the next cbs command
 * if need be), never left half done. Returns the volumes removed as they were, `removed`.
 */
export interface RemoveOptions {
  /** Names that do not exist (or go meanwhile) are no error. */
  force?: boolean
  /** The volumes' snapshots go too. */
  recursive?: boolean
  /** What to do about a volume's snapshots, when they stop its removal: by default the CLI's -r. */
  snapshotsHint?: (name: string) => string
}

export async function removeVolumes(ctx: Context, names: string[], options: RemoveOptions = {}): Promise<Volume[]> {
  for (const name of names) validateName(name)
  requireRoot(ctx.host)
  await recoverInterrupted(ctx)
  const state = ctx.store.read()
  const missing = names.filter((name) => !state.volumes[name])
  if (missing.length > 0 && !options.force) throw noSuchVolume(missing)

  const existing = names.filter((each) => state.volumes[each])
  for (const name of existing) refuseIfStacked(state, name, existing)
  for (const name of existing) refuseIfSnapshots(ctx, state, name, options)

  const removed: Volume[] = []
  // Union volumes go before the volumes whose snapshots they stack.
  for (const name of existing.sort((a, b) => stackDepth(state, b) - stackDepth(state, a))) {
    const record = await recordIntent(ctx, name, existing, options)
    if (!record) continue // removed meanwhile by another process: --force asked not to mind
    await checkpoint('remove:unmount')
    const view = HostView.read(ctx.host)
    const mounted = isUp(ctx, record, view)
    try {
      await refuseWhileUsed(ctx, record)
      await bringDown(ctx, record, view)
    } catch (error) {
      await putBack(ctx, record, mounted && isKind(error, 'interrupted'))
      throw error
    }
    await checkpoint('remove:discard')
    const gone = removedVolume(ctx, record, view)
    // Past the point of no return: an interruption now finishes the remove rather than stopping it.
    await discardVolume(ctx, record).catch((error) => (isKind(error, 'interrupted') ? discardVolume(ctx, record) : Promise.reject(error)))
    removed.push(gone)
  }
  return removed
}

/** What `rm` reports of a volume it is about to discard: `removed`, down, with the snapshots that go with it. */
function removedVolume(ctx: Context, record: VolumeRecord, view: HostView): Volume {
  const volume = describeVolume(ctx, record, view)
  const snapshots = snapshotsOf(record).map((snapshot) => ({...describeSnapshot(ctx, snapshot), status: 'removed' as const}))
  return {...volume, status: 'removed', device: null, usedBytes: null, attachments: [], snapshots}
}

/** Under the lock, so that no snapshot or union volume can appear between the checks and the intent. */
async function recordIntent(ctx: Context, name: string, removing: string[], options: RemoveOptions): Promise<VolumeRecord | undefined> {
  return ctx.store.update((state) => {
    const record = state.volumes[name]
    if (!record && options.force) return undefined
    if (!record) throw noSuchVolume(name)
    // An operation whose process died (or that recovery could not finish) gives way to the remove.
    const {pending} = record
    if (pending && pending.pid !== process.pid && !isAbandoned(ctx.host, pending)) throw pendingConflict(name, pending)
    refuseIfStacked(state, name, removing)
    refuseIfSnapshots(ctx, state, name, options)
    record.pending = intent('remove')
    return structuredClone(record)
  })
}

/** The volume could not be taken down (busy, interrupted): it stays, mounted again if need be. */
async function putBack(ctx: Context, record: VolumeRecord, remount: boolean): Promise<void> {
  if (remount) await bringUp(ctx, record, HostView.read(ctx.host)).catch(() => {})
  await finishIntent(ctx, record.name, record.pending!)
}

/** A volume whose snapshots a union volume stacks stays, unless that union volume goes too. */
function refuseIfStacked(state: State, name: string, removing: string[]): void {
  const dependents = unionDependents(state, name).filter((dependent) => !removing.includes(dependent))
  if (dependents.length > 0) {
    throw conflict(`volume "${name}" has snapshots that union volumes stack as lower layers: ${dependents.join(', ')}`, 'remove those union volumes first')
  }
}

/** Snapshots go with their volume only when asked to (`--recursive`), and never while being taken. */
function refuseIfSnapshots(ctx: Context, state: State, name: string, options: RemoveOptions): void {
  const refs = Object.keys(state.volumes[name].snapshots ?? {}).map((snapshot) => ({volume: name, snapshot}))
  if (refs.length > 0 && !options.recursive) {
    const hint = options.snapshotsHint?.(name) ?? 'remove them first, or pass -r (--recursive) to remove them too'
    throw conflict(`volume "${name}" has snapshots: ${refs.map(formatSnapshotRef).join(', ')}`, hint)
  }
  for (const ref of refs) refuseWhileWorkedOn(ctx, state, ref)
}
