import {createHash} from 'node:crypto'
import type {Filesystem} from '../images/filesystems.js'

/**
 * The cbs stream, version 1: what `volume export` writes and `volume import` reads. Documented
 * for people in docs/stream-format.md (keep the two in step). All integers are big-endian.
 *
 *   magic    8 bytes  89 43 42 53 0d 0a 1a 0a  ("\x89CBS\r\n\x1a\n", as PNG: text-mode damage shows)
 *   version  u16      1
 *   length   u32      of the header JSON (at most 1 MiB)
 *   header   JSON     StreamHeader, UTF-8
 *   sha256   32 bytes of everything above
 *   records  each a kind byte, its fields, and a sha256 of the record up to it:
 *     'D' data  u64 offset, u32 length (1 byte to 4 MiB), the bytes
 *     'Z' zeros u64 offset, u64 length: the range reads as zeros (a hole; incremental streams only)
 *   'E' end  u64 number of records, u64 data bytes, and the chain: c0 = sha256(header sha256),
 *            cN = sha256(cN-1 || sha256 of record N), so it covers every byte before it. Nothing
 *            may follow it.
 */

export const MAGIC = Buffer.from([0x89, 0x43, 0x42, 0x53, 0x0d, 0x0a, 0x1a, 0x0a])
export const FORMAT_VERSION = 1
export const MAX_HEADER_BYTES = 1024 ** 2
/** Data records are written 1 MiB at most, and read up to 4 MiB. */
export const CHUNK_BYTES = 1024 ** 2
export const MAX_DATA_BYTES = 4 * 1024 ** 2
export const HASH_BYTES = 32

export const RECORD = {data: 0x44, zeros: 0x5a, end: 0x45} as const

export interface StreamSnapshot {
  name: string
  id: string
}

/** What a stream says about itself before its data. */
export interface StreamHeader {
  /** The volume it was exported from. */
  source: string
  fs: Filesystem
  sizeBytes: number
  labels: Record<string, string>
  /** The snapshot it carries; null when a volume was exported (through a snapshot removed since). */
  snapshot: (StreamSnapshot & {createdAt: string}) | null
  /** Incremental streams: the snapshot the target must have; null for a full stream. */
  base: StreamSnapshot | null
  /** When the stream was written. */
  createdAt: string
}

export const sha256 = (...parts: Buffer[]): Buffer => {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part)
  return hash.digest()
}

/** The header's bytes, its checksum included. */
export function encodeHeader(header: StreamHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8')
  const fixed = Buffer.alloc(6)
  fixed.writeUInt16BE(FORMAT_VERSION, 0)
  fixed.writeUInt32BE(json.length, 2)
  const body = Buffer.concat([MAGIC, fixed, json])
  return Buffer.concat([body, sha256(body)])
}

/** A data record's fields (its bytes follow); the checksum covers both. */
export function dataFields(offset: number, length: number): Buffer {
  const fields = Buffer.alloc(13)
  fields.writeUInt8(RECORD.data, 0)
  fields.writeBigUInt64BE(BigInt(offset), 1)
  fields.writeUInt32BE(length, 9)
  return fields
}

export const zerosFields = (offset: number, length: number): Buffer => twoCounts(RECORD.zeros, offset, length)

export const endFields = (records: number, dataBytes: number): Buffer => twoCounts(RECORD.end, records, dataBytes)

/** A kind byte and two u64. */
function twoCounts(kind: number, first: number, second: number): Buffer {
  const fields = Buffer.alloc(17)
  fields.writeUInt8(kind, 0)
  fields.writeBigUInt64BE(BigInt(first), 1)
  fields.writeBigUInt64BE(BigInt(second), 9)
  return fields
}
