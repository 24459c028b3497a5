import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {type CbsError, notFound} from '../common/errors.js'
import {type Filter, matchesAll} from './filters.js'
import {HostView} from '../system/host-view.js'
import {validateName} from '../input/names.js'
import {compareOrdinal} from '../common/ordinal.js'
import {describeSnapshot, snapshotsOf} from '../snapshots/snapshot.js'
import {describeVolume, type Volume} from './volume.js'

export function listVolumes(ctx: Context, filters: Filter[] = []): Volume[] {
  requireRoot(ctx.host)
  const view = HostView.read(ctx.host)
  return Object.values(ctx.store.read().volumes)
    .sort((a, b) => compareOrdinal(a.name, b.name))
    .map((record) => describeVolume(ctx, record, view))
    .filter((volume) => matchesAll(volume, filters))
}

export function inspectVolumes(ctx: Context, names: string[]): Volume[] {
  const {volumes, missing} = inspectExisting(ctx, names)
  if (missing) throw missing
  return volumes
}

/** The volumes of those names that exist, and the error naming the others (docker prints the first, then fails). */
export function inspectExisting(ctx: Context, names: string[]): {volumes: Volume[]; missing?: CbsError} {
  for (const name of names) validateName(name)
  requireRoot(ctx.host)
  const records = ctx.store.read().volumes
  const missing = names.filter((name) => !records[name])
  const view = HostView.read(ctx.host)
  const volumes = names
    .filter((name) => records[name])
    .map((name) => ({...describeVolume(ctx, records[name], view), snapshots: snapshotsOf(records[name]).map((record) => describeSnapshot(ctx, record))}))
  return {volumes, missing: missing.length > 0 ? notFound(`no such volume: ${missing.join(', ')}`, 'see `cbs volume ls`') : undefined}
}
