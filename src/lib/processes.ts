import {setTimeout as sleep} from 'node:timers/promises'
import type {Context} from './context.js'

/** A device number as stat() gives it (glibc's encoding), split into major and minor. */
export function splitDevice(device: number): {major: number; minor: number} {
  return {major: (device >>> 8) & 0xfff, minor: (device & 0xff) | ((device >>> 12) & 0xfff00)}
}

/** Whether /proc/PID/maps text maps a file of the given device ("07:01" is major 7, minor 1). */
export function mapsUseDevice(maps: string, device: number): boolean {
  const {major, minor} = splitDevice(device)
  const wanted = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`
  return maps.split('\n').some((line) => line.split(/\s+/)[3] === wanted)
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
