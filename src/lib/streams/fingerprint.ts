import {createHash} from 'node:crypto'
import type {Context} from '../system/context.js'

/**
 * A digest of what a mounted volume holds, as far as its users could have changed it: every
 * file's path, type, size, mode, owner, inode, mtime and ctime (which no write can leave
 * unchanged). Taken right after an import, and compared before the next incremental import:
 * the blocks of a mounted image change with every mount (superblock, journal), its files do not.
 */
export async function fingerprint(ctx: Context, mountpoint: string): Promise<string> {
  const {stdout} = await ctx.exec.run('find', [mountpoint, '-xdev', '-printf', '%P\\0%y\\0%s\\0%m\\0%U\\0%G\\0%i\\0%T@\\0%C@\\0\\n'])
  return createHash('sha256').update(stdout.split('\0\n').sort().join('\0\n')).digest('hex')
}
