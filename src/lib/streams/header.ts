import {invalid} from '../common/errors.js'
import {FILESYSTEMS} from '../images/filesystems.js'
import {validateName} from '../input/names.js'
import {parseLabels} from '../input/labels.js'
import type {StreamHeader, StreamSnapshot} from './format.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const bad = (what: string) => invalid(`the stream's header is invalid: ${what}`, 'it was not written by `cbs volume export`, or was damaged')

/**
 * Checks a header read from a stream (its checksum matched, but the writer may not be cbs)
 * before any of it reaches a file name, the store or a command line.
 */
export function validateHeader(data: unknown): StreamHeader {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw bad('not a JSON object')
  const header = data as Record<string, unknown>
  const text = (key: string) => {
    if (typeof header[key] !== 'string') throw bad(`"${key}" is not a string`)
    return header[key] as string
  }
  const source = text('source')
  validateOrBad(() => validateName(source), 'source')
  const fs = text('fs')
  if (!(FILESYSTEMS as readonly string[]).includes(fs)) throw bad(`unknown filesystem "${fs}"`)
  const {sizeBytes} = header
  if (typeof sizeBytes !== 'number' || !Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw bad('"sizeBytes" is not a positive integer')
  const labels = header.labels
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels) || Object.values(labels).some((value) => typeof value !== 'string')) {
    throw bad('"labels" is not an object of strings')
  }
  validateOrBad(() => parseLabels(Object.entries(labels).map(([key, value]) => `${key}=${value}`)), 'labels')
  const snapshot = header.snapshot === null ? null : {...snapshotOf(header.snapshot, 'snapshot'), createdAt: createdAtOf(header.snapshot)}
  const base = header.base === null ? null : snapshotOf(header.base, 'base')
  if (base && !snapshot) throw bad('an incremental stream without a snapshot')
  return {source, fs: fs as StreamHeader['fs'], sizeBytes, labels: labels as Record<string, string>, snapshot, base, createdAt: text('createdAt')}
}

function snapshotOf(data: unknown, key: string): StreamSnapshot {
  const snapshot = data as Record<string, unknown> | undefined
  if (typeof snapshot?.name !== 'string' || typeof snapshot.id !== 'string') throw bad(`"${key}" has no name and id`)
  validateOrBad(() => validateName(snapshot.name as string, 'snapshot name'), `${key} name`)
  if (!UUID.test(snapshot.id)) throw bad(`"${key}.id" is not a UUID`)
  return {name: snapshot.name, id: snapshot.id}
}

function createdAtOf(data: unknown): string {
  const {createdAt} = data as {createdAt?: unknown}
  if (typeof createdAt !== 'string' || Number.isNaN(Date.parse(createdAt))) throw bad('"snapshot.createdAt" is not a time')
  return createdAt
}

function validateOrBad(check: () => unknown, what: string): void {
  try {
    check()
  } catch {
    throw bad(`invalid ${what}`)
  }
}
