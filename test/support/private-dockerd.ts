import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {IMAGE, type Ran} from './runtimes.js'

/** Runs dockerd in a mount namespace of its own, with plugin directories of its own. */
const IN_NAMESPACE = resolve(import.meta.dirname, 'dockerd-private-plugins.sh')

/**
 * A dockerd of the test's own (its own data, exec root, containerd and API socket under `dir`),
 * for what the shared one must not see: a volume plugin that goes away (dockerd keeps every
 * plugin it has talked to until it restarts, and then waits 15 s on it at each `docker volume ls`),
 * and a dockerd restart. It runs in a mount namespace of its own where its plugin directories
 * are `dir`/plugins (see dockerd-private-plugins.sh): register() never touches the machine's
 * /etc/docker/plugins, which every other dockerd reads. Started and stopped by its pid; the test
 * image is copied in.
 */
export class PrivateDockerd {
  readonly socket: string
  private readonly plugins: string
  private child?: ChildProcess

  constructor(readonly dir: string) {
    this.socket = join(dir, 'docker.sock')
    this.plugins = join(dir, 'plugins')
  }

  get env(): NodeJS.ProcessEnv {
    return {...process.env, DOCKER_HOST: `unix://${this.socket}`}
  }

  async start(): Promise<this> {
    mkdirSync(this.plugins, {recursive: true})
    const args = ['--data-root', join(this.dir, 'data'), '--exec-root', join(this.dir, 'x'), '-H', `unix://${this.socket}`, '--pidfile', join(this.dir, 'docker.pid')]
    const dockerd = ['dockerd', ...args, '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-forward=false']
    const child = spawn('sh', [IN_NAMESPACE, this.plugins, ...dockerd], {stdio: ['ignore', 'ignore', 'pipe']})
    let log = ''
    child.stderr!.on('data', (chunk) => (log = (log + chunk).slice(-4000)))
    this.child = child
    for (let waited = 0; this.run(['info']).code !== 0; waited += 100) {
      if (child.exitCode !== null || waited > 60_000) throw new Error(`dockerd did not start: ${log}`)
      await sleep(100)
    }
    if (this.run(['image', 'inspect', IMAGE]).code !== 0) {
      const saved = spawnSync('docker', ['save', IMAGE], {maxBuffer: 1 << 30, env: {...process.env, DOCKER_HOST: ''}})
      const loaded = spawnSync('docker', ['load'], {input: saved.stdout, env: this.env, encoding: 'utf8'})
      if (loaded.status !== 0) throw new Error(`docker load into the test's dockerd: ${loaded.stderr}`)
    }
    return this
  }

  /** Registers a volume plugin's socket under `driver`, for this dockerd alone (a spec file in its own plugin folder). */
  register(driver: string, socket: string): void {
    writeFileSync(join(this.plugins, `${driver}.spec`), `unix://${socket}\n`)
  }

  /** Stops it (SIGTERM, as systemd does) and waits for it to exit: its containers stop with it. */
  async stop(): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }

  /** Stops it, unmounts what it left under its folder, and deletes the folder. */
  async remove(): Promise<void> {
    await this.stop()
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((line) => line.split(' ')[4]).filter((path) => path?.startsWith(`${this.dir}/`))
    for (const path of mounts.reverse()) spawnSync('umount', ['-l', path])
    rmSync(this.dir, {recursive: true, force: true})
  }

  run(args: string[], options: {timeout?: number} = {}): Ran {
    const result = spawnSync('docker', args, {encoding: 'utf8', timeout: options.timeout ?? 120_000, env: this.env})
    return {code: result.status ?? 1, stdout: result.stdout ?? '', stderr: result.stderr ?? String(result.error ?? '')}
  }

  must(args: string[]): string {
    const result = this.run(args)
    if (result.code !== 0) throw new Error(`docker ${args.join(' ')}: exit ${result.code}: ${result.stderr}`)
    return result.stdout
  }
}

/**
 * A new folder under /tmp that is a shared mount of its own: what is mounted under it later (a
 * plugin's volumes) also shows in a PrivateDockerd's mount namespace, which otherwise sees only
 * what was mounted when it started (this machine's mounts are private). remove() takes it down,
 * once nothing is mounted under it any more.
 */
export function sharedFolder(prefix: string): {path: string; remove: () => void} {
  const path = mkdtempSync(prefix)
  const mount = (args: string[]) => {
    const result = spawnSync('mount', args, {encoding: 'utf8'})
    if (result.status !== 0) throw new Error(`mount ${args.join(' ')}: ${result.stderr}`)
  }
  try {
    mount(['--bind', path, path])
    mount(['--make-shared', path])
  } catch (error) {
    spawnSync('umount', [path])
    rmSync(path, {recursive: true, force: true})
    throw error
  }
  return {
    path,
    remove() {
      const unmounted = spawnSync('umount', [path], {encoding: 'utf8'})
      if (unmounted.status !== 0) throw new Error(`umount ${path}: ${unmounted.stderr}`)
      rmSync(path, {recursive: true, force: true})
    },
  }
}
