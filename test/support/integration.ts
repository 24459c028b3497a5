import {type ChildProcess, execFileSync, spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {join, resolve} from 'node:path'

export const REPO = resolve(import.meta.dirname, '../..')
const BIN = join(REPO, 'bin', 'run.js')

export interface CbsResult {
  code: number
  stdout: string
  stderr: string
}

export interface CbsOptions {
  env?: NodeJS.ProcessEnv
  /** cbsAsync only: called with the child process as soon as it runs (e.g. to signal it). */
  onSpawn?: (child: ChildProcess) => void
  /** Run as another user, e.g. 65534 (nobody). */
  uid?: number
}

/** Runs the built `cbs` binary as a user would, against the given CBS_ROOT. */
export function cbs(root: string, args: string[], options: CbsOptions = {}): CbsResult {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    env: {...process.env, CBS_ROOT: root, NO_COLOR: '1', ...options.env},
    encoding: 'utf8',
    uid: options.uid,
    gid: options.uid,
  })
  return {code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr}
}

export function cbsAsync(root: string, args: string[], options: CbsOptions = {}): Promise<CbsResult> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], {env: {...process.env, CBS_ROOT: root, NO_COLOR: '1', ...options.env}})
    options.onSpawn?.(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('close', (code) => done({code: code ?? 1, stdout, stderr}))
  })
}

/** Parses stdout of a --json call, failing with the whole output when it is not JSON. */
export function json<T = any>(result: CbsResult): T {
  try {
    return JSON.parse(result.stdout) as T
  } catch {
    throw new Error(`not JSON (exit ${result.code}): ${result.stdout}\n${result.stderr}`)
  }
}

/** The one object of a --json array (what commands that act on one volume or snapshot print). */
export function jsonOne<T = any>(result: CbsResult): T {
  const parsed = json<unknown>(result)
  if (!Array.isArray(parsed) || parsed.length !== 1) throw new Error(`not an array of one object (exit ${result.code}): ${result.stdout}\n${result.stderr}`)
  return parsed[0] as T
}

export const sh = (file: string, args: string[]) => execFileSync(file, args, {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})

/**
 * Integration tests need root and the storage tools. Where they cannot run they are skipped
 * with a visible reason; under CI=true that is a failure instead.
 */
export function requireHost(this: Mocha.Context, tools: string[] = ['losetup', 'mkfs.ext4', 'chattr']): void {
  const missing = tools.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
  const problem = process.getuid?.() !== 0 ? 'not running as root' : missing.length > 0 ? `missing ${missing.join(', ')}` : ''
  if (!problem) return
  if (process.env.CI === 'true') throw new Error(`integration prerequisites missing under CI: ${problem}`)
  console.log(`      SKIPPED (${problem})`)
  this.skip()
}

/** A fresh CBS_ROOT; `removeRoot` tears down whatever a test left in it. */
export function makeRoot(): string {
  return mkdtempSync('/tmp/cbs-it-')
}

/** Unmounts and detaches everything backed by files under root, then deletes it. */
export function removeRoot(root: string): void {
  releaseRoot(root)
  rmSync(root, {recursive: true, force: true})
}

/** Unmounts and detaches everything backed by files under root, and makes it all mutable. */
export function releaseRoot(root: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mountpoint) => mountpoint?.startsWith(`${root}/`))
    .reverse()
  for (const mountpoint of mounts) spawnSync('umount', ['-l', mountpoint])
  for (const device of loopsUnder(root)) spawnSync('losetup', ['-d', device])
  // A lazily unmounted filesystem is released a moment later (deferred kernel work, slower under
  // load); a device detached while still held goes away only then.
  for (let waited = 0; loopsUnder(root).length > 0 && waited < 5000; waited += 50) spawnSync('sleep', ['0.05'])
  spawnSync('chattr', ['-R', '-i', root])
}

function loopsUnder(root: string): string[] {
  const devices: string[] = []
  for (const name of readdirSync('/sys/block').filter((entry) => entry.startsWith('loop'))) {
    try {
      if (readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').startsWith(`${root}/`)) devices.push(`/dev/${name}`)
    } catch {
      // not attached
    }
  }
  return devices
}

/** Loop devices and mounts that belong to root (should be none after cleanup). */
export function leftovers(root: string): string[] {
  const loops = spawnSync('losetup', ['-l', '-n', '-O', 'NAME,BACK-FILE'], {encoding: 'utf8'}).stdout.split('\n')
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
  return [...loops, ...mounts].filter((line) => line.includes(root))
}
