import {readFileSync, rmSync} from 'node:fs'
import {isAbsolute, join} from 'node:path'
import {chooseRuntime, connect, type RuntimeClient} from './container-runtime.js'
import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {conflict, invalid, isKind, noSuchVolume} from '../common/errors.js'
import {HostView} from '../system/host-view.js'
import {CommandFailed} from '../system/exec.js'
import {pendingConflict} from '../store/intent.js'
import {ensureDirectory} from '../images/loop-volume.js'
import {validateName} from '../input/names.js'
import {bindMount, hasBindVolumes, MANAGED_LABEL, parseRuntime, ROOT_LABEL, runArgs, shortId, usesVolume, VOLUME_LABEL} from './runtimes.js'
import type {AttachmentRecord, RuntimeName, VolumeRecord} from '../store/state.js'
import {bringUp} from '../volumes/lifecycle.js'

/**
 * Handing a volume to container runtimes: docker and podman get a named `local` volume bound to
 * the mountpoint; nerdctl (no driver options, nerdctl#694) gets the bind mount flag to pass; and
 * `--target` runs a container with that bind mount on any of the three.
 */

export interface AttachRequest {
  name: string
  runtime?: string
  /** With runArgs: start a container with the volume at this path. */
  target?: string
  runArgs?: string[]
  /** The container's output goes straight to the terminal (not under --json). */
  interactive?: boolean
}

export interface AttachResult {
  volume: string
  runtime: RuntimeName
  /** The runtime's volume name to use with `-v NAME:/path`; null for nerdctl and --target. */
  name: string | null
  /** The `--mount` value that binds the volume (append `,target=PATH`). */
  mount: string
  /** The container `--target` started (or created, when it failed to run). */
  container: string | null
  /**
   * --target only: the exit status of `RUNTIME run`, which is the container's own when it ran in
   * the foreground and failed (cbs exits with it, as `docker run` does); 0 when it succeeded.
   */
  exitStatus?: number
  /** What the runtime said on stderr when it failed (not under a terminal, where it said it itself). */
  runtimeError?: string
}

export async function attachVolume(ctx: Context, request: AttachRequest): Promise<AttachResult> {
  const record = findRecord(ctx, request.name)
  checkRunRequest(request)
  const runtime = await chooseRuntime(ctx, request.runtime)
  const mountpoint = ctx.layout.mountpoint(record.name)
  const mount = bindMount(mountpoint)
  // Never hand out the mountpoint of an unmounted volume: the container would see the empty folder.
  await bringUp(ctx, record, HostView.read(ctx.host))

  if (request.target !== undefined) {
    const {container, exitStatus, runtimeError} = await runContainer(ctx, runtime, record, request)
    return {volume: record.name, runtime: runtime.name, name: null, mount, container, exitStatus, ...(runtimeError ? {runtimeError} : {})}
  }
  const name = hasBindVolumes(runtime.name) ? record.name : null
  if (name !== null && name.length < 2) {
    throw invalid(`${runtime.name} needs volume names of at least two characters, not "${name}"`, 'use --target, or a volume with a longer name')
  }
  if (name) await runtime.registerVolume(name, mountpoint, labelsFor(ctx, record))
  await recordAttachment(
    ctx,
    record.name,
    runtime.name,
    (attachment) => {
      attachment.name = name
    },
    {keepEmpty: name === null},
  )
  return {volume: record.name, runtime: runtime.name, name, mount, container: null}
}

export interface DetachResult {
  volume: string
  detached: RuntimeName[]
}

/** Removes what attach registered (all runtimes, or the one asked); refused while containers use the volume. */
export async function detachVolume(ctx: Context, request: {name: string; runtime?: string}): Promise<DetachResult> {
  const record = findRecord(ctx, request.name)
  const only = request.runtime === undefined ? undefined : parseRuntime(request.runtime)
  const attachments = (record.attachments ?? []).filter((attachment) => only === undefined || attachment.runtime === only)
  await refuseWhileUsed(ctx, record, attachments)
  for (const attachment of attachments) {
    if (attachment.name) await (await connect(ctx, attachment.runtime)).unregisterVolume(attachment.name)
    await ctx.store.update((state) => {
      const current = state.volumes[record.name]
      if (current) current.attachments = current.attachments?.filter((each) => each.runtime !== attachment.runtime)
    })
  }
  return {volume: record.name, detached: attachments.map((attachment) => attachment.runtime)}
}

/**
 * Refuses (exit 4, naming them) while any container that exists, running or stopped, uses the
 * volume in a runtime it is attached to, or a running one holds it through `attach --container`.
 * With `running`, only running containers count. What is recorded of containers gone (or, for
 * live mounts, stopped) is forgotten.
 */
export async function refuseWhileUsed(ctx: Context, record: VolumeRecord, attachments = record.attachments ?? [], running = false): Promise<void> {
  const mountpoint = ctx.layout.mountpoint(record.name)
  const users: string[] = []
  const remedies: string[] = []
  let onlyLive = true
  for (const attachment of attachments) {
    const runtime = await connect(ctx, attachment.runtime)
    const liveIds = new Set((attachment.live ?? []).map((live) => live.container))
    const containers = await runtime.containersUsing(mountpoint, attachment.name, liveIds)
    const exists = new Set(containers.map((container) => container.id))
    const isRunning = new Set(containers.filter((container) => container.status === 'running').map((container) => container.id))
    if (attachment.containers.some((id) => !exists.has(id)) || [...liveIds].some((id) => !isRunning.has(id))) {
      await recordAttachment(ctx, record.name, attachment.runtime, (current) => {
        current.containers = current.containers.filter((id) => exists.has(id))
        current.live = current.live?.filter((live) => isRunning.has(live.container))
      })
    }
    const mounted = containers.filter((container) => usesVolume(container, mountpoint, attachment.name) && (!running || isRunning.has(container.id)))
    const live = containers.filter((container) => liveIds.has(container.id) && isRunning.has(container.id))
    const blocking = [...new Set([...mounted, ...live])]
    if (blocking.length === 0) continue
    users.push(...blocking.map((container) => `${container.name} (${attachment.runtime} ${shortId(container.id)}, ${container.status})`))
    if (mounted.length > 0) {
      onlyLive = false
      const names = mounted.map((container) => container.name).join(' ')
      // `rm` refuses a running container (docker and podman alike): -f, or stop it first.
      const anyRunning = mounted.some((container) => isRunning.has(container.id))
      remedies.push(running ? `${attachment.runtime} stop ${names}` : `${attachment.runtime} rm ${anyRunning ? '-f ' : ''}${names}`)
    }
    for (const container of live) remedies.push(`cbs volume detach ${record.name} --container ${container.name}`)
  }
  if (users.length > 0) {
    const what = users.length === 1 ? 'container' : 'containers'
    const verb = onlyLive ? 'detach' : running ? 'stop' : 'remove'
    throw conflict(`volume "${record.name}" is used by ${what} ${users.join(', ')}`, `${verb} ${users.length === 1 ? 'it' : 'them'} first (${remedies.join('; ')})`)
  }
}

/** Removes every runtime registration of a volume being removed (its containers were checked before). */
export async function unregisterAll(ctx: Context, record: VolumeRecord): Promise<void> {
  for (const attachment of record.attachments ?? []) {
    if (attachment.name) await (await connect(ctx, attachment.runtime)).unregisterVolume(attachment.name)
  }
}

/**
 * A volume that would not come down (busy) and is attached: say which running containers hold it,
 * if the runtimes can tell; otherwise the original error stands.
 */
export async function explainBusy(ctx: Context, record: VolumeRecord, error: unknown): Promise<never> {
  if (isKind(error, 'conflict') && (record.attachments ?? []).length > 0) {
    try {
      await refuseWhileUsed(ctx, record, record.attachments, true)
    } catch (explained) {
      if (isKind(explained, 'conflict')) throw explained
    }
  }
  throw error
}

export function findRecord(ctx: Context, name: string): VolumeRecord {
  validateName(name)
  requireRoot(ctx.host)
  const record = ctx.store.read().volumes[name]
  if (!record) throw noSuchVolume(name)
  if (record.pending) throw pendingConflict(name, record.pending)
  return record
}

function checkRunRequest(request: AttachRequest): void {
  const hasArgs = (request.runArgs ?? []).length > 0
  if (request.target === undefined) {
    if (hasArgs) throw invalid('arguments after "--" need --target PATH', 'e.g. cbs volume attach db --target /data -- -d IMAGE')
    return
  }
  if (!isAbsolute(request.target)) throw invalid(`--target must be an absolute path inside the container, not "${request.target}"`)
  if (!hasArgs) throw invalid('--target needs the arguments of the run command after "--"', 'e.g. cbs volume attach db --target /data -- -d IMAGE')
}

const labelsFor = (ctx: Context, record: VolumeRecord) => ({[MANAGED_LABEL]: 'true', [VOLUME_LABEL]: record.name, [ROOT_LABEL]: ctx.layout.root})

/**
 * `R run --mount type=bind,...` with the user's arguments; records the container even when it
 * failed. A container that exists and failed is a result, not an error: its id and exit status.
 */
async function runContainer(
  ctx: Context,
  runtime: RuntimeClient,
  record: VolumeRecord,
  request: AttachRequest,
): Promise<{container: string | null; exitStatus: number; runtimeError?: string}> {
  const runDir = join(ctx.layout.root, 'run')
  const cidfile = join(runDir, `${record.name}.${process.pid}.cid`)
  await ensureDirectory(ctx, runDir)
  rmSync(cidfile, {force: true})
  const args = runArgs(ctx.layout.mountpoint(record.name), request.target!, cidfile, labelsFor(ctx, record), request.runArgs!)
  let failure: unknown
  try {
    await runtime.run(args, {mutates: true, interactive: request.interactive})
  } catch (error) {
    failure = error
  }
  const container = takeCidfile(cidfile)
  if (container) {
    await recordAttachment(ctx, record.name, runtime.name, (attachment) => {
      if (!attachment.containers.includes(container)) attachment.containers.push(container)
    })
  }
  if (failure instanceof CommandFailed && container && failure.exitCode !== undefined) {
    return {container, exitStatus: failure.exitCode, runtimeError: failure.stderr.trim() || undefined}
  }
  if (failure) throw failure
  return {container, exitStatus: 0}
}

/** The id the runtime wrote, and the file gone (cbs's own scratch file, like the lock: not a change to the host). */
function takeCidfile(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim() || null
  } catch {
    return null
  } finally {
    rmSync(file, {force: true})
  }
}

/**
 * Changes the volume's record of one runtime. A record left with nothing (no named volume, no
 * container, no live mount) goes: it would say "attached" of what no runtime has. Only a plain
 * nerdctl attach, which hands out the bind mount and leaves nothing in nerdctl, keeps one (`keepEmpty`).
 */
export async function recordAttachment(
  ctx: Context,
  volume: string,
  runtime: RuntimeName,
  change: (attachment: AttachmentRecord) => void,
  options: {keepEmpty?: boolean} = {},
): Promise<void> {
  await ctx.store.update((state) => {
    const record = state.volumes[volume]
    if (!record) return
    record.attachments ??= []
    let attachment = record.attachments.find((each) => each.runtime === runtime)
    if (!attachment) {
      attachment = {runtime, name: null, containers: []}
      record.attachments.push(attachment)
    }
    change(attachment)
    if (attachment.live?.length === 0) delete attachment.live
    const empty = attachment.name === null && attachment.containers.length === 0 && !attachment.live
    if (empty && !options.keepEmpty) record.attachments = record.attachments.filter((each) => each !== attachment)
  })
}
