import type {Context} from '../system/context.js'
import {environment} from '../common/errors.js'
import {silentProgress} from '../common/progress.js'
import {formatSize} from '../input/sizes.js'
import type {Range} from './extents.js'
import {pageAlignedBuffers} from './direct-io.js'
import {ImageWriter} from './image-writer.js'
import {orInterrupted} from './interruptible.js'
import type {StreamReader} from './reader.js'

/** At least MAX_DATA_BYTES (format.ts): a record always fits in one write. */
const WRITE_BYTES = 8 * 1024 ** 2

/**
 * Writes the records of a stream into `files` (partial images nobody else sees: the volume's,
 * and where the host has no reflinks its snapshot's too), each once its checksum matched. Ranges
 * that became holes are punched once the whole stream has matched, so that a damaged stream
 * never costs more than partial files to remove. Returns the data bytes.
 */
export async function applyRecords(ctx: Context, reader: StreamReader, files: string[], label: string): Promise<number> {
  const progress = ctx.progress ?? silentProgress
  const holes: Range[] = []
  let written = 0
  const images = await ImageWriter.open(files)
  // Records that follow each other on the image are gathered into one write of up to 8 MiB,
  // while the next ones are read and checked (one write in flight: the thread pool writes, this
  // thread hashes). Two buffers, used again and again: one filling, one being written (fresh
  // large buffers each cost page faults, and measured several times slower).
  const buffers = pageAlignedBuffers(2, WRITE_BYTES)
  let filling = 0
  let run: {offset: number; length: number} | undefined
  let writing: Promise<void> = Promise.resolve()
  const flush = async () => {
    if (!run) return
    const {offset, length} = run
    run = undefined
    await writing
    writing = images.write(buffers[filling].subarray(0, length), offset).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOSPC' || error.code === 'EDQUOT') throw environment(`no space left on the host under ${ctx.layout.root} while importing ${label}`, 'free some space and try again')
      throw error
    })
    writing.catch(() => {}) // seen by the next flush, or the last
    filling = 1 - filling // the other buffer's write is done (awaited above)
  }
  try {
    for await (const record of untilInterrupted(ctx, reader.records())) {
      if (record.kind === 'zeros') {
        holes.push({offset: record.offset, length: record.length})
        continue
      }
      if (run && (run.offset + run.length !== record.offset || run.length + record.data.length > WRITE_BYTES)) await flush()
      run ??= {offset: record.offset, length: 0}
      record.data.copy(buffers[filling], run.length) // the record's bytes are the reader's until the next record
      run.length += record.data.length
      written += record.data.length
      progress.update(0, 0, `importing ${label}: ${formatSize(written)}`)
    }
    await flush()
    await writing
  } finally {
    await writing.catch(() => {})
    progress.finish()
    await images.close()
  }
  for (const file of files) {
    for (const hole of holes) {
      await ctx.exec.run('fallocate', ['--punch-hole', '--keep-size', '--offset', String(hole.offset), '--length', String(hole.length), file], {mutates: true})
    }
  }
  return written
}

/** The records, and an interruption as soon as it comes (interruptible.ts). */
async function* untilInterrupted<T>(ctx: Context, records: AsyncGenerator<T>): AsyncGenerator<T> {
  for (;;) {
    const next = await orInterrupted(ctx, records.next())
    if (next.done) return
    yield next.value
  }
}
