import {constants} from 'node:fs'
import type {FileHandle} from 'node:fs/promises'
import {DirectFile} from './direct-io.js'

/**
 * Writes the images an import makes (the volume's, and on hosts without reflinks its
 * snapshot's, side by side) with O_DIRECT (direct-io.ts): here 0.65 s for 1 GiB, against 1.8 to
 * 2.6 s, plus 0.5 s of flush, through the page cache. The flush before the rename
 * (moveIntoPlace) makes either durable.
 */
export class ImageWriter {
  private constructor(private readonly targets: DirectFile[]) {}

  static async open(paths: string[]): Promise<ImageWriter> {
    const targets: DirectFile[] = []
    try {
      for (const path of paths) targets.push(await DirectFile.open(path, constants.O_RDWR))
    } catch (error) {
      await Promise.all(targets.map((target) => target.close()))
      throw error
    }
    return new ImageWriter(targets)
  }

  async write(bytes: Buffer, offset: number): Promise<void> {
    await Promise.all(this.targets.map((target) => target.use(offset, bytes.length, (handle) => writeAll(handle, bytes, offset))))
  }

  async close(): Promise<void> {
    await Promise.all(this.targets.map((target) => target.close()))
  }
}

/** Writes all of `bytes` at `offset` (a write may take fewer than asked). */
export async function writeAll(handle: FileHandle, bytes: Buffer, offset: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const {bytesWritten} = await handle.write(bytes, done, bytes.length - done, offset + done)
    if (bytesWritten === 0) throw Object.assign(new Error(`writing ${bytes.length} bytes wrote none`), {code: 'EIO'})
    done += bytesWritten
  }
}
