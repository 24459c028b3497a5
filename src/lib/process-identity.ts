import {readFileSync} from 'node:fs'

/**
 * Which process owns something (a lock, an operation under way): its pid and its start time in
 * clock ticks since boot, so that a pid reused by another process is not taken for the owner.
 */
export interface ProcessIdentity {
  pid: number
  /** Absent when it could not be read (the owner is then judged by its pid alone). */
  startTime?: string
}

export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 22; the command name in field 2 may hold spaces, so count after its ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

export function currentProcess(): ProcessIdentity {
  return {pid: process.pid, startTime: startTimeOf(process.pid)}
}

/** Whether the owner still runs, given how to read a pid's start time (the host's job). */
export function isAlive(owner: ProcessIdentity, startTime: (pid: number) => string | undefined = startTimeOf): boolean {
  const current = startTime(owner.pid)
  return current !== undefined && (!owner.startTime || current === owner.startTime)
}
