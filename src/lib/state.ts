import type {Filesystem} from './filesystems.js'

/** Bumped when the shape of the state file changes; see migrateState. */
export const SCHEMA_VERSION = 1

export type VolumeType = 'loop'

/** What the store keeps of a volume: only what the system cannot tell. */
export interface VolumeRecord {
  name: string
  type: VolumeType
  fs: Filesystem
  sizeBytes: number
  labels: Record<string, string>
  createdAt: string
  /** Set while an operation on the volume is under way, by the process doing it. */
  pending?: PendingOperation
  /** What `cbs volume attach` registered with container runtimes, one entry a runtime. */
  attachments?: AttachmentRecord[]
}

export type RuntimeName = 'docker' | 'nerdctl' | 'podman'

export interface AttachmentRecord {
  runtime: RuntimeName
  /** The runtime's named volume bound to the mountpoint; null where there is none (nerdctl, --target only). */
  name: string | null
  /** Containers `attach --target` started, full ids. */
  containers: string[]
}

export interface PendingOperation {
  operation: 'create' | 'remove'
  pid: number
  startedAt: string
}

export interface State {
  schemaVersion: number
  volumes: Record<string, VolumeRecord>
}

export const emptyState = (): State => ({schemaVersion: SCHEMA_VERSION, volumes: {}})

/** Brings a state file written by an older cbs up to date; refuses one from a newer cbs. */
export function migrateState(data: unknown): State | {newerVersion: number} {
  const state = {...emptyState(), ...(data as Partial<State>)}
  if (state.schemaVersion > SCHEMA_VERSION) return {newerVersion: state.schemaVersion}
  // Version 1 is the first; later migrations go here, one step at a time.
  return {...state, schemaVersion: SCHEMA_VERSION}
}
