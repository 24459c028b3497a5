import {mkdirSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {Context} from './context.js'
import {requireRoot} from './context.js'
import {invalid} from '../common/errors.js'

export const UNIT_NAME = 'cbs-volumes.service'
export const DEFAULT_UNIT_DIR = '/etc/systemd/system'

/** The targets and services whose start pulls the unit in (`WantedBy=`). */
const WANTED_BY = ['multi-user.target', 'docker.service']

export interface UnitOptions {
  /** Absolute paths of node and of cbs's bin/run.js: boot has no PATH worth trusting. */
  node: string
  script: string
  root: string
}

/**
 * A oneshot service that runs `cbs volume mount --all` at boot, before the container engines
 * start (so their containers find their volumes), and `cbs volume unmount --all` at shutdown,
 * after they stopped. It also finishes or rolls back what a crash left half done.
 */
export function unitText({node, script, root}: UnitOptions): string {
  const cbs = `${node} ${script}`
  return `# Written by \`cbs system install-unit\`. Brings cbs volumes back at boot.
[Unit]
Description=cbs volumes: attach and mount every volume under ${root}
Documentation=man:cbs-volume-mount(1)
RequiresMountsFor=${root}
Before=docker.service containerd.service podman.service podman-restart.service

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=CBS_ROOT=${root}
ExecStart=${cbs} volume mount --all
ExecStop=${cbs} volume unmount --all
TimeoutStartSec=15min

[Install]
WantedBy=${WANTED_BY.join(' ')}
`
}

export interface InstalledUnit {
  unit: string
  /** The `WantedBy=` links, as `systemctl enable` makes them. */
  links: string[]
  /** Whether systemd was told to reload (only when it runs and the unit went to its folder). */
  reloaded: boolean
}

/**
 * Writes the unit into `dir` and enables it the way `systemctl enable` does, with a link in each
 * `*.wants/` folder, so that it works while systemd is not running (an image being built, a
 * chroot) and in tests that point `dir` elsewhere. A running systemd is told to reload.
 */
export async function installUnit(ctx: Context, dir: string, options: UnitOptions): Promise<InstalledUnit> {
  if (!dir.startsWith('/')) throw invalid(`the unit folder must be an absolute path, not "${dir}"`)
  requireRoot(ctx.host)
  const unit = join(dir, UNIT_NAME)
  await ctx.exec.change(['tee', unit], () => {
    mkdirSync(dir, {recursive: true, mode: 0o755})
    writeFileSync(unit, unitText(options), {mode: 0o644})
  })
  const links: string[] = []
  for (const target of WANTED_BY) {
    const link = join(dir, `${target}.wants`, UNIT_NAME)
    await ctx.exec.change(['ln', '-sf', unit, link], () => {
      mkdirSync(join(dir, `${target}.wants`), {recursive: true, mode: 0o755})
      rmSync(link, {force: true})
      symlinkSync(unit, link)
    })
    links.push(link)
  }
  const reloaded = dir === DEFAULT_UNIT_DIR && ctx.host.fileInfo('/run/systemd/system') !== undefined
  if (reloaded) await ctx.exec.run('systemctl', ['daemon-reload'], {mutates: true})
  return {unit, links, reloaded}
}
