import type {Context} from './context.js'
import {requireRoot} from './context.js'
import {conflict, notFound} from './errors.js'
import {HostView} from './host-view.js'
import {removeImage, removeMountpoint} from './loop-volume.js'
import {stackDepth, unionDependents} from './lowers.js'
import {validateName} from './names.js'
import {formatSnapshotRef} from './snapshot.js'
import {refuseWhileWorkedOn, removeAllSnapshots} from './snapshot-remove.js'
import type {State} from './state.js'
import {refuseWhileUsed, unregisterAll} from './volume-attach.js'
import {bringDown} from './volume-lifecycle.js'

/**
 * Removes volumes: unmount, detach, delete the image, the mountpoint and the record. Every name
 * is checked before anything is touched; a busy volume is refused and left as it was. So is a
 * volume with snapshots, unless `force`, which removes them too.
 */
export async function removeVolumes(ctx: Context, names: string[], options: {force?: boolean} = {}): Promise<string[]> {
  for (const name of names) validateName(name)
  requireRoot(ctx.host)
  const {volumes} = ctx.store.read()
  const missing = names.filter((name) => !volumes[name])
  if (missing.length > 0 && !options.force) throw notFound(`no such volume: ${missing.join(', ')}`, 'see `cbs volume ls`')

  const existing = names.filter((each) => volumes[each])
  const state = ctx.store.read()
  for (const name of existing) refuseIfStacked(state, name, existing)
  for (const name of existing) refuseIfSnapshots(ctx, state, name, options.force)

  const removed: string[] = []
  // Union volumes go before the volumes whose snapshots they stack.
  for (const name of existing.sort((a, b) => stackDepth(state, b) - stackDepth(state, a))) {
    const record = volumes[name]
    if (record.pending) throw conflict(`volume "${name}" is being ${record.pending.operation}d by process ${record.pending.pid}`, 'wait for it to finish')
    await refuseWhileUsed(ctx, record)
    await bringDown(ctx, record, HostView.read(ctx.host))
    await ctx.store.update((state) => {
      refuseIfStacked(state, name, existing)
      state.volumes[name].pending = {operation: 'remove', pid: process.pid, startedAt: new Date().toISOString()}
    })
    await unregisterAll(ctx, record)
    await removeAllSnapshots(ctx, name)
    await removeMountpoint(ctx, ctx.layout.mountpoint(name))
    if (record.type !== 'loop') await removeMountpoint(ctx, ctx.layout.upperMount(name))
    await removeImage(ctx, ctx.layout.image(name))
    await ctx.store.update((state) => {
      delete state.volumes[name]
    })
    removed.push(name)
  }
  return removed
}

/** A volume whose snapshots a union volume stacks stays, unless that union volume goes too. */
function refuseIfStacked(state: State, name: string, removing: string[]): void {
  const dependents = unionDependents(state, name).filter((dependent) => !removing.includes(dependent))
  if (dependents.length > 0) {
    throw conflict(`volume "${name}" has snapshots that union volumes stack as lower layers: ${dependents.join(', ')}`, 'remove those union volumes first')
  }
}

/** Snapshots go with their volume only when asked to (`--force`), and never while being taken. */
function refuseIfSnapshots(ctx: Context, state: State, name: string, force = false): void {
  const refs = Object.keys(state.volumes[name].snapshots ?? {}).map((snapshot) => ({volume: name, snapshot}))
  if (refs.length > 0 && !force) {
    throw conflict(`volume "${name}" has snapshots: ${refs.map(formatSnapshotRef).join(', ')}`, 'remove them first, or pass --force to remove them too')
  }
  for (const ref of refs) refuseWhileWorkedOn(ctx, state, ref)
}
