import {mkdirSync, realpathSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {Context} from './context.js'
import {requireRoot} from './context.js'
import {invalid} from '../common/errors.js'
import {rootFromEnvironment} from '../store/layout.js'

export const UNIT_NAME = 'cbs-volumes.service'
export const PLUGIN_UNIT_NAME = 'cbs-plugin.service'
export const PLUGIN_SOCKET_UNIT_NAME = 'cbs-plugin.socket'
export const DEFAULT_UNIT_DIR = '/etc/systemd/system'
/** Where dockerd looks for a plugin named cbs. */
export const DEFAULT_PLUGIN_SOCKET = '/run/docker/plugins/cbs.sock'

const ENGINES = 'docker.service containerd.service podman.service podman-restart.service'

export interface UnitOptions {
  /** Absolute paths of node and of cbs's bin/run.js: boot has no PATH worth trusting. */
  node: string
  script: string
  root: string
}

/** What the units run: this node and the cbs installed at `cbsDir`, on this CBS_ROOT. */
export function unitOptions(cbsDir: string): UnitOptions {
  return {node: process.execPath, script: realpathSync(join(cbsDir, 'bin', 'run.js')), root: rootFromEnvironment()}
}

/** The cbs the units run: this node and this bin/run.js, wherever they are. */
export const bootCommand = ({node, script}: Pick<UnitOptions, 'node' | 'script'>) => `${node} ${script}`

/**
 * Which cbs the units run, in words: a folder of its own (a git clone, or what `npm link` points
 * to) breaks the units when it moves or is not built, unlike a package npm installed.
 */
export function describeBootCommand(options: Pick<UnitOptions, 'node' | 'script'>): string {
  const checkout = !options.script.split('/').includes('node_modules')
  const what = checkout
    ? 'the checkout at that path (a git clone, or what `npm link` points to): keep it there and built, or install the package with `npm install -g`'
    : 'the installed package'
  return `at boot the units run ${bootCommand(options)}, ${what}`
}

/** What `system install-unit` and `plugin install` print with --json; --print installs nothing (no units). */
export interface InstallReport extends InstalledUnits {
  /** The cbs the units run (node and bin/run.js, absolute). */
  command: string
  /** The units (and entries) written, as --print shows them. */
  text: string
}

/** A unit file, and the targets and services whose start pulls it in (`WantedBy=`). */
export interface UnitFile {
  name: string
  text: string
  wantedBy: string[]
}

/**
 * A oneshot service that runs `cbs volume mount --all` at boot, before the container engines
 * start (so their containers find their volumes), and `cbs volume unmount --all` at shutdown,
 * after they stopped. It also finishes or rolls back what a crash left half done. `unmount
 * --all` keeps each volume's "meant to be mounted" record, so the next boot brings back the
 * same volumes.
 */
export function unitText({node, script, root}: UnitOptions): string {
  const cbs = bootCommand({node, script})
  return `# Written by \`cbs system install-unit\`. Brings cbs volumes back at boot.
[Unit]
Description=cbs volumes: attach and mount every volume under ${root}
Documentation=man:cbs-volume-mount(1)
RequiresMountsFor=${root}
Before=${ENGINES}

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=CBS_ROOT=${root}
ExecStart=${cbs} volume mount --all
ExecStop=${cbs} volume unmount --all
TimeoutStartSec=15min

[Install]
WantedBy=multi-user.target docker.service
`
}

/**
 * The volume plugin (`cbs plugin serve`) as a service, after the volumes are back and before the
 * engines, so that containers with `restart: always` find it; and its socket as a socket unit,
 * so that the socket exists (and queues dockerd's requests) even before the service runs.
 */
export function pluginUnits({node, script, root}: UnitOptions, socket: string): UnitFile[] {
  const service = `# Written by \`cbs plugin install\`. The cbs volume plugin for docker and podman.
[Unit]
Description=cbs volume plugin (docker volume create -d cbs)
Documentation=man:cbs-plugin-serve(1)
Requires=${PLUGIN_SOCKET_UNIT_NAME}
After=${PLUGIN_SOCKET_UNIT_NAME} ${UNIT_NAME}
Before=${ENGINES}

[Service]
Type=simple
Environment=CBS_ROOT=${root}
ExecStart=${node} ${script} plugin serve --socket ${socket}
KillSignal=SIGTERM
Restart=on-failure

[Install]
WantedBy=multi-user.target docker.service
`
  const socketUnit = `# Written by \`cbs plugin install\`. The socket dockerd and podman talk to the cbs plugin on.
[Unit]
Description=cbs volume plugin socket
Before=${ENGINES}

[Socket]
ListenStream=${socket}
SocketMode=0600
SocketUser=root
SocketGroup=root

[Install]
WantedBy=sockets.target
`
  return [
    {name: PLUGIN_UNIT_NAME, text: service, wantedBy: ['multi-user.target', 'docker.service']},
    {name: PLUGIN_SOCKET_UNIT_NAME, text: socketUnit, wantedBy: ['sockets.target']},
  ]
}

export const volumesUnit = (options: UnitOptions): UnitFile => ({name: UNIT_NAME, text: unitText(options), wantedBy: ['multi-user.target', 'docker.service']})

export interface InstalledUnit {
  unit: string
  /** The `WantedBy=` links, as `systemctl enable` makes them. */
  links: string[]
}

export interface InstalledUnits {
  units: InstalledUnit[]
  /** Whether systemd was told to reload (only when it runs and the units went to its folder). */
  reloaded: boolean
}

/**
 * Writes the units into `dir` and enables them the way `systemctl enable` does, with a link in
 * each `*.wants/` folder, so that it works while systemd is not running (an image being built,
 * a chroot) and in tests that point `dir` elsewhere. A running systemd is told to reload.
 */
export async function installUnits(ctx: Context, dir: string, files: UnitFile[]): Promise<InstalledUnits> {
  if (!dir.startsWith('/')) throw invalid(`the unit folder must be an absolute path, not "${dir}"`)
  requireRoot(ctx.host)
  const units: InstalledUnit[] = []
  for (const file of files) {
    const unit = join(dir, file.name)
    await ctx.exec.change(['tee', unit], () => {
      mkdirSync(dir, {recursive: true, mode: 0o755})
      writeFileSync(unit, file.text, {mode: 0o644})
    })
    const links: string[] = []
    for (const target of file.wantedBy) {
      const link = join(dir, `${target}.wants`, file.name)
      await ctx.exec.change(['ln', '-sf', unit, link], () => {
        mkdirSync(join(dir, `${target}.wants`), {recursive: true, mode: 0o755})
        rmSync(link, {force: true})
        symlinkSync(unit, link)
      })
      links.push(link)
    }
    units.push({unit, links})
  }
  const reloaded = dir === DEFAULT_UNIT_DIR && ctx.host.fileInfo('/run/systemd/system') !== undefined
  if (reloaded) await ctx.exec.run('systemctl', ['daemon-reload'], {mutates: true})
  return {units, reloaded}
}
