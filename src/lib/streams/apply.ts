import {open} from 'node:fs/promises'
import type {Context} from '../system/context.js'
import {environment} from '../common/errors.js'
import {silentProgress} from '../common/progress.js'
import {formatSize} from '../input/sizes.js'
import type {Range} from './extents.js'
import type {StreamReader} from './reader.js'

const WRITE_BYTES = 8 * 1024 ** 2

/**
 * Writes the records of a stream into `file` (a partial image nobody else sees), each once its
 * checksum matched. Ranges that became holes are punched once the whole stream has matched, so
 * that a damaged stream never costs more than a partial file to remove. Returns the data bytes.
 */
export async function applyRecords(ctx: Context, reader: StreamReader, file: string, label: string): Promise<number> {
  const progress = ctx.progress ?? silentProgress
  const holes: Range[] = []
  let written = 0
  const handle = await open(file, 'r+')
  // Records that follow each other on the image go down in one write of up to 8 MiB, while
  // the next ones are read and checked (one write in flight: the thread pool writes, this
  // thread hashes).
  let run: {offset: number; parts: Buffer[]; length: number} | undefined
  let writing: Promise<void> = Promise.resolve()
  const flush = async () => {
    if (!run) return
    const {offset, parts} = run
    run = undefined
    await writing
    writing = handle.writev(parts, offset).then(
      () => {},
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOSPC' || error.code === 'EDQUOT') throw environment(`no space left on the host under ${ctx.layout.root} while importing ${label}`, 'free some space and try again')
        throw error
      },
    )
    writing.catch(() => {}) // seen by the next flush, or the last
  }
  try {
    for await (const record of untilInterrupted(ctx, reader.records())) {
      if (record.kind === 'zeros') {
        holes.push({offset: record.offset, length: record.length})
        continue
      }
      if (run && (run.offset + run.length !== record.offset || run.length >= WRITE_BYTES)) await flush()
      run ??= {offset: record.offset, parts: [], length: 0}
      run.parts.push(record.data)
      run.length += record.data.length
      written += record.data.length
      progress.update(0, 0, `importing ${label}: ${formatSize(written)}`)
    }
    await flush()
    await writing
  } finally {
    await writing.catch(() => {})
    progress.finish()
    await handle.close()
  }
  for (const hole of holes) {
    await ctx.exec.run('fallocate', ['--punch-hole', '--keep-size', '--offset', String(hole.offset), '--length', String(hole.length), file], {mutates: true})
  }
  return written
}

/** The records, and an interruption (SIGINT, SIGTERM) as soon as it comes, even while the pipe is silent. */
async function* untilInterrupted<T>(ctx: Context, records: AsyncGenerator<T>): AsyncGenerator<T> {
  const signal = ctx.exec.interrupted
  const stopped = new Promise<never>((_, reject) => {
    const stop = () => reject(signal.reason)
    if (signal.aborted) stop()
    else signal.addEventListener('abort', stop, {once: true})
  })
  stopped.catch(() => {})
  for (;;) {
    const next = await Promise.race([records.next(), stopped]).catch(async (error) => {
      await ctx.exec.throwIfInterrupted() // delivers it, so that the undo steps after run normally
      throw error
    })
    if (next.done) return
    yield next.value
  }
}
