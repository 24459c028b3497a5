import type {ChalkInstance} from 'chalk'
import {formatSize} from '../lib/input/sizes.js'
import {shortId} from '../lib/runtimes/runtimes.js'
import type {AttachmentRecord} from '../lib/store/state.js'
import type {Volume} from '../lib/volumes/volume.js'
import {printable} from './printable.js'
import {paintStatus} from './style.js'
import {renderTable} from './table.js'

export function volumeTable(volumes: Volume[], style: ChalkInstance): Promise<string> {
  return renderTable(
    ['NAME', 'TYPE', 'FS', 'SIZE', 'USED', 'STATUS', 'MOUNTPOINT', 'ATTACHED'],
    volumes.map((volume) => [
      printable(volume.name),
      printable(volume.type),
      printable(volume.fs),
      formatSize(volume.sizeBytes),
      volume.usedBytes === null ? '-' : formatSize(volume.usedBytes),
      paintStatus(style, volume.status),
      printable(volume.mountpoint),
      printable(volume.attachments.map((attachment) => attachment.runtime).join(',') || '-'),
    ]),
  )
}

/** `cbs volume inspect` for a person: one "key: value" block per volume. */
export function volumeDetails(volume: Volume, style: ChalkInstance): string {
  const labels = Object.entries(volume.labels).map(([key, value]) => `${key}=${value}`)
  // Every value is made printable; the status is coloured after.
  const lines: Array<[string, string]> = [
    ['Name', volume.name],
    ['Type', volume.type],
    ['Filesystem', volume.fs],
    ['Status', volume.status],
    ['Size', `${formatSize(volume.sizeBytes)} (${volume.sizeBytes} bytes)`],
    ['Used', volume.usedBytes === null ? '-' : formatSize(volume.usedBytes)],
    ['Allocated', volume.allocatedBytes === null ? '-' : formatSize(volume.allocatedBytes)],
    ['Mountpoint', volume.mountpoint],
    ['Device', volume.device ?? '-'],
    ['Image', volume.image],
    ['Labels', labels.length > 0 ? labels.join(', ') : '-'],
    ['Created', volume.createdAt],
    ...volume.attachments.map((attachment): [string, string] => ['Attached', describeAttachment(attachment)]),
  ]
  if (volume.lowers) {
    // Size, Used and Device above are the upper layer's.
    lines.splice(lines.length - 2, 0, ['Lowers', volume.lowers.map((lower) => lower.source).join(', ')], ['Upper', volume.upper!.mountpoint])
  }
  if (volume.snapshots) {
    const snapshots = volume.snapshots.map((snapshot) => `${snapshot.name} (${snapshot.status === 'ready' ? snapshot.method : snapshot.status})`)
    lines.push(['Snapshots', snapshots.length > 0 ? snapshots.join(', ') : '-'])
  }
  return lines.map(([key, value]) => `${`${key}:`.padEnd(14)}${key === 'Status' ? paintStatus(style, volume.status) : printable(value)}`).join('\n')
}

/** "docker: volume db; containers 3f2a1b4c5d6e; mounted in web at /data", or "nerdctl: bind mount only" */
function describeAttachment(attachment: AttachmentRecord): string {
  const parts = [
    ...(attachment.name ? [`volume ${attachment.name}`] : []),
    ...(attachment.containers.length > 0 ? [`containers ${attachment.containers.map(shortId).join(', ')}`] : []),
    ...(attachment.live ?? []).map((live) => `mounted in ${live.name} at ${live.target}`),
  ]
  return `${attachment.runtime}: ${parts.join('; ') || 'bind mount only'}`
}
