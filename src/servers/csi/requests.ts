import {FILESYSTEMS, type Filesystem} from '../../lib/images/filesystems.js'
import {aborted, invalidArgument, outOfRange} from './errors.js'

/** The parts of CSI requests several RPCs share, checked before anything reaches the core. */

export interface Capability {
  block?: object | null
  mount?: {fs_type?: string; mount_flags?: string[]} | null
  access_type?: 'block' | 'mount'
  access_mode?: {mode?: string} | null
}

export interface CapacityRange {
  required_bytes?: number
  limit_bytes?: number
}

/** What a list of capabilities asks of a volume. */
export interface Access {
  block: boolean
  mount: boolean
  fs?: Filesystem
  readOnly: boolean
  mountFlags: string[]
}

const SINGLE_NODE = ['SINGLE_NODE_WRITER', 'SINGLE_NODE_READER_ONLY', 'SINGLE_NODE_SINGLE_WRITER', 'SINGLE_NODE_MULTI_WRITER']
const READ_ONLY = ['SINGLE_NODE_READER_ONLY']

export function required(value: string | undefined, field: string): string {
  if (!value) throw invalidArgument(`${field} is required`)
  return value
}

/** Node-local volumes: a MULTI_NODE mode is refused; so is a capability that names no access type. */
export function parseCapabilities(capabilities: Capability[] | undefined, field = 'volume_capabilities'): Access {
  if (!capabilities || capabilities.length === 0) throw invalidArgument(`${field} is required`)
  const access: Access = {block: false, mount: false, readOnly: true, mountFlags: []}
  for (const capability of capabilities) {
    const mode = capability.access_mode?.mode
    if (!mode || mode === 'UNKNOWN') throw invalidArgument(`${field}: access_mode is required`)
    if (!SINGLE_NODE.includes(mode)) throw invalidArgument(`${field}: access mode ${mode} is not supported: cbs volumes are local to one node (use a SINGLE_NODE mode)`)
    if (!READ_ONLY.includes(mode)) access.readOnly = false
    if (capability.access_type === 'block' || capability.block) access.block = true
    else if (capability.access_type === 'mount' || capability.mount) {
      access.mount = true
      const fs = capability.mount?.fs_type
      if (fs) access.fs = parseFsType(fs, access.fs)
      access.mountFlags.push(...(capability.mount?.mount_flags ?? []))
    } else throw invalidArgument(`${field}: an access type (block or mount) is required`)
  }
  return access
}

export function parseFsType(fs: string, other?: Filesystem): Filesystem {
  if (!(FILESYSTEMS as readonly string[]).includes(fs)) throw invalidArgument(`fs_type "${fs}" is not supported: use ${FILESYSTEMS.join(', ')}`)
  if (other && other !== fs) throw invalidArgument(`two filesystems asked for: ${other} and ${fs}`)
  return fs as Filesystem
}

const MiB = 1024 ** 2
export const roundUpToMiB = (bytes: number) => Math.ceil(bytes / MiB) * MiB

/**
 * The size for a capacity range: the required bytes (or `fallback`) rounded up to a MiB and to
 * at least `minimum`; OUT_OF_RANGE when that exceeds the limit.
 */
export function sizeFor(range: CapacityRange | null | undefined, fallback: number, minimum: number): number {
  const requiredBytes = range?.required_bytes ?? 0
  const limit = range?.limit_bytes ?? 0
  if (requiredBytes < 0 || limit < 0) throw invalidArgument('capacity_range: bytes must not be negative')
  if (limit > 0 && requiredBytes > limit) throw invalidArgument(`capacity_range: required_bytes ${requiredBytes} is above limit_bytes ${limit}`)
  const wanted = requiredBytes > 0 ? requiredBytes : limit > 0 ? Math.min(fallback, limit) : fallback
  const size = Math.max(roundUpToMiB(wanted), minimum)
  if (limit > 0 && size > limit) throw outOfRange(`capacity_range: the smallest size cbs can make here is ${size} bytes, above limit_bytes ${limit}`)
  return size
}

/** Whether an existing size satisfies a range (for idempotent CreateVolume). */
export function fitsRange(size: number, range: CapacityRange | null | undefined): boolean {
  const requiredBytes = range?.required_bytes ?? 0
  const limit = range?.limit_bytes ?? 0
  return size >= requiredBytes && (limit <= 0 || size <= limit)
}

/** Paging of List* RPCs: the token is the index of the next entry, as this server handed it out. */
export function page<T>(items: T[], maxEntries: number | undefined, token: string | undefined): {entries: T[]; nextToken: string} {
  if ((maxEntries ?? 0) < 0) throw invalidArgument('max_entries must not be negative')
  let start = 0
  if (token) {
    if (!/^\d{1,9}$/.test(token) || Number(token) > items.length) throw aborted(`starting_token "${token}" is not one this server handed out (or the list has shrunk since): list again from the start`)
    start = Number(token)
  }
  const end = maxEntries ? Math.min(items.length, start + maxEntries) : items.length
  return {entries: items.slice(start, end), nextToken: end < items.length ? String(end) : ''}
}
