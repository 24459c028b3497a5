import {parseProcFilesystems} from '../images/filesystems.js'
import type {KernelInfo} from './host.js'

export const KERNEL_FEATURES = ['loop', 'ext4', 'xfs', 'btrfs', 'overlay', 'aufs', 'fsfreeze'] as const
export type KernelFeature = (typeof KERNEL_FEATURES)[number]

/** How a feature is there: in the running kernel, as a module loaded on first use, or not at all. */
export type Availability = 'loaded' | 'module' | 'missing'

/** Reads what the kernel offers from the text of /proc/filesystems, /proc/modules and modules.*. */
export function kernelFeatures(procFilesystems: string, info: KernelInfo): Record<KernelFeature, Availability> {
  const filesystems = new Set(parseProcFilesystems(procFilesystems))
  const modules = new Set(info.modules.split('\n').map(moduleName))
  const filesystem = (name: string): Availability => (filesystems.has(name) ? 'loaded' : modules.has(name) ? 'module' : 'missing')
  return {
    loop: info.loopControl ? 'loaded' : modules.has('loop') ? 'module' : 'missing',
    ext4: filesystem('ext4'),
    xfs: filesystem('xfs'),
    btrfs: filesystem('btrfs'),
    overlay: filesystem('overlay'),
    aufs: filesystem('aufs'),
    // The FIFREEZE ioctl (fsfreeze) is in every kernel since 2.6.29; ext4, xfs and btrfs have it.
    fsfreeze: atLeast(info.release, [2, 6, 29]) ? 'loaded' : 'missing',
  }
}

/** "loop 40960 0 - Live ..." (/proc/modules) or "kernel/fs/xfs/xfs.ko.xz: ..." (modules.dep) → "loop", "xfs". */
const moduleName = (line: string) => (line.split(/[\s:]/)[0].split('/').at(-1) ?? '').replace(/\.ko(\.\w+)?$/, '')

function atLeast(release: string, wanted: number[]): boolean {
  const parts = release.split(/[.-]/).map(Number)
  for (const [index, part] of wanted.entries()) {
    if ((parts[index] ?? 0) !== part) return (parts[index] ?? 0) > part
  }
  return true
}
