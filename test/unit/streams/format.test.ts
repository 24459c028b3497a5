import assert from 'node:assert/strict'
import {FORMAT_VERSION, type StreamHeader} from '../../../src/lib/streams/format.js'
import {StreamReader, type StreamRecord} from '../../../src/lib/streams/reader.js'
import {type Sink, StreamWriter} from '../../../src/lib/streams/writer.js'
import {exitCodeOf} from '../../support/exit-codes.js'

const header: StreamHeader = {
  source: 'db',
  fs: 'ext4',
  sizeBytes: 64 * 1024 ** 2,
  labels: {env: 'prod'},
  snapshot: {name: 'tue', id: '3f1c7f0e-8a4b-4c1e-9d2a-0b6f5e4d3c2b', createdAt: '2026-11-28T06:00:00.000Z'},
  base: {name: 'mon', id: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d'},
  createdAt: '2026-11-28T06:01:00.000Z',
}

/** A stream of 3 MiB of data at 1 MiB, and 8 KiB of zeros at 16 MiB. */
async function sampleStream(): Promise<{bytes: Buffer; data: Buffer; dataAt: number}> {
  const parts: Buffer[] = []
  const sink: Sink = {write: async (bytes) => void parts.push(Buffer.from(bytes))}
  const writer = await StreamWriter.start(sink, header)
  const data = Buffer.alloc(3 * 1024 ** 2 + 5)
  for (let index = 0; index < data.length; index++) data[index] = (index * 7) % 251
  await writer.data(1024 ** 2, data)
  await writer.zeros(16 * 1024 ** 2, 8192)
  await writer.end()
  return {bytes: Buffer.concat(parts), data, dataAt: 1024 ** 2}
}

async function* chunksOf(bytes: Buffer, size = 65_536): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size)
}

async function readAll(bytes: Buffer): Promise<{header: StreamHeader; records: StreamRecord[]}> {
  const reader = new StreamReader(chunksOf(bytes))
  const read = await reader.header()
  const records: StreamRecord[] = []
  for await (const record of reader.records()) records.push(record)
  return {header: read, records}
}

async function failure(bytes: Buffer): Promise<{code: number; message: string}> {
  try {
    await readAll(bytes)
  } catch (error) {
    return {code: await exitCodeOf(Promise.reject(error)), message: (error as Error).message}
  }
  return assert.fail('the stream was accepted')
}

const flip = (bytes: Buffer, at: number) => {
  const copy = Buffer.from(bytes)
  copy[at] ^= 0x01
  return copy
}

describe('the cbs stream', () => {
  it('reads back what was written: header, data cut into records of 1 MiB, zeros', async () => {
    const {bytes, data, dataAt} = await sampleStream()
    const {header: read, records} = await readAll(bytes)
    assert.deepEqual(read, header)
    const dataRecords = records.filter((record) => record.kind === 'data')
    assert.equal(dataRecords.length, 4)
    assert.deepEqual(Buffer.concat(dataRecords.map((record) => record.data)), data)
    assert.equal(dataRecords[0].offset, dataAt)
    assert.deepEqual(records.at(-1), {kind: 'zeros', offset: 16 * 1024 ** 2, length: 8192})
    // the overhead: header, and 13 + 32 bytes a record
    assert.ok(bytes.length < data.length * 1.001 + 1024, `${bytes.length}`)
  })

  it('refuses a wrong magic number and a newer format version, exit 2, with one line each', async () => {
    const {bytes} = await sampleStream()
    const wrong = await failure(Buffer.concat([Buffer.from('hello, world'), bytes]))
    assert.equal(wrong.code, 2)
    assert.match(wrong.message, /not a cbs stream \(wrong magic number\)/)
    const newer = Buffer.from(bytes)
    newer.writeUInt16BE(FORMAT_VERSION + 1, 8)
    const refused = await failure(newer)
    assert.equal(refused.code, 2)
    assert.match(refused.message, /format version 2; this cbs reads version 1: upgrade cbs/)
    for (const message of [wrong.message, refused.message]) assert.doesNotMatch(message, /\n/)
  })

  it('refuses one flipped byte anywhere: header, record fields, data, checksums, trailer', async () => {
    const {bytes} = await sampleStream()
    const headerEnd = 14 + bytes.readUInt32BE(10) + 32
    const places: Array<[string, number, RegExp]> = [
      ['header JSON', 20, /header checksum does not match/],
      ['header checksum', headerEnd - 1, /header checksum does not match/],
      ['record offset', headerEnd + 3, /checksum of record 1/],
      ['data', headerEnd + 13 + 1000, /checksum of record 1/],
      ['data of the last record', bytes.length - 49 - 49 - 32 - 2, /checksum of record 4/],
      ['trailer count', bytes.length - 40, /trailer counts/],
      ['trailer checksum', bytes.length - 1, /stream checksum does not match/],
    ]
    for (const [what, at, message] of places) {
      const refused = await failure(flip(bytes, at))
      assert.equal(refused.code, 2, what)
      assert.match(refused.message, message, what)
    }
  })

  it('refuses a truncated stream wherever it ends, and bytes after its end', async () => {
    const {bytes} = await sampleStream()
    for (const length of [0, 5, 30, 200, 1024 ** 2, bytes.length - 1]) {
      const refused = await failure(bytes.subarray(0, length))
      assert.equal(refused.code, 2)
      assert.match(refused.message, /truncated/)
    }
    assert.match((await failure(Buffer.concat([bytes, Buffer.from('x')]))).message, /bytes after its end/)
  })

  it('refuses headers whose fields would reach a file name or the store unchecked', async () => {
    const {encodeHeader} = await import('../../../src/lib/streams/format.js')
    const end = Buffer.alloc(17 + 32)
    const variants: Array<Partial<Record<keyof StreamHeader, unknown>>> = [
      {source: '../etc'},
      {fs: 'ntfs'},
      {sizeBytes: -1},
      {labels: {'bad key': 'x'}},
      {snapshot: {name: 'a/b', id: header.snapshot!.id, createdAt: header.createdAt}},
      {base: {name: 'mon', id: 'not-a-uuid'}},
      {snapshot: null},
    ]
    for (const variant of variants) {
      const bytes = Buffer.concat([encodeHeader({...header, ...variant} as StreamHeader), end])
      const refused = await failure(bytes)
      assert.equal(refused.code, 2, JSON.stringify(variant))
      assert.match(refused.message, /header is invalid/, JSON.stringify(variant))
    }
  })
})
