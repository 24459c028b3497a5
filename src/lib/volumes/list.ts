import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {notFound} from '../common/errors.js'
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
  for (const name of names) validateName(name)
  requireRoot(ctx.host)
  const {volumes} = ctx.store.read()
  const missing = names.filter((name) => !volumes[name])
  if (missing.length > 0) throw notFound(`no such volume: ${missing.join(', ')}`, 'see `cbs volume ls`')
  const view = HostView.read(ctx.host)
  return names.map((name) => ({...describeVolume(ctx, volumes[name], view), snapshots: snapshotsOf(volumes[name]).map((record) => describeSnapshot(ctx, record))}))
}
