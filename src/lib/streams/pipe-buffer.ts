import {fstatSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import type {Context} from '../system/context.js'

/** cbs-pipe-size (src/native/pipe-size.c, built next to the bundle by scripts/build.js). */
export const PIPE_SIZE = fileURLToPath(new URL('cbs-pipe-size', import.meta.url))

/**
 * Grows the pipe on stdin or stdout, when it is one, from 64 KiB to the system's largest
 * buffer: cbs-pipe-size shares it with cbs and sets it (Node cannot). Only speed depends on it,
 * so a failure is let go; --verbose shows the command.
 */
export async function widenPipe(ctx: Context, fd: 0 | 1): Promise<void> {
  if (!fstatSync(fd).isFIFO()) return
  await ctx.exec.run(PIPE_SIZE, [String(fd)], fd === 0 ? {passStdin: true} : {passStdout: true}).catch(() => {})
}
