import {type FileHandle, open, unlink} from 'node:fs/promises'
import {environment} from '../common/errors.js'
import type {Sink} from './writer.js'

/** Gathers small writes into ~4 MiB ones. */
const BATCH_BYTES = 4 * 1024 ** 2

/** A file written from its start (created, or emptied); `discard` removes it after a failure. */
export async function fileSink(path: string): Promise<Sink & {close(): Promise<void>; discard(): Promise<void>}> {
  let handle: FileHandle
  try {
    handle = await open(path, 'w', 0o600)
  } catch (error) {
    throw environment(`cannot write ${path} (${(error as NodeJS.ErrnoException).code})`, 'choose another -o FILE')
  }
  const batch = batcher((parts) => handle.writev(parts).then(() => {}), path)
  return {
    write: batch.write,
    async close() {
      await batch.flush()
      await handle.sync()
      await handle.close()
    },
    async discard() {
      await handle.close().catch(() => {})
      await unlink(path).catch(() => {})
    },
  }
}

/** A pipe or file on stdout; a reader that went away (EPIPE) ends the export. */
export function streamSink(stream: NodeJS.WritableStream): Sink & {close(): Promise<void>} {
  let failure: Error | undefined
  stream.on('error', (error: NodeJS.ErrnoException) => (failure = error))
  const put = (parts: Buffer[]) =>
    new Promise<void>((resolve, reject) => {
      if (failure) return reject(failure)
      let flushed = true
      for (const part of parts) flushed = stream.write(part, (error) => (error ? reject(error) : undefined))
      if (flushed) resolve()
      else stream.once('drain', resolve)
    })
  const batch = batcher(put, 'stdout')
  return {write: batch.write, close: batch.flush}
}

function batcher(put: (parts: Buffer[]) => Promise<void>, where: string): {write(bytes: Buffer): Promise<void>; flush(): Promise<void>} {
  let parts: Buffer[] = []
  let size = 0
  const flush = async () => {
    if (size === 0) return
    const taken = parts
    parts = []
    size = 0
    try {
      await put(taken)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EPIPE') throw environment(`the reader of the stream went away (${where}: broken pipe)`, 'see why the command reading it failed')
      if (code === 'ENOSPC') throw environment(`no space left for the stream on ${where}`, 'free some space, or pipe it elsewhere')
      throw error
    }
  }
  return {
    async write(bytes) {
      parts.push(bytes)
      size += bytes.length
      if (size >= BATCH_BYTES) await flush()
    },
    flush,
  }
}
