import {mkdirSync, readFileSync} from 'node:fs'
import type Conf from 'conf'
import {CbsError, environment} from '../common/errors.js'
import type {Layout} from './layout.js'
import {FileLock} from './lock.js'
import {emptyState, migrateState, type State} from './state.js'

/**
 * The JSON state under $CBS_ROOT. Changes go through `conf` (atomic writes, mode 0600) while
 * holding the lock; reads parse the same file directly so that read-only commands start fast.
 */
export class Store {
  /** Under --dry-run: the state as the planned changes would leave it, never saved. */
  private draft?: State
  private conf?: Conf<State>

  constructor(
    readonly layout: Layout,
    private readonly options: {dryRun?: boolean} = {},
  ) {}

  read(): State {
    if (this.draft) return structuredClone(this.draft)
    let text: string
    try {
      text = readFileSync(this.layout.stateFile, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyState()
      throw error
    }
    return this.toState(this.guardJson(() => JSON.parse(text)))
  }

  /**
   * Applies `change` to the current state under the lock and saves it. Keep the change quick:
   * the lock is never held across slow system work. Under --dry-run nothing is saved.
   */
  async update<T>(change: (state: State) => T): Promise<T> {
    if (this.options.dryRun) {
      this.draft ??= this.read()
      return change(this.draft)
    }
    mkdirSync(this.layout.root, {recursive: true, mode: 0o700})
    const {default: Conf} = await import('conf') // before the lock: loading takes a while
    const release = await new FileLock(this.layout.lockFile).acquire()
    try {
      // One instance a process: its store is read from the file at every access anyway.
      const conf = (this.conf ??= this.guardJson(
        () => new Conf<State>({cwd: this.layout.root, configName: 'state', configFileMode: 0o600, accessPropertiesByDotNotation: false}),
      ))
      const state = this.toState(this.guardJson(() => conf.store))
      const result = change(state)
      conf.store = state
      return result
    } finally {
      release()
    }
  }

  private toState(data: unknown): State {
    const state = migrateState(data)
    if ('newerVersion' in state) {
      throw environment(`state file ${this.layout.stateFile} has schema version ${state.newerVersion}`, 'it was written by a newer cbs: upgrade cbs')
    }
    return state
  }

  /** A state file that is not valid JSON stops everything: it is never overwritten. */
  private guardJson<T>(read: () => T): T {
    try {
      return read()
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error
      throw new CorruptState(this.layout.stateFile)
    }
  }
}

/** A state file that is not valid JSON (exit 5); `cbs doctor --fix` can rebuild it. */
export class CorruptState extends CbsError {
  constructor(file: string) {
    super('environment', `state file ${file} is not valid JSON`, 'restore it from a backup or move it away; cbs will not overwrite it')
  }
}
