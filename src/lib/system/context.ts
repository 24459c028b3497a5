import {environment} from '../common/errors.js'
import {type Executor, SystemExecutor, type SystemExecutorOptions} from './exec.js'
import {type Host, systemHost} from './host.js'
import {type Layout, layoutOf, rootFromEnvironment} from '../store/layout.js'
import type {Progress} from '../common/progress.js'
import {Store} from '../store/store.js'
import {resolveRoot} from '../store/root.js'

/** Everything a core operation needs from the outside world, passed in so tests can fake it. */
export interface Context {
  layout: Layout
  store: Store
  exec: Executor
  host: Host
  /** Where long operations report how far they are (a TTY line, or nowhere). */
  progress?: Progress
}

export function systemContext(options: SystemExecutorOptions & {progress?: Progress} = {}): Context {
  const layout = layoutOf(resolveRoot(rootFromEnvironment()))
  return {layout, store: new Store(layout, {dryRun: options.dryRun}), exec: new SystemExecutor(options), host: systemHost, progress: options.progress}
}

export function requireRoot(host: Host): void {
  if (!host.isRoot()) throw environment('root is needed to manage loop devices and mounts', 'run it with sudo')
}
