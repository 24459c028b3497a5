import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdirSync, readdirSync, statSync, truncateSync, writeFileSync} from 'node:fs'
import {exportStream} from '../../../src/lib/streams/export.js'
import {StreamReader} from '../../../src/lib/streams/reader.js'
import {StreamedCopy} from '../../../src/lib/streams/streamed-copy.js'
import {exitCodeOf} from '../../support/exit-codes.js'
import type {Expectation} from '../../support/fake-executor.js'
import {type UnitContext, unitContext, withScript} from '../../support/unit-context.js'

const MiB = 1024 ** 2
const SIZE = 256 * MiB

describe('an export snapshot streamed as it is copied', () => {
  let ctx: UnitContext
  let source: string
  let target: string
  beforeEach(() => {
    ctx = unitContext()
    source = `${ctx.layout.root}/db.img`
    target = `${ctx.layout.root}/.export.img.partial`
  })
  afterEach(() => ctx.cleanup())

  /** `mib` MiB of random data at 2 MiB in a sparse image of SIZE, and the copy's script: filefrag, then the target made. */
  function image(mib: number): {data: Buffer; run: UnitContext} {
    const data = randomBytes(mib * MiB)
    writeFileSync(source, Buffer.concat([Buffer.alloc(2 * MiB), data]))
    truncateSync(source, SIZE)
    const blocks = (mib * MiB) / 4096
    const filefrag = `Filesystem type is: ef53\nFile size of ${source} is ${SIZE} (65536 blocks of 4096 bytes)\n ext:     logical_offset:        physical_offset: length:   expected: flags:\n   0:      512..    ${511 + blocks}:      34816..     ${34815 + blocks}:   ${blocks}:             last,eof\n`
    const run = withScript(ctx, [{command: `filefrag -v -e ${source}`, stdout: filefrag}, {command: `truncate --size ${SIZE} ${target}`}])
    return {data, run}
  }

  /** Everything the stream gets: offsets and bytes, copied (each piece is valid until the next). */
  async function drain(copy: StreamedCopy): Promise<{offsets: number[]; bytes: Buffer}> {
    const offsets: number[] = []
    const parts: Buffer[] = []
    for await (const piece of copy.pieces()) {
      offsets.push(piece.offset)
      parts.push(Buffer.from(piece.bytes))
    }
    return {offsets, bytes: Buffer.concat(parts)}
  }

  it('a stream that keeps up gets every range from memory, in order, more than its buffers hold; nothing is written', async () => {
    const {data, run} = image(96)
    const copy = new StreamedCopy()
    const copying = copy.copy(run, source, target, SIZE).then(() => copy.end())
    const streamed = await drain(copy)
    await copying
    await copy.close()
    assert.deepEqual(streamed.bytes, data)
    assert.deepEqual(streamed.offsets, Array.from({length: 24}, (_, index) => (2 + 4 * index) * MiB))
    assert.equal(copy.total, 96 * MiB)
    assert.equal(copy.setAside, 0)
    assert.equal(statSync(target).size, SIZE)
    assert.equal(statSync(target).blocks, 0)
  })

  it('a stream that takes nothing: the copy still ends (the volume is thawed), sets aside what its buffers cannot hold, and the stream gets it all as read', async () => {
    const {data, run} = image(80)
    const copy = new StreamedCopy()
    await copy.copy(run, source, target, SIZE) // nothing took a piece yet
    copy.end()
    assert.equal(copy.setAside, 16 * MiB, '64 MiB stay in memory, the rest is written to the snapshot file')
    assert.equal(statSync(target).blocks * 512, 16 * MiB)
    writeFileSync(source, randomBytes(82 * MiB)) // the volume goes on after the thaw
    const streamed = await drain(copy)
    await copy.close()
    assert.deepEqual(streamed.bytes, data)
  })

  it('a stream that fails stops the copy with its error', async () => {
    const {run} = image(80)
    const copy = new StreamedCopy()
    const copying = copy.copy(run, source, target, SIZE)
    const pieces = copy.pieces()
    await pieces.next()
    copy.fail(new Error('EPIPE: the reader went away'))
    await assert.rejects(copying, /EPIPE/)
    await assert.rejects(pieces.next(), /EPIPE/)
    await assert.rejects(copy.stopped, /EPIPE/)
    await copy.close()
  })

  it('the stream ends only once the snapshot is taken (end), not when the copy returns', async () => {
    const {run} = image(4)
    const copy = new StreamedCopy()
    await copy.copy(run, source, target, SIZE)
    const pieces = copy.pieces()
    assert.equal((await pieces.next()).done, false)
    const last = pieces.next()
    const ended = await Promise.race([last.then(() => 'ended'), new Promise((resolve) => setTimeout(resolve, 50, 'waiting'))])
    assert.equal(ended, 'waiting')
    copy.end()
    assert.equal((await last).done, true)
    await copy.close()
  })
})

describe('volume export of a mounted volume on a host without reflinks (planned commands)', () => {
  let ctx: UnitContext
  let data: Buffer
  beforeEach(async () => {
    ctx = unitContext()
    const {layout} = ctx
    for (const dir of [layout.imagesDir, layout.mountpoint('db')]) mkdirSync(dir, {recursive: true})
    data = randomBytes(40 * MiB)
    writeFileSync(layout.image('db'), Buffer.concat([Buffer.alloc(2 * MiB), data]))
    truncateSync(layout.image('db'), SIZE)
    await ctx.store.update((state) => {
      state.volumes.db = {name: 'db', type: 'loop', fs: 'ext4', sizeBytes: SIZE, labels: {}, createdAt: '2026-11-28T05:00:00.000Z'}
    })
    ctx.host.loops.push({device: '/dev/loop7', backingFile: layout.image('db')})
    ctx.host.mounts.push({source: '/dev/loop7', mountpoint: layout.mountpoint('db')})
  })
  afterEach(() => ctx.cleanup())

  /** The export's snapshot image and its partial file (named after the time and pid: matched). */
  const snapshotFile = /\/snapshots\/db\/export-\w+-\d+\.img/
  const partialFile = /\/snapshots\/db\/\.export-\w+-\d+\.img\.partial/

  /** Up to the copy: the freeze, the extents of the image (40 MiB at 2 MiB), the snapshot's file. */
  function untilCopied(): Expectation[] {
    const {layout} = ctx
    const blocks = (40 * MiB) / 4096
    const filefrag = `Filesystem type is: ef53\nFile size of ${layout.image('db')} is ${SIZE} (65536 blocks of 4096 bytes)\n ext:     logical_offset:        physical_offset: length:   expected: flags:\n   0:      512..    ${511 + blocks}:      34816..     ${34815 + blocks}:   ${blocks}:             last,eof\n`
    return [
      {command: `mkdir -p -m 0700 ${layout.snapshotsDir}`},
      {command: `mkdir -p -m 0700 ${layout.snapshotDir('db')}`},
      {command: `fsfreeze --freeze ${layout.mountpoint('db')}`},
      {command: `filefrag -v -e ${layout.image('db')}`, stdout: filefrag},
      {command: new RegExp(`^truncate --size ${SIZE} .*${partialFile.source}$`)},
    ]
  }

  /** Every data record of a stream, in order. */
  async function dataOf(stream: Buffer): Promise<Buffer> {
    const reader = new StreamReader((async function* () {
      yield stream
    })())
    const parts: Buffer[] = []
    for await (const record of reader.records()) if (record.kind === 'data') parts.push(Buffer.from(record.data))
    return Buffer.concat(parts)
  }

  const nothingLeft = () => {
    assert.deepEqual(ctx.store.read().volumes.db.snapshots ?? {}, {})
    assert.deepEqual(readdirSync(ctx.layout.snapshotDir('db')), [])
  }

  it('streams the image while it copies it (no cp), thaws, then removes the snapshot', async () => {
    const run = withScript(ctx, [
      ...untilCopied(),
      {command: `fsfreeze --unfreeze ${ctx.layout.mountpoint('db')}`},
      {command: new RegExp(`^mv --no-clobber .*${partialFile.source} .*${snapshotFile.source}$`)},
      {command: new RegExp(`^chmod 0400 .*${snapshotFile.source}$`)},
      {command: new RegExp(`^chattr -i .*${snapshotFile.source}$`)},
      {command: new RegExp(`^rm -f .*${snapshotFile.source}$`)},
      {command: new RegExp(`^rm -f .*${partialFile.source}$`)},
    ])
    const parts: Buffer[] = []
    const exported = await exportStream(run, {source: 'db'}, {write: async (bytes) => void parts.push(Buffer.from(bytes))})
    run.exec.assertDone()
    assert.equal(exported.dataBytes, 40 * MiB)
    assert.deepEqual(await dataOf(Buffer.concat(parts)), data)
    nothingLeft()
  })

  it('a reader that goes away while the volume is frozen stops the copy: thawed, the snapshot undone, its error reported', async () => {
    const run = withScript(ctx, [...untilCopied(), {command: `fsfreeze --unfreeze ${ctx.layout.mountpoint('db')}`}, {command: new RegExp(`^rm -f .*${partialFile.source}$`)}])
    const gone = Object.assign(new Error('write EPIPE'), {code: 'EPIPE'})
    await assert.rejects(exportStream(run, {source: 'db'}, {write: async () => Promise.reject(gone)}), /EPIPE/)
    run.exec.assertDone()
    nothingLeft()
  })

  it('a copy that fails while the reader takes nothing fails the export at once (exit 5), nothing left', async () => {
    const thawedEarly: Expectation = {command: `fsfreeze --unfreeze ${ctx.layout.mountpoint('db')}`, boundPassed: true}
    const run = withScript(ctx, [...untilCopied(), thawedEarly, {command: new RegExp(`^rm -f .*${partialFile.source}$`)}])
    const stalled = {write: () => new Promise<void>(() => {})}
    assert.equal(await exitCodeOf(exportStream(run, {source: 'db'}, stalled)), 5)
    run.exec.assertDone()
    nothingLeft()
  })

  it('a host without room for the copy refuses before the freeze (exit 5), naming the snapshots that need none', async () => {
    ctx.host.availableBytes = 8 * MiB
    const run = withScript(ctx, [])
    let writes = 0
    const refusal = exportStream(run, {source: 'db'}, {write: async () => void writes++})
    await assert.rejects(refusal, /^CbsError: not enough free space under .* for a copy of .*db\.img: .*: free some space, or export a snapshot it has \(db@SNAPSHOT; `cbs volume snapshot ls db`\), which needs no copy$/)
    assert.equal(await exitCodeOf(refusal), 5)
    run.exec.assertDone()
    assert.equal(writes, 0)
    assert.deepEqual(ctx.store.read().volumes.db.snapshots ?? {}, {})
  })

  it('a freeze that fails sends nothing (exit 5)', async () => {
    const [mkdirs, mkdir, freeze] = untilCopied()
    const run = withScript(ctx, [mkdirs, mkdir, {command: freeze.command, fails: 'fsfreeze: Operation not supported'}, {command: new RegExp(`^rm -f .*${partialFile.source}$`)}])
    let writes = 0
    assert.equal(await exitCodeOf(exportStream(run, {source: 'db'}, {write: async () => void writes++})), 5)
    run.exec.assertDone()
    assert.equal(writes, 0)
    nothingLeft()
  })
})
