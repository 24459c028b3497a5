import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {changesByContent, sharedExtentChanges, subtractRanges} from '../../../src/lib/streams/diff.js'
import {type Extent, mergeRanges, parseFilefrag} from '../../../src/lib/streams/extents.js'
import {layoutOf} from '../../../src/lib/store/layout.js'
import {Store} from '../../../src/lib/store/store.js'
import type {Context} from '../../../src/lib/system/context.js'
import {systemHost} from '../../../src/lib/system/host.js'
import {FakeExecutor} from '../../support/fake-executor.js'

const KiB = 1024
const MiB = 1024 ** 2

// `filefrag -v -e` on an xfs image with a snapshot reflinked from it, then written at block 300.
const FILEFRAG = `Filesystem type is: 58465342
File size of /root/images/db.img is 67108864 (16384 blocks of 4096 bytes)
 ext:     logical_offset:        physical_offset: length:   expected: flags:
   0:        0..      15:      24592..     24607:     16:             shared
   1:      300..     300:      99999..     99999:      1:      24892:
   2:      301..     399:      24893..     24991:     99:      100000: shared
   3:     1000..    1999:          0..         0:      0:             unknown_loc,delalloc
   4:     4096..    4351:      50000..     50255:    256:             unwritten,last,eof
/root/images/db.img: 5 extents found
`

describe('allocated ranges (FIEMAP through filefrag)', () => {
  it('parses filefrag -v -e into byte ranges, with physical places and unwritten extents', () => {
    assert.deepEqual(parseFilefrag(FILEFRAG), [
      {offset: 0, length: 16 * 4 * KiB, physical: 24592 * 4 * KiB, unwritten: false},
      {offset: 300 * 4 * KiB, length: 4 * KiB, physical: 99999 * 4 * KiB, unwritten: false},
      {offset: 301 * 4 * KiB, length: 99 * 4 * KiB, physical: 24893 * 4 * KiB, unwritten: false},
      {offset: 1000 * 4 * KiB, length: 1000 * 4 * KiB, physical: -1, unwritten: false},
      {offset: 4096 * 4 * KiB, length: 256 * 4 * KiB, physical: 50000 * 4 * KiB, unwritten: true},
    ])
  })

  it('parses a file without extents, and refuses output without a block size', () => {
    assert.deepEqual(parseFilefrag('Filesystem type is: ef53\nFile size of /x is 0 (0 blocks of 4096 bytes)\n/x: 0 extents found\n'), [])
    assert.throws(() => parseFilefrag('filefrag: something else'))
  })

  it('merges touching and overlapping ranges', () => {
    assert.deepEqual(mergeRanges([{offset: 10, length: 5}, {offset: 0, length: 10}, {offset: 20, length: 5}, {offset: 22, length: 10}]), [
      {offset: 0, length: 15},
      {offset: 20, length: 12},
    ])
  })

  it('subtracts ranges', () => {
    assert.deepEqual(subtractRanges([{offset: 0, length: 100}], [{offset: 10, length: 10}, {offset: 50, length: 100}]), [
      {offset: 0, length: 10},
      {offset: 20, length: 30},
    ])
  })
})

describe('incremental changes', () => {
  const extent = (offset: number, length: number, physical: number, unwritten = false): Extent => ({offset, length, physical, unwritten})

  it('from shared extents: same physical place is unchanged, moved or new is data, gone is zeros', () => {
    const base = [extent(0, 100, 1000), extent(200, 100, 5000), extent(400, 50, 9000)]
    // 0..50 still shared, 50..100 rewritten, 200..300 gone, 300..350 new, 400..450 now unwritten
    const source = [extent(0, 50, 1000), extent(50, 50, 7000), extent(300, 50, 8000), extent(400, 50, 9000, true)]
    assert.deepEqual(sharedExtentChanges(base, source, 1000), {
      data: [
        {offset: 50, length: 50},
        {offset: 300, length: 50},
      ],
      zeros: [
        {offset: 200, length: 100},
        {offset: 400, length: 50},
      ],
    })
  })

  it('from shared extents: a shifted mapping of the same blocks is unchanged, an unknown place is data', () => {
    const base = [extent(0, 100, 1000)]
    const source = [extent(0, 40, 1000), extent(40, 60, 1040), extent(100, 10, -1)]
    assert.deepEqual(sharedExtentChanges(base, source, 200), {data: [{offset: 100, length: 10}], zeros: []})
  })

  it('by content: only the blocks that differ, and data that became holes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cbs-diff-'))
    try {
      const base = join(dir, 'base.img')
      const source = join(dir, 'source.img')
      const a = Buffer.alloc(4 * MiB, 1)
      const b = Buffer.from(a)
      b[2 * MiB + 5] = 9
      writeFileSync(base, a)
      writeFileSync(source, b)
      const ctx = {layout: layoutOf(dir), store: new Store(layoutOf(dir)), host: systemHost} as Context
      const filefrag = (file: string, extents: string) => ({
        command: `filefrag -v -e ${file}`,
        stdout: `File size of ${file} is ${4 * MiB} (1024 blocks of 4096 bytes)\n ext: logical_offset: physical_offset: length: expected: flags:\n${extents}`,
      })
      ctx.exec = new FakeExecutor([
        filefrag(source, '   0:        0..     767:      100..     867:    768:             last,eof\n'),
        filefrag(base, '   0:        0..    1023:      1000..     2023:   1024:             last,eof\n'),
      ])
      assert.deepEqual(await changesByContent(ctx, base, source, 4 * MiB), {data: [{offset: 2 * MiB, length: MiB}], zeros: [{offset: 3 * MiB, length: MiB}]})
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
