/** A device number as stat() gives it (glibc's encoding), split into major and minor. */
export function splitDevice(device: number): {major: number; minor: number} {
  return {major: (device >>> 8) & 0xfff, minor: (device & 0xff) | ((device >>> 12) & 0xfff00)}
}

/** Whether /proc/PID/maps text maps a file of the given device ("07:01" is major 7, minor 1). */
export function mapsUseDevice(maps: string, device: number): boolean {
  const {major, minor} = splitDevice(device)
  const wanted = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`
  return maps.split('\n').some((line) => line.split(/\s+/)[3] === wanted)
}
