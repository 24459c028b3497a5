import {constants, fstatSync, openSync} from 'node:fs'
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

/**
 * The pipe on stdin or stdout opened anew (from /proc), non-blocking: a descriptor of cbs's own
 * for a net.Socket, which libuv reads and writes without blocking the process. fd 0 and 1 stay
 * as they are: process.stdin and process.stdout, which Node makes whenever something touches
 * them (execa does), would otherwise be a second handle on them, and Node writes to a pipe on
 * stdout synchronously (the whole process waits on a reader that stopped reading, deaf to
 * Ctrl-C). undefined when it is not a pipe, or /proc cannot give it.
 */
export function ownPipe(fd: 0 | 1): number | undefined {
  if (!fstatSync(fd).isFIFO()) return undefined
  try {
    return openSync(`/proc/self/fd/${fd}`, (fd === 0 ? constants.O_RDONLY : constants.O_WRONLY) | constants.O_NONBLOCK)
  } catch {
    return undefined
  }
}
