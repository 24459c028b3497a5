import type {Host} from './host.js'
import type {LoopDevice} from './loops.js'
import {type MountEntry, parseMountinfo} from './mountinfo.js'

/**
 * Mounts and loop devices, read together at one moment (again after the host changed): status
 * comes from the system, never from the store, and a list of 200 volumes costs one read of each.
 */
export class HostView {
  private constructor(
    readonly mounts: MountEntry[],
    /** Loop devices on files that exist. */
    readonly loops: LoopDevice[],
    /** Loop devices whose file was deleted while attached (`cbs doctor` reports those). */
    readonly deletedLoops: LoopDevice[],
  ) {}

  static read(host: Host): HostView {
    const loops = host.loopDevices()
    return new HostView(
      parseMountinfo(host.mountinfo()),
      loops.filter((loop) => !loop.deleted),
      loops.filter((loop) => loop.deleted),
    )
  }

  deviceOf(backingFile: string): string | undefined {
    return this.loops.find((loop) => loop.backingFile === backingFile)?.device
  }

  /** The mount on top at `path`, if any. */
  mountAt(path: string): MountEntry | undefined {
    return this.mounts.findLast((mount) => mount.mountpoint === path)
  }

  mountsOf(device: string): MountEntry[] {
    return this.mounts.filter((mount) => mount.source === device)
  }
}
