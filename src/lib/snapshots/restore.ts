import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {HostView} from '../system/host-view.js'
import {copyImage, moveIntoPlace, planCopy, setMode} from '../images/image-copy.js'
import {finishIntent, intent, pendingConflict} from '../store/intent.js'
import {partialPath} from '../store/layout.js'
import {removeImage, VolumeBusy} from '../images/loop-volume.js'
import {stopProcessesUsing} from '../system/processes.js'
import {conflict} from '../common/errors.js'
import {findSnapshot, formatSnapshotRef, parseSnapshotRef} from './snapshot.js'
import {Undo} from '../common/undo.js'
import type {Volume} from '../volumes/volume.js'
import {describeConfirmed} from '../volumes/list.js'
import {bringDown, bringUp, isUp} from '../volumes/lifecycle.js'
import {recoverInterrupted} from '../recovery/recovery.js'

export interface RestoreRequest {
  /** VOLUME@SNAPSHOT */
  snapshot: string
  /**
   * Stop the processes that keep the volume busy (SIGTERM, SIGKILL after 10 s) instead of
   * refusing. Never a lazy or forced unmount: the processes would go on writing to a filesystem
   * that is no longer the volume, and lose it all when they let go.
   */
  force?: boolean
}

/**
 * Rolls a volume back to a snapshot: unmounts it (refused, exit 4, while it is busy unless
 * `force`), puts a copy of the snapshot in place of its image (copied under a temporary name,
 * then renamed over it: the image is always whole, old or new) and mounts it again if it was
 * mounted. The snapshot stays, and so do the later ones. A failure or an interruption before the
 * rename leaves the volume as it was, mounted again.
 */
export async function restoreSnapshot(ctx: Context, request: RestoreRequest): Promise<Volume> {
  const ref = parseSnapshotRef(request.snapshot)
  requireRoot(ctx.host)
  await recoverInterrupted(ctx)
  const state = ctx.store.read()
  const {record: snapshot, image: snapshotImage} = findSnapshot(ctx, ref, state)
  const record = state.volumes[ref.volume]
  const name = formatSnapshotRef(ref)
  const image = ctx.layout.image(record.name)
  const method = planCopy(ctx, snapshotImage)
  const view = HostView.read(ctx.host)
  const wasMounted = isUp(ctx, record, view)

  const mine = intent('restore', {wasMounted})
  await ctx.store.update((state) => {
    const current = state.volumes[record.name]
    if (current.pending) throw pendingConflict(record.name, current.pending)
    current.pending = mine
  })
  const undo = new Undo()
  undo.push(`finish restoring ${record.name}`, () => finishIntent(ctx, record.name, mine))
  try {
    if (request.force && wasMounted) await stopProcessesUsing(ctx, ctx.layout.mountpoint(record.name))
    await bringDown(ctx, record, view).catch((error: unknown) => Promise.reject(request.force ? error : offerForce(record.name, error))) // stopping processes changes no mount
    if (wasMounted) undo.push(`mount ${record.name} again`, () => bringUp(ctx, record, HostView.read(ctx.host)))
    const partial = partialPath(image)
    undo.push(`remove ${partial}`, () => removeImage(ctx, partial))
    await copyImage(ctx, method, snapshotImage, partial, {label: `${name} → ${record.name}`})
    await setMode(ctx, partial, 0o600)
    await moveIntoPlace(ctx, partial, image, {replace: true})
    if (wasMounted) await bringUp(ctx, record, HostView.read(ctx.host))
    await finishIntent(ctx, record.name, mine, snapshot.sizeBytes)
  } catch (error) {
    const leftovers = await undo.run()
    if (leftovers.length > 0) (error as Error).message += `; could not undo: ${leftovers.join(', ')}`
    throw error
  }
  return describeConfirmed(ctx, ctx.store.read().volumes[record.name])
}

/** A volume busy with processes: --force would stop them, so say so (and who they are). */
function offerForce(volume: string, error: unknown): unknown {
  const holders = error instanceof VolumeBusy ? error.holders : undefined
  if (!holders) return error
  return conflict(`volume "${volume}" is busy: ${holders} ${holders.startsWith('processes') ? 'use' : 'uses'} it`, 'stop them and try again, or pass --force to stop them (SIGTERM, then SIGKILL after 10 s)')
}
