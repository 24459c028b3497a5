import {write} from 'node:fs'
import {type FileHandle, open, unlink} from 'node:fs/promises'
import {setTimeout as sleep} from 'node:timers/promises'
import {promisify} from 'node:util'
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
  const sink = descriptorSink(handle.fd, path)
  return {
    write: sink.write,
    async close() {
      await sink.close()
      await handle.sync()
      await handle.close()
    },
    async discard() {
      await handle.close().catch(() => {})
      await unlink(path).catch(() => {})
    },
  }
}

/**
 * An open descriptor: a file for -o, or stdout when it is a file, a socket or a device. Written
 * from the thread pool, never on the process's own thread as Node writes process.stdout: a
 * write that waits (a reader that stopped reading, a file on the very volume being exported,
 * frozen) must not hold up the export's copy, which runs beside the stream (streamed-copy.ts).
 */
export function descriptorSink(fd: number, where: string): Sink & {close(): Promise<void>} {
  const batch = batcher(async (bytes, release) => {
    for (let done = 0; done < bytes.length; ) done += await writeSome(fd, bytes.subarray(done))
    release()
  }, where)
  return {write: batch.write, close: batch.flush}
}

const writeTo = promisify(write)

/**
 * Writes what the descriptor takes of `bytes`. A non-blocking one that is full (a socket a Node
 * parent gave as stdout) says EAGAIN: it is tried again after a pause, from 1 ms up to 50 ms, as
 * Node cannot wait for a descriptor to take more without taking it over.
 */
async function writeSome(fd: number, bytes: Buffer): Promise<number> {
  for (let pause = 1; ; pause = Math.min(2 * pause, 50)) {
    try {
      return (await writeTo(fd, bytes, 0, bytes.length)).bytesWritten
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error
    }
    await sleep(pause)
  }
}

/**
 * A stream: the pipe on stdout, through a socket of cbs's own (pipes.ts). A reader
 * that went away (EPIPE) ends the export; a reader that stopped reading keeps `write` and
 * `close` waiting, which the export races against an interruption (interruptible.ts). `close`
 * returns once every byte is out.
 */
export function streamSink(stream: NodeJS.WritableStream & {writableLength: number}): Sink & {close(): Promise<void>} {
  let failure: Error | undefined
  stream.on('error', (error: NodeJS.ErrnoException) => (failure = error))
  const drained = () =>
    new Promise<void>((resolve, reject) => {
      if (failure) return reject(failure)
      const failed = (error: Error) => reject(error)
      stream.once('error', failed)
      stream.once('drain', () => {
        stream.off('error', failed)
        resolve()
      })
    })
  // One batch at a time: an exporter that reads and hashes ahead only takes the CPU from the
  // importer on the same host (1.85 s against 1.5 s for 1 GiB here).
  const put: Put = async (bytes, release) => {
    if (failure) throw failure
    const written = stream.write(bytes, (error) => {
      if (!error) release()
    })
    if (!written) await drained()
  }
  const batch = batcher(put, 'stdout')
  return {
    write: batch.write,
    async close() {
      await batch.flush()
      if (stream.writableLength > 0) {
        await drained().catch((error) => {
          throw streamFailure(error, 'stdout')
        })
      }
    },
  }
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
    await put(bytes, () => free.push(taken)).catch((error) => {
      throw streamFailure(error, where)
    })
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

/** What a failed write tells the user: a reader gone, or a full disk. */
function streamFailure(error: unknown, where: string): unknown {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'EPIPE') return environment(`the reader of the stream went away (${where}: broken pipe)`, 'see why the command reading it failed')
  if (code === 'ENOSPC') return environment(`no space left for the stream on ${where}`, 'free some space, or pipe it elsewhere')
  return error
}
