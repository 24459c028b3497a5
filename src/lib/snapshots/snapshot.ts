import type {Context} from '../system/context.js'
import {conflict, invalid, noSuchVolume, notFound} from '../common/errors.js'
import {FILESYSTEMS, type Filesystem} from '../images/filesystems.js'
import type {FilterKeys} from '../input/filters.js'
import {isAbandoned} from '../store/intent.js'
import {validateName} from '../input/names.js'
import {compareOrdinal} from '../common/ordinal.js'
import type {CopyMethod, SnapshotRecord, State, VolumeRecord} from '../store/state.js'

/**
 * Snapshots as the rest of cbs sees them: `VOLUME@SNAPSHOT` references (as in ZFS), the JSON
 * `Snapshot` object and the lookups other features build on (restore, `--from`, union lowers).
 */

export interface SnapshotRef {
  volume: string
  snapshot: string
}

/** "db@before-migration" → {volume: "db", snapshot: "before-migration"}; exit 2 otherwise. */
export function parseSnapshotRef(text: string): SnapshotRef {
  const at = text.indexOf('@')
  if (at < 0) throw invalid(`"${text}" is not a snapshot`, 'name one as VOLUME@SNAPSHOT, e.g. db@before-migration')
  return {volume: validateName(text.slice(0, at)), snapshot: validateName(text.slice(at + 1), 'snapshot name')}
}

export const formatSnapshotRef = (ref: SnapshotRef): string => `${ref.volume}@${ref.snapshot}`

/** The default snapshot name: the UTC time to the second, e.g. 20261125T231800Z. */
export function defaultSnapshotName(now = new Date()): string {
  return now.toISOString().replaceAll(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
}

/**
 * ready: complete and usable. creating, removing: a live cbs process is at it; exporting: a
 * snapshot `volume export` took, removed when it ends. incomplete: the
 * process creating or removing it died; it is no good, and the next command that recovers
 * (recovery.ts) or `snapshot rm` clears it. error: its image is missing. removed: only in what
 * `snapshot rm` and `volume rm` print, the snapshot as it was.
 */
export const SNAPSHOT_STATUSES = ['ready', 'creating', 'removing', 'exporting', 'incomplete', 'error'] as const
/** removed: only in what `snapshot rm` and `volume rm` print, the snapshot as it was. */
export type SnapshotStatus = (typeof SNAPSHOT_STATUSES)[number] | 'removed'

/**
 * `snapshot ls --filter`: name= matches part of VOLUME@SNAPSHOT (as in docker), volume= one
 * volume's snapshots. A snapshot holds the volume's labels as they were when it was taken, and
 * its own --label on top (as a ZFS snapshot holds its dataset's user properties): label= finds
 * either.
 */
export const SNAPSHOT_FILTERS: FilterKeys = {name: 'substring', volume: 'exact', label: 'label', status: SNAPSHOT_STATUSES, fs: FILESYSTEMS}

/** A snapshot as cbs reports it (`--json`). */
export interface Snapshot {
  /** VOLUME@SNAPSHOT */
  name: string
  /** Unique, and the same on every host a stream carried it to. */
  id: string
  volume: string
  snapshot: string
  fs: Filesystem
  sizeBytes: number
  /** What the image takes on the host; blocks shared with others by reflink count in full. */
  allocatedBytes: number | null
  method: CopyMethod
  status: SnapshotStatus
  image: string
  labels: Record<string, string>
  createdAt: string
}

/** Every key a Snapshot has, for `--format` to check fields against (the compiler keeps it complete). */
const SNAPSHOT_KEYS: Record<keyof Snapshot, true> = {
  name: true, id: true, volume: true, snapshot: true, fs: true, sizeBytes: true, allocatedBytes: true, method: true, status: true, image: true, labels: true, createdAt: true,
}
export const SNAPSHOT_FIELDS = Object.keys(SNAPSHOT_KEYS)

export function describeSnapshot(ctx: Context, record: SnapshotRecord): Snapshot {
  const image = ctx.layout.snapshotImage(record.volume, record.name)
  const file = ctx.host.fileInfo(image)
  return {
    name: formatSnapshotRef({volume: record.volume, snapshot: record.name}),
    id: record.id,
    volume: record.volume,
    snapshot: record.name,
    fs: record.fs,
    sizeBytes: record.sizeBytes,
    allocatedBytes: file?.allocatedBytes ?? null,
    method: record.method,
    status: snapshotStatus(ctx, record, file !== undefined),
    image,
    labels: record.labels,
    createdAt: record.createdAt,
  }
}

function snapshotStatus(ctx: Context, record: SnapshotRecord, hasImage: boolean): SnapshotStatus {
  if (record.pending) {
    if (isAbandoned(ctx.host, record.pending)) return 'incomplete'
    return ({remove: 'removing', export: 'exporting', snapshot: 'creating'} as const)[record.pending.operation]
  }
  return hasImage ? 'ready' : 'error'
}

/** A volume's snapshots, oldest first. */
export function snapshotsOf(volume: VolumeRecord): SnapshotRecord[] {
  return Object.values(volume.snapshots ?? {}).sort((a, b) => compareOrdinal(a.createdAt, b.createdAt) || compareOrdinal(a.name, b.name))
}

/**
 * The snapshot a reference names, ready to be read (for restore, `--from` and union lower
 * layers): exit 3 when the volume or snapshot does not exist, 4 while it is not complete.
 */
export function findSnapshot(ctx: Context, ref: SnapshotRef, state: State = ctx.store.read()): {record: SnapshotRecord; image: string} {
  const name = formatSnapshotRef(ref)
  const volume = state.volumes[ref.volume]
  if (!volume) throw noSuchVolume(ref.volume)
  const record = volume.snapshots?.[ref.snapshot]
  if (!record) throw notFound(`no such snapshot: ${name}`, `see \`cbs volume snapshot ls ${ref.volume}\``)
  const snapshot = describeSnapshot(ctx, record)
  if (snapshot.status === 'error') throw notFound(`the image of snapshot ${name} is missing (${snapshot.image})`, 'run `cbs doctor`')
  if (snapshot.status !== 'ready') throw conflict(`snapshot ${name} is ${snapshot.status}`, snapshot.status === 'incomplete' ? `remove it: cbs volume snapshot rm ${name}` : 'wait for it to finish')
  return {record, image: snapshot.image}
}
