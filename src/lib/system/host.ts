import {closeSync, constants, copyFileSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statfsSync, statSync, writeFileSync} from 'node:fs'
import {release} from 'node:os'
import {basename, join} from 'node:path'
import {type LoopDevice, readLoopDevices} from './loops.js'
import {isGone} from './gone.js'
import {startTimeOf} from './process-identity.js'
import {mapsUseDevice} from './devices.js'
import {isPropagatedCopy, type MountEntry, parseMountinfo} from './mountinfo.js'

export interface FileInfo {
  sizeBytes: number
  /** What the (sparse) file really takes on disk. */
  allocatedBytes: number
  isDirectory: boolean
}

export interface FsUsage {
  totalBytes: number
  usedBytes: number
  /** What an unprivileged writer could still use. */
  availableBytes: number
  /** Inodes (files) in all and still free; 0 where the filesystem has no fixed count (btrfs). */
  totalInodes?: number
  freeInodes?: number
}

/** What cbs reads from the host. The real one is below; unit tests pass a fake. */
export interface Host {
  isRoot(): boolean
  /** /proc/self/mountinfo, or a process's (its mount namespace, paths from its root). */
  mountinfo(pid?: number): string
  loopDevices(): LoopDevice[]
  fileInfo(path: string): FileInfo | undefined
  /** The path with symbolic links resolved; undefined when it does not exist. */
  realPath(path: string): string | undefined
  fsUsage(path: string): FsUsage
  /**
   * The usage of the filesystem mounted at `mountpoint`; undefined when the mountpoint is gone,
   * as when another cbs command removed the volume after this one read the mounts.
   */
  mountUsage(mountpoint: string): FsUsage | undefined
  /** Whether a block device is held open exclusively, e.g. mounted in any mount namespace. */
  isDeviceBusy(device: string): boolean
  /** The text of /proc/filesystems: the filesystem types the running kernel has. */
  procFilesystems(): string
  /** Whether a block device is read-only (its ro flag in sysfs), e.g. a loop device losetup fell back to. */
  isReadOnlyDevice(device: string): boolean
  /** "MAJOR:MINOR" of a block device such as /dev/loop3. */
  deviceNumber(device: string): string
  /** Whether files in `dir` can be cloned copy-on-write (FICLONE: xfs with reflink, btrfs). */
  canReflink(dir: string): boolean
  /**
   * Processes with a file, folder or mapping open on the filesystem mounted at `mountpoint`,
   * in any mount namespace (containers included); never cbs itself.
   */
  processesUsing(mountpoint: string): number[]
  /**
   * A process in each other mount namespace (a container's) where the filesystem of our `mount`
   * is mounted and stays when we unmount ours (copies that propagation made go with it): a union
   * mount a container binds, say.
   */
  mountedElsewhere(mount: MountEntry): number[]
  /**
   * Opens a folder without following a symbolic link at its end; 'missing' when nothing is
   * there, 'not a folder' for a file or a symbolic link. The handle pins that very folder.
   */
  openFolder(path: string): FolderHandle | 'missing' | 'not a folder'
  /** A process's command name (/proc/PID/comm); undefined when there is no such process. */
  processCommand(pid: number): string | undefined
  /** Names in a folder; none when it does not exist. */
  listDirectory(path: string): string[]
  /** A running process's start time (see process-identity.ts); undefined when there is no such process. */
  processStartTime(pid: number): string | undefined
  /** This process's effective capability set (the CapEff mask of proc(5)). */
  effectiveCapabilities(): bigint
  kernel(): KernelInfo
}

/** An open folder: whatever later happens to its path, this names the same folder. */
export interface FolderHandle {
  /** "DEVICE:INODE" (decimal st_dev:st_ino). */
  identity: string
  /** /proc/PID/fd/N: names the open folder itself, also to a child process such as mount(8), while open. */
  path: string
  close(): void
}

/** What the kernel offers beyond /proc/filesystems, as raw text for kernel-features.ts to read. */
export interface KernelInfo {
  release: string
  /** /proc/modules, then this kernel's modules.dep and modules.builtin: the modules at hand. */
  modules: string
  /** /dev/loop-control exists: the loop driver is there. */
  loopControl: boolean
}

const BUSY_GRACE_MS = 1500

/**
 * Asks again every 50 ms, for BUSY_GRACE_MS at most, until the answer is settled: a mount
 * namespace that just died (a container removed a moment ago) lets go of its mounts a little
 * later, from deferred kernel work. Blocking, like the rest of the host's reads.
 */
function untilSettled<T>(ask: () => T, settled: (answer: T) => boolean): T {
  const deadline = Date.now() + BUSY_GRACE_MS
  for (;;) {
    const answer = ask()
    if (settled(answer) || Date.now() >= deadline) return answer
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50)
  }
}

export const systemHost: Host = {
  isRoot: () => process.getuid?.() === 0,

  mountinfo: (pid) => readFileSync(`/proc/${pid ?? 'self'}/mountinfo`, 'utf8'),

  loopDevices: () => readLoopDevices((path) => readFileSync(path, 'utf8')),

  fileInfo(path) {
    try {
      const stat = statSync(path)
      return {sizeBytes: stat.size, allocatedBytes: stat.blocks * 512, isDirectory: stat.isDirectory()}
    } catch {
      return undefined
    }
  },

  realPath(path) {
    try {
      return realpathSync(path)
    } catch {
      return undefined
    }
  },

  fsUsage(path) {
    const stat = statfsSync(path)
    return {
      totalBytes: stat.blocks * stat.bsize,
      usedBytes: (stat.blocks - stat.bfree) * stat.bsize,
      availableBytes: stat.bavail * stat.bsize,
      totalInodes: stat.files,
      freeInodes: stat.ffree,
    }
  },

  mountUsage(mountpoint) {
    try {
      return systemHost.fsUsage(mountpoint)
    } catch (error) {
      if (isGone(error)) return undefined
      throw error
    }
  },

  isDeviceBusy(device) {
    return untilSettled(
      () => {
        try {
          // O_EXCL on a block device fails with EBUSY while a filesystem on it is mounted anywhere.
          closeSync(openSync(device, constants.O_RDONLY | constants.O_EXCL))
          return false
        } catch (error) {
          return (error as NodeJS.ErrnoException).code === 'EBUSY'
        }
      },
      (busy) => !busy,
    )
  },

  procFilesystems: () => readFileSync('/proc/filesystems', 'utf8'),
  isReadOnlyDevice: (device) => readOr(`/sys/class/block/${basename(device)}/ro`).trim() === '1',
  deviceNumber: (device) => readFileSync(`/sys/class/block/${basename(device)}/dev`, 'utf8').trim(),

  canReflink(dir) {
    // A tiny file cloned in-process: nothing to spawn, and nothing left behind.
    const probe = join(dir, `.reflink-probe.${process.pid}`)
    try {
      writeFileSync(probe, 'cbs', {flag: 'wx'}) // never through a link someone put there
      copyFileSync(probe, `${probe}.clone`, constants.COPYFILE_FICLONE_FORCE | constants.COPYFILE_EXCL)
      return true
    } catch {
      return false
    } finally {
      rmSync(probe, {force: true})
      rmSync(`${probe}.clone`, {force: true})
    }
  },

  processesUsing(mountpoint) {
    let device: number
    try {
      device = statSync(mountpoint).dev
    } catch (error) {
      if (isGone(error)) return [] // removed by another command in between: nothing uses it here
      throw error
    }
    // stat() through /proc/PID/{cwd,root,exe,fd/N} follows the magic links into any mount
    // namespace: a container's processes are found by the device they use, not by path.
    const onDevice = (path: string) => {
      try {
        return statSync(path).dev === device
      } catch {
        return false
      }
    }
    const using: number[] = []
    for (const entry of readdirSync('/proc')) {
      const pid = Number(entry)
      if (!Number.isInteger(pid) || pid === process.pid) continue
      const dir = `/proc/${pid}`
      let fds: string[] = []
      try {
        fds = readdirSync(`${dir}/fd`)
      } catch {
        continue // gone, or a kernel thread
      }
      const uses =
        ['cwd', 'root', 'exe'].some((link) => onDevice(`${dir}/${link}`)) ||
        fds.some((fd) => onDevice(`${dir}/fd/${fd}`)) ||
        mapsUseDevice(readOr(`${dir}/maps`), device)
      if (uses) using.push(pid)
    }
    return using
  },

  mountedElsewhere(mount) {
    return untilSettled(
      () => namespacesHolding(mount),
      (holders) => holders.length === 0,
    )
  },

  openFolder(path) {
    let fd: number
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return 'missing'
      if (code === 'ENOTDIR' || code === 'ELOOP') return 'not a folder'
      throw error
    }
    const stat = fstatSync(fd, {bigint: true})
    return {identity: `${stat.dev}:${stat.ino}`, path: `/proc/${process.pid}/fd/${fd}`, close: () => closeSync(fd)}
  },

  processCommand(pid) {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
    } catch {
      return undefined
    }
  },

  listDirectory(path) {
    try {
      return readdirSync(path)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
  },

  processStartTime: startTimeOf,

  effectiveCapabilities() {
    const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))
    return line ? BigInt(`0x${line[1]}`) : 0n
  },

  kernel() {
    const kernelRelease = release()
    const modules = ['/proc/modules', `/lib/modules/${kernelRelease}/modules.dep`, `/lib/modules/${kernelRelease}/modules.builtin`]
    return {
      release: kernelRelease,
      modules: modules.map(readOr).join('\n'),
      loopControl: existsSync('/dev/loop-control'),
    }
  },
}

/** A process in each mount namespace other than ours that holds the filesystem of `mount` (see mountedElsewhere). */
function namespacesHolding(mount: MountEntry): number[] {
  const namespaceOf = (pid: number | 'self') => {
    try {
      return readlinkSync(`/proc/${pid}/ns/mnt`)
    } catch {
      return undefined // gone
    }
  }
  const seen = new Set([namespaceOf('self')])
  const holders: number[] = []
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry)
    const namespace = Number.isInteger(pid) ? namespaceOf(pid) : undefined
    if (namespace === undefined || seen.has(namespace)) continue
    seen.add(namespace)
    const held = parseMountinfo(readOr(`/proc/${pid}/mountinfo`)).some((entry) => entry.device === mount.device && !isPropagatedCopy(entry, mount))
    if (held) holders.push(pid)
  }
  return holders
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}
