import type {Context} from '../system/context.js'

/**
 * What a stream waits for (an import's header or next record, an export's write to a reader
 * that stopped reading), or an interruption (SIGINT, SIGTERM) as soon as it comes: a silent
 * pipe at either end never keeps Ctrl-C waiting.
 */
export async function orInterrupted<T>(ctx: Context, waiting: Promise<T>): Promise<T> {
  const signal = ctx.exec.interrupted
  let stop = () => {}
  const stopped = new Promise<never>((_, reject) => {
    stop = () => reject(signal.reason)
    if (signal.aborted) stop()
    else signal.addEventListener('abort', stop, {once: true})
  })
  try {
    return await Promise.race([waiting, stopped])
  } catch (error) {
    await ctx.exec.throwIfInterrupted() // delivers it, so that the undo steps after run normally
    throw error
  } finally {
    signal.removeEventListener('abort', stop)
    stopped.catch(() => {})
  }
}
