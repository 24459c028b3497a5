import {formatSize} from '../lib/input/sizes.js'
import type {Snapshot} from '../lib/snapshots/snapshot.js'
import {printable} from './printable.js'
import {renderTable} from './table.js'

/** 2026-11-25T23:18:00.123Z → 2026-11-25 23:18:00 (UTC, as stored) */
const formatTime = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')

export function snapshotTable(snapshots: Snapshot[]): Promise<string> {
  return renderTable(
    ['NAME', 'CREATED', 'SIZE', 'ALLOCATED', 'METHOD', 'STATUS'],
    snapshots.map((snapshot) =>
      [
        snapshot.name,
        formatTime(snapshot.createdAt),
        formatSize(snapshot.sizeBytes),
        snapshot.allocatedBytes === null ? '-' : formatSize(snapshot.allocatedBytes),
        snapshot.method,
        snapshot.status,
      ].map(printable),
    ),
  )
}
