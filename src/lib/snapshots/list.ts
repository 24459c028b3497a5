import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {noSuchVolume} from '../common/errors.js'
import {type Filter, matchesAll} from '../input/filters.js'
import {validateName} from '../input/names.js'
import {compareOrdinal} from '../common/ordinal.js'
import {describeSnapshot, type Snapshot, SNAPSHOT_FILTERS, snapshotsOf} from './snapshot.js'

/** The snapshots of one volume, or of every volume, that match every filter; oldest first within a volume. */
export function listSnapshots(ctx: Context, volume?: string, filters: Filter[] = []): Snapshot[] {
  if (volume !== undefined) validateName(volume)
  requireRoot(ctx.host)
  const {volumes} = ctx.store.read()
  if (volume !== undefined && !volumes[volume]) throw noSuchVolume(volume)
  const records = volume === undefined ? Object.values(volumes).sort((a, b) => compareOrdinal(a.name, b.name)) : [volumes[volume]]
  return records
    .flatMap(snapshotsOf)
    .map((record) => describeSnapshot(ctx, record))
    .filter((snapshot) => matchesAll(snapshot, filters, SNAPSHOT_FILTERS))
}
