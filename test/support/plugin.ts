import {type ChildProcess, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync} from 'node:fs'
import {request} from 'node:http'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {REPO, removeRoot} from './integration.js'
import {PrivateDockerd, sharedFolder} from './private-dockerd.js'

const BIN = join(REPO, 'bin', 'run.js')

export interface Reply {
  status: number
  body: any
}

/** One request on the plugin's socket, as dockerd sends it. */
export function call(socket: string, path: string, body?: unknown, raw?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const text = raw ?? (body === undefined ? '' : JSON.stringify(body))
    const req = request({socketPath: socket, path, method: 'POST', headers: {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text)}}, (res) => {
      let data = ''
      res.on('data', (chunk) => (data += chunk))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body: JSON.parse(data)}))
    })
    req.on('error', reject)
    req.end(text)
  })
}

/** A `cbs plugin serve` this test started (and stops by its pid). */
export class PluginServer {
  readonly socket: string
  child?: ChildProcess
  stderr = ''

  constructor(
    readonly root: string,
    readonly env: NodeJS.ProcessEnv = {},
    socket = join(root, 'plugin.sock'),
  ) {
    this.socket = socket
  }

  /** Starts it, with `args` after `plugin serve --socket SOCKET` (e.g. --verbose). */
  async start(env: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<this> {
    this.stderr = ''
    const child = spawn(process.execPath, [BIN, 'plugin', 'serve', '--socket', this.socket, ...args], {
      env: {...process.env, CBS_ROOT: this.root, NO_COLOR: '1', ...this.env, ...env},
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    this.child = child
    child.stderr!.on('data', (chunk) => (this.stderr += chunk))
    for (let waited = 0; !this.stderr.includes('listening on'); waited += 20) {
      if (child.exitCode !== null || waited > 20_000) throw new Error(`cbs plugin serve did not start: ${this.stderr}`)
      await sleep(20)
    }
    return this
  }

  /** Waits for `text` on its stderr (e.g. "cbs-test: paused at create:format"). */
  async waitFor(text: string): Promise<void> {
    for (let waited = 0; !this.stderr.includes(text); waited += 20) {
      if (waited > 60_000) throw new Error(`no "${text}" from the plugin: ${this.stderr}`)
      await sleep(20)
    }
  }

  /** Signals it and waits for it to exit; returns its exit code (null when killed by the signal). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    child.kill(signal)
    return exited
  }

  call(path: string, body?: unknown, raw?: string): Promise<Reply> {
    return call(this.socket, path, body, raw)
  }
}

export interface DockerWithPlugin {
  /** The plugin's CBS_ROOT, inside a shared folder (see sharedFolder) so the dockerd sees its mounts. */
  root: string
  /** The driver name dockerd knows the plugin by: cbs-test-<random>, never `cbs`. */
  driver: string
  dockerd: PrivateDockerd
  plugin: PluginServer
  /** Stops dockerd (its containers with it), then the plugin; then removes the root (see removeRoot). */
  remove(): Promise<void>
}

/**
 * A dockerd of the test's own and a plugin on a socket under a new CBS_ROOT, registered with that
 * dockerd alone under a new name.
 */
export async function startDockerWithPlugin(): Promise<DockerWithPlugin> {
  const driver = `cbs-test-${randomBytes(4).toString('hex')}`
  const folder = sharedFolder('/tmp/cbs-it-shared-')
  const root = mkdtempSync(join(folder.path, 'root-'))
  const remove = async (dockerd?: PrivateDockerd, plugin?: PluginServer) => {
    await dockerd?.remove()
    await plugin?.stop()
    removeRoot(root)
    folder.remove()
  }
  let dockerd: PrivateDockerd | undefined
  let plugin: PluginServer | undefined
  try {
    dockerd = new PrivateDockerd(mkdtempSync('/tmp/cbs-dockerd-'))
    await dockerd.start()
    plugin = new PluginServer(root)
    await plugin.start()
    dockerd.register(driver, plugin.socket)
  } catch (error) {
    await remove(dockerd, plugin)
    throw error
  }
  return {root, driver, dockerd, plugin, remove: () => remove(dockerd, plugin)}
}
