import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {mkdirSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {IMAGE, type Ran} from './runtimes.js'

/**
 * A dockerd of the test's own (its own data, exec root, containerd and API socket under `dir`),
 * for what the shared one must not see: a volume plugin that goes away (dockerd keeps every
 * plugin it has talked to until it restarts, and then waits 15 s on it at each `docker volume ls`),
 * and a dockerd restart. Started and stopped by its pid; the test image is copied in.
 */
export class PrivateDockerd {
  readonly socket: string
  private child?: ChildProcess

  constructor(readonly dir: string) {
    this.socket = join(dir, 'docker.sock')
  }

  get env(): NodeJS.ProcessEnv {
    return {...process.env, DOCKER_HOST: `unix://${this.socket}`}
  }

  async start(): Promise<this> {
    mkdirSync(this.dir, {recursive: true})
    const args = ['--data-root', join(this.dir, 'data'), '--exec-root', join(this.dir, 'x'), '-H', `unix://${this.socket}`, '--pidfile', join(this.dir, 'docker.pid')]
    const child = spawn('dockerd', [...args, '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-forward=false'], {stdio: ['ignore', 'ignore', 'pipe']})
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
