import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {statSync, truncateSync, writeFileSync} from 'node:fs'
import {StreamedCopy} from '../../../src/lib/streams/streamed-copy.js'
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

  it('a stream that keeps up gets every range from memory, in order; nothing is written', async () => {
    const {data, run} = image(24)
    const copy = new StreamedCopy()
    const copying = copy.copy(run, source, target, SIZE).then(() => copy.end())
    const streamed = await drain(copy)
    await copying
    await copy.close()
    assert.deepEqual(streamed.bytes, data)
    assert.deepEqual(streamed.offsets, [2, 6, 10, 14, 18, 22].map((at) => at * MiB))
    assert.equal(copy.total, 24 * MiB)
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

  it('a stream that fails stops the copy, and a copy that fails stops the stream, each with the other\'s error', async () => {
    const {run} = image(80)
    const copy = new StreamedCopy()
    const copying = copy.copy(run, source, target, SIZE)
    const pieces = copy.pieces()
    await pieces.next()
    copy.fail(new Error('EPIPE: the reader went away'))
    await assert.rejects(copying, /EPIPE/)
    await assert.rejects(pieces.next(), /EPIPE/)
    await copy.close()

    const failed = new StreamedCopy()
    const waiting = failed.pieces().next()
    failed.fail(new Error('fsfreeze: not supported'))
    await assert.rejects(waiting, /fsfreeze/)
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
