import {CbsError, ExitCode} from '../common/errors.js'
import {CommandFailed} from './exec.js'

/** Where to get the programs cbs runs (Debian/Ubuntu package names). */
export const PACKAGE_OF: Record<string, string> = {
  losetup: 'util-linux',
  mount: 'mount',
  umount: 'mount',
  fsfreeze: 'util-linux',
  chattr: 'e2fsprogs',
  'mkfs.ext4': 'e2fsprogs',
  e2fsck: 'e2fsprogs',
  resize2fs: 'e2fsprogs',
  tune2fs: 'e2fsprogs',
  xfs_admin: 'xfsprogs',
  btrfstune: 'btrfs-progs',
  cp: 'coreutils',
  'mkfs.xfs': 'xfsprogs',
  xfs_growfs: 'xfsprogs',
  'mkfs.btrfs': 'btrfs-progs',
  btrfs: 'btrfs-progs',
  blkid: 'util-linux',
  docker: 'docker.io',
  podman: 'podman',
}

const ENVIRONMENT_CODES = new Set(['EACCES', 'EPERM', 'ENOSPC', 'EROFS', 'EDQUOT'])

/** Any error as the one line and exit code a user sees. */
export function describeFailure(error: unknown): {exitCode: number; message: string} {
  if (error instanceof CbsError) return {exitCode: error.exitCode, message: error.message}
  if (error instanceof CommandFailed) {
    if (error.notInstalled) {
      const pkg = PACKAGE_OF[error.file]
      return {exitCode: ExitCode.environment, message: `${error.file} is not installed${pkg ? `: install the ${pkg} package` : ''}`}
    }
    return {exitCode: ExitCode.unexpected, message: `${error.message} (run again with --verbose to see every command)`}
  }
  const code = (error as NodeJS.ErrnoException)?.code
  const message = oneLine((error as Error)?.message ?? String(error))
  if (code && ENVIRONMENT_CODES.has(code)) return {exitCode: ExitCode.environment, message: `${message} (check permissions and free space under CBS_ROOT)`}
  return {exitCode: ExitCode.unexpected, message}
}

export const oneLine = (text: string) => text.split('\n').map((line) => line.trim()).filter(Boolean).join('; ')
