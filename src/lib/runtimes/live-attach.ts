import {rmSync} from 'node:fs'
import {isAbsolute} from 'node:path'
import {chooseRuntime, connect} from './container-runtime.js'
import type {Context} from '../system/context.js'
import {conflict, invalid, notFound} from '../common/errors.js'
import {CommandFailed} from '../system/exec.js'
import {mountArgs} from '../images/filesystems.js'
import {HostView} from '../system/host-view.js'
import {bindMount, parseRuntime} from './runtimes.js'
import {type AttachResult, type DetachResult, findRecord, recordAttachment} from './attach.js'
import {bringUp} from '../volumes/lifecycle.js'

/**
 * Attaching a volume to a container that already runs, which no runtime can do: a device node
 * for the loop device is made in the container's /dev through /proc/PID/root, and util-linux
 * `mount --namespace PID` runs mount(2) in the container's mount namespace (so the target path,
 * symlinks included, resolves inside the container; --mkdir makes it there). The node is removed
 * once mounted: the mount keeps the device, and the container keeps no way to open it.
 */

const liveMountArgs = (pid: number, node: string, target: string) => ['--namespace', String(pid), '--mkdir', ...mountArgs(node, target)]
const liveUnmountArgs = (pid: number, target: string) => ['--namespace', String(pid), target]

export async function attachToContainer(ctx: Context, request: {name: string; runtime?: string; container: string; target: string}): Promise<AttachResult> {
  const record = findRecord(ctx, request.name)
  if (!isAbsolute(request.target)) throw invalid(`--target must be an absolute path inside the container, not "${request.target}"`)
  // A union volume is a mount of several folders, not one device that could be mounted again.
  if (record.type !== 'loop') throw invalid(`--container works with loop volumes only; "${record.name}" is a ${record.type} volume`, 'use --target with -- RUN_ARGS to start a container with it')
  const runtime = await chooseRuntime(ctx, request.runtime)
  const container = await runtime.container(request.container)
  if (!container) throw notFound(`no such ${runtime.name} container: ${request.container}`)
  if (!container.running || container.pid <= 0) throw conflict(`${runtime.name} container ${container.name} is not running`, `start it, or use --target with -- RUN_ARGS to start a new one`)
  const already = record.attachments?.find((attachment) => attachment.runtime === runtime.name)?.live?.find((live) => live.container === container.id)
  if (already) throw conflict(`volume "${record.name}" is already mounted in container ${container.name} at ${already.target}`)

  await bringUp(ctx, record, HostView.read(ctx.host))
  const device = HostView.read(ctx.host).deviceOf(ctx.layout.image(record.name))
  // No device only under --dry-run, where bringUp attached nothing.
  const [major, minor] = device ? ctx.host.deviceNumber(device).split(':') : ['MAJOR', 'MINOR']
  const node = `/dev/.cbs-${record.name}-${process.pid}`
  const nodeOnHost = `/proc/${container.pid}/root${node}`
  await ctx.exec.run('mknod', ['--mode', '0600', nodeOnHost, 'b', major, minor], {mutates: true})
  try {
    await ctx.exec.run('mount', liveMountArgs(container.pid, node, request.target), {mutates: true})
  } finally {
    const removeNode = () => rmSync(nodeOnHost, {force: true})
    // Even when interrupted (change delivers a pending signal first): no node may stay in the container.
    await ctx.exec.change(['rm', '-f', nodeOnHost], removeNode).catch((error: unknown) => {
      removeNode()
      throw error
    })
  }
  await recordAttachment(ctx, record.name, runtime.name, (attachment) => {
    attachment.live = [...(attachment.live ?? []), {container: container.id, name: container.name, target: request.target}]
  })
  return {volume: record.name, runtime: runtime.name, name: null, mount: bindMount(ctx.layout.mountpoint(record.name)), container: container.id}
}

/** Unmounts what `attach --container` mounted (nothing to do when the container stopped: its mounts went with it). */
export async function detachFromContainer(ctx: Context, request: {name: string; runtime?: string; container: string}): Promise<DetachResult> {
  const record = findRecord(ctx, request.name)
  const only = request.runtime === undefined ? undefined : parseRuntime(request.runtime)
  const matches = (record.attachments ?? [])
    .filter((attachment) => only === undefined || attachment.runtime === only)
    .flatMap((attachment) => (attachment.live ?? []).map((live) => ({runtime: attachment.runtime, live})))
    .filter(({live}) => live.name === request.container || live.container.startsWith(request.container))
  if (matches.length === 0) throw notFound(`volume "${record.name}" is not mounted in a container "${request.container}"`, 'see `cbs volume inspect`')
  if (matches.length > 1) throw invalid(`"${request.container}" names more than one container the volume is mounted in`, 'give --runtime or a longer id')
  const [{runtime: name, live}] = matches
  const container = await (await connect(ctx, name)).container(live.container)
  if (container?.running) {
    try {
      await ctx.exec.run('umount', liveUnmountArgs(container.pid, live.target), {mutates: true})
    } catch (error) {
      if (error instanceof CommandFailed && /busy/i.test(error.stderr)) {
        throw conflict(`volume "${record.name}" is busy in container ${live.name}: files on ${live.target} are in use`, 'stop the processes using it and try again')
      }
      if (!(error instanceof CommandFailed && /not mounted/i.test(error.stderr))) throw error
    }
  }
  await recordAttachment(ctx, record.name, name, (current) => {
    current.live = current.live?.filter((each) => each.container !== live.container)
  })
  return {volume: record.name, detached: [name]}
}
