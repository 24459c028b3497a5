import {type FileHandle, open, unlink} from 'node:fs/promises'
import {environment} from '../common/errors.js'
import type {Sink} from './writer.js'

/** Gathers writes into ones of 4 MiB. */
const BATCH_BYTES = 4 * 1024 ** 2

/** Writes `bytes`; calls `release` once they are out (the buffer is then used again). */
type Put = (bytes: Buffer, release: () => void) => Promise<void>

/** A file written from its start (created, or emptied); `discard` removes it after a failure. */
export async function fileSink(path: string): Promise<Sink & {close(): Promise<void>; discard(): Promise<void>}> {
  let handle: FileHandle
  try {
    handle = await open(path, 'w', 0o600)
  } catch (error) {
    throw environment(`cannot write ${path} (${(error as NodeJS.ErrnoException).code})`, 'choose another -o FILE')
  }
  const batch = batcher(async (bytes, release) => {
    for (let done = 0; done < bytes.length; ) done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten
    release()
  }, path)
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
  const put: Put = (bytes, release) =>
    new Promise<void>((resolve, reject) => {
      if (failure) return reject(failure)
      const flushed = stream.write(bytes, (error) => {
        release()
        if (error) reject(error)
      })
      if (flushed) resolve()
      else stream.once('drain', resolve)
    })
  const batch = batcher(put, 'stdout')
  return {write: batch.write, close: batch.flush}
}

/**
 * Copies what it is given into buffers of BATCH_BYTES, written when full (or flushed): the
 * caller may use its buffers again at once, and the few batch buffers go round (fresh large
 * buffers each cost page faults).
 */
function batcher(put: Put, where: string): {write(bytes: Buffer): Promise<void>; flush(): Promise<void>} {
  const free: Buffer[] = []
  let current: Buffer | undefined
  let size = 0
  const flush = async () => {
    if (size === 0) return
    const taken = current!
    const bytes = taken.subarray(0, size)
    current = undefined
    size = 0
    try {
      await put(bytes, () => free.push(taken))
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EPIPE') throw environment(`the reader of the stream went away (${where}: broken pipe)`, 'see why the command reading it failed')
      if (code === 'ENOSPC') throw environment(`no space left for the stream on ${where}`, 'free some space, or pipe it elsewhere')
      throw error
    }
  }
  return {
    async write(bytes) {
      for (let done = 0; done < bytes.length; ) {
        current ??= free.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES)
        const part = Math.min(bytes.length - done, BATCH_BYTES - size)
        bytes.copy(current, size, done, done + part)
        size += part
        done += part
        if (size === BATCH_BYTES) await flush()
      }
    },
    flush,
  }
}
