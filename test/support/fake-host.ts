import {type Host, type KernelInfo, systemHost} from '../../src/lib/system/host.js'
import type {LoopDevice} from '../../src/lib/system/loops.js'
import type {MountEntry} from '../../src/lib/system/mountinfo.js'

/** The system as a test wants it: root, mounts and loop devices are set; files are real (temporary). */
export class FakeHost implements Host {
  root = true
  mounts: Array<{source: string; mountpoint: string; fstype?: string}> = []
  loops: LoopDevice[] = []
  busyDevices = new Set<string>()
  /** Loop devices the kernel made read-only (losetup's silent fallback). */
  readOnlyDevices = new Set<string>()
  totalBytes = 100 * 1024 ** 3
  procFilesystems = () => '\text4\n\txfs\n\tbtrfs\nnodev\toverlay\n'
  availableBytes = this.totalBytes
  reflink = false
  /** Like the machines cbs is tested on: no CAP_SYS_RESOURCE. */
  capabilities = 0n
  kernelInfo: KernelInfo = {release: '6.1.0', modules: 'loop 40960 0 - Live 0x0000000000000000\n', loopControl: true}
  /** Pids of live processes; any other pid is dead. */
  alive = new Set<number>([process.pid])
  /** Processes using each mountpoint. */
  users = new Map<string, number[]>()
  /** Command names of live processes (default "sh"). */
  commands = new Map<number, string>()

  isRoot = () => this.root
  loopDevices = () => this.loops
  isDeviceBusy = (device: string) => this.busyDevices.has(device)
  isReadOnlyDevice = (device: string) => this.readOnlyDevices.has(device)
  deviceNumber = (device: string) => `7:${device.replace(/\D+/g, '')}`
  fileInfo = (path: string) => systemHost.fileInfo(path)
  realPath = (path: string) => systemHost.realPath(path)
  fsUsage = () => ({totalBytes: this.totalBytes, usedBytes: this.totalBytes - this.availableBytes, availableBytes: this.availableBytes})
  /** Mountpoints removed since the mounts were read (another cbs command at work). */
  vanished = new Set<string>()
  mountUsage = (mountpoint: string) => (this.vanished.has(mountpoint) ? undefined : this.fsUsage())
  canReflink = () => this.reflink
  processesUsing = (mountpoint: string) => (this.users.get(mountpoint) ?? []).filter((pid) => this.alive.has(pid))
  /** Filesystems ("MAJOR:MINOR") mounted in other mount namespaces, and a process in each. */
  elsewhere = new Map<string, number[]>()
  mountedElsewhere = (mount: MountEntry) => this.elsewhere.get(mount.device) ?? []
  processCommand = (pid: number) => (this.alive.has(pid) ? (this.commands.get(pid) ?? 'sh') : undefined)
  listDirectory = (path: string) => systemHost.listDirectory(path)
  /** Start times a test sets (a container's process); other live pids answer the real one. */
  readonly startTimes = new Map<number, string>()
  processStartTime = (pid: number) => this.startTimes.get(pid) ?? (this.alive.has(pid) ? (systemHost.processStartTime(pid) ?? 'started') : undefined)
  openFolder = (path: string) => systemHost.openFolder(path)
  effectiveCapabilities = () => this.capabilities
  kernel = () => this.kernelInfo

  /** /proc/PID/mountinfo of the processes a test names (containers). */
  readonly processMounts = new Map<number, string>()

  mountinfo(pid?: number): string {
    if (pid !== undefined) return this.processMounts.get(pid) ?? ''
    return this.mounts
      .map((mount, index) => `${index + 30} 1 ${mount.source.startsWith('/dev/') ? this.deviceNumber(mount.source) : `0:${index + 40}`} / ${mount.mountpoint} rw,relatime shared:1 - ${mount.fstype ?? 'ext4'} ${mount.source} rw`)
      .join('\n')
  }
}
