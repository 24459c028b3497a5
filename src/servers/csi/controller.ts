import {MIN_SIZE, type Filesystem} from '../../lib/images/filesystems.js'
import {createVolume, DEFAULT_SIZE} from '../../lib/volumes/create.js'
import {cloneVolume} from '../../lib/volumes/clone-volume.js'
import {removeVolumes} from '../../lib/volumes/remove.js'
import {resizeVolume} from '../../lib/volumes/resize.js'
import {freeCapacity} from '../../lib/volumes/capacity.js'
import {createSnapshot} from '../../lib/snapshots/create.js'
import {removeSnapshots} from '../../lib/snapshots/remove.js'
import {findSnapshot, formatSnapshotRef, parseSnapshotRef, snapshotsOf} from '../../lib/snapshots/snapshot.js'
import {compareOrdinal} from '../../lib/common/ordinal.js'
import type {SnapshotRecord, VolumeRecord} from '../../lib/store/state.js'
import {pendingConflict} from '../../lib/store/intent.js'
import {recoverInterrupted} from '../../lib/recovery/recovery.js'
import {cbsNameFor, type Driver, nodeTopology, OWNER_LABEL, ownedBy, ownedVolume, topologyKey} from './driver.js'
import {alreadyExists, failedPrecondition, invalidArgument, notFoundError, resourceExhausted} from './errors.js'
import {type Access, type Capability, type CapacityRange, fitsRange, page, parseCapabilities, parseFsType, required, sizeFor} from './requests.js'

type Topology = {segments?: Record<string, string>}
type ContentSource = {snapshot?: {snapshot_id?: string} | null; volume?: {volume_id?: string} | null; type?: string} | null

interface CreateVolumeRequest {
  name?: string
  capacity_range?: CapacityRange | null
  volume_capabilities?: Capability[]
  parameters?: Record<string, string>
  volume_content_source?: ContentSource
  accessibility_requirements?: {requisite?: Topology[]; preferred?: Topology[]} | null
}

/** StorageClass parameters: `fs` (when the capability names none) and `type` (loop, or overlay over a snapshot). */
interface Parameters {
  fs?: Filesystem
  type: 'loop' | 'overlay'
}

/** The Controller service: each RPC checks its request, then calls the core. */
export function controllerService(driver: Driver) {
  const {ctx} = driver

  const describe = (record: VolumeRecord, source?: ContentSource) => ({
    capacity_bytes: ctx.host.fileInfo(ctx.layout.image(record.name))?.sizeBytes ?? record.sizeBytes,
    volume_id: record.name,
    volume_context: {fs: record.fs, type: record.type},
    content_source: source ?? undefined,
    accessible_topology: [nodeTopology(driver)],
  })

  const describeSnapshot = (snapshot: SnapshotRecord) => {
    const createdMs = Date.parse(snapshot.createdAt)
    return {
      size_bytes: snapshot.sizeBytes,
      snapshot_id: formatSnapshotRef({volume: snapshot.volume, snapshot: snapshot.name}),
      source_volume_id: snapshot.volume,
      creation_time: {seconds: Math.floor(createdMs / 1000), nanos: (createdMs % 1000) * 1e6},
      ready_to_use: !snapshot.pending,
    }
  }

  /** Every snapshot of this driver, in a stable order. */
  const allSnapshots = () =>
    Object.values(ctx.store.read().volumes)
      .sort((a, b) => compareOrdinal(a.name, b.name))
      .flatMap(snapshotsOf)
      .filter((snapshot) => ownedBy(driver, snapshot.labels))

  /** This node, or none of the topologies the CO allows: then the volume cannot be made here. */
  const checkTopology = (requirements: CreateVolumeRequest['accessibility_requirements']) => {
    const allowed = [...(requirements?.requisite ?? []), ...(requirements?.preferred ?? [])]
    if (allowed.length === 0) return
    const here = allowed.some((topology) => (topology.segments?.[topologyKey(driver)] ?? driver.nodeId) === driver.nodeId)
    if (!here) throw resourceExhausted(`cbs volumes live on the node that makes them (${driver.nodeId}), which accessibility_requirements leave out`)
  }

  return {
    async CreateVolume(request: CreateVolumeRequest) {
      const id = cbsNameFor(request.name ?? '', 'name')
      const access = parseCapabilities(request.volume_capabilities)
      const parameters = parseParameters(request.parameters)
      const fs = access.fs ?? parameters.fs ?? 'ext4'
      if (access.fs && parameters.fs && access.fs !== parameters.fs) throw invalidArgument(`fs_type ${access.fs} and parameter fs=${parameters.fs} disagree`)
      checkTopology(request.accessibility_requirements)
      const source = parseSource(request.volume_content_source)
      if (parameters.type === 'overlay' && (access.block || !source?.snapshot)) {
        throw invalidArgument('type=overlay makes a union volume over a snapshot: give a snapshot content source and mount access')
      }
      // A clone snapshots its source: no other call may work on that volume meanwhile.
      return driver.inFlight.run([id, ...(source?.volume ? [source.volume] : [])], async () => {
        await recoverInterrupted(ctx) // a create a dead process left is rolled back or finished first
        const existing = ctx.store.read().volumes[id]
        if (existing) return {volume: sameVolume(existing, request, fs, parameters, access)}
        const sourceBytes = source ? sourceSize(source) : undefined
        const sourceFs = source && parameters.type !== 'overlay' ? sourceFilesystem(source) : undefined
        if (sourceFs && access.fs && access.fs !== sourceFs) throw invalidArgument(`the content source is ${sourceFs}: a copy of it cannot be ${access.fs}`)
        const minimum = Math.max(MIN_SIZE[fs], parameters.type === 'overlay' ? MIN_SIZE.ext4 : sourceBytes ?? 0)
        const sizeBytes = sizeFor(request.capacity_range, parameters.type === 'overlay' ? DEFAULT_SIZE : sourceBytes ?? DEFAULT_SIZE, minimum)
        const labels = {[OWNER_LABEL]: driver.name}
        let created
        if (source?.volume) created = await cloneVolume(ctx, source.volume, {name: id, sizeBytes, labels})
        else if (source?.snapshot && parameters.type === 'overlay') created = await createVolume(ctx, {name: id, type: 'overlay', lowers: [source.snapshot], sizeBytes, labels})
        else if (source?.snapshot) created = await createVolume(ctx, {name: id, from: source.snapshot, sizeBytes, labels})
        else created = await createVolume(ctx, {name: id, fs, sizeBytes, labels})
        return {volume: describe({...ctx.store.read().volumes[id]!, sizeBytes: created.sizeBytes}, request.volume_content_source)}
      })
    },

    async DeleteVolume(request: {volume_id?: string}) {
      const id = required(request.volume_id, 'volume_id')
      await driver.inFlight.run([id], async () => {
        const record = ctx.store.read().volumes[id]
        if (!record) return // gone already: done
        if (!ownedBy(driver, record.labels)) throw failedPrecondition(`volume ${id} was not made by ${driver.name}: cbs leaves it alone`)
        await removeVolumes(ctx, [id])
      })
      return {}
    },

    async ValidateVolumeCapabilities(request: {volume_id?: string; volume_capabilities?: Capability[]; volume_context?: Record<string, string>; parameters?: Record<string, string>}) {
      const id = required(request.volume_id, 'volume_id')
      if (!request.volume_capabilities?.length) throw invalidArgument('volume_capabilities is required')
      const record = ownedVolume(driver, id)
      if (!record) throw notFoundError(`volume ${id} does not exist`)
      let access: Access
      try {
        access = parseCapabilities(request.volume_capabilities)
      } catch (error) {
        return {message: (error as Error).message}
      }
      if (access.fs && access.fs !== record.fs) return {message: `volume ${id} is ${record.fs}`}
      if (access.block && record.type !== 'loop') return {message: `volume ${id} is a union volume, which has no block device`}
      return {confirmed: {volume_context: request.volume_context ?? {}, volume_capabilities: request.volume_capabilities, parameters: request.parameters ?? {}}}
    },

    async ListVolumes(request: {max_entries?: number; starting_token?: string}) {
      const records = Object.values(ctx.store.read().volumes)
        .filter((record) => ownedBy(driver, record.labels))
        .sort((a, b) => compareOrdinal(a.name, b.name))
      const {entries, nextToken} = page(records, request.max_entries, request.starting_token)
      return {entries: entries.map((record) => ({volume: describe(record)})), next_token: nextToken}
    },

    async GetCapacity(request: {accessible_topology?: Topology | null; parameters?: Record<string, string>; volume_capabilities?: Capability[]}) {
      const parameters = parseParameters(request.parameters)
      if (request.volume_capabilities?.length) parseCapabilities(request.volume_capabilities)
      const segment = request.accessible_topology?.segments?.[topologyKey(driver)]
      const here = segment === undefined || segment === driver.nodeId
      const fs = parameters.fs ?? 'ext4'
      return {available_capacity: here ? freeCapacity(ctx) : 0, minimum_volume_size: {value: MIN_SIZE[fs]}}
    },

    async ControllerGetCapabilities() {
      const types = ['CREATE_DELETE_VOLUME', 'LIST_VOLUMES', 'GET_CAPACITY', 'CREATE_DELETE_SNAPSHOT', 'LIST_SNAPSHOTS', 'CLONE_VOLUME', ...(driver.expandOnNode ? [] : ['EXPAND_VOLUME'])]
      return {capabilities: types.map((type) => ({rpc: {type}}))}
    },

    async CreateSnapshot(request: {source_volume_id?: string; name?: string}) {
      const volume = required(request.source_volume_id, 'source_volume_id')
      const name = cbsNameFor(request.name ?? '', 'name')
      return driver.inFlight.run([volume, `snapshot ${name}`], async () => {
        const existing = allSnapshots().find((snapshot) => snapshot.name === name)
        if (existing && existing.volume !== volume) throw alreadyExists(`snapshot ${request.name} exists already, of volume ${existing.volume}`)
        if (existing) return {snapshot: describeSnapshot(existing)}
        if (!ownedVolume(driver, volume)) throw notFoundError(`volume ${volume} does not exist`)
        await createSnapshot(ctx, {volume, snapshot: name, labels: {[OWNER_LABEL]: driver.name}})
        return {snapshot: describeSnapshot(ctx.store.read().volumes[volume].snapshots![name])}
      })
    },

    async DeleteSnapshot(request: {snapshot_id?: string}) {
      const id = required(request.snapshot_id, 'snapshot_id')
      const snapshot = allSnapshots().find((each) => formatSnapshotRef({volume: each.volume, snapshot: each.name}) === id)
      if (!snapshot) return {} // gone already (or never this driver's): done
      await driver.inFlight.run([snapshot.volume, `snapshot ${snapshot.name}`], () => removeSnapshots(ctx, [id]))
      return {}
    },

    async ListSnapshots(request: {max_entries?: number; starting_token?: string; source_volume_id?: string; snapshot_id?: string}) {
      const snapshots = allSnapshots().filter(
        (snapshot) =>
          (!request.source_volume_id || snapshot.volume === request.source_volume_id) &&
          (!request.snapshot_id || formatSnapshotRef({volume: snapshot.volume, snapshot: snapshot.name}) === request.snapshot_id),
      )
      const {entries, nextToken} = page(snapshots, request.max_entries, request.starting_token)
      return {entries: entries.map((snapshot) => ({snapshot: describeSnapshot(snapshot)})), next_token: nextToken}
    },

    async ControllerExpandVolume(request: {volume_id?: string; capacity_range?: CapacityRange | null}) {
      const id = required(request.volume_id, 'volume_id')
      if (!request.capacity_range) throw invalidArgument('capacity_range is required')
      if (!ownedVolume(driver, id)) throw notFoundError(`volume ${id} does not exist`)
      const current = ctx.host.fileInfo(ctx.layout.image(id))?.sizeBytes ?? 0
      if (fitsRange(current, request.capacity_range)) {
        return {capacity_bytes: current, node_expansion_required: false}
      }
      const sizeBytes = sizeFor(request.capacity_range, current, current)
      const grown = await driver.inFlight.run([id], () => resizeVolume(ctx, id, sizeBytes))
      return {capacity_bytes: grown.sizeBytes, node_expansion_required: false}
    },
  }

  /** CreateVolume again with the same name: the same volume if it fits the request, else ALREADY_EXISTS. */
  function sameVolume(existing: VolumeRecord, request: CreateVolumeRequest, fs: Filesystem, parameters: Parameters, access: Access) {
    if (!ownedBy(driver, existing.labels)) throw alreadyExists(`a cbs volume named ${existing.name} exists on this node, not made by ${driver.name}`)
    if (existing.pending) throw pendingConflict(existing.name, existing.pending)
    const volume = describe(existing, request.volume_content_source)
    const fits =
      fitsRange(volume.capacity_bytes, request.capacity_range) &&
      (request.volume_content_source ? true : existing.fs === fs) &&
      (parameters.type === 'overlay') === (existing.type === 'overlay') &&
      !(access.block && existing.type !== 'loop')
    if (!fits) throw alreadyExists(`volume ${existing.name} exists already with another size, filesystem or type`)
    return volume
  }

  function parseSource(source: ContentSource | undefined): {snapshot?: string; volume?: string} | undefined {
    if (!source) return undefined
    if (source.snapshot) {
      const id = required(source.snapshot.snapshot_id, 'volume_content_source.snapshot.snapshot_id')
      if (!allSnapshots().some((snapshot) => formatSnapshotRef({volume: snapshot.volume, snapshot: snapshot.name}) === id)) throw notFoundError(`snapshot ${id} does not exist`)
      return {snapshot: id}
    }
    if (source.volume) {
      const id = required(source.volume.volume_id, 'volume_content_source.volume.volume_id')
      if (!ownedVolume(driver, id)) throw notFoundError(`volume ${id} does not exist`)
      return {volume: id}
    }
    throw invalidArgument('volume_content_source names neither a snapshot nor a volume')
  }

  function sourceFilesystem(source: {snapshot?: string; volume?: string}): Filesystem {
    const volume = source.volume ?? parseSnapshotRef(source.snapshot!).volume
    return ctx.store.read().volumes[volume].fs
  }

  function sourceSize(source: {snapshot?: string; volume?: string}): number {
    if (source.volume) return ctx.host.fileInfo(ctx.layout.image(source.volume))?.sizeBytes ?? 0
    return findSnapshot(ctx, parseSnapshotRef(source.snapshot!)).record.sizeBytes
  }
}

const PREFIX_OF_THE_CO = 'csi.storage.k8s.io/'

function parseParameters(parameters: Record<string, string> = {}): Parameters {
  const result: Parameters = {type: 'loop'}
  for (const [key, value] of Object.entries(parameters)) {
    if (key.startsWith(PREFIX_OF_THE_CO)) continue // the provisioner's own (pvc name, fstype, ...)
    if (key === 'fs') result.fs = parseFsType(value)
    else if (key === 'type') {
      if (value !== 'loop' && value !== 'overlay') throw invalidArgument(`parameter type=${value}: use loop or overlay`)
      result.type = value
    } else throw invalidArgument(`unknown parameter "${key}": cbs takes fs and type`)
  }
  return result
}

