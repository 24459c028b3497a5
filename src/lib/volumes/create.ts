import {existingAncestor} from './capacity.js'
import {checkpoint} from '../common/checkpoint.js'
import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {conflict, invalid} from '../common/errors.js'
import {type Filesystem, MIN_SIZE} from '../images/filesystems.js'
import {HostView} from '../system/host-view.js'
import {finishIntent, intent, pendingConflict, sameOwner} from '../store/intent.js'
import {attach, createImage, ensureDirectory, format, mount, prepareMountpoint, strayImage} from '../images/loop-volume.js'
import {resolveLowers} from '../union/lowers.js'
import {validateName} from '../input/names.js'
import {parseSnapshotRef} from '../snapshots/snapshot.js'
import {formatSize} from '../input/sizes.js'
import {recoverInterrupted} from '../recovery/recovery.js'
import type {VolumeRecord, VolumeType} from '../store/state.js'
import {Undo} from '../common/undo.js'
import {checkUnion, isUnion, mountUnion, prepareUpper, requireAufs, type UnionRecord} from '../union/union-volume.js'
import {describePlanned, describeVolume, type Volume} from './volume.js'
import {buildClone, planClone} from './clone.js'

export const DEFAULT_SIZE = 1024 ** 3

export interface CreateRequest {
  name: string
  sizeBytes?: number
  fs?: Filesystem
  labels?: Record<string, string>
  /** loop (the default), or a union volume: overlay or aufs. */
  type?: VolumeType
  /** Union volumes: VOLUME@SNAPSHOT or absolute host folders, top-most first. */
  lowers?: string[]
  /** An existing volume of the same name, size and filesystem is not an error. */
  ifNotExists?: boolean
  /** VOLUME@SNAPSHOT: the new volume is a copy of it (size, fs, type and lowers default to its). */
  from?: string
}

export async function createVolume(ctx: Context, request: CreateRequest): Promise<Volume> {
  const from = request.from === undefined ? undefined : parseSnapshotRef(request.from)
  const record: VolumeRecord = {
    name: validateName(request.name),
    type: request.type ?? 'loop',
    fs: request.fs ?? 'ext4',
    sizeBytes: request.sizeBytes ?? DEFAULT_SIZE,
    labels: request.labels ?? {},
    createdAt: new Date().toISOString(),
    meantToBeMounted: true,
  }
  if (!from) checkSize(ctx, record)
  requireRoot(ctx.host)
  await recoverInterrupted(ctx)
  const clone = from && planClone(ctx, from, request, record)
  if (clone) checkSize(ctx, record)
  else if (isUnion(record)) await checkUnionRequest(ctx, record, request.lowers ?? [])
  else if (request.lowers?.length) throw invalid('--lower is for union volumes', 'add --type overlay')

  const image = ctx.layout.image(record.name)
  const mine = intent('create')
  const existing = await ctx.store.update((state) => {
    const found = state.volumes[record.name]
    if (found) return found
    // A file no volume knows may hold someone's data: never adopt it, nor let a rollback delete it.
    if (ctx.host.fileInfo(image)) throw strayImage(image)
    state.volumes[record.name] = {...record, pending: mine}
    return undefined
  })
  if (existing) return sameVolume(ctx, existing, request, record)

  const undo = new Undo()
  try {
    if (clone) await buildClone(ctx, record, clone, undo)
    else await (isUnion(record) ? buildUnionVolume(ctx, record, undo) : buildLoopVolume(ctx, record, undo))
    await checkpoint('create:done')
    await finishIntent(ctx, record.name, mine)
  } catch (error) {
    const leftovers = await undo.run()
    await ctx.store.update((state) => {
      const {pending} = state.volumes[record.name] ?? {}
      if (pending && sameOwner(pending, mine)) delete state.volumes[record.name]
    })
    if (leftovers.length > 0) (error as Error).message += `; could not undo: ${leftovers.join(', ')}`
    throw error
  }
  const view = HostView.read(ctx.host)
  return ctx.exec.dryRun ? describePlanned(ctx, record, view, 'mounted') : describeVolume(ctx, record, view)
}

async function buildLoopVolume(ctx: Context, record: VolumeRecord, undo: Undo): Promise<void> {
  for (const dir of [ctx.layout.imagesDir, ctx.layout.mountsDir]) await ensureDirectory(ctx, dir)
  await buildImageVolume(ctx, record, ctx.layout.mountpoint(record.name), undo)
}

/** A union volume is an upper volume, mounted under uppers/, with the union mounted on top. */
async function buildUnionVolume(ctx: Context, record: UnionRecord, undo: Undo): Promise<void> {
  for (const dir of [ctx.layout.imagesDir, ctx.layout.uppersDir, ctx.layout.mountsDir]) await ensureDirectory(ctx, dir)
  await buildImageVolume(ctx, record, ctx.layout.upperMount(record.name), undo)
  await prepareUpper(ctx, record.name)
  await mountUnion(ctx, record)
}

/** The volume's image: a sparse file, attached, formatted and mounted on `dir`. */
async function buildImageVolume(ctx: Context, record: VolumeRecord, dir: string, undo: Undo): Promise<void> {
  const image = ctx.layout.image(record.name)
  await checkpoint('create:image')
  await createImage(ctx, image, record.sizeBytes, undo)
  await checkpoint('create:attach')
  const device = await attach(ctx, image, undo)
  await checkpoint('create:format')
  await format(ctx, record.fs, device)
  await checkpoint('create:mountpoint')
  await prepareMountpoint(ctx, dir, undo)
  await checkpoint('create:mount')
  await mount(ctx, device, dir, undo)
}

/** Every lower is checked, and aufs looked for, before anything is created. */
async function checkUnionRequest(ctx: Context, record: UnionRecord, sources: string[]): Promise<void> {
  const state = ctx.store.read()
  record.lowers = resolveLowers(ctx, record.name, sources, state)
  checkUnion(ctx, state, record)
  if (record.type === 'aufs') await requireAufs(ctx)
}

function checkSize(ctx: Context, record: VolumeRecord): void {
  const minimum = MIN_SIZE[record.fs]
  if (record.sizeBytes < minimum) {
    throw invalid(`size ${formatSize(record.sizeBytes)} is below the ${record.fs} minimum of ${formatSize(minimum)}`)
  }
  // A volume larger than the whole host filesystem could never be filled: surely a typo.
  const host = ctx.host.fsUsage(existingAncestor(ctx, ctx.layout.root))
  if (record.sizeBytes > host.totalBytes) {
    throw invalid(
      `size ${formatSize(record.sizeBytes)} is larger than the host filesystem under ${ctx.layout.root} (${formatSize(host.totalBytes)})`,
      'choose a smaller --size',
    )
  }
}

function sameVolume(ctx: Context, existing: VolumeRecord, request: CreateRequest, wanted: VolumeRecord): Volume {
  const volume = describeVolume(ctx, existing, HostView.read(ctx.host))
  const matches =
    !existing.pending &&
    existing.fs === wanted.fs &&
    existing.type === wanted.type &&
    JSON.stringify(existing.lowers) === JSON.stringify(wanted.lowers) &&
    volume.sizeBytes === wanted.sizeBytes &&
    Object.entries(request.labels ?? {}).every(([key, value]) => existing.labels[key] === value)
  if (request.ifNotExists && matches) return volume
  if (existing.pending) throw pendingConflict(existing.name, existing.pending)
  if (request.ifNotExists) {
    throw conflict(`volume "${existing.name}" already exists with a different size, filesystem, type, lowers or labels`, 'choose another name or remove it first')
  }
  throw conflict(`volume "${existing.name}" already exists`, 'choose another name, or pass --if-not-exists')
}
