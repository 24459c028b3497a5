import type {Context} from '../system/context.js'

/** A byte range of a file: [offset, offset + length). */
export interface Range {
  offset: number
  length: number
}

/** One extent of a file as FIEMAP reports it, in bytes. */
export interface Extent extends Range {
  physical: number
  /** Allocated but never written (fallocate): it reads as zeros. */
  unwritten: boolean
}

/**
 * Parses `filefrag -v -e FILE`: "File size of F is N (B blocks of S bytes)", then rows such as
 * "   0:      320..     367:    6424896..   6424943:     48:        320: last,eof", in blocks
 * of S bytes. An extent whose place is not known yet (delalloc, unknown_loc: data still in the
 * page cache) gets physical -1; filefrag prints its length as 0, so lengths come from the
 * logical range, which it always prints whole.
 */
export function parseFilefrag(text: string): Extent[] {
  const unit = Number(/blocks? of (\d+) bytes/.exec(text)?.[1])
  if (!Number.isSafeInteger(unit) || unit <= 0) throw new Error(`filefrag printed no block size: ${text.split('\n')[0]}`)
  const extents: Extent[] = []
  // One pass over the whole text (a fragmented snapshot prints tens of thousands of rows).
  for (const [, start, end, physical, flags] of text.matchAll(FILEFRAG_ROW)) {
    const known = physical !== undefined && !flags.includes('unknown_loc') && !flags.includes('delalloc')
    extents.push({
      offset: Number(start) * unit,
      length: (Number(end) - Number(start) + 1) * unit,
      physical: known ? Number(physical) * unit : -1,
      unwritten: flags.includes('unwritten'),
    })
  }
  return extents
}

/** A row of `filefrag -v -e`: the logical start and end, the physical start (when it is known), the flags. */
const FILEFRAG_ROW = /^ *\d+: *(\d+)\.\. *(\d+): *(?:(\d+)\.\. *\d+:)? *\d+: *(?:\d+:)? *([\w,]*) *$/gm

/** Sorted ranges with touching or overlapping ones joined. */
export function mergeRanges(ranges: Range[]): Range[] {
  const merged: Range[] = []
  for (const range of [...ranges].sort((a, b) => a.offset - b.offset)) {
    const last = merged.at(-1)
    if (last && range.offset <= last.offset + last.length) last.length = Math.max(last.length, range.offset + range.length - last.offset)
    else if (range.length > 0) merged.push({...range})
  }
  return merged
}

/** Clips ranges to [0, size): the last block of an extent may reach past the end of the file. */
export const clipRanges = (ranges: Range[], size: number): Range[] =>
  ranges.flatMap((range) => (range.offset >= size ? [] : [{offset: range.offset, length: Math.min(range.length, size - range.offset)}]))

/** The extents of a file (FIEMAP through filefrag; it reads nothing of the data). */
export async function extentsOf(ctx: Context, file: string): Promise<Extent[]> {
  return parseFilefrag((await ctx.exec.run('filefrag', ['-v', '-e', file])).stdout)
}

/** The ranges of a file that hold data, merged; holes and unwritten extents read as zeros. */
export async function allocatedRanges(ctx: Context, file: string, sizeBytes: number): Promise<Range[]> {
  const extents = await extentsOf(ctx, file)
  return clipRanges(mergeRanges(extents.filter((extent) => !extent.unwritten)), sizeBytes)
}
