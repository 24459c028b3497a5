import {chmodSync, closeSync, constants, copyFileSync, fsyncSync, linkSync, openSync, renameSync, unlinkSync} from 'node:fs'
import {dirname} from 'node:path'
import type {Context} from '../system/context.js'
import {environment} from '../common/errors.js'
import {CommandFailed} from '../system/exec.js'
import {removeImage, strayImage} from './loop-volume.js'
import {silentProgress} from '../common/progress.js'
import {formatSize} from '../input/sizes.js'
import type {CopyMethod} from '../store/state.js'

/**
 * Copies of volume images (snapshots, restores, clones). Where the host filesystem can clone
 * extents (xfs with reflink, btrfs) a copy is a reflink: instant, and it takes no space until
 * either side is written. Elsewhere (ext4) it is a sparse copy of the allocated blocks only.
 */

/** Room kept free on the host beyond the copy itself (the state file, logs, metadata). */
const SPACE_MARGIN = 16 * 1024 ** 2

/**
 * How a copy of `source` is made under $CBS_ROOT (images, snapshots): a reflink where the host
 * can, or a sparse copy, which is refused (exit 5) before anything is written when the host
 * cannot hold it.
 */
export function planCopy(ctx: Context, source: string): CopyMethod {
  const dir = ctx.layout.imagesDir
  if (ctx.host.canReflink(dir)) return 'reflink'
  const needed = ctx.host.fileInfo(source)?.allocatedBytes ?? 0
  const available = ctx.host.fsUsage(dir).availableBytes
  if (needed + SPACE_MARGIN > available) {
    throw environment(
      `not enough free space under ${dir} for a copy of ${source}: it needs ${formatSize(needed + SPACE_MARGIN)}, ${formatSize(available)} is free`,
      'free some space, or keep CBS_ROOT on xfs or btrfs, where copies share their blocks',
    )
  }
  return 'copy'
}

export interface CopyOptions {
  /** Stops the copy (besides an interruption of cbs, which always does). */
  signal?: AbortSignal
  /** What the progress line says, e.g. "db → db@s1". */
  label?: string
}

/** A copy of `source` that the host had no room to finish (exit 5). */
export const outOfSpaceCopying = (source: string) => environment(`the host ran out of space while copying ${source}`, 'free some space and try again')

/** Copies `source` to `target`, which must not exist. */
export async function copyImage(ctx: Context, method: CopyMethod, source: string, target: string, options: CopyOptions = {}): Promise<void> {
  if (method === 'reflink') {
    // FICLONE in-process (what `cp --reflink=always` does): a few milliseconds for any size.
    await ctx.exec.change(['cp', '--reflink=always', source, target], () => {
      copyFileSync(source, target, constants.COPYFILE_FICLONE_FORCE | constants.COPYFILE_EXCL)
    })
    return
  }
  const from = ctx.host.fileInfo(source) ?? {sizeBytes: 0, allocatedBytes: 0}
  // cp skips holes (SEEK_DATA) and does not write runs of zeros, so neither what the target has
  // allocated nor how far it reaches says all; the further of the two does, and ends at 100%.
  const progress = ctx.progress ?? silentProgress
  const report = () => {
    const to = ctx.host.fileInfo(target) ?? {sizeBytes: 0, allocatedBytes: 0}
    const fraction = Math.min(1, Math.max(to.allocatedBytes / (from.allocatedBytes || 1), to.sizeBytes / (from.sizeBytes || 1)))
    const label = `copying ${options.label ?? target}: ${formatSize(fraction * from.allocatedBytes)} of ${formatSize(from.allocatedBytes)}`
    progress.update(Math.floor(fraction * 100), 100, label)
  }
  const timer = ctx.exec.dryRun ? undefined : setInterval(report, 250)
  try {
    await ctx.exec.run('cp', ['--sparse=always', source, target], {mutates: true, abortable: true, signal: options.signal})
  } catch (error) {
    if (error instanceof CommandFailed && /No space left/i.test(error.stderr)) throw outOfSpaceCopying(source)
    throw error
  } finally {
    clearInterval(timer)
    progress.finish()
  }
}

export async function setMode(ctx: Context, file: string, mode: number): Promise<void> {
  await ctx.exec.change(['chmod', mode.toString(8).padStart(4, '0'), file], () => chmodSync(file, mode))
}

/**
 * Puts a complete copy in place, durably: its data is flushed to the host disk before the
 * rename (cp does not), so that a crash of the host never leaves a name pointing at a half
 * written image, and the rename is flushed with its folder. `to` is replaced atomically when
 * `replace`; otherwise an existing `to` is refused (exit 4). `flush: false` is for an image
 * that a crash makes worthless anyway (export's temporary snapshot, which recovery removes).
 */
export async function moveIntoPlace(ctx: Context, from: string, to: string, {replace = false, flush = true} = {}): Promise<void> {
  if (flush) await ctx.exec.change(['sync', from], () => fsyncPath(from))
  await ctx.exec.change(['mv', ...(replace ? [] : ['--no-clobber']), from, to], () => {
    if (replace) renameSync(from, to)
    else {
      try {
        linkSync(from, to)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        throw strayImage(to)
      }
      unlinkSync(from)
    }
    fsyncPath(dirname(to))
  })
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Makes an image read-only for good: mode 0400 and immutable (not even root can change it). */
export async function makeReadOnly(ctx: Context, file: string): Promise<void> {
  await setMode(ctx, file, 0o400)
  await ctx.exec.run('chattr', ['+i', file], {mutates: true})
}

/** Removes an image, read-only or not; a missing one is fine. */
export async function removeReadOnlyImage(ctx: Context, file: string): Promise<void> {
  if (ctx.host.fileInfo(file)) await ctx.exec.run('chattr', ['-i', file], {mutates: true})
  await removeImage(ctx, file)
}
