import type {Context} from './context.js'
import {CommandFailed} from './exec.js'
import type {Filesystem} from '../images/filesystems.js'

/** What a program is needed for: always, for one filesystem, for snapshots, or to hand volumes to containers. */
export type ToolNeed = 'required' | Filesystem | 'snapshots' | 'runtime'

/** The programs cbs runs, and how each tells its version. */
export const TOOLS: ReadonlyArray<{name: string; versionArgs: string[]; need: ToolNeed}> = [
  {name: 'losetup', versionArgs: ['--version'], need: 'required'},
  {name: 'mount', versionArgs: ['--version'], need: 'required'},
  {name: 'umount', versionArgs: ['--version'], need: 'required'},
  {name: 'chattr', versionArgs: ['-V'], need: 'required'},
  {name: 'mkfs.ext4', versionArgs: ['-V'], need: 'required'},
  {name: 'e2fsck', versionArgs: ['-V'], need: 'required'},
  {name: 'resize2fs', versionArgs: [], need: 'required'},
  {name: 'mkfs.xfs', versionArgs: ['-V'], need: 'xfs'},
  {name: 'xfs_growfs', versionArgs: ['-V'], need: 'xfs'},
  {name: 'mkfs.btrfs', versionArgs: ['--version'], need: 'btrfs'},
  {name: 'btrfs', versionArgs: ['--version'], need: 'btrfs'},
  {name: 'fsfreeze', versionArgs: ['--version'], need: 'snapshots'},
  {name: 'docker', versionArgs: ['--version'], need: 'runtime'},
  {name: 'nerdctl', versionArgs: ['--version'], need: 'runtime'},
  {name: 'podman', versionArgs: ['--version'], need: 'runtime'},
]

export interface ToolStatus {
  name: string
  need: ToolNeed
  installed: boolean
  /** null when not installed, or when the program does not tell (chattr). */
  version: string | null
}

/** Runs each program's version option, all at once. */
export async function probeTools(ctx: Context): Promise<ToolStatus[]> {
  return Promise.all(
    TOOLS.map(async ({name, versionArgs, need}) => {
      try {
        const {stdout, stderr} = await ctx.exec.run(name, versionArgs, {timeoutMs: 10_000})
        return {name, need, installed: true, version: parseVersion(`${stdout}\n${stderr}`)}
      } catch (error) {
        // Some print their version along with a usage message, and exit non-zero.
        if (error instanceof CommandFailed && !error.notInstalled) return {name, need, installed: true, version: parseVersion(error.stderr)}
        return {name, need, installed: false, version: null}
      }
    }),
  )
}

/** "losetup from util-linux 2.38.1", "mke2fs 1.47.0 (5-Feb-2023)", "btrfs-progs v6.2" → the version. */
export function parseVersion(output: string): string | null {
  return /(?:^|[\s(])v?(\d+\.\d+(?:\.\d+)*)\b/m.exec(output)?.[1] ?? null
}
