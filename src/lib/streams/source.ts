import {fstatSync, read} from 'node:fs'
import {open} from 'node:fs/promises'

/** What the importer reads at a time: records (1 MiB) rarely straddle two of these. */
const CHUNK_BYTES = 4 * 1024 ** 2

const readInto = (fd: number, buffer: Buffer, offset: number): Promise<number> =>
  new Promise((resolve, reject) => read(fd, buffer, offset, buffer.length - offset, null, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead))))

/** Fills a fresh buffer; shorter only at the end of the input. */
async function fill(fd: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES)
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
 * machinery, and a few large buffers instead of many small ones.
 */
async function* chunksOf(fd: number): AsyncGenerator<Buffer> {
  let next = fill(fd)
  try {
    for (;;) {
      const chunk = await next
      if (chunk.length === 0) return
      next = fill(fd)
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
