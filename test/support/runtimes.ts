import {spawnSync} from 'node:child_process'
import {join} from 'node:path'
import {REPO} from './integration.js'

export type TestRuntime = 'docker' | 'nerdctl' | 'podman'

/** Built by .ci/containers.sh from Debian's busybox-static (no registry is reachable). */
export const IMAGE = process.env.CBS_CI_IMAGE ?? 'cbs-test-busybox:latest'

// podman here needs the settings in .ci/containers.conf (ulimits, cgroupfs, no network); CI exports it.
process.env.CONTAINERS_CONF ??= join(REPO, '.ci', 'containers.conf')

export interface Ran {
  code: number
  stdout: string
  stderr: string
}

export function runtime(name: TestRuntime, args: string[]): Ran {
  const result = spawnSync(name, args, {encoding: 'utf8', timeout: 120_000})
  return {code: result.status ?? (result.error ? 127 : 1), stdout: result.stdout ?? '', stderr: result.stderr ?? String(result.error ?? '')}
}

/** Like runtime(), failing the test with the runtime's stderr when it fails. */
export function must(name: TestRuntime, args: string[]): string {
  const result = runtime(name, args)
  if (result.code !== 0) throw new Error(`${name} ${args.join(' ')}: exit ${result.code}: ${result.stderr}`)
  return result.stdout
}

/**
 * A runtime the tests can use: installed, its daemon answering, the test image present. Where it
 * is not, the tests skip visibly; under CI=true that fails, except for nerdctl being absent
 * altogether (CI does not install it), which is always a visible skip.
 */
export function requireRuntime(this: Mocha.Context, name: TestRuntime): void {
  const installed = spawnSync('sh', ['-c', `command -v ${name}`]).status === 0
  let problem = ''
  if (process.getuid?.() !== 0) problem = 'not running as root'
  else if (!installed) problem = `${name} is not installed`
  else if (runtime(name, ['info']).code !== 0) problem = `${name} does not answer (${name} info failed)`
  else if (runtime(name, ['image', 'inspect', IMAGE]).code !== 0) problem = `image ${IMAGE} is missing in ${name} (source .ci/containers.sh)`
  if (!problem) return
  if (process.env.CI === 'true' && (installed || name !== 'nerdctl')) throw new Error(`container prerequisites missing under CI: ${problem}`)
  console.log(`      SKIPPED (${problem})`)
  this.skip()
}

/** Removes every container and runtime volume labelled for this test root, and the named volumes. */
export function cleanRuntime(name: TestRuntime, root: string, volumes: string[]): void {
  for (const label of [`cbs.root=${root}`, `cbs.test=${root}`]) {
    const ids = runtime(name, ['ps', '--all', '--quiet', '--filter', `label=${label}`]).stdout.split('\n').filter(Boolean)
    if (ids.length > 0) must(name, ['rm', '--force', ...(name === 'podman' ? ['--time', '0'] : []), ...ids])
  }
  const labelled = runtime(name, ['volume', 'ls', '--quiet', '--filter', `label=cbs.root=${root}`]).stdout.split('\n').filter(Boolean)
  for (const volume of new Set([...labelled, ...volumes])) runtime(name, ['volume', 'rm', '--force', volume])
  const left = [...new Set([...labelled, ...volumes])].filter((volume) => runtime(name, ['volume', 'inspect', volume]).code === 0)
  if (left.length > 0) throw new Error(`${name} volumes left behind: ${left.join(', ')}`)
}
