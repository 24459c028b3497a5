import {accessSync, constants, lstatSync, realpathSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'
import {CbsError} from '../common/errors.js'

/**
 * $CBS_ROOT as cbs uses it everywhere: resolved once, at start, to its real path (the part that
 * does not exist yet kept as given). Paths compared with /proc/self/mountinfo and the loop
 * devices' backing files are real paths: a root reached through a symbolic link would match none.
 */
export function resolveRoot(root: string): string {
  const tail: string[] = []
  for (let existing = root; ; existing = dirname(existing)) {
    try {
      return join(realpathSync(existing), ...tail)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dirname(existing) === existing) return root
      tail.unshift(basename(existing))
    }
  }
}

/** The sticky bit (S_ISVTX), which node:fs does not export. */
const STICKY = 0o1000

/** Who owns a folder on the way to the root, and its mode bits. */
export interface FolderOwnership {
  path: string
  uid: number
  mode: number
}

/**
 * Why `chain` (the root first, then each existing parent up to /) lets someone else change what
 * cbs keeps under the root, as sshd's StrictModes judges a home folder: every folder must be
 * owned by root (or by the user cbs runs as) and not writable by group or others. One exception,
 * for parents only: a sticky folder owned by root, such as /tmp (1777). There others may add
 * names but never rename or remove root's, so a root-owned 0700 folder in it stays root's; the
 * root folder itself is never let off.
 */
export function unsafeFolder(chain: FolderOwnership[], uid: number): {path: string; reason: string} | undefined {
  for (const [index, folder] of chain.entries()) {
    if (folder.uid !== 0 && folder.uid !== uid) return {path: folder.path, reason: `owned by uid ${folder.uid}, not root`}
    const othersWrite = (folder.mode & 0o022) !== 0
    const stickyParent = index > 0 && (folder.mode & STICKY) !== 0 && folder.uid === 0
    if (othersWrite && !stickyParent) {
      const who = [folder.mode & 0o020 ? 'group' : '', folder.mode & 0o002 ? 'others' : ''].filter(Boolean).join(' and ')
      return {path: folder.path, reason: `writable by ${who} (mode ${(folder.mode & 0o7777).toString(8).padStart(4, '0')})`}
    }
  }
  return undefined
}

/** The root (when it exists) and each of its parents, as the file system has them. */
export function ownershipChain(root: string): FolderOwnership[] {
  const chain: FolderOwnership[] = []
  for (let path = root; ; path = dirname(path)) {
    try {
      const stat = lstatSync(path)
      chain.push({path, uid: stat.uid, mode: stat.mode})
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
    if (dirname(path) === path) return chain
  }
}

/** What is wrong with the root, and the commands that make it safe. */
export function describeUnsafeRoot(root: string, folder: {path: string; reason: string}): {message: string; fix: string} {
  const fix = folder.path === root ? `chown root:root ${folder.path} && chmod 0700 ${folder.path}` : `chown root ${folder.path} && chmod go-w ${folder.path}`
  return {message: `CBS_ROOT ${root} is not safe: ${folder.path} is ${folder.reason}`, fix: `${fix}, or choose a CBS_ROOT only root can change`}
}

/** A root others can write to (exit 5): they could turn root's writes in it against any file. */
export class UnsafeRoot extends CbsError {
  constructor(root: string, folder: {path: string; reason: string}) {
    const {message, fix} = describeUnsafeRoot(root, folder)
    super('environment', message, fix)
  }
}

/** Refuses (exit 5) a root that others could change (see unsafeFolder); true when the root itself exists and was judged. */
export function checkRootSafety(root: string, uid = process.geteuid?.() ?? 0): boolean {
  const chain = ownershipChain(root)
  const folder = unsafeFolder(chain, uid)
  if (folder) throw new UnsafeRoot(root, folder)
  return chain[0]?.path === root
}

/** Whether the filesystem that holds (or will hold) the root is mounted read-only. */
export function rootIsReadOnly(root: string): boolean {
  for (let path = root; ; path = dirname(path)) {
    try {
      accessSync(path, constants.W_OK)
      return false
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EROFS') return true
      if (code !== 'ENOENT' || dirname(path) === path) return false
    }
  }
}

/** What a read-only root means for the volumes, and what to do (exit 5). */
export const readOnlyRoot = (root: string) =>
  new CbsError('environment', `CBS_ROOT ${root} is on a read-only filesystem: volumes there cannot be written`, `remount it read-write (mount -o remount,rw) and try again`)
