import {resizeVolume} from '../../lib/volumes/resize.js'
import {publishVolume, unpublishVolume} from '../../lib/volumes/publish.js'
import {volumeStats} from '../../lib/volumes/stats.js'
import {HostView} from '../../lib/system/host-view.js'
import {validateHostPath} from '../../lib/input/host-paths.js'
import {type Driver, nodeTopology, ownedVolume} from './driver.js'
import {invalidArgument, notFoundError} from './errors.js'
import {type Capability, type CapacityRange, parseCapabilities, required, roundUpToMiB} from './requests.js'

/**
 * The Node service. No STAGE_UNSTAGE_VOLUME: a cbs volume's filesystem is mounted once on the
 * node already, under $CBS_ROOT/mounts, by CreateVolume (the controller runs on the same node);
 * a staging mount would be a second global mount of it with nothing to add, so publishing is a
 * bind mount of that mountpoint (or of the loop device, for a block volume).
 */
export function nodeService(driver: Driver) {
  const {ctx} = driver
  const volume = (id: string) => {
    const record = ownedVolume(driver, id)
    if (!record) throw notFoundError(`volume ${id} does not exist`)
    return record
  }
  return {
    async NodePublishVolume(request: {volume_id?: string; target_path?: string; volume_capability?: Capability; readonly?: boolean; staging_target_path?: string}) {
      const id = required(request.volume_id, 'volume_id')
      const target = validateHostPath(required(request.target_path, 'target_path'), 'target_path')
      if (!request.volume_capability) throw invalidArgument('volume_capability is required')
      const access = parseCapabilities([request.volume_capability], 'volume_capability')
      const record = volume(id)
      if (access.fs && access.fs !== record.fs) throw invalidArgument(`volume ${id} is ${record.fs}, not ${access.fs}`)
      const readOnly = Boolean(request.readonly) || access.readOnly || access.mountFlags.includes('ro')
      await driver.inFlight.run([id], () => publishVolume(ctx, {name: id, target, readOnly, block: access.block, options: access.mountFlags}))
      return {}
    },

    async NodeUnpublishVolume(request: {volume_id?: string; target_path?: string}) {
      const id = required(request.volume_id, 'volume_id')
      const target = validateHostPath(required(request.target_path, 'target_path'), 'target_path')
      if (!ownedVolume(driver, id) && HostView.read(ctx.host).mountAt(target)) throw notFoundError(`volume ${id} does not exist`)
      await driver.inFlight.run([id], () => unpublishVolume(ctx, target))
      return {}
    },

    async NodeGetVolumeStats(request: {volume_id?: string; volume_path?: string}) {
      const id = required(request.volume_id, 'volume_id')
      const path = validateHostPath(required(request.volume_path, 'volume_path'), 'volume_path')
      volume(id)
      const stats = volumeStats(ctx, id, path)
      const usage = [{unit: 'BYTES', ...stats.bytes}, ...(stats.inodes ? [{unit: 'INODES', ...stats.inodes}] : [])]
      return {usage, volume_condition: {abnormal: stats.abnormal !== undefined, message: stats.abnormal ?? 'volume is healthy'}}
    },

    /** The controller grows the filesystem too (same node): this only catches up a smaller volume. */
    async NodeExpandVolume(request: {volume_id?: string; volume_path?: string; capacity_range?: CapacityRange}) {
      const id = required(request.volume_id, 'volume_id')
      validateHostPath(required(request.volume_path, 'volume_path'), 'volume_path')
      volume(id)
      const size = ctx.host.fileInfo(ctx.layout.image(id))?.sizeBytes ?? 0
      const wanted = roundUpToMiB(request.capacity_range?.required_bytes ?? 0)
      if (wanted <= size) return {capacity_bytes: size}
      const grown = await driver.inFlight.run([id], () => resizeVolume(ctx, id, wanted))
      return {capacity_bytes: grown.sizeBytes}
    },

    async NodeGetCapabilities() {
      return {capabilities: ['GET_VOLUME_STATS', 'VOLUME_CONDITION', 'EXPAND_VOLUME'].map((type) => ({rpc: {type}}))}
    },

    async NodeGetInfo() {
      // 0: no limit of cbs's own. Loop devices are made on demand (loop-control), max_loop
      // only sets how many exist at boot; the space under $CBS_ROOT is what runs out (GetCapacity).
      return {node_id: driver.nodeId, max_volumes_per_node: 0, accessible_topology: nodeTopology(driver)}
    },
  }
}
