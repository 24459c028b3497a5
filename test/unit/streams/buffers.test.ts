import assert from 'node:assert/strict'
import {execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {closeSync, constants, mkdirSync, openSync, read, readFileSync, truncateSync, writeFileSync} from 'node:fs'
import {promisify} from 'node:util'
import {Writable} from 'node:stream'
import {exportStream} from '../../../src/lib/streams/export.js'
import type {StreamHeader} from '../../../src/lib/streams/format.js'
import {StreamReader} from '../../../src/lib/streams/reader.js'
import {descriptorSink, fileSink, streamSink} from '../../../src/lib/streams/sinks.js'
import {fileChunks, pipeChunks} from '../../../src/lib/streams/source.js'
import {type Sink, StreamWriter} from '../../../src/lib/streams/writer.js'
import {type UnitContext, unitContext, withScript} from '../../support/unit-context.js'

const MiB = 1024 ** 2
const readFrom = promisify(read)

const header: StreamHeader = {
  source: 'db',
  fs: 'ext4',
  sizeBytes: 64 * MiB,
  labels: {},
  snapshot: {name: 'mon', id: '3f1c7f0e-8a4b-4c1e-9d2a-0b6f5e4d3c2b', createdAt: '2026-11-28T06:00:00.000Z'},
  base: null,
  createdAt: '2026-11-28T06:01:00.000Z',
}

const memorySink = () => {
  const parts: Buffer[] = []
  const sink: Sink = {write: async (bytes) => void parts.push(Buffer.from(bytes))}
  return {sink, bytes: () => Buffer.concat(parts)}
}

/** Data at `at`, read back by a consumer that copies each record's bytes before the next. */
async function readCopying(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const reader = new StreamReader(chunks, {reuse: true})
  await reader.header()
  const copies: Buffer[] = []
  for await (const record of reader.records()) if (record.kind === 'data') copies.push(Buffer.from(record.data))
  return Buffer.concat(copies)
}

describe('stream buffers used again', () => {
  let ctx: UnitContext
  beforeEach(() => (ctx = unitContext()))
  afterEach(() => ctx.cleanup())

  /** A stream of 13 MiB and 7 bytes of data, in a file under the root. */
  async function streamFile(): Promise<{file: string; bytes: Buffer; data: Buffer}> {
    const {sink, bytes} = memorySink()
    const writer = await StreamWriter.start(sink, header)
    const data = randomBytes(13 * MiB + 7)
    await writer.data(MiB, data)
    await writer.end()
    const file = `${ctx.layout.root}/s.cbs`
    writeFileSync(file, bytes())
    return {file, bytes: bytes(), data}
  }

  it('a reader that reuses its buffers hands out each record whole, from a file (4 MiB chunks in turn) or small chunks', async () => {
    const {file, bytes, data} = await streamFile()
    assert.deepEqual(await readCopying(fileChunks(file)), data)
    async function* small() {
      for (let at = 0; at < bytes.length; at += 65_536) yield bytes.subarray(at, at + 65_536)
    }
    assert.deepEqual(await readCopying(small()), data)
  })

  it('a pipe is read whole into buffers used again, however small the pieces its writer sends', async () => {
    const {file, data} = await streamFile()
    const fifo = `${ctx.layout.root}/fifo`
    execFileSync('mkfifo', [fifo])
    // 1000-byte writes: a record spans a thousand of them, and chunks must still come whole.
    const writing = spawn('dd', [`if=${file}`, `of=${fifo}`, 'bs=1000', 'status=none'])
    const ended = new Promise((resolve) => writing.on('close', resolve))
    const fd = openSync(fifo, 'r') // returns once dd opened its end
    assert.deepEqual(await readCopying(pipeChunks(fd)), data)
    assert.equal(await ended, 0)
  })

  it('the sinks copy what they are given: the caller may write into its buffer once write resolved', async () => {
    const given = Buffer.alloc(5 * MiB + 3, 1)
    const file = `${ctx.layout.root}/out`
    const toFile = await fileSink(file)
    await toFile.write(given)
    given.fill(2)
    await toFile.write(given.subarray(0, 10))
    await toFile.close()
    const written = readFileSync(file)
    assert.equal(written.length, 5 * MiB + 13)
    assert.ok(written.subarray(0, 5 * MiB + 3).every((byte) => byte === 1) && written.subarray(5 * MiB + 3).every((byte) => byte === 2))

    const parts: Buffer[] = []
    const toStream = streamSink(new Writable({write: (chunk, _, done) => (parts.push(Buffer.from(chunk)), done())}))
    given.fill(3)
    await toStream.write(given)
    given.fill(4)
    await toStream.close()
    assert.ok(Buffer.concat(parts).every((byte) => byte === 3))
  })
  for (const blocking of [true, false]) {
    it(`stdout that is not a pipe is written from the thread pool: a reader that stops reading never holds up the process (${blocking ? 'blocking' : 'non-blocking, EAGAIN'})`, async () => {
      const fifo = `${ctx.layout.root}/stalled`
      execFileSync('mkfifo', [fifo])
      // A descriptor nobody reads yet, as stdout can be: a socket a Node parent gave is non-blocking.
      const fd = openSync(fifo, constants.O_RDWR | (blocking ? 0 : constants.O_NONBLOCK))
      const reader = openSync(fifo, constants.O_RDONLY)
      try {
        const sink = descriptorSink(fd, 'stdout')
        const given = randomBytes(5 * MiB) // more than a pipe holds: the write waits for a reader
        let written = false
        const writing = sink.write(given).then(() => sink.close()).then(() => (written = true))
        const ticks = await new Promise<number>((resolve) => {
          let count = 0
          const timer = setInterval(() => ++count === 5 && (clearInterval(timer), resolve(count)), 10)
        })
        assert.equal(ticks, 5, 'timers run while the write waits')
        assert.equal(written, false)
        const read: Buffer[] = []
        for (let got = 0; got < given.length; ) {
          const chunk = Buffer.alloc(given.length - got)
          const {bytesRead} = await readFrom(reader, chunk, 0, chunk.length, null) // on the pool too: the sink's last write needs this thread
          read.push(chunk.subarray(0, bytesRead))
          got += bytesRead
        }
        await writing
        assert.deepEqual(Buffer.concat(read), given)
      } finally {
        closeSync(fd)
        closeSync(reader)
      }
    })
  }
})

describe('volume export (planned commands)', () => {
  let ctx: UnitContext
  afterEach(() => ctx.cleanup())

  it('a snapshot: its extents from filefrag, then only the ranges holding data, read back record for record', async () => {
    ctx = unitContext()
    const image = ctx.layout.snapshotImage('db', 'mon')
    mkdirSync(ctx.layout.snapshotDir('db'), {recursive: true})
    const data = randomBytes(6 * MiB)
    writeFileSync(image, Buffer.concat([Buffer.alloc(2 * MiB), data]))
    truncateSync(image, 64 * MiB)
    await ctx.store.update((state) => {
      state.volumes.db = {name: 'db', type: 'loop', fs: 'ext4', sizeBytes: 64 * MiB, labels: {env: 'prod'}, createdAt: '2026-11-28T05:00:00.000Z'}
      state.volumes.db.snapshots = {mon: {name: 'mon', id: header.snapshot!.id, volume: 'db', fs: 'ext4', sizeBytes: 64 * MiB, method: 'copy', labels: {}, createdAt: header.snapshot!.createdAt}}
    })
    // 4 KiB blocks: data at blocks 512..2047 (2 MiB to 8 MiB), nothing else.
    const filefrag = `Filesystem type is: ef53\nFile size of ${image} is 67108864 (16384 blocks of 4096 bytes)\n ext:     logical_offset:        physical_offset: length:   expected: flags:\n   0:      512..    2047:      34816..     36351:   1536:             last,eof\n`
    const run = withScript(ctx, [{command: `filefrag -v -e ${image}`, stdout: filefrag}])
    const {sink, bytes} = memorySink()
    const exported = await exportStream(run, {source: 'db@mon'}, sink)
    assert.equal(exported.dataBytes, 6 * MiB)
    assert.equal(exported.snapshot, 'db@mon')
    assert.deepEqual(run.exec.ran, [`filefrag -v -e ${image}`])
    const reader = new StreamReader((async function* () {
      yield bytes()
    })())
    const read = await reader.header()
    assert.deepEqual({...read, createdAt: ''}, {...header, labels: {env: 'prod'}, createdAt: ''})
    const records = []
    for await (const record of reader.records()) records.push(record)
    assert.deepEqual(records.map((record) => record.offset), [2, 3, 4, 5, 6, 7].map((mib) => mib * MiB))
    assert.deepEqual(Buffer.concat(records.map((record) => (record.kind === 'data' ? record.data : Buffer.alloc(0)))), data)
  })
})
