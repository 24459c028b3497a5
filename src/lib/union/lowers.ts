import {dirname, isAbsolute, join, normalize, relative} from 'node:path'
import type {Context} from '../system/context.js'
import {CbsError, conflict, invalid, notFound} from '../common/errors.js'
import type {FolderHandle} from '../system/host.js'
import type {Filesystem} from '../images/filesystems.js'
import type {HostView} from '../system/host-view.js'
import type {Layout} from '../store/layout.js'
import {findSnapshot, formatSnapshotRef, parseSnapshotRef} from '../snapshots/snapshot.js'
import type {LowerRecord, State, VolumeRecord} from '../store/state.js'

/**
 * The lower layers of union volumes: what a `--lower SOURCE` may name, what each layer stacks
 * (a host folder, or a snapshot mounted read-only under $CBS_ROOT/lowers) and which union
 * volumes depend on a volume or snapshot.
 */

/** A snapshot as a lower layer: its image, mounted read-only and shared by its union volumes. */
export interface SnapshotMount {
  /** VOLUME@SNAPSHOT */
  ref: string
  image: string
  fs: Filesystem
  mountpoint: string
}

/** A host folder lower and the union volume whose record holds it. */
export type FolderLower = Extract<LowerRecord, {type: 'directory'}> & {volume: string}

/** What a union mount stacks, top-most first, the snapshot mounts they need and the host folders among them. */
export interface LowerLayers {
  folders: string[]
  mounts: SnapshotMount[]
  hostFolders: FolderLower[]
}

/** As given on the command line: "db@seed" or "/srv/data". */
export const lowerSource = (lower: LowerRecord) => (lower.type === 'snapshot' ? formatSnapshotRef(lower) : lower.path)

/**
 * Checks every --lower SOURCE of a new union volume and says what it refers to. Refused before
 * anything is created: a relative path (exit 2), a live volume (exit 2: a lower must not change
 * under the mount), a file (2), a folder that is missing (3), inside $CBS_ROOT or containing it
 * (2: the union volume would be its own lower), the same or nested folders twice (2).
 */
export function resolveLowers(ctx: Context, union: string, sources: string[], state: State): LowerRecord[] {
  if (sources.length === 0) throw invalid('a union volume needs at least one --lower', 'pass --lower VOLUME@SNAPSHOT or --lower /absolute/folder')
  const lowers = sources.map((source) => resolveLower(ctx, union, source, state))
  const folders = lowers.filter((lower) => lower.type === 'directory').map((lower) => lower.path)
  for (const [index, folder] of folders.entries()) {
    const other = folders.find((each, at) => at !== index && (each === folder || isWithin(folder, each)))
    if (other) throw invalid(other === folder ? `--lower ${folder} is given twice` : `--lower ${other} is inside --lower ${folder}`, 'overlayfs refuses overlapping lower layers')
  }
  const refs = lowers.filter((lower) => lower.type === 'snapshot').map(lowerSource)
  const twice = refs.find((ref, index) => refs.indexOf(ref) !== index)
  if (twice) throw invalid(`--lower ${twice} is given twice`)
  return lowers
}

function resolveLower(ctx: Context, union: string, source: string, state: State): LowerRecord {
  if (isAbsolute(source)) return resolveFolder(ctx, union, normalize(source), state)
  if (source.includes('@')) return resolveSnapshot(ctx, union, source, state)
  if (state.volumes[source]) {
    throw invalid(
      `--lower ${source} is a live volume: a lower layer must not change while it is mounted`,
      `snapshot it first (cbs volume snapshot create ${source}) and pass --lower ${source}@SNAPSHOT`,
    )
  }
  throw invalid(`--lower ${source} is a relative path`, 'pass an absolute folder or VOLUME@SNAPSHOT')
}

function resolveFolder(ctx: Context, union: string, path: string, state: State): LowerRecord {
  const real = ctx.host.realPath(path)
  const root = ctx.host.realPath(ctx.layout.root) ?? ctx.layout.root
  const where = real ?? path
  if (where === root || isWithin(where, root)) {
    throw invalid(`--lower ${path} contains ${ctx.layout.root}, where the union volume itself lives`, 'a union volume cannot be its own lower layer')
  }
  if (isWithin(root, where)) {
    const [top, name] = relative(root, where).split('/')
    const owner = ['mounts', 'uppers'].includes(top) ? name : undefined
    if (owner === union) throw invalid(`--lower ${path} is the union volume "${union}" itself`)
    if (owner && state.volumes[owner]) {
      throw invalid(
        `--lower ${path} is on the live volume "${owner}": a lower layer must not change while it is mounted`,
        `snapshot it first (cbs volume snapshot create ${owner}) and pass --lower ${owner}@SNAPSHOT`,
      )
    }
    throw invalid(`--lower ${path} is inside ${ctx.layout.root}, which cbs manages`, 'pass VOLUME@SNAPSHOT for what cbs keeps')
  }
  if (!real) throw notFound(`--lower ${path} does not exist`)
  const folder = ctx.host.openFolder(real)
  if (typeof folder === 'string') throw invalid(`--lower ${path} is not a folder`)
  folder.close()
  return {type: 'directory', path: real, identity: folder.identity}
}

function resolveSnapshot(ctx: Context, union: string, source: string, state: State): LowerRecord {
  const ref = parseSnapshotRef(source)
  if (ref.volume === union) throw invalid(`--lower ${source} is a snapshot of the union volume "${union}" itself`)
  findSnapshot(ctx, ref, state)
  return {type: 'snapshot', ...ref}
}

/**
 * The folders the union volume `owner` stacks, top-most first; a snapshot of a union volume
 * brings its lowers along.
 */
export function lowerLayers(layout: Layout, state: State, owner: string): LowerLayers {
  const folders: string[] = []
  const mounts: SnapshotMount[] = []
  const hostFolders: FolderLower[] = []
  for (const lower of state.volumes[owner]?.lowers ?? []) {
    if (lower.type === 'directory') {
      folders.push(lower.path)
      hostFolders.push({...lower, volume: owner})
      continue
    }
    const ref = lowerSource(lower)
    const source = state.volumes[lower.volume]
    if (!source) throw notFound(`volume "${lower.volume}" of lower layer ${ref} is gone`, 'run `cbs doctor`')
    const mount = {ref, image: layout.snapshotImage(lower.volume, lower.snapshot), fs: source.fs, mountpoint: layout.lowerMount(ref)}
    mounts.push(mount)
    if (source.lowers) {
      // A snapshot of a union volume holds its upper layer: stack it over that volume's lowers.
      folders.push(join(mount.mountpoint, 'upper'))
      const below = lowerLayers(layout, state, lower.volume)
      folders.push(...below.folders)
      mounts.push(...below.mounts)
      hostFolders.push(...below.hostFolders)
    } else folders.push(mount.mountpoint)
  }
  return {folders, mounts, hostFolders}
}

/** Open host folder lowers, for one mount. */
export interface PinnedFolders {
  /** The path that names the checked folder: its handle's /proc/PID/fd/N. */
  pathOf(folder: string): string
  /**
   * Folders whose identity to record once mounted, as they are now: recorded before cbs kept
   * it (trusted on their first checked mount), or replaced and accepted (--accept-lowers).
   */
  toRecord: FolderLower[]
  close(): void
}

export interface PinOptions {
  /** The union volume being mounted, for the hint. */
  union: string
  /** Take a replaced folder as it is now (it still passes the checks of create). */
  accept?: boolean
}

/**
 * Opens the host folder lowers of a union volume for its mount, after the checks of create
 * again: each must be the folder checked then (same device and inode, reached without a
 * symbolic link), or whoever can write to its parent could have swapped in any folder, inside
 * $CBS_ROOT or a live volume included (exit 4). The mount then names each folder by its open
 * handle (/proc/PID/fd/N, which mount(8) resolves as root while this process waits for it), so
 * no swap between this check and the mount changes what gets stacked.
 */
export function pinFolders(ctx: Context, state: State, folders: FolderLower[], options: PinOptions): PinnedFolders {
  const handles = new Map<string, FolderHandle>()
  const close = () => {
    for (const handle of handles.values()) handle.close()
  }
  try {
    for (const folder of folders) {
      // A folder two union volumes stack (through a snapshot) is checked for each, held once.
      const handle = pinFolder(ctx, state, folder, options)
      if (handles.has(folder.path)) handle.close()
      else handles.set(folder.path, handle)
    }
  } catch (error) {
    close()
    throw error
  }
  return {
    pathOf: (folder) => handles.get(folder)?.path ?? folder,
    toRecord: folders
      .map((folder) => ({...folder, identity: handles.get(folder.path)!.identity}))
      .filter((folder, index) => folder.identity !== folders[index].identity),
    close,
  }
}

function pinFolder(ctx: Context, state: State, {path, identity, volume}: FolderLower, {union, accept}: PinOptions): FolderHandle {
  const handle = ctx.host.openFolder(path)
  if (handle === 'missing') throw notFound(`lower layer ${path} of volume "${volume}" is missing`, 'put the folder back, or remove the volume')
  const changed = (what: string) =>
    conflict(
      `lower layer ${path} of volume "${volume}" ${what}`,
      `whoever can write to ${dirname(path)} may have swapped it: put back the folder that was checked, or if the new one is meant, check it and run \`cbs volume mount ${union} --accept-lowers\``,
    )
  try {
    if (handle === 'not a folder') throw changed('is no longer a folder (a symbolic link or a file is there now)')
    const real = ctx.host.realPath(path)
    if (real !== path) throw changed(`now leads through a symbolic link, to ${real}`)
    try {
      resolveFolder(ctx, volume, path, state)
    } catch (error) {
      if (!(error instanceof CbsError)) throw error
      throw conflict(`lower layer ${path} of volume "${volume}" no longer passes the checks of create (${error.message})`)
    }
    if (identity && handle.identity !== identity && !accept) throw changed(`is not the folder checked at create (device:inode ${identity}, now ${handle.identity})`)
    return handle
  } catch (error) {
    if (typeof handle !== 'string') handle.close()
    throw error
  }
}

/** Union volumes that stack `volume` (or one snapshot of it), directly or through another union volume's snapshot. */
export function unionDependents(state: State, volume: string, snapshot?: string): string[] {
  return Object.values(state.volumes)
    .filter((record) => record.lowers && dependsOn(state, record.lowers, volume, snapshot))
    .map((record) => record.name)
    .sort()
}

function dependsOn(state: State, lowers: LowerRecord[], volume: string, snapshot?: string): boolean {
  return lowers.some(
    (lower) =>
      lower.type === 'snapshot' &&
      ((lower.volume === volume && (snapshot === undefined || lower.snapshot === snapshot)) ||
        dependsOn(state, state.volumes[lower.volume]?.lowers ?? [], volume, snapshot)),
  )
}

/** 0 for a loop volume, 1 + the deepest of its lowers' volumes for a union volume: lowers come first. */
export function stackDepth(state: State, name: string): number {
  const below = (state.volumes[name]?.lowers ?? []).map((lower) => (lower.type === 'snapshot' ? stackDepth(state, lower.volume) : 0))
  return state.volumes[name]?.lowers ? 1 + Math.max(0, ...below) : 0
}

/** Whether another union volume than `except` is mounted on top of the snapshot mount `ref`. */
export function lowerInUse(layout: Layout, state: State, view: HostView, ref: string, except: string): boolean {
  return Object.values(state.volumes).some(
    (record: VolumeRecord) =>
      record.name !== except &&
      record.lowers !== undefined &&
      view.mountAt(layout.mountpoint(record.name))?.fstype === record.type &&
      lowerLayers(layout, state, record.name).mounts.some((mount) => mount.ref === ref),
  )
}

const isWithin = (parent: string, path: string) => {
  const rest = relative(parent, path)
  return rest !== '' && !rest.startsWith('..') && !isAbsolute(rest)
}
