import type {Context} from './context.js'
import {requireRoot} from './context.js'
import {notFound} from './errors.js'
import {validateName} from './names.js'
import {compareOrdinal} from './ordinal.js'
import {describeSnapshot, type Snapshot, snapshotsOf} from './snapshot.js'

/** The snapshots of one volume, or of every volume; oldest first within a volume. */
export function listSnapshots(ctx: Context, volume?: string): Snapshot[] {
  if (volume !== undefined) validateName(volume)
  requireRoot(ctx.host)
  const {volumes} = ctx.store.read()
  if (volume !== undefined && !volumes[volume]) throw notFound(`no such volume: ${volume}`, 'see `cbs volume ls`')
  const records = volume === undefined ? Object.values(volumes).sort((a, b) => compareOrdinal(a.name, b.name)) : [volumes[volume]]
  return records.flatMap(snapshotsOf).map((record) => describeSnapshot(ctx, record))
}
