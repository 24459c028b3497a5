import type {Context} from '../system/context.js'

/**
 * Races what an import waits for (its header, each record) against an interruption (SIGINT,
 * SIGTERM), which wins as soon as it comes, even while the pipe is silent: an import waiting
 * for an exporter that has not started sending yet still stops at Ctrl-C. One listener for all.
 */
export function interruptible(ctx: Context): <T>(waiting: Promise<T>) => Promise<T> {
  const signal = ctx.exec.interrupted
  const stopped = new Promise<never>((_, reject) => {
    const stop = () => reject(signal.reason)
    if (signal.aborted) stop()
    else signal.addEventListener('abort', stop, {once: true})
  })
  stopped.catch(() => {})
  return (waiting) =>
    Promise.race([waiting, stopped]).catch(async (error) => {
      await ctx.exec.throwIfInterrupted() // delivers it, so that the undo steps after run normally
      throw error
    })
}
