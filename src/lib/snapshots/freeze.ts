import type {Context} from '../system/context.js'
import {environment} from '../common/errors.js'
import {CommandFailed} from '../system/exec.js'

/** How long past `maxFreezeMs` the guardian waits before it thaws on its own. */
const FREEZE_GRACE_MS = 5_000

export interface FreezeOptions {
  /** `work` is aborted after this long; the filesystem is thawed at most FREEZE_GRACE_MS later. */
  maxFreezeMs: number
}

/**
 * Runs `work` (a copy of a volume's image) while the filesystem mounted at `mountpoint` is
 * frozen (fsfreeze: writes wait, everything written so far is on the device), so that the copy
 * is crash-consistent while the volume stays mounted and in use.
 *
 * The freeze is held by a guardian process (Executor.hold), never by cbs alone: it is thawed
 * when `work` ends, fails or is interrupted, when cbs is killed (even by SIGKILL), and in any
 * case `maxFreezeMs` + FREEZE_GRACE_MS after it began. `work` is aborted at `maxFreezeMs`, and a
 * copy the guardian did not see finish while frozen fails: it is never taken for a good one.
 * Returns what `work` returned, and how long the filesystem was frozen (as cbs saw it).
 */
export async function whileFrozen<T>(
  ctx: Context,
  mountpoint: string,
  options: FreezeOptions,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<{value: T; frozenMs: number}> {
  const seconds = Math.ceil(options.maxFreezeMs / 1000)
  let guard
  try {
    guard = await ctx.exec.hold(['fsfreeze', '--freeze', mountpoint], ['fsfreeze', '--unfreeze', mountpoint], {
      boundMs: options.maxFreezeMs + FREEZE_GRACE_MS,
    })
  } catch (error) {
    if (error instanceof CommandFailed && /not supported|not implemented/i.test(error.stderr)) {
      throw environment(`cannot freeze ${mountpoint} (${error.stderr.trim()})`, 'unmount the volume and snapshot it unmounted')
    }
    throw error
  }
  const frozenAt = performance.now()
  const tooLong = new AbortController()
  const timer = setTimeout(
    () => tooLong.abort(environment(`the copy took longer than ${seconds}s, the most cbs keeps a volume frozen`, 'pass a larger --freeze-timeout, or unmount the volume first')),
    options.maxFreezeMs,
  )
  let outcome: {value: T} | {error: unknown}
  try {
    outcome = {value: await work(tooLong.signal)}
  } catch (error) {
    outcome = {error}
  } finally {
    clearTimeout(timer)
  }
  const thawedByUs = await guard.release()
  // From the start of the freeze (writers wait while it flushes) to the end of the thaw.
  const frozenMs = Math.round(guard.enterMs + performance.now() - frozenAt)
  if ('error' in outcome) throw outcome.error
  if (!thawedByUs) throw environment(`${mountpoint} was thawed before the copy was confirmed complete`, 'try again, with a larger --freeze-timeout')
  return {value: outcome.value, frozenMs}
}
