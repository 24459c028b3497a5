import type {FileHandle} from 'node:fs/promises'
import {DirectFile, pageAlignedBuffers, wholePages} from './direct-io.js'
import type {Range} from './extents.js'

/** What an export reads at a time (cut into records of CHUNK_BYTES by the writer). */
export const READ_BYTES = 4 * 1024 ** 2

/**
 * Reads in flight at once: an incremental stream is often thousands of scattered 4 KiB ranges,
 * each a wait on the disk when read one at a time (the thread pool has 4 threads). Here 4 at
 * once took the incremental export of 16 MiB of random 4 KiB writes from 0.52 s to 0.45 s, and
 * 1 GiB read while an import writes as much to the same disk from 1.2-1.4 s to 0.7 s.
 */
export const READS_IN_FLIGHT = 4

/**
 * Small reads (an incremental stream's scattered 4 KiB ranges) wait on the disk more than on a
 * thread: 4096 of them took 100 ms with 4 in flight and 73 ms with 8 (16: no better). Reads
 * smaller than READ_BYTES go up to this many at once, in no more memory than full reads take.
 */
const SMALL_READS_IN_FLIGHT = 8

/** Ranges cut into reads of READ_BYTES at most. */
export function* readsOf(ranges: Range[]): Generator<Range> {
  for (const range of ranges) {
    for (let offset = range.offset; offset < range.offset + range.length; offset += READ_BYTES) {
      yield {offset, length: Math.min(READ_BYTES, range.offset + range.length - offset)}
    }
  }
}

/** Reads all of `bytes` at `offset`; what lies past the end of the file reads as zeros (an image cannot shrink; be safe anyway). */
export async function readFully(file: DirectFile | FileHandle, bytes: Buffer, offset: number): Promise<void> {
  const read = (handle: FileHandle) => handle.read(bytes, 0, bytes.length, offset)
  const {bytesRead} = await (file instanceof DirectFile ? file.use(offset, bytes.length, read) : read(file))
  if (bytesRead < bytes.length) bytes.fill(0, bytesRead)
}

/**
 * The bytes of `ranges` (READ_BYTES at most) of a file, in order, the next ones read on the
 * thread pool while this one is hashed and written. Buffers as large as the largest range, in
 * turn, one more than the reads in flight: what it yields is valid until the next one is asked
 * for (the writer copies what it keeps); fresh large buffers each cost page faults, so they are
 * used again.
 */
export async function* readAhead(file: DirectFile, ranges: Range[]): AsyncGenerator<Buffer> {
  const bufferBytes = wholePages(ranges.reduce((largest, range) => Math.max(largest, range.length), 1))
  const inFlightAtMost = Math.max(READS_IN_FLIGHT, Math.min(SMALL_READS_IN_FLIGHT, Math.floor(((READS_IN_FLIGHT + 1) * READ_BYTES) / bufferBytes) - 1))
  const buffers = pageAlignedBuffers(Math.min(inFlightAtMost + 1, ranges.length), bufferBytes)
  const inFlight: Promise<Buffer>[] = []
  let issued = 0
  const readNext = () => {
    if (issued === ranges.length) return
    const {offset, length} = ranges[issued]
    // The buffer of the range yielded before this one's turn came round: the consumer is done with it.
    const bytes = buffers[issued % buffers.length].subarray(0, length)
    issued++
    const reading = readFully(file, bytes, offset).then(() => bytes)
    reading.catch(() => {}) // seen when its turn comes
    inFlight.push(reading)
  }
  for (let count = 0; count < inFlightAtMost; count++) readNext()
  try {
    while (inFlight.length > 0) {
      const bytes = await inFlight.shift()!
      readNext()
      yield bytes
    }
  } finally {
    await Promise.allSettled(inFlight) // no read may outlive the file's descriptor
  }
}
