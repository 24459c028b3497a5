import {linkSync, readFileSync, renameSync, unlinkSync, writeFileSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import {conflict} from '../common/errors.js'
import {isAlive, startTimeOf} from '../system/process-identity.js'

/**
 * An exclusive lock between cbs processes: a file created with O_EXCL that holds the owner's
 * pid and start time. A lock whose owner is gone (kill -9) is taken over, so a crash never
 * wedges the store; pid and start time together survive pid reuse.
 */
export class FileLock {
  constructor(
    readonly path: string,
    private readonly timeoutMs = 30_000,
  ) {}

  async acquire(): Promise<() => void> {
    const me = ownerOf(process.pid)
    const deadline = Date.now() + this.timeoutMs
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      if (this.tryCreate(me)) return () => this.release(me)
      const owner = this.readOwner()
      if (owner !== undefined && !ownerAlive(owner)) this.breakStale(owner)
      else if (Date.now() > deadline) {
        throw conflict(`the cbs state is locked by process ${owner ?? '?'}`, 'wait for it to finish and try again')
      } else await sleep(delay)
    }
  }

  /** link(2) makes the lock appear with its owner already written: never an empty lock file. */
  private tryCreate(owner: string): boolean {
    const draft = `${this.path}.${process.pid}`
    writeFileSync(draft, owner, {mode: 0o600})
    try {
      linkSync(draft, this.path)
      return true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw error
    } finally {
      unlinkSync(draft)
    }
  }

  private readOwner(): string | undefined {
    try {
      return readFileSync(this.path, 'utf8')
    } catch {
      return undefined
    }
  }

  /** Moves the dead owner's file aside, then removes it only if it is still that owner's. */
  private breakStale(owner: string): void {
    const aside = `${this.path}.stale.${process.pid}`
    try {
      renameSync(this.path, aside)
    } catch {
      return // someone else broke it first
    }
    // A live owner took the lock in between: put it back (link fails only if yet another did).
    if (readFileSync(aside, 'utf8') !== owner) linkSync(aside, this.path)
    unlinkSync(aside)
  }

  private release(owner: string): void {
    if (this.readOwner() === owner) unlinkSync(this.path)
  }
}

/** "pid starttime": the start time tells a reused pid apart. */
function ownerOf(pid: number): string {
  return `${pid} ${startTimeOf(pid) ?? ''}`
}

function ownerAlive(owner: string): boolean {
  const [pid, startTime] = owner.trim().split(' ')
  return isAlive({pid: Number(pid), startTime})
}
