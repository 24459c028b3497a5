/** One line of /proc/self/mountinfo (see proc(5)). */
export interface MountEntry {
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
