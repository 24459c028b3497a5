import {constants} from 'node:fs'
import {type FileHandle, open} from 'node:fs/promises'

/**
 * O_DIRECT: reads and writes that go between cbs's buffers and the disk without the page cache.
 * A stream moves each byte of an image once: cached, it would only be copied once more, and on
 * this VM memory the kernel has not touched for a while costs about 1.2 s a GiB the first time
 * (the host reclaims free guest pages), which the page cache pays and O_DIRECT does not.
 */

/** O_DIRECT wants the memory, the offset and the length aligned to the device's blocks: 4 KiB covers them all. */
const ALIGN = 4096

export const aligned = (value: number) => value % ALIGN === 0

/** `bytes` rounded up to whole blocks of ALIGN. */
export const wholePages = (bytes: number) => Math.ceil(bytes / ALIGN) * ALIGN

/** Node's global (TypeScript declares it only with the DOM's types, which cbs does not load). */
declare const WebAssembly: {Memory: new (descriptor: {initial: number}) => {buffer: ArrayBuffer}}

/**
 * Buffers that start on a page. A WebAssembly memory is made of whole pages from the system
 * allocator, so a Buffer over one starts on a page boundary; Node has no other way to ask for
 * aligned memory. Should that ever not hold, or the memory not be had (it reserves address
 * space: a `ulimit -v` may refuse it), the first direct read or write fails (EINVAL) and the
 * file is read or written through the page cache.
 */
export function pageAlignedBuffers(count: number, bytes: number): Buffer[] {
  if (!aligned(bytes)) throw new RangeError(`buffers of ${bytes} bytes are not whole pages`)
  let memory: {buffer: ArrayBuffer}
  try {
    memory = new WebAssembly.Memory({initial: Math.ceil((count * bytes) / 65_536)})
  } catch {
    return Array.from({length: count}, () => Buffer.allocUnsafeSlow(bytes))
  }
  return Array.from({length: count}, (_, index) => Buffer.from(memory.buffer, index * bytes, bytes))
}

/**
 * A file opened twice: with O_DIRECT while that works, through the page cache for what it
 * cannot take (ranges that are not whole pages, a filesystem that refuses O_DIRECT: EINVAL).
 */
export class DirectFile {
  /** The direct handle once it said EINVAL: closed with the file, as other reads may still use it. */
  private refused?: FileHandle

  private constructor(
    private direct: FileHandle | undefined,
    private readonly buffered: FileHandle,
  ) {}

  /** `flags`: O_RDONLY or O_RDWR; `direct: false` for a file best read from the page cache. */
  static async open(path: string, flags: number, {direct = true} = {}): Promise<DirectFile> {
    const buffered = await open(path, flags)
    const around = direct ? await open(path, flags | constants.O_DIRECT).catch(() => undefined) : undefined
    return new DirectFile(around, buffered)
  }

  /** Runs `io` on the direct handle when the range allows it, else (or when it says EINVAL) on the buffered one. */
  async use<T>(offset: number, length: number, io: (handle: FileHandle) => Promise<T>): Promise<T> {
    const direct = this.direct
    if (direct && aligned(offset) && aligned(length)) {
      try {
        return await io(direct)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error
        if (this.direct === direct) [this.refused, this.direct] = [direct, undefined]
      }
    }
    return io(this.buffered)
  }

  async close(): Promise<void> {
    await Promise.all([this.direct?.close(), this.refused?.close(), this.buffered.close()])
  }
}
