import type {ChalkInstance} from 'chalk'
import {formatSize} from '../lib/sizes.js'
import type {Volume} from '../lib/volume.js'
import {paintStatus} from './style.js'
import {renderTable} from './table.js'

export function volumeTable(volumes: Volume[], style: ChalkInstance): string {
  return renderTable(
    ['NAME', 'TYPE', 'FS', 'SIZE', 'USED', 'STATUS', 'MOUNTPOINT'],
    volumes.map((volume) => [
      volume.name,
      volume.type,
      volume.fs,
      formatSize(volume.sizeBytes),
      volume.usedBytes === null ? '-' : formatSize(volume.usedBytes),
      paintStatus(style, volume.status),
      volume.mountpoint,
    ]),
  )
}

/** `cbs volume inspect` for a person: one "key: value" block per volume. */
export function volumeDetails(volume: Volume, style: ChalkInstance): string {
  const labels = Object.entries(volume.labels).map(([key, value]) => `${key}=${value}`)
  const lines: Array<[string, string]> = [
    ['Name', volume.name],
    ['Type', volume.type],
    ['Filesystem', volume.fs],
    ['Status', paintStatus(style, volume.status)],
    ['Size', `${formatSize(volume.sizeBytes)} (${volume.sizeBytes} bytes)`],
    ['Used', volume.usedBytes === null ? '-' : formatSize(volume.usedBytes)],
    ['Allocated', volume.allocatedBytes === null ? '-' : formatSize(volume.allocatedBytes)],
    ['Mountpoint', volume.mountpoint],
    ['Device', volume.device ?? '-'],
    ['Backing file', volume.backingFile],
    ['Labels', labels.length > 0 ? labels.join(', ') : '-'],
    ['Created', volume.createdAt],
  ]
  return lines.map(([key, value]) => `${`${key}:`.padEnd(14)}${value}`).join('\n')
}
