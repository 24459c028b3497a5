import {closeSync, constants, linkSync, openSync, readFileSync, readlinkSync, renameSync, symlinkSync, unlinkSync} from 'node:fs'
import {basename} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {conflict} from '../common/errors.js'
import {isAlive, startTimeOf} from '../system/process-identity.js'

/**
 * The holders and waiters of each lock file within this process, the last one first: a process
 * that makes several changes at once (`cbs csi serve`) lets them take the link one at a time, as
 * the owner it names is the same for all of them and could not tell them apart.
 */
const queues = new Map<string, Promise<void>>()

/**
 * An exclusive lock between cbs processes, and between callers within one (see `queues`): a
 * symbolic link whose target is the owner's pid and start time, made by symlink(2), which is
 * atomic and fails when the link exists. A lock whose owner is gone (kill -9) is taken over, so
 * a crash never wedges the store; pid and start time together survive pid reuse.
 *
 * Why a link and not a file holding the owner: a short link lives in its inode, so taking the
 * lock needs no data block and works on a full host disk (`cbs volume rm` is how space is
 * freed); the owner appears with the link in one step, so there is no draft file to leave behind
 * when that fails; and nothing is opened or written through a name someone else could have put
 * a link on. Node has no flock(2), and a helper process to hold one would cost a spawn a lock.
 * Where the filesystem has no inode left either, `onNoSpace` gives some back (the store's
 * reserve) and the link is tried once more.
 */
export class FileLock {
  constructor(
    readonly path: string,
    private readonly timeoutMs = 30_000,
    private readonly onNoSpace: () => boolean = () => false,
  ) {}

  async acquire(): Promise<() => void> {
    const previous = queues.get(this.path) ?? Promise.resolve()
    let done = () => {}
    let gaveUp = false
    const mine = previous.then(() => (gaveUp ? undefined : new Promise<void>((resolve) => (done = resolve))))
    queues.set(this.path, mine)
    const finish = () => {
      gaveUp = true
      done()
      if (queues.get(this.path) === mine) queues.delete(this.path)
    }
    try {
      await this.waitForTurn(previous)
      const release = await this.acquireLink()
      return () => {
        release()
        finish()
      }
    } catch (error) {
      finish()
      throw error
    }
  }

  /** Waits for the callers of this process ahead in the queue, for at most the timeout. */
  private async waitForTurn(previous: Promise<void>): Promise<void> {
    const timer = new AbortController()
    const expired = sleep(this.timeoutMs, true, {signal: timer.signal}).catch(() => false)
    const late = await Promise.race([previous.then(() => false), expired])
    timer.abort()
    if (late) throw conflict(`the cbs state is locked by another operation of this process (${process.pid})`, 'wait for it to finish and try again')
  }

  private async acquireLink(): Promise<() => void> {
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

  private tryCreate(owner: string): boolean {
    try {
      symlinkSync(owner, this.path)
      return true
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EEXIST') return false
      if (code === 'ENOSPC' && this.onNoSpace()) return this.tryCreate(owner)
      throw error
    }
  }

  private readOwner(): string | undefined {
    return ownerAt(this.path)
  }

  /** Moves the dead owner's link aside, then removes it only if it is still that owner's. */
  private breakStale(owner: string): void {
    const aside = `${this.path}.stale.${process.pid}`
    try {
      renameSync(this.path, aside)
    } catch {
      return // someone else broke it first
    }
    // A live owner took the lock in between: put it back (link fails only if yet another did).
    if (ownerAt(aside) !== owner) linkSync(aside, this.path)
    unlinkSync(aside)
  }

  private release(owner: string): void {
    if (this.readOwner() === owner) unlinkSync(this.path)
  }
}

/** The owner a lock names: a link's target, or (a lock left by an older cbs) a file's text, never followed. */
function ownerAt(path: string): string | undefined {
  try {
    return readlinkSync(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL') return undefined
  }
  let fd: number | undefined
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW)
    return readFileSync(fd, 'utf8')
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) closeSync(fd)
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

/** Lock debris older cbs versions could leave next to `lockFile`: drafts (.PID) and moved-aside locks (.stale.PID). */
export function strayLockFiles(names: string[], lockFile: string): string[] {
  const base = basename(lockFile)
  return names.filter((name) => name.startsWith(`${base}.`) && /^(stale\.)?\d+$/.test(name.slice(base.length + 1)))
}
