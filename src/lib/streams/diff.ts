import {open} from 'node:fs/promises'
import type {Context} from '../system/context.js'
import {allocatedRanges, clipRanges, type Extent, extentsOf, mergeRanges, type Range} from './extents.js'

/** What an incremental stream carries: ranges whose data changed, and ranges that became holes. */
export interface Changes {
  data: Range[]
  zeros: Range[]
}

/** Compares in blocks of this size where the host cannot tell what is shared. */
const COMPARE_BYTES = 1024 ** 2

/**
 * Changed ranges from the extent maps alone, for images that share extents (reflinked
 * snapshots on xfs or btrfs): a block of SOURCE that maps to the same physical block as in
 * BASE holds the same data. Nothing of either image is read.
 */
export function sharedExtentChanges(base: Extent[], source: Extent[], sizeBytes: number): Changes {
  const cuts = new Set<number>([0, sizeBytes])
  for (const extent of [...base, ...source]) cuts.add(extent.offset).add(extent.offset + extent.length)
  const points = [...cuts].filter((point) => point <= sizeBytes).sort((a, b) => a - b)
  const baseAt = locator(base)
  const sourceAt = locator(source)
  const data: Range[] = []
  const zeros: Range[] = []
  for (let index = 0; index + 1 < points.length; index++) {
    const offset = points[index]
    const length = points[index + 1] - offset
    const before = baseAt(offset)
    const after = sourceAt(offset)
    if (after === undefined) {
      if (before !== undefined) zeros.push({offset, length})
    } else if (before === undefined || after < 0 || after !== before) data.push({offset, length})
  }
  return {data: mergeRanges(data), zeros: mergeRanges(zeros)}
}

/**
 * For a sorted walk: the physical byte where `offset` lives (-1 when unknown), or undefined in a
 * hole or an unwritten extent (both read as zeros).
 */
function locator(extents: Extent[]): (offset: number) => number | undefined {
  const sorted = [...extents].sort((a, b) => a.offset - b.offset)
  let index = 0
  return (offset) => {
    while (index < sorted.length && sorted[index].offset + sorted[index].length <= offset) index++
    const extent = sorted[index]
    if (!extent || extent.offset > offset || extent.unwritten) return undefined
    return extent.physical < 0 ? -1 : extent.physical + (offset - extent.offset)
  }
}

/**
 * The changes between two images that share extents: two FIEMAP calls, one after the other. On
 * xfs, two at once on files that share extents took 1.7 s here where one after the other took
 * 0.2 s (36,000 extents each): the two contend for the same reference counts.
 */
export async function changesByExtents(ctx: Context, baseImage: string, sourceImage: string, sizeBytes: number): Promise<Changes> {
  const base = await extentsOf(ctx, baseImage)
  return sharedExtentChanges(base, await extentsOf(ctx, sourceImage), sizeBytes)
}

/**
 * The changes between two images that share nothing (sparse copies on ext4): SOURCE's data is
 * compared with BASE block by block; where SOURCE has a hole and BASE data, the range is zeroed.
 */
export async function changesByContent(ctx: Context, baseImage: string, sourceImage: string, sizeBytes: number): Promise<Changes> {
  const sourceData = await allocatedRanges(ctx, sourceImage, sizeBytes)
  const baseData = await allocatedRanges(ctx, baseImage, sizeBytes)
  const zeros = subtractRanges(baseData, sourceData)
  const data: Range[] = []
  const [base, source] = await Promise.all([open(baseImage, 'r'), open(sourceImage, 'r')])
  try {
    const a = Buffer.alloc(COMPARE_BYTES)
    const b = Buffer.alloc(COMPARE_BYTES)
    for (const range of sourceData) {
      for (let offset = range.offset; offset < range.offset + range.length; offset += COMPARE_BYTES) {
        await ctx.exec.throwIfInterrupted()
        const length = Math.min(COMPARE_BYTES, range.offset + range.length - offset)
        const [{bytesRead: got}] = await Promise.all([source.read(a, 0, length, offset), base.read(b.fill(0, 0, length), 0, length, offset)])
        if (!a.subarray(0, got).equals(b.subarray(0, got))) data.push({offset, length})
      }
    }
  } finally {
    await Promise.all([base.close(), source.close()])
  }
  return {data: mergeRanges(data), zeros: clipRanges(zeros, sizeBytes)}
}

/** The parts of `ranges` outside every one of `minus` (both sorted, merged). */
export function subtractRanges(ranges: Range[], minus: Range[]): Range[] {
  const result: Range[] = []
  for (const range of ranges) {
    let start = range.offset
    const end = range.offset + range.length
    for (const cut of minus) {
      if (cut.offset + cut.length <= start || cut.offset >= end) continue
      if (cut.offset > start) result.push({offset: start, length: cut.offset - start})
      start = Math.max(start, cut.offset + cut.length)
    }
    if (start < end) result.push({offset: start, length: end - start})
  }
  return result
}
