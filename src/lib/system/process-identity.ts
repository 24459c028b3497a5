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

/** A live process's start time; undefined when there is no such process, or it is a zombie. */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields 3 (state) and 22; the command name in field 2 may hold spaces, so count after its ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[0] === 'Z' ? undefined : fields[19] // a zombie is dead, only not yet reaped
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
