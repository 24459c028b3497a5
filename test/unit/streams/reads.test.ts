import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {constants, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {DirectFile} from '../../../src/lib/streams/direct-io.js'
import type {Range} from '../../../src/lib/streams/extents.js'
import {READ_BYTES, readAhead, readsOf} from '../../../src/lib/streams/reads.js'

const MiB = 1024 ** 2

describe('reads ahead of the stream', () => {
  let dir: string
  let content: Buffer
  let file: DirectFile
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cbs-reads-'))
    content = randomBytes(24 * MiB)
    writeFileSync(join(dir, 'image'), content)
    file = await DirectFile.open(join(dir, 'image'), constants.O_RDONLY)
  })
  afterEach(async () => {
    await file.close()
    rmSync(dir, {recursive: true, force: true})
  })

  /** Each range's bytes as the consumer sees them, checked before the next is asked for (buffers go round). */
  async function expectInOrder(ranges: Range[]): Promise<void> {
    let index = 0
    for await (const bytes of readAhead(file, ranges)) {
      const {offset, length} = ranges[index++]
      assert.ok(bytes.equals(content.subarray(offset, offset + length)), `range ${index} at ${offset} (${length} bytes)`)
    }
    assert.equal(index, ranges.length)
  }

  it('thousands of scattered 4 KiB ranges, each whole and in order while the buffers go round', async () => {
    const ranges = Array.from({length: 3000}, (_, index) => ({offset: index * 8192, length: 4096}))
    await expectInOrder(ranges)
  })

  it('small ranges beside full reads, and ranges that are not whole pages', async () => {
    const ranges = [...readsOf([{offset: 0, length: 9 * MiB}]), {offset: 9 * MiB + 4096, length: 4096}, {offset: 10 * MiB, length: 1000}, ...readsOf([{offset: 11 * MiB + 7, length: READ_BYTES + 3}])]
    await expectInOrder(ranges)
  })

  it('no ranges: nothing read', async () => {
    await expectInOrder([])
  })
})
