import type {Context} from '../system/context.js'
import {conflict} from '../common/errors.js'
import type {HostView} from '../system/host-view.js'
import {attach, detach, missingImage, mount, prepareMountpoint, unmount} from '../images/loop-volume.js'
import type {VolumeRecord} from '../store/state.js'
import {Undo} from '../common/undo.js'
import {isUnion, mountUnion, releaseLowers} from '../union/union-volume.js'

/**
 * Bringing an existing volume up (attach + mount) and down (unmount + detach). Both are
 * idempotent: a step that already holds is skipped. A union volume is its upper volume, mounted
 * under $CBS_ROOT/uppers, with the union mount on top.
 */

export async function bringUp(ctx: Context, record: VolumeRecord, view: HostView, options: {acceptLowers?: boolean} = {}): Promise<void> {
  if (!isUnion(record)) return attachAndMount(ctx, record.name, ctx.layout.mountpoint(record.name), view)
  // Up whole or not at all: an upper volume left mounted alone (a lower refused) looks up to doctor.
  const undo = new Undo()
  await attachAndMount(ctx, record.name, ctx.layout.upperMount(record.name), view, undo)
  try {
    await mountUnion(ctx, record, options)
  } catch (error) {
    await undo.run()
    throw error
  }
}

/** Unmounts and detaches; refused (exit 4, nothing changed) while anything still uses the volume. */
export async function bringDown(ctx: Context, record: VolumeRecord, view: HostView): Promise<void> {
  if (!isUnion(record)) return unmountAndDetach(ctx, record.name, ctx.layout.mountpoint(record.name), view)
  const dir = ctx.layout.mountpoint(record.name)
  const union = view.mountAt(dir)
  const mounted = union?.fstype === record.type
  // A container's bind mount of the union keeps its overlay alive after ours goes, and mounting
  // ours back over the same upper (below) would make two overlays write to one upper layer.
  if (mounted && !ctx.exec.dryRun && ctx.host.mountedElsewhere(union).length > 0) {
    throw conflict(`volume "${record.name}" is in use outside this mount namespace (a container?)`, 'stop the containers using it and try again')
  }
  if (mounted) await unmount(ctx, dir, record.name)
  try {
    await unmountAndDetach(ctx, record.name, ctx.layout.upperMount(record.name), view)
  } catch (error) {
    if (mounted) await mountUnion(ctx, record)
    throw error
  }
  await releaseLowers(ctx, record)
}

/** Attaches the volume's image and mounts it on `dir`; `undo` takes back what was done, until the caller is done too. */
async function attachAndMount(ctx: Context, name: string, dir: string, view: HostView, undo = new Undo()): Promise<void> {
  const file = ctx.layout.image(name)
  if (!ctx.host.fileInfo(file)) throw missingImage(file, name)
  const attached = view.deviceOf(file)
  const top = view.mountAt(dir)
  if (attached && top?.source === attached) return
  if (top) throw conflict(`${top.source} is mounted on ${dir}, the mountpoint of volume "${name}"`, `unmount it first (umount ${dir})`)

  try {
    const device = attached ?? (await attach(ctx, file, undo))
    if (!ctx.host.fileInfo(dir)) await prepareMountpoint(ctx, dir, undo)
    await mount(ctx, device, dir, undo)
  } catch (error) {
    await undo.run()
    throw error
  }
}

/**
 * Whether the volume is up: its image attached and that device mounted on its mountpoint (for a
 * union volume: on its upper mountpoint, with the union mounted on top).
 */
export function isUp(ctx: Context, record: VolumeRecord, view: HostView): boolean {
  const device = view.deviceOf(ctx.layout.image(record.name))
  const mountedOn = (dir: string) => device !== undefined && view.mountAt(dir)?.source === device
  if (!isUnion(record)) return mountedOn(ctx.layout.mountpoint(record.name))
  return mountedOn(ctx.layout.upperMount(record.name)) && view.mountAt(ctx.layout.mountpoint(record.name))?.fstype === record.type
}

async function unmountAndDetach(ctx: Context, name: string, dir: string, view: HostView): Promise<void> {
  const device = view.deviceOf(ctx.layout.image(name))
  if (!device) return
  const elsewhere = view.mountsOf(device).filter((entry) => entry.mountpoint !== dir)
  if (elsewhere.length > 0) {
    throw conflict(`volume "${name}" is also mounted on ${elsewhere.map((entry) => entry.mountpoint).join(', ')}`, 'unmount those first')
  }
  const mounted = view.mountAt(dir)?.source === device
  if (mounted) await unmount(ctx, dir, name)
  // A container's bind mount lives in another mount namespace: the device stays held after our
  // unmount. Detaching then would free the image under a live filesystem, so put it back.
  if (!ctx.exec.dryRun && ctx.host.isDeviceBusy(device)) {
    if (mounted) await mount(ctx, device, dir)
    throw conflict(`volume "${name}" is in use outside this mount namespace (a container?)`, 'stop the containers using it and try again')
  }
  await detach(ctx, device)
}
