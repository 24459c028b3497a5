import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import type {Context} from '../system/context.js'
import {conflict} from '../common/errors.js'
import {describeFailure} from '../system/failure.js'
import {HostView} from '../system/host-view.js'
import {currentProcess, type ProcessIdentity} from '../system/process-identity.js'
import {finishIntent, isAbandoned, sameOwner, takeOver} from '../store/intent.js'
import {partialPath} from '../store/layout.js'
import {releaseMount, removeImage, removeMountpoint} from '../images/loop-volume.js'
import {formatSnapshotRef} from '../snapshots/snapshot.js'
import type {PendingOperation, State, VolumeRecord} from '../store/state.js'
import {growVolume, rollBackGrow} from '../volumes/grow.js'
import {removeAllSnapshots, removeSnapshot} from '../snapshots/remove.js'
import {isUnion} from '../union/union-volume.js'
import {unregisterAll} from '../runtimes/attach.js'
import {bringDown, bringUp, isUp} from '../volumes/lifecycle.js'

/** What recovery did about one operation a dead process left half done. */
export interface Recovery {
  /** The volume, or VOLUME@SNAPSHOT. */
  volume: string
  operation: string
  outcome: 'finished' | 'rolled back' | 'failed'
  /** Why it failed; the operation stays recorded and is tried again by the next command. */
  error?: string
}

export interface RecoveryOptions {
  /**
   * How long to wait for a program the dead process started (mkfs, e2fsck, resize2fs keep
   * running after cbs is killed) to let go of the volume's device.
   */
  waitMs?: number
  /** How long to keep trying again after a failure (a program of the dead process may still be finishing its step). */
  retryMs?: number
}

/**
 * Finishes or rolls back every operation whose process died before it was done. Every command
 * that changes something calls this first, and so does `cbs doctor --fix`. Two processes never
 * recover the same operation: the first to take it over in the store owns it. A create is
 * rolled back unless it had got as far as mounting; a remove is finished; a resize is rolled
 * back before its filesystem changed and finished after.
 */
export async function recoverInterrupted(ctx: Context, options: RecoveryOptions = {}): Promise<Recovery[]> {
  if (ctx.exec.dryRun) return []
  const state = ctx.store.read()
  const abandoned = Object.values(state.volumes).filter((record) => record.pending && isAbandoned(ctx.host, record.pending))
  const recoveries: Recovery[] = []
  for (const seen of abandoned) {
    const record = await claim(ctx, seen.name, seen.pending!)
    if (!record) continue
    const {operation} = record.pending!
    try {
      recoveries.push({volume: record.name, operation, outcome: await recoverOne(ctx, record, options)})
    } catch (error) {
      const {message} = describeFailure(error)
      // Handed back to the dead process: still abandoned, for the next command (or doctor) to try again.
      await ctx.store.update((state) => {
        const volume = state.volumes[record.name]
        if (volume?.pending && sameOwner(volume.pending, record.pending!)) volume.pending = {...volume.pending, ...ownerOf(seen.pending!), error: message}
      })
      recoveries.push({volume: record.name, operation, outcome: 'failed', error: message})
    }
  }
  // Read again only when recoveries changed it: reaping snapshots touches neither volumes nor
  // imports, and reapImports checks each owner again inside its update.
  const current = abandoned.length > 0 ? ctx.store.read() : state
  const reaped = await reapSnapshots(ctx, current)
  return [...recoveries, ...reaped, ...(await reapImports(ctx, current))]
}

/**
 * A full import whose process died: no volume exists yet, only its partial image (and the partial
 * image of its snapshot) under the intent in `state.imports`. Both go, then the intent.
 */
async function reapImports(ctx: Context, state: State): Promise<Recovery[]> {
  const recoveries: Recovery[] = []
  for (const [name, pending] of Object.entries(state.imports ?? {})) {
    if (!isAbandoned(ctx.host, pending)) continue
    try {
      await releaseMount(ctx, ctx.layout.importMount(name)) // a tar import's
      await removeImage(ctx, partialPath(ctx.layout.image(name)))
      // Its snapshot's image, written beside it; no volume of that name exists to own another.
      const snapshots = ctx.layout.snapshotDir(name)
      if (!state.volumes[name] && ctx.host.fileInfo(snapshots)) {
        for (const file of ctx.host.listDirectory(snapshots).filter((file) => file.startsWith('.') && file.endsWith('.partial'))) await removeImage(ctx, join(snapshots, file))
      }
      await ctx.store.update((state) => {
        if (state.imports?.[name] && sameOwner(state.imports[name], pending)) delete state.imports[name]
      })
      recoveries.push({volume: name, operation: 'import', outcome: 'rolled back'})
    } catch (error) {
      recoveries.push({volume: name, operation: 'import', outcome: 'failed', error: describeFailure(error).message})
    }
  }
  return recoveries
}

/**
 * Snapshots a dead process was taking, removing or exporting through are no good either way: their files and
 * records go. A volume frozen for the copy was thawed by its guardian process when cbs died.
 */
async function reapSnapshots(ctx: Context, state: State): Promise<Recovery[]> {
  const recoveries: Recovery[] = []
  for (const volume of Object.values(state.volumes)) {
    for (const {name, pending} of Object.values(volume.snapshots ?? {})) {
      if (!pending || !isAbandoned(ctx.host, pending)) continue
      const operation = {remove: 'snapshot remove', snapshot: 'snapshot', export: 'export'}[pending.operation]
      const reaped = {volume: formatSnapshotRef({volume: volume.name, snapshot: name}), operation}
      try {
        if (pending.operation === 'export') await releaseMount(ctx, ctx.layout.exportMount(reaped.volume)) // a tar export's
        await removeSnapshot(ctx, {volume: volume.name, snapshot: name})
        recoveries.push({...reaped, outcome: pending.operation === 'snapshot' ? 'rolled back' : 'finished'})
      } catch (error) {
        const {message} = describeFailure(error)
        await ctx.store.update((state) => {
          const snapshot = state.volumes[volume.name]?.snapshots?.[name]
          if (snapshot?.pending && sameOwner(snapshot.pending, currentProcess())) snapshot.pending = {...pending, error: message}
        })
        recoveries.push({...reaped, outcome: 'failed', error: message})
      }
    }
  }
  return recoveries
}

/**
 * Runs the recovery of one operation. Every step of it is idempotent, so a failure is tried
 * again for `retryMs`: a program the dead process started (umount, mkfs) may be finishing.
 */
async function recoverOne(ctx: Context, record: VolumeRecord, {waitMs = 2000, retryMs = 0}: RecoveryOptions): Promise<'finished' | 'rolled back'> {
  const recover = RECOVER[record.pending!.operation]
  const deadline = Date.now() + retryMs
  for (;;) {
    try {
      await settle(ctx, ctx.layout.image(record.name), waitMs)
      return await recover(ctx, record)
    } catch (error) {
      if (Date.now() >= deadline) throw error
      await sleep(250)
    }
  }
}

type Recover = (ctx: Context, record: VolumeRecord) => Promise<'finished' | 'rolled back'>

/** How each operation on a volume is finished or rolled back (a new operation must say how). */
const RECOVER: Record<PendingOperation['operation'], Recover> = {
  async create(ctx, record) {
    const view = HostView.read(ctx.host)
    // Mounting is the last step: a mounted volume only missed being marked done.
    if (isUp(ctx, record, view)) {
      await finishIntent(ctx, record.name, record.pending!)
      return 'finished'
    }
    refuseForeignMounts(ctx, record, view)
    // The image cannot hold data: the volume never reached its user (and createVolume refuses to
    // start while a file of that name exists, so the file is the one this create made).
    await bringDown(ctx, record, view)
    await discardVolume(ctx, record)
    return 'rolled back'
  },

  async remove(ctx, record) {
    const view = HostView.read(ctx.host)
    refuseForeignMounts(ctx, record, view)
    await bringDown(ctx, record, view)
    await discardVolume(ctx, record)
    return 'finished'
  },

  // The restored image is renamed over the old one: it is whole either way. What is left is the
  // partial copy, and the volume to mount again.
  async restore(ctx, record) {
    await removeImage(ctx, partialPath(ctx.layout.image(record.name)))
    if (record.pending!.wasMounted) await bringUp(ctx, record, HostView.read(ctx.host))
    await finishIntent(ctx, record.name, record.pending!, ctx.host.fileInfo(ctx.layout.image(record.name))?.sizeBytes)
    return 'finished'
  },

  // An incremental import: the same, its new snapshot being reaped with the other unfinished ones.
  async receive(ctx, record) {
    return RECOVER.restore(ctx, record)
  },

  async resize(ctx, record) {
    const {sizeBytes, fromBytes, wasMounted, committed} = record.pending!
    const plan = {sizeBytes: sizeBytes!, fromBytes: fromBytes!, wasMounted: wasMounted!}
    if (!committed) {
      await rollBackGrow(ctx, record, plan)
      await finishIntent(ctx, record.name, record.pending!)
      return 'rolled back'
    }
    await growVolume(ctx, record, plan, async () => {})
    await finishIntent(ctx, record.name, record.pending!, sizeBytes)
    return 'finished'
  },
}

/** Deletes a volume that is down: its runtime registrations, snapshots, mountpoints, image and record. */
export async function discardVolume(ctx: Context, record: VolumeRecord): Promise<void> {
  await unregisterAll(ctx, record)
  await removeAllSnapshots(ctx, record.name)
  await removeMountpoint(ctx, ctx.layout.mountpoint(record.name))
  if (isUnion(record)) await removeMountpoint(ctx, ctx.layout.upperMount(record.name))
  await removeImage(ctx, ctx.layout.image(record.name))
  const partial = partialPath(ctx.layout.image(record.name))
  if (ctx.host.fileInfo(partial)) await removeImage(ctx, partial) // a clone's copy under way
  await ctx.store.update((state) => {
    if (state.volumes[record.name]?.pending && sameOwner(state.volumes[record.name].pending!, record.pending!)) delete state.volumes[record.name]
  })
}

const ownerOf = ({pid, startTime}: ProcessIdentity) => ({pid, startTime})

/** Takes over an abandoned operation, unless another process already did. */
async function claim(ctx: Context, name: string, seen: PendingOperation): Promise<VolumeRecord | undefined> {
  return ctx.store.update((state) => {
    const record = state.volumes[name]
    if (!record?.pending || !sameOwner(record.pending, seen)) return undefined
    record.pending = takeOver(record.pending)
    return structuredClone(record)
  })
}

/** Something other than the volume is mounted on one of its mountpoints: leave it to a person. */
function refuseForeignMounts(ctx: Context, record: VolumeRecord, view: HostView): void {
  const device = view.deviceOf(ctx.layout.image(record.name))
  const union = isUnion(record)
  for (const dir of union ? [ctx.layout.mountpoint(record.name), ctx.layout.upperMount(record.name)] : [ctx.layout.mountpoint(record.name)]) {
    const top = view.mountAt(dir)
    const own = top && (top.source === device || (union && dir === ctx.layout.mountpoint(record.name) && top.fstype === record.type))
    if (top && !own) throw conflict(`${top.source} is mounted on ${dir}`, `unmount it (umount ${dir}), then run \`cbs doctor --fix\``)
  }
}

/**
 * Waits, at most `waitMs`, until no program still works on the image's loop device: mkfs,
 * e2fsck and resize2fs hold it exclusively, and they keep running after cbs is killed.
 */
async function settle(ctx: Context, image: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs
  for (;;) {
    const view = HostView.read(ctx.host)
    const held = view.loops.find((loop) => loop.backingFile === image && view.mountsOf(loop.device).length === 0 && ctx.host.isDeviceBusy(loop.device))
    if (!held) return
    if (Date.now() > deadline) throw conflict(`${held.device} (${image}) is held by another process`, 'wait for it to finish, then run `cbs doctor --fix`')
    await sleep(100)
  }
}
