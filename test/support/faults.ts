import {spawn, spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {REPO} from './integration.js'

const BIN = join(REPO, 'bin', 'run.js')

export interface Killed {
  /** Where it was when killed (CBS_TEST_PAUSE_AT), or undefined when it ended first. */
  pausedAt?: string
  code: number | null
  stderr: string
}

/**
 * Runs cbs and kills it with SIGKILL: at the checkpoint `step` (see src/lib/common/checkpoint.ts), or
 * after `delayMs`. Only the cbs process is killed; the programs it started run on, as they
 * would after a real kill -9.
 */
export function runAndKill(root: string, args: string[], when: {step: string} | {delayMs: number}): Promise<Killed> {
  return new Promise((done) => {
    const env = {...process.env, CBS_ROOT: root, NO_COLOR: '1', ...('step' in when ? {CBS_TEST_PAUSE_AT: when.step} : {})}
    const child = spawn(process.execPath, [BIN, ...args], {env, stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    let pausedAt: string | undefined
    child.stderr.on('data', (chunk) => {
      stderr += chunk
      const paused = /cbs-test: paused at (\S+)/.exec(stderr)
      if (paused && !pausedAt) {
        pausedAt = paused[1]
        child.kill('SIGKILL')
      }
    })
    const timer = 'delayMs' in when ? setTimeout(() => child.kill('SIGKILL'), when.delayMs) : undefined
    child.on('close', (code) => {
      clearTimeout(timer)
      done({pausedAt, code, stderr})
    })
  })
}

/** Fills a volume with a few files of random bytes. */
export function writeData(mountpoint: string, files = 3, bytes = 256 * 1024): void {
  for (let index = 0; index < files; index++) writeFileSync(join(mountpoint, `data-${index}`), randomBytes(bytes))
}

/** Name and sha256 of every file in a volume: equal fingerprints, equal bytes. */
export function fingerprint(mountpoint: string): Record<string, string> {
  const sums: Record<string, string> = {}
  for (const entry of readdirSync(mountpoint, {withFileTypes: true, recursive: true})) {
    if (!entry.isFile()) continue
    const path = resolve(entry.parentPath, entry.name)
    sums[path.slice(mountpoint.length + 1)] = createHash('sha256').update(readFileSync(path)).digest('hex')
  }
  return sums
}

/** A filesystem of its own (ext4 on a loop device), so that a test can fill it up. */
export function smallHostFilesystem(dir: string, sizeMiB: number): {mountpoint: string; remove: () => void} {
  const image = `${dir}.img`
  const run = (file: string, args: string[]) => {
    const result = spawnSync(file, args, {encoding: 'utf8'})
    if (result.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${result.stderr}`)
    return result.stdout.trim()
  }
  run('truncate', ['--size', `${sizeMiB}M`, image])
  run('mkfs.ext4', ['-q', '-F', '-m', '0', image])
  run('mkdir', ['-p', dir])
  const device = run('losetup', ['--find', '--show', image])
  run('mount', [device, dir])
  return {
    mountpoint: dir,
    remove() {
      spawnSync('umount', ['-l', dir])
      spawnSync('losetup', ['-d', device])
      spawnSync('rm', ['-rf', dir, image])
    },
  }
}

/** Writes zeros to `file` until the filesystem is full (big writes, then the last few blocks). */
export function fillFilesystem(file: string): void {
  // ext4 reserves blocks for data not yet written out (delayed allocation) generously and gives
  // back what it did not need at writeback: so fill, flush, and fill what that gave back.
  for (const [suffix, bs] of [
    ['', '1M'],
    ['.tail', '4k'],
    ['.flushed', '4k'],
  ]) {
    // dd ends with "No space left": that is the point.
    spawnSync('dd', ['if=/dev/zero', `of=${file}${suffix}`, `bs=${bs}`, 'status=none'])
    spawnSync('sync', ['--file-system', file])
  }
}

/**
 * `losetup --detach` as a reboot or an operator would, waiting until the device is really gone:
 * the kernel only marks a device that udev is still probing, and detaches it once udev lets go.
 */
export function detachLoop(device: string): void {
  const detached = spawnSync('losetup', ['--detach', device], {encoding: 'utf8'})
  if (detached.status !== 0) throw new Error(`losetup --detach ${device}: ${detached.stderr}`)
  const backing = `/sys/block/${device.replace('/dev/', '')}/loop/backing_file`
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    if (!existsSync(backing)) return
    spawnSync('sleep', ['0.05'])
  }
  throw new Error(`${device} is still attached 10 s after losetup --detach`)
}
