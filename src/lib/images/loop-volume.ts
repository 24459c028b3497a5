import {closeSync, ftruncateSync, mkdirSync, openSync, rmdirSync, unlinkSync} from 'node:fs'
import {basename} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import type {Context} from '../system/context.js'
import {CbsError, conflict, environment, notFound} from '../common/errors.js'
import {describeHolders} from '../system/processes.js'
import {CommandFailed} from '../system/exec.js'
import {type Filesystem, mkfsCommand, mountArgs} from './filesystems.js'
import {attachArgs, detachArgs} from '../system/loops.js'
import {HostView} from '../system/host-view.js'
import type {Undo} from '../common/undo.js'

/** The host steps that make up a loop volume; each registers its undo when given an Undo. */

export async function ensureDirectory(ctx: Context, dir: string): Promise<void> {
  await ctx.exec.change(['mkdir', '-p', '-m', '0700', dir], () => {
    mkdirSync(dir, {recursive: true, mode: 0o700})
  })
}

/** An image file where a new one was to go: cbs never overwrites it (it may hold data). */
export const strayImage = (file: string) =>
  conflict(`image file ${file} already exists and belongs to no volume`, 'run `cbs doctor --fix` to move it to lost+found')

/** A volume whose image file is gone (exit 3): doctor tells what became of it. */
export const missingImage = (file: string, volume: string) =>
  notFound(`backing file ${file} of volume "${volume}" is missing`, 'run `cbs doctor` to see what happened to it')

/** A sparse file of the given size; an existing file is never touched. */
export async function createImage(ctx: Context, file: string, sizeBytes: number, undo: Undo): Promise<void> {
  await ctx.exec.change(['truncate', '--size', String(sizeBytes), file], () => {
    let fd: number
    try {
      fd = openSync(file, 'wx', 0o600)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      throw strayImage(file)
    }
    undo.push(`remove ${file}`, async () => unlinkSync(file))
    try {
      ftruncateSync(fd, sizeBytes)
    } finally {
      closeSync(fd)
    }
  })
}

export async function attach(ctx: Context, file: string, undo?: Undo, options?: {readOnly?: boolean}): Promise<string> {
  const {stdout} = await ctx.exec.run('losetup', attachArgs(file, options), {mutates: true, dryRunStdout: '/dev/loopN'})
  const device = stdout.trim()
  // losetup falls back to a read-only device, silently, when it cannot open the image for
  // writing (a read-only host filesystem): a volume that takes no write is refused instead.
  if (!options?.readOnly && !ctx.exec.dryRun && ctx.host.isReadOnlyDevice(device)) {
    await detachFresh(ctx, device)
    throw environment(`${file} could only be attached read-only (${device}): the filesystem under ${ctx.layout.root} is read-only`, 'remount it read-write and try again')
  }
  undo?.push(`detach ${device}`, () => detachFresh(ctx, device))
  return device
}

/**
 * Detaches a device attached moments ago. udev may still be reading it (the probe that follows
 * an attach): the kernel then only marks it to go at that reader's last close, so wait (a second
 * at most) until it has gone, for the undo to leave nothing behind when cbs returns.
 */
async function detachFresh(ctx: Context, device: string): Promise<void> {
  await detach(ctx, device)
  if (ctx.exec.dryRun) return
  for (const deadline = Date.now() + 1000; Date.now() < deadline; await sleep(10)) {
    if (!ctx.host.loopDevices().some((loop) => loop.device === device)) return
  }
}

export async function detach(ctx: Context, device: string): Promise<void> {
  await ctx.exec.run('losetup', detachArgs(device), {mutates: true})
}

export async function format(ctx: Context, fs: Filesystem, device: string): Promise<void> {
  const [mkfs, args] = mkfsCommand(fs, device)
  try {
    await ctx.exec.run(mkfs, args, {mutates: true})
  } catch (error) {
    // Writes through a loop device whose backing file cannot grow fail as I/O errors.
    const hostFull = () => ctx.host.fsUsage(ctx.layout.imagesDir).availableBytes < 4 * 1024 ** 2
    if (error instanceof CommandFailed && (/No space left/i.test(error.stderr) || (/Input\/output error/i.test(error.stderr) && hostFull()))) {
      throw environment(`${mkfs} failed: no space left on the host under ${ctx.layout.root}`, 'free some space and try again')
    }
    throw error
  }
}

/**
 * The folder a volume mounts on. It is made immutable (chattr +i) so that while the volume is
 * not mounted nothing, such as a container bound to it, can write to the host disk through it;
 * mounting over it still works.
 */
export async function prepareMountpoint(ctx: Context, dir: string, undo?: Undo): Promise<void> {
  await ctx.exec.change(['mkdir', '-m', '0755', dir], () => {
    try {
      mkdirSync(dir, {mode: 0o755})
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
  })
  undo?.push(`remove ${dir}`, () => removeMountpoint(ctx, dir))
  await ctx.exec.run('chattr', ['+i', dir], {mutates: true})
}

export async function removeMountpoint(ctx: Context, dir: string): Promise<void> {
  try {
    await ctx.exec.run('chattr', ['-i', dir], {mutates: true})
  } catch (error) {
    if (!(error instanceof CommandFailed && /No such file/i.test(error.stderr))) throw error
  }
  await removeFolder(ctx, dir)
}

export async function mount(ctx: Context, device: string, dir: string, undo?: Undo): Promise<void> {
  await ctx.exec.run('mount', mountArgs(device, dir), {mutates: true})
  undo?.push(`unmount ${dir}`, () => unmount(ctx, dir, basename(dir)))
}

/** A volume umount refused because files on it are open (exit 4), with who holds them, when cbs can tell. */
export class VolumeBusy extends CbsError {
  constructor(
    volume: string,
    dir: string,
    /** e.g. "postgres (pid 812)", from /proc; undefined when no process here holds it (a container elsewhere?). */
    readonly holders: string | undefined,
  ) {
    super('conflict', `volume "${volume}" is busy: files on ${dir} are in use${holders ? ` by ${holders}` : ''}`, `stop ${holders ? 'them' : 'the processes or containers using it'} and try again`)
  }
}

/** Unmounts, refusing (exit 4, VolumeBusy) while files on it are open: nothing changes then. */
export async function unmount(ctx: Context, dir: string, volume: string): Promise<void> {
  try {
    await ctx.exec.run('umount', [dir], {mutates: true})
  } catch (error) {
    if (error instanceof CommandFailed && /busy/i.test(error.stderr)) throw new VolumeBusy(volume, dir, describeHolders(ctx, dir))
    throw error
  }
}

/**
 * Takes down one of cbs's short-lived mounts (an export's snapshot, an import's partial image):
 * unmounts it, detaches its loop device and removes the folder. Whatever is already gone is fine.
 */
export async function releaseMount(ctx: Context, dir: string): Promise<void> {
  const view = HostView.read(ctx.host)
  const top = view.mountAt(dir)
  if (top) {
    await unmount(ctx, dir, basename(dir))
    if (/^\/dev\/loop\d+$/.test(top.source) && view.mountsOf(top.source).length === 1) await detach(ctx, top.source)
  }
  await removeFolder(ctx, dir)
}

/** rmdir(2) of an empty folder; one already gone is fine. */
async function removeFolder(ctx: Context, dir: string): Promise<void> {
  await ctx.exec.change(['rmdir', dir], () => {
    try {
      rmdirSync(dir)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  })
}

export async function removeImage(ctx: Context, file: string): Promise<void> {
  await ctx.exec.change(['rm', '-f', file], () => {
    try {
      unlinkSync(file)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  })
}
