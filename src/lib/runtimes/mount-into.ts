import {fileURLToPath} from 'node:url'
import {type MountEntry, parseMountinfo} from '../system/mountinfo.js'

/**
 * cbs-mount-into (src/native/mount-into.c, built next to the bundle by scripts/build.js): mounts
 * a volume into a running container's mount namespace, and takes it out, with the kernel's mount
 * API rather than a device node or a path the container could swap. See the C file for how.
 */
export const MOUNT_INTO = fileURLToPath(new URL('cbs-mount-into', import.meta.url))

/** A container's process: its pid, and its start time so that a pid reused meanwhile is refused. */
export interface ContainerProcess {
  pid: number
  startTime: string
}

/** Clones the mount at `source` (the volume's host mountpoint) onto `target` in the container. */
export const mountIntoArgs = (process: ContainerProcess, source: string, target: string) => ['attach', String(process.pid), process.startTime, source, target]

/** Unmounts `target` in the container, only if the mount there is the one with id `mountId`. */
export const unmountFromArgs = (process: ContainerProcess, target: string, mountId: number) => ['detach', String(process.pid), process.startTime, target, String(mountId)]

export interface MountedInto {
  /** The new mount's id (the first field of mountinfo). */
  id: number
  /** Where the kernel put it, from the container's root (symlinks resolved). */
  path: string
}

/** The helper's "MOUNT_ID PATH" line. */
export function parseMountedInto(stdout: string): MountedInto | undefined {
  // Not trimmed: a path may end in a space (the helper refuses control characters).
  const match = /^(\d+) (\/.*)$/.exec(stdout.replace(/\n$/, ''))
  return match ? {id: Number(match[1]), path: match[2]} : undefined
}

/**
 * Why what the container's mountinfo shows at `mounted` is not the volume (its filesystem, from
 * the same folder, on top at that path), or undefined when it is. The helper's word is not
 * taken for it: this is read from the kernel.
 */
export function mismatch(containerMountinfo: string, mounted: MountedInto, volume: MountEntry): string | undefined {
  const mounts = parseMountinfo(containerMountinfo)
  const entry = mounts.find((mount) => mount.id === mounted.id)
  if (!entry) return `no mount ${mounted.id} in the container`
  if (entry.mountpoint !== mounted.path) return `mount ${mounted.id} is at ${entry.mountpoint}, not ${mounted.path}`
  if (entry.device !== volume.device || entry.root !== volume.root || entry.fstype !== volume.fstype) {
    return `${entry.mountpoint} holds ${entry.fstype} ${entry.device} ${entry.root}, not the volume's ${volume.fstype} ${volume.device} ${volume.root}`
  }
  if (mounts.findLast((mount) => mount.mountpoint === mounted.path) !== entry) return `another mount covers ${mounted.path}`
  return undefined
}

/** The volume's mount at `path` in the container (the top one of its filesystem there), if any. */
export function volumeMountAt(containerMountinfo: string, path: string, volume: {device: string; root: string}): MountEntry | undefined {
  return parseMountinfo(containerMountinfo).findLast((mount) => mount.mountpoint === path && mount.device === volume.device && mount.root === volume.root)
}
