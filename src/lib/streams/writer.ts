import {CHUNK_BYTES, dataFields, encodeHeader, endFields, type StreamHeader, sha256, zerosFields} from './format.js'

/** Where a stream goes: a file or a pipe; `write` resolves once the bytes are taken (backpressure), and the caller may then use its buffer again. */
export interface Sink {
  write(bytes: Buffer): Promise<void>
}

/** Writes a cbs stream (see format.ts): the header, then records, then `end()`. */
export class StreamWriter {
  private chain: Buffer
  private records = 0
  private dataBytes = 0
  /** Bytes written so far. */
  written = 0

  private constructor(
    private readonly sink: Sink,
    headerChecksum: Buffer,
  ) {
    this.chain = sha256(headerChecksum)
  }

  static async start(sink: Sink, header: StreamHeader): Promise<StreamWriter> {
    const bytes = encodeHeader(header)
    const writer = new StreamWriter(sink, bytes.subarray(bytes.length - 32))
    await writer.put(bytes)
    return writer
  }

  /** Data at `offset`, cut into records of CHUNK_BYTES at most. */
  async data(offset: number, bytes: Buffer): Promise<void> {
    for (let start = 0; start < bytes.length; start += CHUNK_BYTES) {
      const part = bytes.subarray(start, start + CHUNK_BYTES)
      const fields = dataFields(offset + start, part.length)
      await this.record(fields, part)
      this.dataBytes += part.length
    }
  }

  async zeros(offset: number, length: number): Promise<void> {
    await this.record(zerosFields(offset, length))
  }

  async end(): Promise<void> {
    const fields = endFields(this.records, this.dataBytes)
    await this.put(Buffer.concat([fields, this.chain]))
  }

  private async record(fields: Buffer, data?: Buffer): Promise<void> {
    const checksum = data ? sha256(fields, data) : sha256(fields)
    for (const part of data ? [fields, data, checksum] : [fields, checksum]) await this.put(part)
    this.chain = sha256(this.chain, checksum)
    this.records++
  }

  private async put(bytes: Buffer): Promise<void> {
    await this.sink.write(bytes)
    this.written += bytes.length
  }
}
