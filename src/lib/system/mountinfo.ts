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
    })
  }
  return entries
}

// The kernel writes space, tab, newline and backslash as \040, \011, \012 and \134.
const unescapeOctal = (field: string) => field.replaceAll(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)))
