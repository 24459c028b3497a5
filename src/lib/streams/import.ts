import {truncateSync} from 'node:fs'
import {checkpoint} from '../common/checkpoint.js'
import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {conflict, invalid} from '../common/errors.js'
import {Undo} from '../common/undo.js'
import {HostView} from '../system/host-view.js'
import {copyImage, makeReadOnly, moveIntoPlace, planCopy, removeReadOnlyImage, setMode} from '../images/image-copy.js'
import {attach, createImage, ensureDirectory, prepareMountpoint, removeImage} from '../images/loop-volume.js'
import {validateName} from '../input/names.js'
import {recoverInterrupted} from '../recovery/recovery.js'
import {formatSnapshotRef} from '../snapshots/snapshot.js'
import {finishIntent, intent, pendingConflict, sameOwner} from '../store/intent.js'
import {partialPath} from '../store/layout.js'
import type {CopyMethod, PendingOperation, SnapshotRecord, State, VolumeRecord} from '../store/state.js'
import {renewXfsId} from '../volumes/clone.js'
import {bringDown, bringUp, isUp} from '../volumes/lifecycle.js'
import {describeVolume, type Volume} from '../volumes/volume.js'
import {applyRecords} from './apply.js'
import {fingerprint} from './fingerprint.js'
import {orInterrupted} from './interruptible.js'
import type {StreamHeader} from './format.js'
import {StreamReader} from './reader.js'

export interface ImportRequest {
  name: string
  /** Incremental streams: discard what changed on the volume since the base (as `zfs recv -F`). */
  force?: boolean
  /** For tar only: refused here. */
  sizeBytes?: number
  fs?: string
}

/**
 * Makes a volume from a cbs stream (a full one), or brings a volume up to date (an incremental
 * one). The data goes to a partial image under $CBS_ROOT, checked record by record; only once
 * the trailer matched is anything renamed into place, so a damaged, truncated or interrupted
 * stream leaves nothing behind and the target as it was. The volume keeps the stream's labels,
 * and gets its snapshot under the same name and id, for the next incremental stream.
 */
export async function importStream(ctx: Context, request: ImportRequest, chunks: AsyncIterable<Buffer>): Promise<Volume> {
  if (request.sizeBytes !== undefined || request.fs !== undefined) throw invalid('--size and --fs are for --format tar', 'a cbs stream brings its own size and filesystem')
  const name = validateName(request.name)
  requireRoot(ctx.host)
  await recoverInterrupted(ctx)
  const reader = new StreamReader(chunks, {reuse: true}) // applyRecords copies each record's bytes
  const header = await orInterrupted(ctx, reader.header())
  if (header.base) await receiveIncremental(ctx, name, header, reader, request.force ?? false)
  else await receiveFull(ctx, name, header, reader)
  return describeVolume(ctx, ctx.store.read().volumes[name], HostView.read(ctx.host))
}

const exists = (name: string) =>
  conflict(`volume "${name}" already exists`, 'remove it first (cbs volume rm), import under another name, or send an incremental stream (export --since)')

async function receiveFull(ctx: Context, name: string, header: StreamHeader, reader: StreamReader): Promise<void> {
  const partial = partialPath(ctx.layout.image(name))
  await whileImporting(ctx, name, async (importing, undo) => {
    await createImage(ctx, partial, header.sizeBytes, new Undo())
    undo.push(`remove ${partial}`, () => removeImage(ctx, partial))
    const snapshot = header.snapshot ? receivedSnapshot(ctx, name, header, partial) : null
    // Without reflinks the snapshot is an image of its own, written from the stream beside the
    // volume's (image-writer.ts: 2 GiB of direct writes took about 1.3 s here, where copying the
    // finished 1 GiB image with `cp --sparse=always` and flushing both took 4.4 s); with
    // reflinks, a reflink of the volume's once it is whole.
    const images = [partial]
    if (snapshot?.method === 'copy') images.push(await emptySnapshotImage(ctx, snapshot, undo))
    await checkpoint('import:data')
    await applyRecords(ctx, reader, images, name)
    await checkpoint('import:verified')
    const record: VolumeRecord = {name, type: 'loop', fs: header.fs, sizeBytes: header.sizeBytes, labels: header.labels, createdAt: new Date().toISOString()}
    await adoptImage(ctx, record, importing, undo, snapshot && {record: snapshot, copyFrom: snapshot.method === 'copy' ? undefined : partial})
  })
}

/**
 * Runs `work` under an import intent (state.imports), so that no other import or create takes
 * the name meanwhile and recovery knows whose partial image it is; undoes it all on failure.
 */
export async function whileImporting(ctx: Context, name: string, work: (importing: PendingOperation<'import'>, undo: Undo) => Promise<void>): Promise<void> {
  const importing = intent('import')
  await ctx.store.update((state) => {
    if (state.volumes[name]) throw exists(name)
    const other = state.imports?.[name]
    if (other) throw conflict(`volume "${name}" is being imported by process ${other.pid}`, 'wait for it to finish, or run `cbs doctor` if that process is gone')
    state.imports = {...state.imports, [name]: importing}
  })
  const undo = new Undo()
  undo.push(`forget the import of ${name}`, () => ctx.store.update((state) => forgetImport(state.imports, name, importing)))
  try {
    for (const dir of [ctx.layout.imagesDir, ctx.layout.mountsDir]) await ensureDirectory(ctx, dir)
    await work(importing, undo)
  } catch (error) {
    const leftovers = await undo.run()
    if (leftovers.length > 0) (error as Error).message += `; could not undo: ${leftovers.join(', ')}`
    throw error
  }
}

/** The snapshot a stream brings, and the image to copy for it (none when it was written from the stream). */
interface ReceivedSnapshot {
  record: SnapshotRecord
  copyFrom?: string
}

/**
 * Turns a complete partial image into a volume: its record (from here on a create, as far as
 * recovery is concerned), the snapshot it came with, the image renamed into place, mounted.
 */
export async function adoptImage(ctx: Context, record: VolumeRecord, importing: PendingOperation<'import'>, undo: Undo, received: ReceivedSnapshot | null): Promise<void> {
  const snapshot = received?.record ?? null
  const {name} = record
  const image = ctx.layout.image(name)
  const partial = partialPath(image)
  const creating = intent('create')
  await ctx.store.update((state) => {
    if (state.volumes[name]) throw exists(name)
    forgetImport(state.imports, name, importing)
    state.volumes[name] = {...record, pending: creating, ...(snapshot ? {snapshots: {[snapshot.name]: snapshot}} : {})}
  })
  undo.push(`forget volume ${name}`, () =>
    ctx.store.update((state) => {
      if (state.volumes[name]?.pending && sameOwner(state.volumes[name].pending!, creating)) delete state.volumes[name]
    }),
  )
  if (received) await placeSnapshot(ctx, received, undo)
  await moveIntoPlace(ctx, partial, image)
  undo.push(`remove ${image}`, () => removeImage(ctx, image))
  undo.push(`take ${name} down`, () => bringDown(ctx, record, HostView.read(ctx.host)))
  await bringUpReceived(ctx, record, snapshot)
  await checkpoint('import:done')
  await finishIntent(ctx, name, creating)
}

function forgetImport(imports: State['imports'], name: string, mine: PendingOperation<'import'>): void {
  if (imports?.[name] && sameOwner(imports[name], mine)) delete imports[name]
}

/**
 * An incremental stream applies to a copy of the base snapshot (never to the live image), which
 * then replaces the volume's image as a restore does: the volume is taken down for the rename
 * only, and left as it was on any failure before it.
 */
async function receiveIncremental(ctx: Context, name: string, header: StreamHeader, reader: StreamReader, force: boolean): Promise<void> {
  const base = header.base!
  const state = ctx.store.read()
  const volume = state.volumes[name]
  const baseRecord = Object.values(volume?.snapshots ?? {}).find((each) => each.id === base.id && !each.pending)
  if (!volume || !baseRecord) {
    throw conflict(
      `this incremental stream needs snapshot ${formatSnapshotRef({volume: header.source, snapshot: base.name})} (id ${base.id}) as its base, and volume "${name}" ${volume ? 'does not have it' : 'does not exist'}`,
      'import the full stream of that snapshot first, or export --since a snapshot this volume has',
    )
  }
  if (volume.type !== 'loop') throw invalid(`volume "${name}" is a ${volume.type} volume`, 'only loop volumes take streams')
  const snapshotName = header.snapshot!.name
  if (volume.snapshots?.[snapshotName]) throw conflict(`snapshot ${formatSnapshotRef({volume: name, snapshot: snapshotName})} already exists`, 'this stream was imported already')
  if (volume.pending) throw pendingConflict(name, volume.pending)
  const wasMounted = isUp(ctx, volume, HostView.read(ctx.host))
  if (!force) await refuseChangedSince(ctx, volume, baseRecord, wasMounted)

  const receiving = intent('receive', {wasMounted})
  await ctx.store.update((state) => {
    const current = state.volumes[name]
    if (current?.pending) throw pendingConflict(name, current.pending)
    current.pending = receiving
  })
  const undo = new Undo()
  undo.push(`finish receiving ${name}`, () => finishIntent(ctx, name, receiving))
  const image = ctx.layout.image(name)
  const partial = partialPath(image)
  const baseImage = ctx.layout.snapshotImage(name, baseRecord.name)
  try {
    undo.push(`remove ${partial}`, () => removeImage(ctx, partial))
    await copyImage(ctx, planCopy(ctx, baseImage), baseImage, partial, {label: `${formatSnapshotRef({volume: name, snapshot: baseRecord.name})} → ${name}`})
    await setMode(ctx, partial, 0o600)
    // The source may have been resized since the base: images only grow.
    if (header.sizeBytes > baseRecord.sizeBytes) {
      await ctx.exec.change(['truncate', '--size', String(header.sizeBytes), partial], () => truncateSync(partial, header.sizeBytes))
    }
    await checkpoint('import:data')
    await applyRecords(ctx, reader, [partial], name)
    await checkpoint('import:verified')
    const snapshot = receivedSnapshot(ctx, name, header, partial)
    await ctx.store.update((state) => {
      state.volumes[name].snapshots = {...state.volumes[name].snapshots, [snapshot.name]: snapshot}
    })
    undo.push(`forget ${formatSnapshotRef({volume: name, snapshot: snapshot.name})}`, () => ctx.store.update((state) => delete state.volumes[name]?.snapshots?.[snapshot.name]))
    await placeSnapshot(ctx, {record: snapshot, copyFrom: partial}, undo)
    await bringDown(ctx, volume, HostView.read(ctx.host))
    undo.push(`mount ${name} again`, () => bringUp(ctx, volume, HostView.read(ctx.host)))
    await moveIntoPlace(ctx, partial, image, {replace: true})
    const record = {...volume, sizeBytes: header.sizeBytes, labels: header.labels}
    await bringUpReceived(ctx, record, snapshot)
    await ctx.store.update((state) => (state.volumes[name].labels = header.labels))
    await finishIntent(ctx, name, receiving, header.sizeBytes)
  } catch (error) {
    const leftovers = await undo.run()
    if (leftovers.length > 0) (error as Error).message += `; could not undo: ${leftovers.join(', ')}`
    throw error
  }
}

/**
 * Whether the volume changed since its base: its file listing against the one taken when the
 * base was imported (fingerprint.ts). Refused (exit 4) when it did, or when cbs cannot tell.
 */
async function refuseChangedSince(ctx: Context, volume: VolumeRecord, base: SnapshotRecord, mounted: boolean): Promise<void> {
  const ref = formatSnapshotRef({volume: volume.name, snapshot: base.name})
  const force = 'pass --force to restore it to that snapshot first (its later changes are lost), as `zfs recv -F` does'
  if (!base.receivedFingerprint) throw conflict(`cannot tell whether volume "${volume.name}" changed since ${ref}: that snapshot was not made by an import`, force)
  if (!mounted) throw conflict(`cannot tell whether volume "${volume.name}" changed since ${ref} while it is not mounted`, `mount it (cbs volume mount ${volume.name}), or ${force}`)
  if ((await fingerprint(ctx, ctx.layout.mountpoint(volume.name))) !== base.receivedFingerprint) {
    throw conflict(`volume "${volume.name}" has changed since ${ref}`, force)
  }
}

/** The record of the stream's snapshot on this host: same name and id, marked pending until its image is whole. */
function receivedSnapshot(ctx: Context, volume: string, header: StreamHeader, from: string): SnapshotRecord {
  const {name, id, createdAt} = header.snapshot!
  const method: CopyMethod = planCopy(ctx, from)
  return {name, id, volume, fs: header.fs, sizeBytes: header.sizeBytes, method, labels: {}, createdAt, pending: intent('snapshot')}
}

/** An empty partial image for the snapshot, to be written from the stream beside the volume's. */
async function emptySnapshotImage(ctx: Context, snapshot: SnapshotRecord, undo: Undo): Promise<string> {
  const partial = partialPath(await snapshotImagePath(ctx, snapshot))
  await createImage(ctx, partial, snapshot.sizeBytes, new Undo())
  undo.push(`remove ${partial}`, () => removeImage(ctx, partial))
  return partial
}

/** The snapshot's image, read-only: a copy of `copyFrom` (a reflink where the host can), or its partial image, already written. */
async function placeSnapshot(ctx: Context, {record: snapshot, copyFrom}: ReceivedSnapshot, undo: Undo): Promise<void> {
  const image = await snapshotImagePath(ctx, snapshot)
  const partial = partialPath(image)
  if (copyFrom) {
    undo.push(`remove ${partial}`, () => removeImage(ctx, partial))
    await copyImage(ctx, snapshot.method, copyFrom, partial, {label: `${snapshot.volume} → ${formatSnapshotRef({volume: snapshot.volume, snapshot: snapshot.name})}`})
  }
  await moveIntoPlace(ctx, partial, image)
  undo.push(`remove ${image}`, () => removeReadOnlyImage(ctx, image))
  await makeReadOnly(ctx, image)
}

/** Where the snapshot's image goes, its folders made. */
async function snapshotImagePath(ctx: Context, snapshot: SnapshotRecord): Promise<string> {
  await ensureDirectory(ctx, ctx.layout.snapshotsDir)
  await ensureDirectory(ctx, ctx.layout.snapshotDir(snapshot.volume))
  return ctx.layout.snapshotImage(snapshot.volume, snapshot.name)
}

/**
 * Mounts the received image, then marks its snapshot whole with the fingerprint the next
 * incremental import compares with. An xfs gets a UUID of its own first: the source may be
 * mounted on this very host, and xfs refuses a second mount of one UUID.
 */
async function bringUpReceived(ctx: Context, record: VolumeRecord, snapshot: SnapshotRecord | null): Promise<void> {
  if (record.fs === 'xfs') {
    const mountpoint = ctx.layout.mountpoint(record.name)
    const device = await attach(ctx, ctx.layout.image(record.name))
    await prepareMountpoint(ctx, mountpoint)
    await renewXfsId(ctx, record.name, device, mountpoint)
  }
  await bringUp(ctx, record, HostView.read(ctx.host))
  if (!snapshot) return
  const listing = await fingerprint(ctx, ctx.layout.mountpoint(record.name))
  await ctx.store.update((state) => {
    const current = state.volumes[record.name]?.snapshots?.[snapshot.name]
    if (!current) return
    delete current.pending
    current.receivedFingerprint = listing
  })
}
