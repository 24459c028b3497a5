import {chooseRuntime, connect} from './container-runtime.js'
import type {Context} from '../system/context.js'
import {conflict, environment, invalid, notFound} from '../common/errors.js'
import {CommandFailed, lastLine} from '../system/exec.js'
import {validateContainerTarget} from '../input/container-paths.js'
import type {MountEntry} from '../system/mountinfo.js'
import {type ContainerProcess, MOUNT_INTO, type MountedInto, mismatch, mountIntoArgs, parseMountedInto, unmountFromArgs, volumeMountAt} from './mount-into.js'
import {HostView} from '../system/host-view.js'
import {bindMount, parseRuntime} from './runtimes.js'
import {type AttachResult, type DetachResult, findRecord, recordAttachment} from './attach.js'
import {bringUp, isUp} from '../volumes/lifecycle.js'
import {isUnion} from '../union/union-volume.js'
import type {LiveMount, VolumeRecord} from '../store/state.js'

/**
 * Attaching a volume to a container that already runs, which no runtime can do. cbs-mount-into
 * (mount-into.ts) clones the host's mount of the volume and attaches the clone in the
 * container's mount namespace: no device node is made, so the container cannot choose what is
 * mounted, and the target is opened once, inside the container's root, then mounted on. cbs then
 * reads the container's mountinfo and undoes the mount at once unless it is the volume.
 */

export async function attachToContainer(ctx: Context, request: {name: string; runtime?: string; container: string; target: string}): Promise<AttachResult> {
  const record = findRecord(ctx, request.name)
  const target = validateContainerTarget(request.target)
  // A union volume could be cloned too, but `volume unmount` would then mount a second overlay on
  // the upper layer the container's one still writes to.
  if (isUnion(record)) throw invalid(`--container works with loop volumes only; "${record.name}" is a ${record.type} volume`, 'use --target with -- RUN_ARGS to start a container with it')
  const runtime = await chooseRuntime(ctx, request.runtime)
  const container = await runtime.container(request.container)
  if (!container) throw notFound(`no such ${runtime.name} container: ${request.container}`)
  // Its process's start time goes to the helper with its pid: a pid reused meanwhile is refused.
  const startTime = container.running && container.pid > 0 ? ctx.host.processStartTime(container.pid) : undefined
  if (startTime === undefined) throw conflict(`${runtime.name} container ${container.name} is not running`, `start it, or use --target with -- RUN_ARGS to start a new one`)
  const containerProcess = {pid: container.pid, startTime}
  const already = record.attachments?.find((attachment) => attachment.runtime === runtime.name)?.live?.find((live) => live.container === container.id)
  if (already) throw conflict(`volume "${record.name}" is already mounted in container ${container.name} at ${already.target}`)

  await bringUp(ctx, record, HostView.read(ctx.host))
  const source = ctx.layout.mountpoint(record.name)
  const volume = ctx.exec.dryRun ? undefined : volumeMount(ctx, record)
  const {stdout} = await ctx.exec.run(MOUNT_INTO, mountIntoArgs(containerProcess, source, target), {mutates: true, dryRunStdout: `0 ${target}`}).catch((error: unknown) => {
    // The helper's refusals (a target in /proc, a folder it cannot make) are one line of its own.
    if (!(error instanceof CommandFailed) || error.notInstalled) throw error
    throw environment(`could not mount volume "${record.name}" at ${target} in container ${container.name} (${lastLine(error.stderr).replace(/^cbs-mount-into: /, '')})`, 'check the target inside the container')
  })
  const mounted = parseMountedInto(stdout)
  if (!mounted) throw new CommandFailed(MOUNT_INTO, mountIntoArgs(containerProcess, source, target), 0, `unexpected answer "${stdout}"`)
  if (volume) await verify(ctx, {record: record.name, containerProcess, containerName: container.name, mounted, volume})
  await recordAttachment(ctx, record.name, runtime.name, (attachment) => {
    attachment.live = [...(attachment.live ?? []), {container: container.id, name: container.name, target: mounted.path}]
  })
  return {volume: record.name, runtime: runtime.name, name: null, mount: bindMount(source), container: container.id}
}

/** The host's mount of the volume (its image's filesystem on its mountpoint), which the container's must match. */
function volumeMount(ctx: Context, record: VolumeRecord): MountEntry {
  const view = HostView.read(ctx.host)
  const mount = view.mountAt(ctx.layout.mountpoint(record.name))
  if (!mount || !isUp(ctx, record, view)) {
    throw environment(`volume "${record.name}" is not mounted as cbs mounts it at ${ctx.layout.mountpoint(record.name)}`, 'run `cbs doctor`, then `cbs volume mount` and try again')
  }
  return mount
}

/** Undoes the mount at once unless the container's mountinfo shows the volume where it was put. */
async function verify(ctx: Context, what: {record: string; containerProcess: ContainerProcess; containerName: string; mounted: MountedInto; volume: MountEntry}): Promise<void> {
  const {containerProcess, mounted} = what
  const wrong = mismatch(ctx.host.mountinfo(containerProcess.pid), mounted, what.volume)
  if (wrong === undefined) return
  const undone = await ctx.exec.run(MOUNT_INTO, unmountFromArgs(containerProcess, mounted.path, mounted.id), {mutates: true}).then(
    () => 'unmounted it again',
    (error: unknown) => `could not unmount it (${error instanceof Error ? error.message : String(error)})`,
  )
  throw environment(`what was mounted in container ${what.containerName} is not volume "${what.record}" (${wrong}); cbs ${undone}`, 'check the container, then try again')
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
  const startTime = container?.running ? ctx.host.processStartTime(container.pid) : undefined
  // A container that stopped took its mounts with it.
  if (container && startTime !== undefined) await unmountFromContainer(ctx, record, live, {pid: container.pid, startTime})
  await recordAttachment(ctx, record.name, name, (current) => {
    current.live = current.live?.filter((each) => each.container !== live.container)
  })
  return {volume: record.name, detached: [name]}
}

/** Unmounts the volume's mount at the recorded target, if it is still there; nothing else. */
async function unmountFromContainer(ctx: Context, record: VolumeRecord, live: LiveMount, containerProcess: ContainerProcess): Promise<void> {
  // The volume's filesystem is its loop device's (a mount in the container keeps it attached).
  const loop = HostView.read(ctx.host).deviceOf(ctx.layout.image(record.name))
  const mount = loop && volumeMountAt(ctx.host.mountinfo(containerProcess.pid), live.target, {device: ctx.host.deviceNumber(loop), root: '/'})
  if (!mount) return // unmounted in there already
  try {
    await ctx.exec.run(MOUNT_INTO, unmountFromArgs(containerProcess, live.target, mount.id), {mutates: true})
  } catch (error) {
    if (error instanceof CommandFailed && /busy/i.test(error.stderr)) {
      throw conflict(`volume "${record.name}" is busy in container ${live.name}: files on ${live.target} are in use`, 'stop the processes using it and try again')
    }
    if (error instanceof CommandFailed && /not mounted/i.test(error.stderr)) {
      throw conflict(`volume "${record.name}" in container ${live.name} is under another mount at ${live.target}`, 'unmount that one in the container first')
    }
    throw error
  }
}
