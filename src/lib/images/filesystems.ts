import {invalid} from '../common/errors.js'

export const FILESYSTEMS = ['ext4', 'xfs', 'btrfs'] as const
export type Filesystem = (typeof FILESYSTEMS)[number]

const MiB = 1024 ** 2

/** The smallest device each mkfs accepts (measured with this machine's tools). */
export const MIN_SIZE: Record<Filesystem, number> = {ext4: 4 * MiB, xfs: 300 * MiB, btrfs: 110 * MiB}

/** The kernel refuses to resize btrfs to less than 256 MiB (btrfs_ioctl_resize: EINVAL). */
export const MIN_GROWN_SIZE: Partial<Record<Filesystem, number>> = {btrfs: 256 * MiB}

export function parseFilesystem(name: string): Filesystem {
  if ((FILESYSTEMS as readonly string[]).includes(name)) return name as Filesystem
  throw invalid(`unknown filesystem "${name}"`, `use one of ${FILESYSTEMS.join(', ')}`)
}

/**
 * mkfs for a fresh sparse file: no discard pass (the file is already all holes) and, for ext4,
 * no inode-table or journal zeroing, so a 100G volume formats in milliseconds and stays sparse.
 *
 * Blocks and sectors are 4 KiB whatever the size: a direct-I/O loop device takes the logical
 * sector size of its backing file's direct-I/O alignment, and on xfs a file that shares extents
 * (a snapshot was reflinked from it) has a 4 KiB alignment. An ext4 with 1 KiB blocks (mke2fs's
 * default below 512 MiB) or an xfs with 512-byte sectors would then no longer mount.
 */
export function mkfsCommand(fs: Filesystem, device: string): [string, string[]] {
  switch (fs) {
    case 'ext4':
      return ['mkfs.ext4', ['-q', '-F', '-b', '4096', '-m', '0', '-E', 'nodiscard,lazy_itable_init=1,lazy_journal_init=1,assume_storage_prezeroed=1', device]]
    case 'xfs':
      return ['mkfs.xfs', ['-q', '-f', '-K', '-s', 'size=4096', device]]
    case 'btrfs':
      return ['mkfs.btrfs', ['-q', '-f', '--nodiscard', device]]
  }
}

/**
 * Gives a copied filesystem an identity of its own, so it can be mounted next to its source:
 * ext4 and btrfs on the image file before it is attached. btrfs would otherwise take the clone
 * for another device of the mounted source (kernels before 6.7 may even mount the source
 * again); `-m` changes the fsid users see without rewriting every block. xfs is done on the
 * device (see volumes/clone.ts): xfs_admin needs a clean log first.
 */
export function renewIdCommand(fs: Exclude<Filesystem, 'xfs'>, file: string): [string, string[]] {
  return fs === 'ext4' ? ['tune2fs', ['-U', 'random', file]] : ['btrfstune', ['-m', file]]
}

/** Grows a filesystem to fill its (grown) device: ext4 on its file or device, xfs and btrfs on their mountpoint. */
export function growCommand(fs: Filesystem, target: string): [string, string[]] {
  switch (fs) {
    case 'ext4':
      return ['resize2fs', [target]]
    case 'xfs':
      return ['xfs_growfs', [target]]
    case 'btrfs':
      return ['btrfs', ['filesystem', 'resize', 'max', target]]
  }
}

/** discard hands deleted blocks back to the host, so images stay as sparse as their data. */
export function mountArgs(device: string, mountpoint: string, options: string[] = []): string[] {
  return ['-o', ['discard', ...options].join(','), device, mountpoint]
}

/** The names in /proc/filesystems, whose lines are "nodev\toverlay" or "\text4". */
export function parseProcFilesystems(text: string): string[] {
  return text.split('\n').map((line) => line.split('\t').at(-1)?.trim() ?? '').filter(Boolean)
}

/**
 * Mounts a snapshot read-only without ever writing to it: no journal replay (ext4 noload, xfs
 * norecovery), and xfs accepts the UUID it shares with the volume it was copied from.
 */
export function readOnlyMountArgs(fs: Filesystem, device: string, mountpoint: string): string[] {
  const options = {ext4: 'ro,noload', xfs: 'ro,norecovery,nouuid', btrfs: 'ro,rescue=nologreplay'}[fs]
  return ['-o', options, device, mountpoint]
}
