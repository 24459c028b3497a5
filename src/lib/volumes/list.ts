import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {type CbsError, noSuchVolume} from '../common/errors.js'
import {type Filter, matchesAll} from '../input/filters.js'
import {HostView} from '../system/host-view.js'
import {validateName} from '../input/names.js'
import {compareOrdinal} from '../common/ordinal.js'
import {describeSnapshot, snapshotsOf} from '../snapshots/snapshot.js'
import type {VolumeRecord} from '../store/state.js'
import {withConfirmedAttachments} from '../runtimes/attachment-view.js'
import {describeVolume, type Volume, VOLUME_FILTERS} from './volume.js'

/**
 * How listings get attachments: from the runtimes (the default), or as recorded for a caller that
 * does not show them and must not call a runtime back (the docker plugin, which dockerd calls).
 */
export interface ListOptions {
  askRuntimes?: boolean
}

export async function listVolumes(ctx: Context, filters: Filter[] = [], options: ListOptions = {}): Promise<Volume[]> {
  requireRoot(ctx.host)
  const view = HostView.read(ctx.host)
  const records = await confirmed(ctx, Object.values(ctx.store.read().volumes), options)
  return records
    .sort((a, b) => compareOrdinal(a.name, b.name))
    .map((record) => describeVolume(ctx, record, view))
    .filter((volume) => matchesAll(volume, filters, VOLUME_FILTERS))
}

export async function inspectVolumes(ctx: Context, names: string[], options: ListOptions = {}): Promise<Volume[]> {
  const {volumes, missing} = await inspectExisting(ctx, names, options)
  if (missing) throw missing
  return volumes
}

/** The volumes of those names that exist, and the error naming the others (docker prints the first, then fails). */
export async function inspectExisting(ctx: Context, names: string[], options: ListOptions = {}): Promise<{volumes: Volume[]; missing?: CbsError}> {
  for (const name of names) validateName(name)
  requireRoot(ctx.host)
  const records = ctx.store.read().volumes
  const missing = names.filter((name) => !records[name])
  const view = HostView.read(ctx.host)
  const existing = await confirmed(ctx, names.filter((name) => records[name]).map((name) => records[name]), options)
  const volumes = existing.map((record) => ({...describeVolume(ctx, record, view), snapshots: snapshotsOf(record).map((snapshot) => describeSnapshot(ctx, snapshot))}))
  return {volumes, missing: missing.length > 0 ? noSuchVolume(missing) : undefined}
}

/** Attachments as the runtimes confirm them; no runtime is asked when no volume has one. */
async function confirmed(ctx: Context, records: VolumeRecord[], options: ListOptions = {}): Promise<VolumeRecord[]> {
  if (options.askRuntimes === false || !records.some((record) => record.attachments?.length)) return records
  return withConfirmedAttachments(ctx, records)
}

/**
 * One volume as a changing command reports it, attachments confirmed. Not for mount and unmount:
 * they run at boot and shutdown around the runtimes, and asking docker then would wake it
 * through its socket (and wait for it, ordered after cbs), so theirs are as recorded.
 */
export async function describeConfirmed(ctx: Context, record: VolumeRecord): Promise<Volume> {
  const [current] = await confirmed(ctx, [record])
  return describeVolume(ctx, current, HostView.read(ctx.host))
}
