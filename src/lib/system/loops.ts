import {isGone} from './gone.js'

/** A loop device and the file behind it. */
export interface LoopDevice {
  device: string
  backingFile: string
  /** The file was unlinked while attached: the device alone still holds its data. */
  deleted?: true
}

/**
 * Turns sysfs's `loop/backing_file` contents into a LoopDevice. The kernel appends
 * " (deleted)" when the file was unlinked while attached; such a device backs no image any more.
 */
export function parseLoopBacking(name: string, backingFileText: string): LoopDevice | undefined {
  const backingFile = backingFileText.replace(/\n$/, '')
  if (!backingFile) return undefined
  if (backingFile.endsWith(' (deleted)')) return {device: `/dev/${name}`, backingFile: backingFile.slice(0, -' (deleted)'.length), deleted: true}
  return {device: `/dev/${name}`, backingFile}
}

/**
 * The loop devices /proc/partitions lists ("major minor #blocks name" lines): the attached
 * ones. The kernel leaves out devices without capacity, so a device attached to an empty file
 * is missing too; cbs never attaches one.
 */
export function attachedLoopNames(procPartitions: string): string[] {
  return procPartitions.split('\n').flatMap((line) => {
    const [, , blocks, name] = line.trim().split(/\s+/)
    return name?.startsWith('loop') && Number(blocks) > 0 ? [name] : []
  })
}

/**
 * The attached loop devices, from /proc/partitions (one read names them all: much cheaper than
 * asking each of /sys/block's loop devices, of which there can be hundreds) and each one's
 * backing file. A device detached between the two reads (another cbs command removing a volume)
 * is simply not there; `read` is readFileSync on the host, a fake in unit tests.
 */
export function readLoopDevices(read: (path: string) => string): LoopDevice[] {
  return attachedLoopNames(read('/proc/partitions')).flatMap((name) => {
    let text: string
    try {
      text = read(`/sys/block/${name}/loop/backing_file`)
    } catch (error) {
      if (isGone(error)) return []
      throw error
    }
    return parseLoopBacking(name, text) ?? []
  })
}

// One atomic find-and-attach; --nooverlap refuses a second device on the same file, and direct
// I/O avoids double caching (a buffered loop device writes at a fraction of the disk's speed).
export const attachArgs = (file: string, options: {readOnly?: boolean} = {}) => [
  '--find',
  '--show',
  '--nooverlap',
  ...(options.readOnly ? ['--read-only'] : []),
  '--direct-io=on',
  file,
]

export const detachArgs = (device: string) => ['--detach', device]

/** After the backing file grew: make the device see the new size. */
export const refreshSizeArgs = (device: string) => ['--set-capacity', device]
