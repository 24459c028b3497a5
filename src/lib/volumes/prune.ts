import type {Context} from '../system/context.js'
import {isKind} from '../common/errors.js'
import {hasUncheckedAttachments} from '../runtimes/attachment-view.js'
import {stackDepth} from '../union/lowers.js'
import {listVolumes} from './list.js'
import {removeVolumes} from './remove.js'
import type {Volume} from './volume.js'

/**
 * `cbs volume prune`, as `docker volume prune`: removes the volumes nothing uses. By default
 * those that are unmounted, attached to no runtime (as the runtimes say now) and have no
 * snapshots; with `all`, every volume that is not in use: mounted ones, attached ones no
 * container uses, and their snapshots with them. A volume in use (open files, a container, a
 * union volume stacking its snapshots) is kept, never an error. Volumes in error or being worked
 * on are never pruned: they are doctor's.
 */
export interface PruneRequest {
  all?: boolean
  /** Asked with the volumes about to go, before anything changes; false: nothing is removed. */
  confirm?: (volumes: Volume[]) => Promise<boolean>
}

export async function pruneCandidates(ctx: Context, all = false): Promise<Volume[]> {
  const state = ctx.store.read()
  const volumes = await listVolumes(ctx)
  // A runtime that did not answer (a daemon down or stuck) confirms no attachment, yet may have one.
  const unchecked = new Set<string>()
  for (const volume of volumes) if (await hasUncheckedAttachments(ctx, state.volumes[volume.name])) unchecked.add(volume.name)
  return volumes
    .filter((volume) => volume.status === 'mounted' || volume.status === 'unmounted')
    .filter((volume) => !unchecked.has(volume.name))
    .filter((volume) => all || (volume.status === 'unmounted' && volume.attachments.length === 0 && Object.keys(state.volumes[volume.name]?.snapshots ?? {}).length === 0))
    .sort((a, b) => stackDepth(state, b.name) - stackDepth(state, a.name)) // union volumes before what they stack
}

/** The volumes removed, as they were just before. */
export async function pruneVolumes(ctx: Context, request: PruneRequest = {}): Promise<Volume[]> {
  const candidates = await pruneCandidates(ctx, request.all)
  if (candidates.length === 0) return []
  if (request.confirm && !(await request.confirm(candidates))) return []
  const removed: Volume[] = []
  for (const volume of candidates) {
    try {
      // One at a time: a volume in use is kept, and the others still go.
      removed.push(...(await removeVolumes(ctx, [volume.name], {force: true, recursive: request.all})))
    } catch (error) {
      if (!isKind(error, 'conflict')) throw error
    }
  }
  return removed
}
