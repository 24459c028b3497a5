import {setTimeout as sleep} from 'node:timers/promises'
import type {Context} from './context.js'

/**
 * Who keeps a mounted filesystem busy, as `fuser -v` would say: "process 1234 (postgres)",
 * "processes 1234 (postgres), 1240 (sh)"; undefined when no process can be found (a mount on
 * top, or a bind mount in another namespace with no process in it).
 */
export function describeHolders(ctx: Context, mountpoint: string): string | undefined {
  let pids: number[]
  try {
    pids = ctx.host.processesUsing(mountpoint)
  } catch {
    return undefined
  }
  // A process that ended between the two reads holds nothing any more: it is left out.
  const holders = pids.flatMap((pid) => {
    const command = ctx.host.processCommand(pid)
    return command === undefined ? [] : [`${pid} (${command})`]
  })
  if (holders.length === 0) return undefined
  const shown = holders.length > 8 ? [...holders.slice(0, 8), `and ${holders.length - 8} more`] : holders
  return `${holders.length === 1 ? 'process' : 'processes'} ${shown.join(', ')}`
}

/**
 * Stops the processes using a mounted volume: SIGTERM, then SIGKILL for those still there after
 * `graceMs`. Returns the pids it signalled.
 */
export async function stopProcessesUsing(ctx: Context, mountpoint: string, graceMs = 10_000): Promise<number[]> {
  const pids = ctx.host.processesUsing(mountpoint)
  if (pids.length === 0) return []
  await signalAll(ctx, pids, 'SIGTERM')
  if (ctx.exec.dryRun) return pids
  const released = () => ctx.host.processesUsing(mountpoint).length === 0
  if (!(await waitFor(released, graceMs))) {
    await signalAll(ctx, ctx.host.processesUsing(mountpoint), 'SIGKILL')
    await waitFor(released, 2000)
  }
  return pids
}

async function waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() > deadline) return false
    await sleep(50)
  }
  return true
}

async function signalAll(ctx: Context, pids: number[], signal: NodeJS.Signals): Promise<void> {
  await ctx.exec.change(['kill', `-${signal.slice(3)}`, ...pids.map(String)], () => {
    for (const pid of pids) {
      try {
        process.kill(pid, signal)
      } catch {
        // already gone
      }
    }
  })
}
