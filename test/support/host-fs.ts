import {spawnSync} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {releaseRoot, sh} from './integration.js'

/**
 * A CBS_ROOT on a filesystem of its own: a sparse image in /tmp, formatted and mounted through a
 * loop device (reflink-capable xfs, or a small ext4 to run out of space on). `remove()` takes
 * down whatever cbs left in it, then the filesystem, its loop device and the image.
 */
export interface HostFs {
  root: string
  remove(): void
}

export function makeHostFs(fs: 'xfs' | 'ext4', sizeMiB: number): HostFs {
  const dir = mkdtempSync('/tmp/cbs-hostfs-')
  const image = join(dir, 'host.img')
  const root = join(dir, 'root')
  sh('truncate', ['--size', `${sizeMiB}M`, image])
  if (fs === 'xfs') sh('mkfs.xfs', ['-q', '-m', 'reflink=1', image])
  else sh('mkfs.ext4', ['-q', '-F', '-m', '0', image])
  mkdirSync(root)
  // -o loop: the loop device goes away with the unmount (autoclear).
  sh('mount', ['-o', 'loop', image, root])
  chmodSync(root, 0o700)
  return {
    root,
    remove() {
      thawAll(root)
      releaseRoot(root)
      spawnSync('umount', [root])
      rmSync(dir, {recursive: true, force: true})
    },
  }
}

/** Thaws every filesystem mounted under root that a failed test may have left frozen. */
export function thawAll(root: string): void {
  for (const mountpoint of mountpointsUnder(root)) spawnSync('fsfreeze', ['--unfreeze', mountpoint])
}

export function mountpointsUnder(root: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mountpoint) => mountpoint?.startsWith(`${root}/`))
}

/**
 * Whether the filesystem at mountpoint was frozen. Asking thaws it: `fsfreeze --unfreeze` fails
 * with EINVAL on a filesystem that is not frozen. (A test write would block on a frozen one.)
 */
export function wasFrozen(mountpoint: string): boolean {
  const result = spawnSync('fsfreeze', ['--unfreeze', mountpoint], {encoding: 'utf8'})
  if (result.status !== 0 && !/Invalid argument/.test(result.stderr)) throw new Error(`fsfreeze --unfreeze ${mountpoint}: ${result.stderr}`)
  return result.status === 0
}
