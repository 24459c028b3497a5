import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Context} from '../../src/lib/system/context.js'
import {layoutOf} from '../../src/lib/store/layout.js'
import {Store} from '../../src/lib/store/store.js'
import {type Expectation, FakeExecutor} from './fake-executor.js'
import {FakeHost} from './fake-host.js'

export interface UnitContext extends Context {
  exec: FakeExecutor
  host: FakeHost
  cleanup(): void
}

/** A context on a temporary CBS_ROOT with a scripted executor and a fake host. */
export function unitContext(script: Expectation[] = [], options: {dryRun?: boolean} = {}): UnitContext {
  const root = mkdtempSync(join(tmpdir(), 'cbs-unit-'))
  const layout = layoutOf(root)
  return {
    layout,
    store: new Store(layout, {dryRun: options.dryRun}),
    exec: new FakeExecutor(script, options.dryRun),
    host: new FakeHost(),
    cleanup: () => rmSync(root, {recursive: true, force: true}),
  }
}

/** Swaps in a new script, keeping root, store and host. */
export function withScript(ctx: UnitContext, script: Expectation[]): UnitContext {
  return {...ctx, exec: new FakeExecutor(script)}
}
