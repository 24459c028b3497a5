import {randomUUID} from 'node:crypto'
import type {Filesystem} from '../images/filesystems.js'

/** Bumped when the shape of the state file changes; see migrateState. */
export const SCHEMA_VERSION = 2

export const VOLUME_TYPES = ['loop', 'overlay', 'aufs'] as const
export type VolumeType = (typeof VOLUME_TYPES)[number]
/** A union volume shows read-only lower layers under a writable upper layer. */
export type UnionType = Exclude<VolumeType, 'loop'>

/**
 * One lower layer of a union volume: a snapshot (mounted read-only) or a host folder. A folder's
 * `identity` is "DEVICE:INODE" (decimal st_dev:st_ino) of the folder checked at create; every
 * mount refuses another one there. A record from before it was kept gets it at its next mount.
 */
export type LowerRecord = {type: 'snapshot'; volume: string; snapshot: string} | {type: 'directory'; path: string; identity?: string}

/** What the store keeps of a volume: only what the system cannot tell. */
export interface VolumeRecord {
  name: string
  type: VolumeType
  fs: Filesystem
  sizeBytes: number
  labels: Record<string, string>
  createdAt: string
  /** Union volumes only: the lower layers, top-most first. */
  lowers?: LowerRecord[]
  /** Set while an operation on the volume is under way, by the process doing it. */
  pending?: PendingOperation
  /** What `cbs volume attach` registered with container runtimes, one entry a runtime. */
  attachments?: AttachmentRecord[]
  /** The volume's snapshots by snapshot name (absent: none). */
  snapshots?: Record<string, SnapshotRecord>
  /**
   * false once its user unmounted it (`cbs volume unmount NAME`): `mount --all` at boot leaves it
   * down. Absent (volumes made before this field) or true: meant to be mounted.
   */
  meantToBeMounted?: boolean
}

export type RuntimeName = 'docker' | 'nerdctl' | 'podman'

export interface AttachmentRecord {
  runtime: RuntimeName
  /** The runtime's named volume bound to the mountpoint; null where there is none (nerdctl, --target only). */
  name: string | null
  /** Containers `attach --target` started, full ids. */
  containers: string[]
  /** Running containers the volume was mounted into by `attach --container`. */
  live?: LiveMount[]
}

export interface LiveMount {
  /** Full id, and the name it had. */
  container: string
  name: string
  target: string
}

/**
 * An operation under way on a volume (or a snapshot): its intent, written before the first
 * change to the host and removed after the last. When its process dies (kill -9, power loss)
 * the next cbs command (or `cbs doctor --fix`) finishes or rolls it back: see recovery.ts.
 */
export interface PendingOperation<Operation extends string = 'create' | 'remove' | 'restore' | 'resize' | 'receive'> {
  operation: Operation
  pid: number
  /** The owner's start time (see process-identity.ts), so that a reused pid is not taken for it. */
  startTime?: string
  startedAt: string
  /** Set once the operation is past its point of no return: it can then only be finished. */
  committed?: boolean
  /** resize: the size asked for and the size before; resize, restore, receive: whether the volume was mounted. */
  sizeBytes?: number
  fromBytes?: number
  wasMounted?: boolean
  /** Why the last attempt to finish or roll it back failed. */
  error?: string
}

/** How an image was copied: a copy-on-write clone of the extents, or a sparse copy of the data. */
export type CopyMethod = 'reflink' | 'copy'

/**
 * A snapshot: a read-only copy of a volume's image at one moment. Its record is written with
 * `pending` before the copy starts and only loses it once the image is complete under its final
 * name, so a snapshot whose record has `pending` is never a good one.
 */
export interface SnapshotRecord {
  name: string
  /** Unique for every snapshot ever made (a UUID, like ZFS's guid): kept by export and import, so incremental streams can name their base. */
  id: string
  volume: string
  fs: Filesystem
  sizeBytes: number
  method: CopyMethod
  labels: Record<string, string>
  createdAt: string
  /** export: a snapshot `volume export` took of a volume, removed when the export ends (or by recovery once its process is gone). */
  pending?: PendingOperation<'snapshot' | 'remove' | 'export'>
  /** Snapshots made by `volume import`: a digest of the volume's file listing right after, to tell whether it changed since (see streams/fingerprint.ts). */
  receivedFingerprint?: string
}

export interface State {
  schemaVersion: number
  volumes: Record<string, VolumeRecord>
  /**
   * Imports under way, by the name of the volume they make. The volume itself exists only once
   * the stream has been verified; until then this intent says whose partial image is whose.
   */
  imports?: Record<string, PendingOperation<'import'>>
}

export const emptyState = (): State => ({schemaVersion: SCHEMA_VERSION, volumes: {}})

/**
 * Brings a state file written by an older cbs (its schema version given) up to date; the result
 * is checked by stateProblem (state-check.ts).
 */
export function migrateState(data: Record<string, unknown>, version: number): unknown {
  // A file without `volumes` has none yet. Then one step at a time, oldest first.
  const state = {...data, volumes: data.volumes === undefined ? {} : data.volumes}
  if (version < 2) giveSnapshotsIds(state.volumes)
  return {...state, schemaVersion: SCHEMA_VERSION}
}

/** 1 -> 2: every snapshot has a unique id (see SnapshotRecord.id). Anything odd is left to the check. */
function giveSnapshotsIds(volumes: unknown): void {
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
  if (!isObject(volumes)) return
  for (const volume of Object.values(volumes)) {
    if (!isObject(volume) || !isObject(volume.snapshots)) continue
    for (const snapshot of Object.values(volume.snapshots)) if (isObject(snapshot)) snapshot.id ??= randomUUID()
  }
}
