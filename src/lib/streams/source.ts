import {fstatSync, read} from 'node:fs'
import {open} from 'node:fs/promises'

/** What the importer reads at a time: records (1 MiB) rarely straddle two of these. */
const CHUNK_BYTES = 4 * 1024 ** 2

const readInto = (fd: number, buffer: Buffer, offset: number): Promise<number> =>
  new Promise((resolve, reject) => read(fd, buffer, offset, buffer.length - offset, null, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead))))

/** Fills `buffer`; shorter only at the end of the input. */
async function fill(fd: number, buffer: Buffer): Promise<Buffer> {
  let filled = 0
  while (filled < buffer.length) {
    const bytesRead = await readInto(fd, buffer, filled)
    if (bytesRead === 0) break
    filled += bytesRead
  }
  return buffer.subarray(0, filled)
}

/**
 * The bytes of a file descriptor (a regular file) in chunks of 4 MiB, reading the
 * next one on the thread pool while the consumer checks and writes this one: no stream
 * machinery, and three buffers used in turn (fresh large buffers each cost page faults). A
 * chunk is valid until two more were taken: the reader holds at most the one it is in (and
 * what it handed out of the one before, until the next record is asked for).
 */
async function* chunksOf(fd: number): AsyncGenerator<Buffer> {
  const buffers = [0, 1, 2].map(() => Buffer.allocUnsafeSlow(CHUNK_BYTES))
  let turn = 0
  let next = fill(fd, buffers[turn])
  try {
    for (;;) {
      const chunk = await next
      if (chunk.length === 0) return
      turn = (turn + 1) % buffers.length
      next = fill(fd, buffers[turn])
      next.catch(() => {}) // seen on the next turn
      yield chunk
    }
  } finally {
    // The file is closed after: no read may still be using its descriptor.
    await next.catch(() => {})
  }
}

/** A file's bytes (chunksOf), closed at the end or when the consumer stops early. */
export async function* fileChunks(path: string): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r')
  try {
    yield* chunksOf(handle.fd)
  } finally {
    await handle.close()
  }
}

/**
 * Stdin: a file given with `<` is read as a file; a pipe or socket through process.stdin (a
 * read blocking on a silent pipe in the thread pool would keep the process from exiting when
 * interrupted).
 */
export function stdinChunks(): AsyncIterable<Buffer> {
  return fstatSync(0).isFile() ? chunksOf(0) : (process.stdin as AsyncIterable<Buffer>)
}
