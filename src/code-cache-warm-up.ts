import {SystemExecutor} from './lib/system/exec.js'
import {layoutOf} from './lib/store/layout.js'
import {Store} from './lib/store/store.js'

/**
 * What the build runs once, with CBS_WRITE_CODE_CACHE set, so that the code caches hold the
 * functions most commands call, compiled: running a program and saving the state (the conf
 * chunk). Touches nothing outside `root`.
 */
export async function warmUpCodeCache(root: string): Promise<void> {
  await new SystemExecutor().run('true', [])
  await new Store(layoutOf(root)).update(() => {})
}
