import {closeSync, constants, lstatSync, mkdirSync, openSync, readFileSync} from 'node:fs'
import type Conf from 'conf'
import {CbsError, environment} from '../common/errors.js'
import type {Layout} from './layout.js'
import {FileLock} from './lock.js'
import {SpaceReserve} from './reserve.js'
import {checkRootSafety, readOnlyRoot} from './root.js'
import {stateProblem, versionOf} from './state-check.js'
import {emptyState, migrateState, SCHEMA_VERSION, type State} from './state.js'

/**
 * The JSON state under $CBS_ROOT. Changes go through `conf` (atomic writes, mode 0600) while
 * holding the lock; reads parse the same file directly so that read-only commands start fast.
 */
export class Store {
  /** Under --dry-run: the state as the planned changes would leave it, never saved. */
  private draft?: State
  private conf?: Conf<State>
  private rootChecked = false

  constructor(
    readonly layout: Layout,
    private readonly options: {dryRun?: boolean} = {},
  ) {}

  read(): State {
    if (this.draft) return structuredClone(this.draft)
    this.checkRoot()
    return this.readFile().state
  }

  /**
   * Applies `change` to the current state under the lock and saves it, when it changed. Keep
   * the change quick: the lock is never held across slow system work. Under --dry-run nothing
   * is saved.
   */
  async update<T>(change: (state: State) => T): Promise<T> {
    if (this.options.dryRun) {
      this.draft ??= this.read()
      return change(this.draft)
    }
    this.checkRoot()
    const {default: Conf} = await import('conf') // before the lock: loading takes a while
    const reserve = new SpaceReserve(this.layout.reserveFile)
    let release: () => void
    try {
      mkdirSync(this.layout.root, {recursive: true, mode: 0o700})
      this.checkRoot() // again, once it exists: someone else may have made it first
      release = await new FileLock(this.layout.lockFile, undefined, () => reserve.release()).acquire()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EROFS') throw readOnlyRoot(this.layout.root)
      throw error
    }
    try {
      // conf follows a symbolic link at state.json (it writes next to the link's target): refuse one.
      this.requireRegularStateFile()
      // Read by cbs, not through conf, which takes a file holding null or a list for an empty state.
      const {state, saved} = this.readFile()
      // One instance a process: it only writes.
      const conf = (this.conf ??= new Conf<State>({cwd: this.layout.root, configName: 'state', configFileMode: 0o600, accessPropertiesByDotNotation: false}))
      const before = JSON.stringify(state)
      const result = change(state)
      // A change that changed nothing (a volume mounted again, say) writes nothing; a state
      // migrated from an older schema, or not on the disk yet, is written all the same.
      if (!saved || JSON.stringify(state) !== before) write(conf, state, reserve)
      reserve.ensure()
      return result
    } finally {
      release()
    }
  }

  /** Refuses (exit 5) a root that others could change (see root.ts); once it exists, checked once a process. */
  private checkRoot(): void {
    if (!this.rootChecked) this.rootChecked = checkRootSafety(this.layout.root)
  }

  private requireRegularStateFile(): void {
    try {
      if (lstatSync(this.layout.stateFile).isFile()) return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
      throw error
    }
    throw notRegularFile(this.layout.stateFile)
  }

  /**
   * The state file (never through a symbolic link), checked whole (state-check.ts): one that is
   * not right stops everything. `saved`: the file holds this state as it is (it exists, and
   * needed no migration).
   */
  private readFile(): {state: State; saved: boolean} {
    let text: string
    let fd: number | undefined
    try {
      fd = openSync(this.layout.stateFile, constants.O_RDONLY | constants.O_NOFOLLOW)
      text = readFileSync(fd, 'utf8')
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return {state: emptyState(), saved: false}
      if (code === 'ELOOP') throw notRegularFile(this.layout.stateFile)
      throw error
    } finally {
      if (fd !== undefined) closeSync(fd)
    }
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch {
      throw new CorruptState(this.layout.stateFile)
    }
    const version = versionOf(data)
    if (typeof version !== 'number') throw new CorruptState(this.layout.stateFile, version.problem)
    if (version > SCHEMA_VERSION) {
      throw environment(`state file ${this.layout.stateFile} has schema version ${version}`, 'it was written by a newer cbs: upgrade cbs')
    }
    const state = migrateState(data as Record<string, unknown>, version)
    const problem = stateProblem(state)
    if (problem) throw new CorruptState(this.layout.stateFile, problem)
    return {state: state as State, saved: version === SCHEMA_VERSION}
  }
}

/** Saves the state; never what the next read would refuse, which would stop every command. */
function write(conf: Conf<State>, state: State, reserve: SpaceReserve): void {
  const problem = stateProblem(state)
  if (problem) throw new Error(`cbs would have written a damaged state (${problem}); nothing was written`)
  try {
    conf.store = state
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC' || !reserve.release()) throw error
    conf.store = state
  }
}

const notRegularFile = (file: string) =>
  environment(`state file ${file} is not a regular file (a symbolic link?)`, 'move it away, and put the real state file back from a backup')

/**
 * A state file that is not valid JSON, or not a state cbs wrote (exit 5): it is never overwritten;
 * `cbs doctor --fix` can rebuild it.
 */
export class CorruptState extends CbsError {
  constructor(
    file: string,
    /** What is wrong in it, e.g. `volumes.db.name: "../x" does not follow the name rule`. */
    readonly problem?: string,
  ) {
    const what = problem ? `is damaged (${problem})` : 'is not valid JSON'
    super('environment', `state file ${file} ${what}`, `run \`cbs doctor --fix\` to rebuild it (it keeps the file aside), or restore it from a backup; cbs will not overwrite it`)
  }
}
