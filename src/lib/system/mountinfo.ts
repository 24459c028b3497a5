/** One line of /proc/self/mountinfo (see proc(5)). */
export interface MountEntry {
  /** The mount's id, unique among the mounts there are. */
  id: number
  /** "MAJOR:MINOR" of the filesystem (for overlay, tmpfs, ...: an anonymous device of its own). */
  device: string
  /** The folder of the filesystem that is mounted ("/" unless a bind mount of a sub-folder). */
  root: string
  mountpoint: string
  fstype: string
  source: string
  options: string
  /** Its propagation: "shared:N" (peer group N), "master:N" (a slave of group N), ...; none when private. */
  propagation: string[]
}

/** Parses the text of /proc/self/mountinfo; reading it is the host's job. */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = []
  for (const line of text.split('\n')) {
    if (!line) continue
    const fields = line.split(' ')
    const separator = fields.indexOf('-', 6)
    if (separator < 0) continue
    entries.push({
      id: Number(fields[0]),
      device: fields[2],
      root: unescapeOctal(fields[3]),
      mountpoint: unescapeOctal(fields[4]),
      options: fields[5],
      fstype: fields[separator + 1],
      source: unescapeOctal(fields[separator + 2]),
      propagation: fields.slice(6, separator),
    })
  }
  return entries
}

// The kernel writes space, tab, newline and backslash as \040, \011, \012 and \134.
const unescapeOctal = (field: string) => field.replaceAll(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)))

/**
 * Whether `entry`, a mount in another mount namespace, is a copy of our `mount` that mount
 * propagation made there (a systemd service's namespace, a slave of the host's: the same
 * filesystem at the same path, in or under our mount's peer group). Our unmount takes such a
 * copy away with it; any other mount of the filesystem (a container's bind) outlives it.
 */
export function isPropagatedCopy(entry: MountEntry, mount: MountEntry): boolean {
  const group = mount.propagation.find((tag) => tag.startsWith('shared:'))?.slice('shared:'.length)
  return group !== undefined && entry.device === mount.device && entry.mountpoint === mount.mountpoint && entry.propagation.some((tag) => tag === `shared:${group}` || tag === `master:${group}`)
}
