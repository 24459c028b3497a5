import {conflict, invalid, noSuchVolume} from '../../lib/common/errors.js'
import {pendingConflict} from '../../lib/store/intent.js'
import {validateName} from '../../lib/input/names.js'
import type {Context} from '../../lib/system/context.js'
import {HostView} from '../../lib/system/host-view.js'
import {createVolume} from '../../lib/volumes/create.js'
import {isUp} from '../../lib/volumes/lifecycle.js'
import {inspectVolumes, listVolumes} from '../../lib/volumes/list.js'
import {mountVolumes} from '../../lib/volumes/mount.js'
import {removeVolumes} from '../../lib/volumes/remove.js'
import type {Volume} from '../../lib/volumes/volume.js'
import {parseDriverOptions} from './driver-options.js'
import type {RequestBody, Routes} from './http-server.js'

/** dockerd calls the plugin: the plugin must not call docker back (and shows no attachments). */
const RECORDED = {askRuntimes: false}

/** A docker user has no -r to pass: the cbs commands that remove the snapshots, or the volume with them. */
const snapshotsHint = (name: string) => `remove them first with \`cbs volume snapshot rm\`, or the volume with them with \`cbs volume rm -r ${name}\``

/**
 * Docker's VolumeDriver protocol mapped onto cbs's own volume functions, the ones the CLI calls:
 * same store, lock, intents and recovery. Each request gets a fresh context; the requests that
 * change a volume (Create, Remove, Mount, Unmount) run one after another for that volume, side by
 * side for different volumes (the store's lock keeps them apart, as it keeps concurrent CLI calls
 * apart); Path, Get and List only read.
 *
 * The last Unmount leaves the volume mounted: see "Docker and podman" in README.
 */
export class VolumeDriver {
  /** Per volume, the ids of the callers (containers) that mounted it and did not unmount it yet. */
  private readonly users = new Map<string, Set<string>>()
  private readonly queues = new Map<string, Promise<unknown>>()

  constructor(private readonly newContext: () => Context) {}

  get routes(): Routes {
    return {
      '/Plugin.Activate': async () => ({Implements: ['VolumeDriver']}),
      '/VolumeDriver.Capabilities': async () => ({Capabilities: {Scope: 'local'}}),
      '/VolumeDriver.Create': async (body) => this.serially(nameOf(body), (name) => this.create(name, body.Opts)),
      '/VolumeDriver.Remove': async (body) => this.serially(nameOf(body), (name) => this.remove(name)),
      '/VolumeDriver.Mount': async (body) => this.serially(nameOf(body), (name) => this.mount(name, callerOf(body))),
      '/VolumeDriver.Unmount': async (body) => this.serially(nameOf(body), async (name) => this.unmount(name, callerOf(body))),
      '/VolumeDriver.Path': async (body) => ({Mountpoint: (await this.inspect(nameOf(body))).mountpoint}),
      '/VolumeDriver.Get': async (body) => ({Volume: this.describe(await this.inspect(nameOf(body)))}),
      '/VolumeDriver.List': async () => ({Volumes: (await listVolumes(this.newContext(), [], RECORDED)).map((volume) => this.describe(volume))}),
    }
  }

  private async create(name: string, opts: unknown): Promise<object> {
    await createVolume(this.newContext(), parseDriverOptions(name, opts))
    return {}
  }

  private async remove(name: string): Promise<object> {
    const users = this.users.get(name)?.size ?? 0
    if (users > 0) throw conflict(`volume "${name}" is mounted by ${users} container(s)`, 'stop them first')
    await removeVolumes(this.newContext(), [name], {snapshotsHint})
    this.users.delete(name)
    return {}
  }

  /** Brings the volume up if it is down (as `cbs volume mount NAME`: meant to be mounted from then on). */
  private async mount(name: string, caller: string): Promise<object> {
    const ctx = this.newContext()
    const record = ctx.store.read().volumes[name]
    if (!record) throw noSuchVolume(name)
    if (record.pending) throw pendingConflict(name, record.pending)
    if (!isUp(ctx, record, HostView.read(ctx.host))) await mountVolumes(ctx, {names: [name]})
    this.users.set(name, (this.users.get(name) ?? new Set()).add(caller))
    return {Mountpoint: ctx.layout.mountpoint(name)}
  }

  /** Counts the caller out; the volume stays mounted, even when it was the last. */
  private unmount(name: string, caller: string): object {
    if (!this.newContext().store.read().volumes[name]) throw noSuchVolume(name)
    const users = this.users.get(name)
    users?.delete(caller)
    if (users?.size === 0) this.users.delete(name)
    return {}
  }

  private async inspect(name: string): Promise<Volume> {
    return (await inspectVolumes(this.newContext(), [name], RECORDED))[0]
  }

  private describe(volume: Volume): object {
    const {name, mountpoint, createdAt, status, type, fs, sizeBytes, usedBytes, device, labels} = volume
    const containers = this.users.get(name)?.size ?? 0
    return {Name: name, Mountpoint: mountpoint, CreatedAt: createdAt, Status: {status, type, fs, sizeBytes, usedBytes, device, labels, containers}}
  }

  /** Runs `work` after the requests about the same volume that came before it. */
  private async serially<T>(name: string, work: (name: string) => Promise<T>): Promise<T> {
    const before = this.queues.get(name) ?? Promise.resolve()
    const mine = before.catch(() => {}).then(() => work(name))
    this.queues.set(name, mine)
    try {
      return await mine
    } finally {
      if (this.queues.get(name) === mine) this.queues.delete(name)
    }
  }
}

function nameOf(body: RequestBody): string {
  if (typeof body.Name !== 'string') throw invalid('the request has no volume Name')
  return validateName(body.Name)
}

/** Docker and podman send the container's id (hex); anything printable and short will do. */
function callerOf(body: RequestBody): string {
  const id = body.ID
  if (typeof id !== 'string' || !/^[\w.:-]{1,128}$/.test(id)) throw invalid('the request has no valid caller ID')
  return id
}
