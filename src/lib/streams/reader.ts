import {invalid} from '../common/errors.js'
import {FORMAT_VERSION, HASH_BYTES, MAGIC, MAX_DATA_BYTES, MAX_HEADER_BYTES, RECORD, type StreamHeader, sha256} from './format.js'
import {validateHeader} from './header.js'

/**
 * What a stream holds, record by record, each checked before it is handed out. With `reuse`
 * (StreamReader), a data record's bytes are valid only until the next record is asked for.
 */
export type StreamRecord = {kind: 'data'; offset: number; data: Buffer} | {kind: 'zeros'; offset: number; length: number}

const damaged = (what: string) => invalid(`the stream is damaged: ${what}`, 'nothing was imported; export it again')

/** Reads of this size and more that span two chunks are copied into one buffer used again. */
const LARGE_BYTES = 64 * 1024

/**
 * Reads exact byte counts from chunks of any size, copying only what spans two chunks. With
 * `reuse`, large reads that span two are copied into one buffer used again (fresh large
 * buffers each cost page faults): what one returns is valid until the next.
 */
class Bytes {
  private chunks: Buffer[] = []
  private spare = Buffer.alloc(0)
  /** Bytes of chunks[0] already taken. */
  private taken = 0
  private length = 0
  private done = false

  constructor(
    private readonly source: AsyncIterator<Buffer>,
    private readonly reuse: boolean,
  ) {}

  private async pull(): Promise<boolean> {
    if (this.done) return false
    const next = await this.source.next()
    if (next.done) {
      this.done = true
      return false
    }
    if (next.value.length > 0) {
      this.chunks.push(next.value)
      this.length += next.value.length
    }
    return true
  }

  /** Exactly `count` bytes; fewer left is a truncated stream. */
  async read(count: number, what: string): Promise<Buffer> {
    while (this.length < count) {
      if (!(await this.pull())) throw invalid(`the stream is truncated (it ends inside ${what})`, 'nothing was imported; export it again')
    }
    this.length -= count
    const first = this.chunks[0]
    if (first && first.length - this.taken >= count) return this.take(first, count)
    const large = this.reuse && count >= LARGE_BYTES
    if (large && this.spare.length < count) this.spare = Buffer.allocUnsafeSlow(Math.max(count, MAX_DATA_BYTES))
    const bytes = large ? this.spare.subarray(0, count) : Buffer.allocUnsafe(count)
    for (let filled = 0; filled < count; ) {
      const chunk = this.chunks[0]
      const part = Math.min(chunk.length - this.taken, count - filled)
      chunk.copy(bytes, filled, this.taken, this.taken + part)
      filled += part
      this.take(chunk, part)
    }
    return bytes
  }

  private take(chunk: Buffer, count: number): Buffer {
    const bytes = chunk.subarray(this.taken, this.taken + count)
    this.taken += count
    if (this.taken === chunk.length) {
      this.chunks.shift()
      this.taken = 0
    }
    return bytes
  }

  async atEnd(): Promise<boolean> {
    while (this.length === 0) if (!(await this.pull())) return true
    return false
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

  /** `reuse`: for a consumer that is done with each record's bytes before it asks for the next. */
  constructor(chunks: AsyncIterable<Buffer>, options: {reuse?: boolean} = {}) {
    this.bytes = new Bytes(chunks[Symbol.asyncIterator](), options.reuse ?? false)
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
