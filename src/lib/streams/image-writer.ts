import {constants} from 'node:fs'
import {type FileHandle, open} from 'node:fs/promises'

/** O_DIRECT wants the memory, the offset and the length aligned to the device's blocks: 4 KiB covers them all. */
const ALIGN = 4096

const aligned = (value: number) => value % ALIGN === 0

/** Node's global (TypeScript declares it only with the DOM's types, which cbs does not load). */
declare const WebAssembly: {Memory: new (descriptor: {initial: number}) => {buffer: ArrayBuffer}}

/**
 * Buffers that start on a page. A WebAssembly memory is made of whole pages from the system
 * allocator, so a Buffer over one starts on a page boundary; Node has no other way to ask for
 * aligned memory. Should that ever not hold, or the memory not be had (it reserves address
 * space: a `ulimit -v` may refuse it), the first direct write fails (EINVAL) and the writer
 * goes on through the page cache.
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

/** One file: written directly while it can be, through the page cache otherwise. */
class Target {
  private constructor(
    private direct: FileHandle | undefined,
    private readonly buffered: FileHandle,
  ) {}

  static async open(path: string): Promise<Target> {
    const buffered = await open(path, 'r+')
    // Not every filesystem takes O_DIRECT (EINVAL): the page cache then.
    const direct = await open(path, constants.O_RDWR | constants.O_DIRECT).catch(() => undefined)
    return new Target(direct, buffered)
  }

  async write(bytes: Buffer, offset: number): Promise<void> {
    if (this.direct && aligned(offset) && aligned(bytes.length)) {
      try {
        return await writeAll(this.direct, bytes, offset)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error
        await this.direct.close()
        this.direct = undefined
      }
    }
    await writeAll(this.buffered, bytes, offset)
  }

  async close(): Promise<void> {
    await Promise.all([this.direct?.close(), this.buffered.close()])
  }
}

/**
 * Writes the images an import makes (the volume's, and on hosts without reflinks its
 * snapshot's, side by side) with O_DIRECT: the data goes from the buffer to the disk, without
 * filling the page cache first and flushing it after. Here that measured 0.65 s for 1 GiB,
 * against 1.8 to 2.6 s, plus 0.5 s of flush, through the page cache. Writes that are not whole
 * pages, and filesystems that refuse O_DIRECT, go through the page cache; the flush before the
 * rename (moveIntoPlace) makes either durable.
 */
export class ImageWriter {
  private constructor(private readonly targets: Target[]) {}

  static async open(paths: string[]): Promise<ImageWriter> {
    const targets: Target[] = []
    try {
      for (const path of paths) targets.push(await Target.open(path))
    } catch (error) {
      await Promise.all(targets.map((target) => target.close()))
      throw error
    }
    return new ImageWriter(targets)
  }

  async write(bytes: Buffer, offset: number): Promise<void> {
    await Promise.all(this.targets.map((target) => target.write(bytes, offset)))
  }

  async close(): Promise<void> {
    await Promise.all(this.targets.map((target) => target.close()))
  }
}

/** Writes all of `bytes` at `offset` (a write may take fewer than asked). */
async function writeAll(handle: FileHandle, bytes: Buffer, offset: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const {bytesWritten} = await handle.write(bytes, done, bytes.length - done, offset + done)
    if (bytesWritten === 0) throw Object.assign(new Error(`writing ${bytes.length} bytes wrote none`), {code: 'EIO'})
    done += bytesWritten
  }
}
