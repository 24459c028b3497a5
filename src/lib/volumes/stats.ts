import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {noSuchVolume, notFound} from '../common/errors.js'
import {HostView} from '../system/host-view.js'
import {validateName} from '../input/names.js'
import {validateHostPath} from '../input/host-paths.js'

/** What a published volume holds (CSI NodeGetVolumeStats): bytes and inodes, and its health. */
export interface VolumeStats {
  bytes: {total: number; used: number; available: number}
  /** Absent for a published block device (no filesystem cbs can read). */
  inodes?: {total: number; used: number; available: number}
  /** Set when something is wrong with the volume (its image is missing, it is not up). */
  abnormal?: string
}

export function volumeStats(ctx: Context, name: string, path: string): VolumeStats {
  validateName(name)
  validateHostPath(path, 'volume path')
  requireRoot(ctx.host)
  const record = ctx.store.read().volumes[name]
  if (!record) throw noSuchVolume(name)
  const image = ctx.layout.image(name)
  const file = ctx.host.fileInfo(image)
  const info = ctx.host.fileInfo(path)
  if (!info) throw notFound(`${path} does not exist`, 'give the path the volume is published at')
  const abnormal = file ? undefined : `backing file ${image} is missing`
  if (!info.isDirectory) {
    const size = file?.sizeBytes ?? record.sizeBytes
    return {bytes: {total: size, used: 0, available: 0}, abnormal}
  }
  if (!HostView.read(ctx.host).mountAt(path)) throw notFound(`nothing is mounted on ${path}`, 'give the path the volume is published at')
  const usage = ctx.host.mountUsage(path)
  if (!usage) throw notFound(`${path} is gone`, 'give the path the volume is published at')
  const totalInodes = usage.totalInodes ?? 0
  const freeInodes = usage.freeInodes ?? 0
  return {
    bytes: {total: usage.totalBytes, used: usage.usedBytes, available: usage.availableBytes},
    inodes: {total: totalInodes, used: totalInodes - freeInodes, available: freeInodes},
    abnormal,
  }
}
