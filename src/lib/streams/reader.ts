import {invalid} from '../common/errors.js'
import {FORMAT_VERSION, HASH_BYTES, MAGIC, MAX_DATA_BYTES, MAX_HEADER_BYTES, RECORD, type StreamHeader, sha256} from './format.js'
import {validateHeader} from './header.js'

/** What a stream holds, record by record, each checked before it is handed out. */
export type StreamRecord = {kind: 'data'; offset: number; data: Buffer} | {kind: 'zeros'; offset: number; length: number}

const damaged = (what: string) => invalid(`the stream is damaged: ${what}`, 'nothing was imported; export it again')

/** Reads exact byte counts from chunks of any size. */
class Bytes {
  private buffered: Buffer[] = []
  private length = 0
  private done = false

  constructor(private readonly chunks: AsyncIterator<Buffer>) {}

  /** Exactly `count` bytes, or undefined at the end when none are left; fewer is a truncated stream. */
  async read(count: number, what: string): Promise<Buffer> {
    while (this.length < count && !this.done) {
      const next = await this.chunks.next()
      if (next.done) this.done = true
      else if (next.value.length > 0) {
        this.buffered.push(next.value)
        this.length += next.value.length
      }
    }
    if (this.length < count) throw invalid(`the stream is truncated (it ends inside ${what})`, 'nothing was imported; export it again')
    const all = this.buffered.length === 1 ? this.buffered[0] : Buffer.concat(this.buffered)
    const taken = all.subarray(0, count)
    const rest = all.subarray(count)
    this.buffered = rest.length > 0 ? [rest] : []
    this.length = rest.length
    return taken
  }

  async atEnd(): Promise<boolean> {
    if (this.length > 0) return false
    while (!this.done) {
      const next = await this.chunks.next()
      if (next.done) this.done = true
      else if (next.value.length > 0) {
        this.buffered.push(next.value)
        this.length += next.value.length
        return false
      }
    }
    return true
  }
}

/**
 * Reads a cbs stream (see format.ts). `header()` first: magic, version, size and checksum are
 * checked before the JSON is parsed, and the JSON before it is returned. Then `records()` gives
 * each record once its checksum matched, in order, within the volume's size; it ends after the
 * trailer matched and nothing followed. Any mismatch throws (exit 2) naming what was wrong.
 */
export class StreamReader {
  private readonly bytes: Bytes
  private parsed?: StreamHeader
  private chain = sha256()

  constructor(chunks: AsyncIterable<Buffer>) {
    this.bytes = new Bytes(chunks[Symbol.asyncIterator]())
  }

  async header(): Promise<StreamHeader> {
    const magic = await this.bytes.read(MAGIC.length, 'the magic number')
    if (!magic.equals(MAGIC)) throw invalid('this is not a cbs stream (wrong magic number)', 'give `cbs volume import` what `cbs volume export` wrote, or pass --format tar for a tar')
    const fixed = await this.bytes.read(6, 'the header')
    const version = fixed.readUInt16BE(0)
    if (version > FORMAT_VERSION) throw invalid(`the stream has format version ${version}; this cbs reads version ${FORMAT_VERSION}`, 'upgrade cbs on this host')
    if (version < 1) throw damaged(`format version ${version}`)
    const length = fixed.readUInt32BE(2)
    if (length > MAX_HEADER_BYTES) throw damaged(`a header of ${length} bytes`)
    const json = await this.bytes.read(length, 'the header')
    const checksum = await this.bytes.read(HASH_BYTES, 'the header')
    const expected = sha256(magic, fixed, json)
    if (!checksum.equals(expected)) throw damaged('the header checksum does not match')
    let data: unknown
    try {
      data = JSON.parse(json.toString('utf8'))
    } catch {
      throw damaged('the header is not JSON')
    }
    this.parsed = validateHeader(data)
    this.chain = sha256(expected)
    return this.parsed
  }

  async *records(): AsyncGenerator<StreamRecord> {
    const header = this.parsed ?? (await this.header())
    let records = 0
    let dataBytes = 0
    let next = 0 // records are in order and do not overlap
    for (;;) {
      const kind = (await this.bytes.read(1, 'a record')).readUInt8(0)
      if (kind === RECORD.end) {
        const fields = await this.bytes.read(16, 'the trailer')
        const checksum = await this.bytes.read(HASH_BYTES, 'the trailer')
        if (Number(fields.readBigUInt64BE(0)) !== records || Number(fields.readBigUInt64BE(8)) !== dataBytes) throw damaged('the trailer counts do not match its records')
        if (!checksum.equals(this.chain)) throw damaged('the stream checksum does not match')
        if (!(await this.bytes.atEnd())) throw damaged('there are bytes after its end')
        return
      }
      if (kind !== RECORD.data && kind !== RECORD.zeros) throw damaged(`unknown record kind 0x${kind.toString(16)} at record ${records + 1}`)
      const fields = await this.bytes.read(kind === RECORD.data ? 12 : 16, 'a record')
      const offset = Number(fields.readBigUInt64BE(0))
      const length = kind === RECORD.data ? fields.readUInt32BE(8) : Number(fields.readBigUInt64BE(8))
      if (kind === RECORD.data && (length === 0 || length > MAX_DATA_BYTES)) throw damaged(`record ${records + 1} has ${length} bytes`)
      const data = kind === RECORD.data ? await this.bytes.read(length, 'a data record') : undefined
      const checksum = await this.bytes.read(HASH_BYTES, 'a record')
      const expected = sha256(Buffer.of(kind), fields, ...(data ? [data] : []))
      if (!checksum.equals(expected)) throw damaged(`the checksum of record ${records + 1} (offset ${offset}) does not match`)
      if (offset < next || offset + length > header.sizeBytes || length <= 0) throw damaged(`record ${records + 1} is out of place (offset ${offset}, ${length} bytes)`)
      next = offset + length
      records++
      this.chain = sha256(this.chain, expected)
      if (data) {
        dataBytes += length
        yield {kind: 'data', offset, data}
      } else yield {kind: 'zeros', offset, length}
    }
  }
}
