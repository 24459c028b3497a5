import type {Context} from '../system/context.js'
import {FILESYSTEMS, type Filesystem} from '../images/filesystems.js'
import type {FilterKeys} from '../input/filters.js'
import type {HostView} from '../system/host-view.js'
import {type AttachmentRecord, VOLUME_TYPES, type VolumeRecord, type VolumeType} from '../store/state.js'
import {describeLowers, isUnion, type Lower} from '../union/union-volume.js'
import type {Snapshot} from '../snapshots/snapshot.js'
import {isUp} from './lifecycle.js'

export const VOLUME_STATUSES = ['mounted', 'unmounted', 'error', 'creating', 'removing', 'restoring', 'resizing', 'receiving'] as const
/** removed: only in what `cbs volume rm` prints, the volume as it was. */
export type VolumeStatus = (typeof VOLUME_STATUSES)[number] | 'removed'

/** `volume ls --filter`: name= matches part of the name, as in docker. */
export const VOLUME_FILTERS: FilterKeys = {name: 'substring', label: 'label', status: VOLUME_STATUSES, fs: FILESYSTEMS, type: VOLUME_TYPES}

/** A volume as cbs reports it (`--json`): the record joined with what the system says now. */
export interface Volume {
  name: string
  type: VolumeType
  fs: Filesystem
  sizeBytes: number
  /** null while unmounted */
  usedBytes: number | null
  /** What the sparse backing file really takes on the host; null when it is missing. */
  allocatedBytes: number | null
  status: VolumeStatus
  mountpoint: string
  /** null while no loop device is attached */
  device: string | null
  /** The image file (sparse), under $CBS_ROOT/images. */
  image: string
  labels: Record<string, string>
  createdAt: string
  /** Container runtimes it is attached to (`cbs volume attach`). */
  attachments: AttachmentRecord[]
  /** Union volumes only: the read-only lower layers, top-most first. */
  lowers?: Lower[]
  /** Union volumes only: the writable upper layer, a volume of its own (sizeBytes, usedBytes above are its). */
  upper?: {mountpoint: string; sizeBytes: number; usedBytes: number | null}
  /** The volume's snapshots, oldest first (`inspect` only). */
  snapshots?: Snapshot[]
}

/** Every key a Volume may have, for `--format` to check fields against (the compiler keeps it complete). */
const VOLUME_KEYS: Record<keyof Volume, true> = {
  name: true, type: true, fs: true, sizeBytes: true, usedBytes: true, allocatedBytes: true, status: true, mountpoint: true,
  device: true, image: true, labels: true, createdAt: true, attachments: true, lowers: true, upper: true, snapshots: true,
}
export const VOLUME_FIELDS = Object.keys(VOLUME_KEYS)

export function describeVolume(ctx: Context, record: VolumeRecord, view: HostView): Volume {
  const image = ctx.layout.image(record.name)
  const mountpoint = ctx.layout.mountpoint(record.name)
  const file = ctx.host.fileInfo(image)
  const device = view.deviceOf(image) ?? null
  const mount = view.mountAt(mountpoint)
  const union = isUnion(record)
  const mounted = isUp(ctx, record, view)
  const volume: Volume = {
    name: record.name,
    type: record.type,
    fs: record.fs,
    sizeBytes: file?.sizeBytes ?? record.sizeBytes,
    // Read after the mounts: the volume may have been unmounted and removed since (null then).
    usedBytes: mounted ? (ctx.host.mountUsage(mountpoint)?.usedBytes ?? null) : null,
    allocatedBytes: file?.allocatedBytes ?? null,
    status: statusOf(record, Boolean(file), mounted, mount !== undefined),
    mountpoint,
    device,
    image,
    labels: record.labels,
    createdAt: record.createdAt,
    attachments: record.attachments ?? [],
  }
  if (!union) return volume
  return {
    ...volume,
    lowers: describeLowers(ctx, record, view),
    upper: {mountpoint: ctx.layout.upperMount(record.name), sizeBytes: volume.sizeBytes, usedBytes: volume.usedBytes},
  }
}

/**
 * Under --dry-run nothing on the host has changed, so reading it shows the volume as it was (a
 * planned create would show no image and status "error"): report it as the plan leaves it, with
 * the planned size and status. What only the run would tell (the loop device, the usage) is null.
 */
export function describePlanned(ctx: Context, record: VolumeRecord, view: HostView, status?: 'mounted' | 'unmounted'): Volume {
  const now = describeVolume(ctx, record, view)
  const planned = status ?? now.status
  const changes = planned !== now.status
  const usedBytes = changes ? null : now.usedBytes
  const volume: Volume = {...now, status: planned, sizeBytes: record.sizeBytes, usedBytes, device: changes ? null : now.device}
  return volume.upper ? {...volume, upper: {...volume.upper, sizeBytes: record.sizeBytes, usedBytes}} : volume
}

const PENDING_STATUS = {create: 'creating', remove: 'removing', restore: 'restoring', resize: 'resizing', receive: 'receiving'} as const satisfies Record<string, VolumeStatus>

function statusOf(record: VolumeRecord, hasFile: boolean, mounted: boolean, somethingElseMounted: boolean): VolumeStatus {
  if (record.pending) return PENDING_STATUS[record.pending.operation]
  if (!hasFile) return 'error'
  if (mounted) return 'mounted'
  return somethingElseMounted ? 'error' : 'unmounted'
}
