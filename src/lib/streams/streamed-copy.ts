import {constants} from 'node:fs'
import {type FileHandle, open} from 'node:fs/promises'
import type {Context} from '../system/context.js'
import {outOfSpaceCopying} from '../images/image-copy.js'
import {DirectFile, pageAlignedBuffers} from './direct-io.js'
import {allocatedRanges, type Range} from './extents.js'
import {writeAll} from './image-writer.js'
import {READ_BYTES, READS_IN_FLIGHT, readFully, readsOf} from './reads.js'

/** A range of the image read for the stream: into `buffer` (one of the pool), or set aside in the snapshot's file. */
interface ReadRange extends Range {
  buffer?: Buffer
}

/**
 * Ranges read ahead of the stream, at most (READ_BYTES each: 64 MiB; with the READS_IN_FLIGHT
 * spares that ranges set aside are read into, 80 MiB).
 */
const POOL = 16

/**
 * While the copy is ahead of this pace it waits for the stream to take what it read; behind it,
 * it sets ranges aside instead. A stream that keeps up (a local pipe: about 1 GiB/s here) thus
 * gets the whole image from memory, and a slow one (a network) keeps the volume frozen no longer
 * than reading the image takes, or a copy at this pace would: 2 s a GiB.
 */
const PACE_BYTES_PER_MS = (512 * 1024 ** 2) / 1000

/**
 * The snapshot of `volume export VOLUME` on a host without reflinks, streamed as it is copied.
 * It is still the export's snapshot: the image is read while the volume is frozen, which ends
 * when the whole image is read, whatever the reader of the stream does. A range read goes
 * straight to the stream when the stream keeps up; otherwise it is written into the snapshot's
 * file and streamed from there (the page cache) when its turn comes. Against a copy first (cp,
 * then a read of the copy) the image is read once, and written only where the stream fell
 * behind. The snapshot's file thus holds only the ranges set aside: it is the export's alone
 * (status "exporting", which nothing else reads) and removed after it (or by recovery).
 *
 * `copy` is the snapshot's copy (SnapshotRequest.copy), `pieces` what the stream reads: the two
 * run at once. `end` says the snapshot was taken, `fail` stops both, even a stream waiting on a
 * reader that stopped reading (`stopped`).
 */
export class StreamedCopy {
  private readonly queue: ReadRange[] = []
  private readonly free: Buffer[]
  /** For the ranges to set aside: the copy reads into them and writes them out. */
  private readonly spares: Buffer[]
  /** The snapshot's file, opened by `copy`; the stream reads the ranges set aside from it. */
  private target?: FileHandle
  private finished = false
  private failure?: {error: unknown}
  /** Wakes the stream waiting for a range, and the copy waiting for a buffer. */
  private wakeStream = () => {}
  private wakeCopy = () => {}
  private readonly begun: Promise<void>
  private begin = () => {}
  private refuse: (error: unknown) => void = () => {}
  /** Rejects with what stopped the copy or the stream: the stream races its writes against it. */
  readonly stopped: Promise<never>
  private stop: (error: unknown) => void = () => {}
  /** The data bytes to stream; known once the copy has begun. */
  total = 0
  /** Bytes written into the snapshot's file. */
  setAside = 0

  constructor() {
    const buffers = pageAlignedBuffers(POOL + READS_IN_FLIGHT, READ_BYTES)
    this.spares = buffers.splice(POOL)
    this.free = buffers
    this.begun = new Promise((resolve, reject) => ((this.begin = resolve), (this.refuse = reject)))
    this.begun.catch(() => {}) // seen by whoever waits for it
    this.stopped = new Promise<never>((_, reject) => (this.stop = reject))
    this.stopped.catch(() => {})
  }

  /** Resolves once the copy has begun (the volume frozen, the snapshot's record written), rejects if it failed first. */
  started(): Promise<void> {
    return this.begun
  }

  /** Copies `source` to `target` (a new file), `sizeBytes` of it, handing what it reads to the stream. */
  async copy(ctx: Context, source: string, target: string, sizeBytes: number, signal?: AbortSignal): Promise<void> {
    const ranges = await allocatedRanges(ctx, source, sizeBytes)
    await ctx.exec.change(['truncate', '--size', String(sizeBytes), target], async () => {
      this.target = await open(target, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600)
      await this.target.truncate(sizeBytes)
    })
    this.total = ranges.reduce((sum, range) => sum + range.length, 0)
    this.begin()
    const image = await DirectFile.open(source, constants.O_RDONLY)
    const startedAt = performance.now()
    let copied = 0
    // Reads in flight, in order, each into a buffer of the pool (for the stream) or a spare one (to set aside).
    const inFlight: {range: Range; buffer: Buffer; pooled: boolean; reading: Promise<void>}[] = []
    const settle = async () => {
      const {range, buffer, pooled, reading} = inFlight.shift()!
      await reading
      if (pooled) this.push({...range, buffer})
      else {
        await this.setRangeAside(buffer.subarray(0, range.length), range.offset).catch((error: NodeJS.ErrnoException) => {
          throw error.code === 'ENOSPC' || error.code === 'EDQUOT' ? outOfSpaceCopying(source) : error
        })
        this.spares.push(buffer)
        this.push(range)
      }
      copied += range.length
    }
    try {
      for (const range of readsOf(ranges)) {
        if (inFlight.length === READS_IN_FLIGHT) await settle()
        await this.waitForBuffer(startedAt + copied / PACE_BYTES_PER_MS)
        await ctx.exec.throwIfInterrupted()
        if (signal?.aborted) throw signal.reason
        if (this.failure) throw this.failure.error
        const pooled = this.free.pop()
        const buffer = pooled ?? this.spares.pop()! // one is left: fewer reads than spares are in flight
        const reading = readFully(image, buffer.subarray(0, range.length), range.offset)
        reading.catch(() => {}) // seen when settled
        inFlight.push({range, buffer, pooled: pooled !== undefined, reading})
      }
      while (inFlight.length > 0) await settle()
    } finally {
      await Promise.allSettled(inFlight.map((read) => read.reading)) // no read may outlive the descriptor
      await image.close()
    }
  }

  /**
   * The ranges in order, with their bytes, each valid until the next is asked for; throws what
   * stopped the copy. Ends after `end`, once everything the copy read was taken.
   */
  async *pieces(): AsyncGenerator<{offset: number; bytes: Buffer}> {
    await this.begun
    let back: Buffer | undefined // for the ranges set aside, read back
    for (;;) {
      while (this.queue.length === 0 && !this.finished && !this.failure) await new Promise<void>((resolve) => (this.wakeStream = resolve))
      if (this.failure) throw this.failure.error
      const piece = this.queue.shift()
      if (!piece) return
      if (piece.buffer) {
        yield {offset: piece.offset, bytes: piece.buffer.subarray(0, piece.length)}
        this.free.push(piece.buffer)
        this.wakeCopy()
      } else {
        back ??= Buffer.allocUnsafeSlow(READ_BYTES)
        const bytes = back.subarray(0, piece.length)
        await readFully(this.target!, bytes, piece.offset)
        yield {offset: piece.offset, bytes}
      }
    }
  }

  /**
   * The snapshot is taken: the copy ended while the volume was frozen, and the snapshot is in
   * place. Only then does the stream end, so that a copy cut short never ends as a whole stream.
   */
  end(): void {
    this.finished = true
    this.wakeStream()
  }

  /** Stops the copy and the stream with `error` (either side failed). */
  fail(error: unknown): void {
    this.failure ??= {error}
    this.refuse(error)
    this.stop(error)
    this.wakeStream()
    this.wakeCopy()
  }

  async close(): Promise<void> {
    await this.target?.close()
    this.target = undefined
  }

  /** Until a buffer is free, or `deadline` (then the range read next is set aside). */
  private async waitForBuffer(deadline: number): Promise<void> {
    while (this.free.length === 0 && !this.failure) {
      const wait = deadline - performance.now()
      if (wait <= 0) return
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait)
        this.wakeCopy = () => (clearTimeout(timer), resolve())
      })
    }
  }

  private async setRangeAside(bytes: Buffer, offset: number): Promise<void> {
    await writeAll(this.target!, bytes, offset)
    this.setAside += bytes.length
  }

  private push(piece: ReadRange): void {
    this.queue.push(piece)
    this.wakeStream()
  }
}
