import {truncateSync} from 'node:fs'
import {checkpoint} from '../common/checkpoint.js'
import {describeHolders} from '../system/processes.js'
import type {Context} from '../system/context.js'
import {conflict, isKind} from '../common/errors.js'
import {CommandFailed} from '../system/exec.js'
import {type Filesystem, growCommand} from '../images/filesystems.js'
import {HostView} from '../system/host-view.js'
import {attach, detach, missingImage, mount, unmount, VolumeBusy} from '../images/loop-volume.js'
import {refreshSizeArgs} from '../system/loops.js'
import type {VolumeRecord} from '../store/state.js'
import {isUnion} from '../union/union-volume.js'
import {bringDown, bringUp, isUp} from './lifecycle.js'

/** What a resize is to do, as recorded in its intent. */
export interface GrowPlan {
  sizeBytes: number
  fromBytes: number
  wasMounted: boolean
}

/** Bit of CAP_SYS_RESOURCE in the capability mask: ext4 refuses an online grow without it. */
const CAP_SYS_RESOURCE = 1n << 24n

/**
 * Grows a loop volume to `plan.sizeBytes`: the image file, then the loop device
 * (`losetup --set-capacity`), then the filesystem, and leaves it mounted as it was. xfs and btrfs
 * grow while mounted; ext4 grows while mounted only with CAP_SYS_RESOURCE, and otherwise
 * offline (unmount, e2fsck, resize2fs, mount), which a busy volume refuses before anything
 * changed. Each step checks what already holds, so the same function finishes a resize that a
 * killed process left half done. `commit` runs just before the filesystem changes: from there
 * on the resize can only be finished, no longer rolled back.
 */
export async function growVolume(ctx: Context, record: VolumeRecord, plan: GrowPlan, commit: () => Promise<void>): Promise<void> {
  const image = ctx.layout.image(record.name)
  // A union volume grows its upper layer: the ext4 volume holding what its containers wrote.
  const dir = isUnion(record) ? ctx.layout.upperMount(record.name) : ctx.layout.mountpoint(record.name)
  const view = HostView.read(ctx.host)
  let device = view.deviceOf(image)
  let mounted = isUp(ctx, record, view)
  if (device && mounted && !growsOnline(ctx, record.fs)) {
    await takeOffline(ctx, record, device, view)
    mounted = false
    device = HostView.read(ctx.host).deviceOf(image)
  }
  await checkpoint('resize:grow-image')
  const file = ctx.host.fileInfo(image)
  if (!file) throw missingImage(image, record.name)
  if (file.sizeBytes < plan.sizeBytes) await setImageSize(ctx, image, plan.sizeBytes)
  await checkpoint('resize:set-capacity')
  if (device) await ctx.exec.run('losetup', refreshSizeArgs(device), {mutates: true})
  else device = await attach(ctx, image)
  if (record.fs === 'ext4' && !mounted) await checkExt4(ctx, device)
  await commit()
  await checkpoint('resize:grow-filesystem')
  mounted = await growFilesystem(ctx, record.fs, device, dir, mounted)
  await checkpoint('resize:restore-mount')
  // A union volume comes back as a whole: its upper volume, then the union over it.
  if (plan.wasMounted && !mounted) await (isUnion(record) ? bringUp(ctx, record, HostView.read(ctx.host)) : mount(ctx, device, dir))
  if (!plan.wasMounted) {
    if (mounted) await unmount(ctx, dir, record.name)
    await detach(ctx, device)
  }
}

/** Takes back a resize that had not reached the filesystem: the image shrinks to its old size. */
export async function rollBackGrow(ctx: Context, record: VolumeRecord, plan: GrowPlan): Promise<void> {
  const image = ctx.layout.image(record.name)
  // Safe only because the filesystem never grew: nothing lives past its old end.
  if ((ctx.host.fileInfo(image)?.sizeBytes ?? 0) > plan.fromBytes) await setImageSize(ctx, image, plan.fromBytes)
  const device = HostView.read(ctx.host).deviceOf(image)
  if (device) await ctx.exec.run('losetup', refreshSizeArgs(device), {mutates: true})
  await restoreMountState(ctx, record, plan.wasMounted)
}

/** Mounted (attached and mounted) or not (detached), as the volume was before the resize. */
export async function restoreMountState(ctx: Context, record: VolumeRecord, mounted: boolean): Promise<void> {
  const view = HostView.read(ctx.host)
  await (mounted ? bringUp(ctx, record, view) : bringDown(ctx, record, view))
}

/** Whether a mounted volume of this filesystem grows in place on this host. */
export function growsOnline(ctx: Context, fs: Filesystem): boolean {
  return fs !== 'ext4' || (ctx.host.effectiveCapabilities() & CAP_SYS_RESOURCE) !== 0n
}

/** Unmounts for an offline grow; a volume in use is refused with nothing changed. */
async function takeOffline(ctx: Context, record: VolumeRecord, device: string, view: HostView): Promise<void> {
  const dir = ctx.layout.mountpoint(record.name)
  const refuse = (where: string) =>
    conflict(
      `volume "${record.name}" is in use${where}, and this host does not let cbs grow ext4 while mounted (it lacks CAP_SYS_RESOURCE)`,
      'stop the processes or containers using it and try again (cbs then grows it offline: unmount, e2fsck, resize2fs, mount)',
    )
  try {
    // A union volume goes down as a whole (union, then upper); bringDown refuses a busy one.
    if (isUnion(record)) return await bringDown(ctx, record, view)
    await unmount(ctx, dir, record.name)
  } catch (error) {
    if (isKind(error, 'conflict')) {
      const holders = error instanceof VolumeBusy ? error.holders : describeHolders(ctx, dir)
      throw refuse(holders ? ` by ${holders}` : '')
    }
    throw error
  }
  if (!ctx.exec.dryRun && ctx.host.isDeviceBusy(device)) {
    await mount(ctx, device, dir)
    throw refuse(' outside this mount namespace (a container?)')
  }
}

/** e2fsck -f, which resize2fs wants first; exit 1 means it fixed something, and is fine. */
async function checkExt4(ctx: Context, device: string): Promise<void> {
  try {
    await ctx.exec.run('e2fsck', ['-f', '-p', device], {mutates: true})
  } catch (error) {
    if (error instanceof CommandFailed && error.exitCode === 1) return
    throw error
  }
}

/** Grows the filesystem to the device's size; says whether it is mounted afterwards. */
async function growFilesystem(ctx: Context, fs: Filesystem, device: string, dir: string, mounted: boolean): Promise<boolean> {
  // ext4 grows on its device; xfs and btrfs only while mounted, on the mountpoint.
  const onDevice = fs === 'ext4'
  if (!onDevice && !mounted) await mount(ctx, device, dir)
  const [file, args] = growCommand(fs, onDevice ? device : dir)
  await ctx.exec.run(file, args, {mutates: true})
  return onDevice ? mounted : true
}

/** Sets the image file's size in place (truncate(1)); the added part is a hole. */
async function setImageSize(ctx: Context, file: string, sizeBytes: number): Promise<void> {
  await ctx.exec.change(['truncate', '--size', String(sizeBytes), file], () => truncateSync(file, sizeBytes))
}
