import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pageAlignedBuffers} from '../../../src/lib/streams/direct-io.js'
import {ImageWriter} from '../../../src/lib/streams/image-writer.js'

const KiB = 1024

describe('the image writer (O_DIRECT where it can, the page cache elsewhere)', () => {
  let dir: string
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'cbs-image-writer-'))))
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  it('writes the same bytes to every image, whole pages and odd ranges alike', async () => {
    const images = [join(dir, 'volume.img'), join(dir, 'snapshot.img')]
    for (const image of images) {
      writeFileSync(image, '')
      truncateSync(image, 1024 * KiB)
    }
    const [buffer] = pageAlignedBuffers(1, 256 * KiB)
    const expected = Buffer.alloc(1024 * KiB)
    const writer = await ImageWriter.open(images)
    try {
      // Whole pages (direct), then a range that starts and ends inside pages (page cache).
      for (const [offset, length] of [[0, 256 * KiB], [512 * KiB, 64 * KiB], [300 * KiB + 7, 1000]]) {
        randomBytes(length).copy(buffer)
        buffer.copy(expected, offset, 0, length)
        await writer.write(buffer.subarray(0, length), offset)
      }
    } finally {
      await writer.close()
    }
    for (const image of images) assert.ok(readFileSync(image).equals(expected), image)
  })

  it('hands out buffers of whole pages only', () => {
    const buffers = pageAlignedBuffers(2, 8 * KiB)
    assert.deepEqual(buffers.map((buffer) => buffer.length), [8 * KiB, 8 * KiB])
    buffers[0].fill(1)
    assert.equal(buffers[1][0], 0, 'the buffers do not overlap')
    assert.throws(() => pageAlignedBuffers(1, 5000), RangeError)
  })
})
