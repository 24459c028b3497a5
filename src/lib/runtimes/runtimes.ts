import {invalid} from '../common/errors.js'
import type {RuntimeName} from '../store/state.js'

/**
 * The container runtimes cbs hands volumes to, and every command line it runs against them, as
 * data (the runtime's executable is the runtime's name). Parsing what they answer is here too.
 */

export const RUNTIMES = ['docker', 'nerdctl', 'podman'] as const satisfies readonly RuntimeName[]

/** Labels cbs puts on what it creates in a runtime, so that it can tell its own from the user's. */
export const MANAGED_LABEL = 'cbs.managed'
export const VOLUME_LABEL = 'cbs.volume'
export const ROOT_LABEL = 'cbs.root'

export function parseRuntime(name: string, from = '--runtime'): RuntimeName {
  if ((RUNTIMES as readonly string[]).includes(name)) return name as RuntimeName
  throw invalid(`unknown container runtime "${name}" in ${from}`, `use one of ${RUNTIMES.join(', ')}`)
}

/** Whether the runtime can keep a named volume bound to a host folder (nerdctl#694: it cannot). */
export const hasBindVolumes = (runtime: RuntimeName) => runtime !== 'nerdctl'

/** Answers only when the daemon (containerd for nerdctl) does; podman has none and answers when it works. */
export function probeArgs(runtime: RuntimeName): string[] {
  return runtime === 'podman' ? ['info', '--format', '{{.Version.Version}}'] : ['info', '--format', '{{.ServerVersion}}']
}

const labelArgs = (labels: Record<string, string>) => Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`])

/** A `local` driver volume that binds the cbs mountpoint: removing it never touches the data. */
export function volumeCreateArgs(name: string, mountpoint: string, labels: Record<string, string>): string[] {
  return ['volume', 'create', '--driver', 'local', '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${mountpoint}`, ...labelArgs(labels), name]
}

export const volumeInspectArgs = (name: string) => ['volume', 'inspect', name]
export const volumeRmArgs = (name: string) => ['volume', 'rm', name]
export const containerIdsArgs = () => ['ps', '--all', '--quiet', '--no-trunc']
const CONTAINER_FORMAT = '{{.Id}} {{.Name}} {{.State.Status}} {{json .Mounts}}'
export const containerInspectArgs = (ids: string[]) => ['container', 'inspect', '--format', CONTAINER_FORMAT, ...ids]

/** The bind mount every runtime understands, with the options syntax of `--mount`. */
export function bindMount(mountpoint: string, target?: string): string {
  for (const path of [mountpoint, target ?? '/']) {
    if (/[,="\n]/.test(path)) throw invalid(`path "${path}" cannot be used in a --mount option`, 'use a path without ",", "=" or quotes')
  }
  return `type=bind,source=${mountpoint}${target === undefined ? '' : `,target=${target}`}`
}

/** `R run` for `attach --target`: the bind mount and cbs's labels first, then the user's arguments untouched. */
export function runArgs(mountpoint: string, target: string, cidfile: string, labels: Record<string, string>, userArgs: string[]): string[] {
  return ['run', '--cidfile', cidfile, '--mount', bindMount(mountpoint, target), ...labelArgs(labels), ...userArgs]
}

/** The parts of `volume inspect` cbs looks at. */
export interface RuntimeVolume {
  name: string
  driver: string
  labels: Record<string, string>
  options: Record<string, string>
}

export function parseVolumeInspect(text: string): RuntimeVolume | undefined {
  const [volume] = JSON.parse(text) as Array<{Name: string; Driver: string; Labels?: Record<string, string> | null; Options?: Record<string, string> | null}>
  if (!volume) return undefined
  return {name: volume.Name, driver: volume.Driver, labels: volume.Labels ?? {}, options: volume.Options ?? {}}
}

/** The named volume binds exactly this mountpoint: cbs's own registration (or one just like it). */
export const bindsMountpoint = (volume: RuntimeVolume, mountpoint: string) =>
  volume.driver === 'local' && volume.options.o === 'bind' && volume.options.device === mountpoint

export interface ContainerMount {
  Type?: string
  Name?: string
  Source?: string
}

export interface Container {
  id: string
  name: string
  status: string
  mounts: ContainerMount[]
}

/** One line of CONTAINER_FORMAT a container. docker prefixes names with "/". */
export function parseContainers(text: string): Container[] {
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const [id, name, status, ...rest] = line.split(' ')
      return {id, name: name.replace(/^\//, ''), status, mounts: (JSON.parse(rest.join(' ')) as ContainerMount[] | null) ?? []}
    })
}

/** Whether a container uses the volume: through the registered named volume, or a bind mount of (a folder in) it. */
export function usesVolume(container: Container, mountpoint: string, registered: string | null): boolean {
  return container.mounts.some(
    (mount) =>
      (registered !== null && mount.Type === 'volume' && mount.Name === registered) ||
      (mount.Type === 'bind' && (mount.Source === mountpoint || Boolean(mount.Source?.startsWith(`${mountpoint}/`)))),
  )
}

export const shortId = (id: string) => id.slice(0, 12)

const CONTAINER_STATE_FORMAT = '{{.Id}} {{.Name}} {{.State.Pid}} {{.State.Running}}'
export const containerStateArgs = (container: string) => ['container', 'inspect', '--format', CONTAINER_STATE_FORMAT, container]

export interface ContainerState {
  id: string
  name: string
  /** Its first process on the host; 0 while not running. */
  pid: number
  running: boolean
}

export function parseContainerState(text: string): ContainerState {
  const [id, name, pid, running] = text.trim().split(' ')
  return {id, name: name.replace(/^\//, ''), pid: Number(pid), running: running === 'true'}
}
