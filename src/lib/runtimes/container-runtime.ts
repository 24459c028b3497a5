import type {Context} from '../system/context.js'
import {conflict, environment} from '../common/errors.js'
import {CommandFailed, type RunOptions} from '../system/exec.js'
import {oneLine} from '../system/failure.js'
import {
  bindsMountpoint,
  type Container,
  containerIdsArgs,
  containerInspectArgs,
  type ContainerState,
  containerStateArgs,
  parseContainerState,
  parseContainers,
  parseRuntime,
  parseVolumeInspect,
  probeArgs,
  RUNTIMES,
  type RuntimeVolume,
  usesVolume,
  volumeCreateArgs,
  volumeInspectArgs,
  volumeRmArgs,
} from './runtimes.js'
import type {RuntimeName} from '../store/state.js'

const PROBE_TIMEOUT_MS = 15_000

/** A runtime whose daemon answered; every call goes through the context's executor. */
export class RuntimeClient {
  constructor(
    private readonly ctx: Context,
    readonly name: RuntimeName,
  ) {}

  run(args: string[], options?: RunOptions) {
    return this.ctx.exec.run(this.name, args, options)
  }

  async findVolume(name: string): Promise<RuntimeVolume | undefined> {
    try {
      return parseVolumeInspect((await this.run(volumeInspectArgs(name))).stdout)
    } catch (error) {
      if (error instanceof CommandFailed && /no such volume|not found/i.test(error.stderr)) return undefined
      throw error
    }
  }

  /** Registers the named volume, or adopts one that already binds this very mountpoint. */
  async registerVolume(name: string, mountpoint: string, labels: Record<string, string>): Promise<void> {
    const existing = await this.findVolume(name)
    if (existing && bindsMountpoint(existing, mountpoint)) return
    if (existing) {
      throw conflict(`${this.name} already has a volume "${name}" that does not belong to this cbs volume`, `remove or rename it first (${this.name} volume rm ${name})`)
    }
    await this.run(volumeCreateArgs(name, mountpoint, labels), {mutates: true})
  }

  /** Removes the registration only; the data stays in the cbs volume. A registration already gone is fine. */
  async unregisterVolume(name: string): Promise<void> {
    try {
      await this.run(volumeRmArgs(name), {mutates: true})
    } catch (error) {
      if (!(error instanceof CommandFailed && /no such volume|not found/i.test(error.stderr))) throw error
    }
  }

  /** A container by name or id; undefined when there is none. */
  async container(nameOrId: string): Promise<ContainerState | undefined> {
    try {
      return parseContainerState((await this.run(containerStateArgs(nameOrId))).stdout)
    } catch (error) {
      if (error instanceof CommandFailed && /no such/i.test(error.stderr)) return undefined
      throw error
    }
  }

  /** Every container that exists (running or not) and uses the volume, or is one of `also`. */
  async containersUsing(mountpoint: string, registered: string | null, also: ReadonlySet<string> = new Set()): Promise<Container[]> {
    for (let attempt = 0; ; attempt++) {
      const ids = (await this.run(containerIdsArgs())).stdout.split('\n').filter(Boolean)
      if (ids.length === 0) return []
      try {
        return parseContainers((await this.run(containerInspectArgs(ids))).stdout).filter(
          (container) => also.has(container.id) || usesVolume(container, mountpoint, registered),
        )
      } catch (error) {
        // A container removed between the two calls: ask again.
        if (attempt > 0 || !(error instanceof CommandFailed && /no such/i.test(error.stderr))) throw error
      }
    }
  }
}

/** Why a runtime cannot be used, or undefined when its daemon answers. */
async function problemWith(ctx: Context, runtime: RuntimeName): Promise<string | undefined> {
  try {
    await ctx.exec.run(runtime, probeArgs(runtime), {timeoutMs: PROBE_TIMEOUT_MS})
    return undefined
  } catch (error) {
    if (!(error instanceof CommandFailed)) throw error
    if (error.notInstalled) return `${runtime} is not installed`
    return `${runtime} does not answer (${oneLine(error.stderr).slice(0, 200) || `exit status ${error.exitCode}`})`
  }
}

const connected = new WeakMap<Context['exec'], Map<RuntimeName, Promise<RuntimeClient>>>()

function clientsOf(ctx: Context): Map<RuntimeName, Promise<RuntimeClient>> {
  const clients = connected.get(ctx.exec) ?? new Map<RuntimeName, Promise<RuntimeClient>>()
  connected.set(ctx.exec, clients)
  return clients
}

/** The runtime, checked once per command: missing or not answering is an environment error (exit 5). */
export function connect(ctx: Context, runtime: RuntimeName): Promise<RuntimeClient> {
  const clients = clientsOf(ctx)
  let client = clients.get(runtime)
  if (!client) {
    client = problemWith(ctx, runtime).then((problem) => {
      if (problem) throw environment(problem, 'install or start it, or choose another runtime with --runtime or CBS_RUNTIME')
      return new RuntimeClient(ctx, runtime)
    })
    clients.set(runtime, client)
  }
  return client
}

/** --runtime, else $CBS_RUNTIME, else the first of docker, nerdctl, podman whose daemon answers. */
export async function chooseRuntime(ctx: Context, requested?: string, env: NodeJS.ProcessEnv = process.env): Promise<RuntimeClient> {
  if (requested) return connect(ctx, parseRuntime(requested))
  if (env.CBS_RUNTIME) return connect(ctx, parseRuntime(env.CBS_RUNTIME, 'CBS_RUNTIME'))
  const problems: string[] = []
  for (const runtime of RUNTIMES) {
    const problem = await problemWith(ctx, runtime)
    if (!problem) {
      const client = new RuntimeClient(ctx, runtime)
      clientsOf(ctx).set(runtime, Promise.resolve(client))
      return client
    }
    problems.push(problem)
  }
  throw environment(`no container runtime answers (${problems.join('; ')})`, 'install or start docker, nerdctl or podman, or name one with --runtime or CBS_RUNTIME')
}
