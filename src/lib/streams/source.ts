import {fstatSync, read} from 'node:fs'
import {open} from 'node:fs/promises'
import {Socket, type SocketConstructorOpts} from 'node:net'
import {promisify} from 'node:util'
import {ownPipe} from './pipes.js'

/** What the importer reads at a time: records (1 MiB) rarely straddle two of these. */
const CHUNK_BYTES = 4 * 1024 ** 2

const readFrom = promisify(read)

/** Fills `buffer`; shorter only at the end of the input. */
async function fill(fd: number, buffer: Buffer): Promise<Buffer> {
  let filled = 0
  while (filled < buffer.length) {
    const {bytesRead} = await readFrom(fd, buffer, filled, buffer.length - filled, null)
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
 * A pipe, read by libuv straight into three buffers of CHUNK_BYTES in turn (net.Socket's
 * `onread`), each filled before it is handed out, as chunksOf does: process.stdin hands out
 * 64 KiB pieces, which with the checksums measured 2.5 times slower here. Unlike a read on the
 * thread pool, a silent pipe never keeps the process from exiting when it is interrupted. The
 * next buffer fills while the consumer works on the one it took, and reading pauses when it is
 * full before the consumer asked for it: a chunk is valid until two more were taken. `fd` must
 * be the socket's alone (libuv refuses a second reader of one descriptor): it is closed at the end.
 */
export async function* pipeChunks(fd: number): AsyncGenerator<Buffer> {
  const buffers = [0, 1, 2].map(() => Buffer.allocUnsafeSlow(CHUNK_BYTES))
  let filling = 0 // chunks begun so far, less one: buffers[filling % 3] is being filled
  let filled = 0
  const ready: Buffer[] = []
  let ended = false
  let failure: Error | undefined
  let wake = () => {}
  const socket = new Socket({
    fd,
    readable: true,
    writable: false,
    onread: {
      // Where the next read goes: asked at the start and after every read.
      buffer: () => buffers[filling % buffers.length].subarray(filled),
      callback: (bytes: number) => {
        filled += bytes
        if (filled < CHUNK_BYTES) return true
        ready.push(buffers[filling % buffers.length])
        filling++
        filled = 0
        wake()
        return false // until the consumer takes it
      },
    },
    // @types/node 20 knows `onread` for connect() only; Node takes it here too (its docs say so from v22).
  } as SocketConstructorOpts)
  socket.on('end', () => {
    if (filled > 0) ready.push(buffers[filling % buffers.length].subarray(0, filled))
    ended = true
    wake()
  })
  socket.on('error', (error) => ((failure = error), wake()))
  socket.resume()
  try {
    for (;;) {
      if (ready.length === 0 && !ended && !failure) await new Promise<void>((resolve) => (wake = resolve))
      if (failure) throw failure
      const chunk = ready.shift()
      if (!chunk) return
      if (!ended) socket.resume() // fills the next buffer meanwhile
      yield chunk
    }
  } finally {
    socket.destroy()
  }
}

/**
 * Stdin: a file given with `<` is read as a file; a pipe through a descriptor of its own
 * (pipes.ts); anything else (a socket, a terminal) through process.stdin.
 */
export function stdinChunks(): AsyncIterable<Buffer> {
  if (fstatSync(0).isFile()) return chunksOf(0)
  const pipe = ownPipe(0)
  return pipe === undefined ? (process.stdin as AsyncIterable<Buffer>) : pipeChunks(pipe)
}
