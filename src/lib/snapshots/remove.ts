import {rmdirSync} from 'node:fs'
import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {conflict, notFound} from '../common/errors.js'
import {removeReadOnlyImage} from '../images/image-copy.js'
import {intent, isAbandoned} from '../store/intent.js'
import {partialPath} from '../store/layout.js'
import {removeImage} from '../images/loop-volume.js'
import {unionDependents} from '../union/lowers.js'
import {describeSnapshot, formatSnapshotRef, parseSnapshotRef, type Snapshot, type SnapshotRef} from './snapshot.js'
import type {State} from '../store/state.js'

/**
 * Removes snapshots. Every reference is checked before anything is touched: all must exist, none
 * may be in use (a union volume's lower layer) or being worked on by a live process. Returns them
 * as they were, `removed`.
 */
export async function removeSnapshots(ctx: Context, names: string[]): Promise<Snapshot[]> {
  const refs = names.map(parseSnapshotRef)
  requireRoot(ctx.host)
  const state = ctx.store.read()
  const missing = refs.filter((ref) => !state.volumes[ref.volume]?.snapshots?.[ref.snapshot])
  if (missing.length > 0) throw notFound(`no such snapshot: ${missing.map(formatSnapshotRef).join(', ')}`, 'see `cbs volume snapshot ls`')
  for (const ref of refs) {
    const dependents = unionDependents(state, ref.volume, ref.snapshot)
    if (dependents.length > 0) throw conflict(`snapshot ${formatSnapshotRef(ref)} is a lower layer of ${dependents.join(', ')}`, 'remove those union volumes first')
    refuseWhileWorkedOn(ctx, state, ref)
  }
  const removed = refs.map((ref): Snapshot => ({...describeSnapshot(ctx, state.volumes[ref.volume].snapshots![ref.snapshot]), status: 'removed'}))
  for (const ref of refs) await removeSnapshot(ctx, ref)
  return removed
}

/** Refuses (exit 4) to remove a snapshot that a live cbs process is creating or removing. */
export function refuseWhileWorkedOn(ctx: Context, state: State, ref: SnapshotRef): void {
  const name = formatSnapshotRef(ref)
  const pending = state.volumes[ref.volume]?.snapshots?.[ref.snapshot]?.pending
  if (pending && !isAbandoned(ctx.host, pending)) {
    throw conflict(`snapshot ${name} is being ${{remove: 'removed', snapshot: 'created', export: 'exported'}[pending.operation]} by process ${pending.pid}`, 'wait for it to finish')
  }
}

/** Removes one snapshot's files, then its record (marked `removing` in between). */
export async function removeSnapshot(ctx: Context, ref: SnapshotRef): Promise<void> {
  await ctx.store.update((state) => {
    const record = state.volumes[ref.volume]?.snapshots?.[ref.snapshot]
    if (record) record.pending = intent('remove')
  })
  const image = ctx.layout.snapshotImage(ref.volume, ref.snapshot)
  await removeReadOnlyImage(ctx, image)
  await removeImage(ctx, partialPath(image)) // never read-only: that comes after the rename
  await ctx.store.update((state) => {
    delete state.volumes[ref.volume]?.snapshots?.[ref.snapshot]
  })
}

/**
 * Removes every snapshot of a volume that is being removed, and their folder. (The folder stays
 * while the volume does: a snapshot being created concurrently may need it.)
 */
export async function removeAllSnapshots(ctx: Context, volume: string): Promise<void> {
  for (const name of Object.keys(ctx.store.read().volumes[volume]?.snapshots ?? {})) await removeSnapshot(ctx, {volume, snapshot: name})
  const dir = ctx.layout.snapshotDir(volume)
  if (ctx.host.fileInfo(dir) === undefined) return
  await ctx.exec.change(['rmdir', dir], () => {
    try {
      rmdirSync(dir)
    } catch (error) {
      if (!['ENOTEMPTY', 'EEXIST', 'ENOENT'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error
    }
  })
}
