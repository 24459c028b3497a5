#!/usr/bin/env node
// The volume plugin: `docker run` on a cbs volume against the same run on a `local` volume, and
// `docker volume create -d` against `cbs volume create`, in the same rounds. The plugin runs as
// one long-lived `cbs plugin serve` (no Node start-up per request) on a socket under a
// temporary CBS_ROOT, registered through a spec file of its own name with a dockerd of the
// benchmark's own: dockerd keeps every plugin it has talked to until it restarts, and waits
// 15 s on one that is gone at each `docker volume ls`, so no other dockerd must ever meet it.
// That dockerd runs in a mount namespace of its own with its own plugin folders (see
// test/support/dockerd-private-plugins.sh); the CBS_ROOT is in a shared mount so that the
// plugin's mounts reach it.
// Called by bench/run.js (`npm run bench`); standalone: `npm run build && node bench/plugin.js`.
import {spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {median, releaseRoot, row, takeDown, timed} from './support.js'

const IMAGE = process.env.CBS_CI_IMAGE ?? 'cbs-test-busybox:latest'
const IN_NAMESPACE = join(import.meta.dirname, '..', 'test', 'support', 'dockerd-private-plugins.sh')

/** Rows for bench/run.js; none (with a note) where docker does not answer. */
export async function benchPlugin({cbsBin, repeats = 10}) {
  if (spawnSync('docker', ['info'], {stdio: 'ignore'}).status !== 0) {
    console.error('bench: docker does not answer: no plugin rows')
    return []
  }
  const shared = mkdtempSync('/tmp/cbs-bench-plugin-')
  mustMount(['--bind', shared, shared])
  mustMount(['--make-shared', shared])
  const root = mkdtempSync(join(shared, 'root-'))
  const driver = `cbs-bench-${randomBytes(4).toString('hex')}`
  const socket = join(root, 'plugin.sock')
  const dockerd = await startDockerd(mkdtempSync('/tmp/cbs-bench-dockerd-'))
  const server = spawn(process.execPath, [cbsBin, 'plugin', 'serve', '--socket', socket], {env: {...process.env, CBS_ROOT: root}, stdio: ['ignore', 'ignore', 'pipe']})
  let log = ''
  server.stderr.on('data', (chunk) => (log += chunk))
  const docker = (...args) => timed('docker', args, dockerd.env)
  const cbs = (...args) => timed(process.execPath, [cbsBin, ...args], {CBS_ROOT: root})
  try {
    for (let waited = 0; !log.includes('listening on'); waited += 20) {
      if (waited > 20_000) throw new Error(`cbs plugin serve did not start: ${log}`)
      await sleep(20)
    }
    writeFileSync(join(dockerd.plugins, `${driver}.spec`), `unix://${socket}\n`)
    const local = `cbs-bench-local-${randomBytes(3).toString('hex')}`
    const mine = `cbs-bench-vol-${randomBytes(3).toString('hex')}`
    docker('volume', 'create', local)
    docker('volume', 'create', '-d', driver, '-o', 'size=1G', mine)
    const times = {local: [], plugin: [], dockerCreate: [], cbsCreate: []}
    try {
      for (let round = 0; round < repeats; round++) {
        times.local.push(docker('run', '--rm', '--network', 'none', '-v', `${local}:/d`, IMAGE, 'true').ms)
        times.plugin.push(docker('run', '--rm', '--network', 'none', '-v', `${mine}:/d`, '--volume-driver', driver, IMAGE, 'true').ms)
        times.dockerCreate.push(docker('volume', 'create', '-d', driver, `d${round}`).ms)
        docker('volume', 'rm', `d${round}`)
        times.cbsCreate.push(cbs('volume', 'create', `c${round}`).ms)
        cbs('volume', 'rm', `c${round}`)
      }
    } finally {
      spawnSync('docker', ['volume', 'rm', '--force', local, mine], {env: {...process.env, ...dockerd.env}})
    }
    return [
      row('docker run --rm -v NAME:/d --volume-driver cbs busybox true', median(times.plugin), 'same with a local volume', median(times.local)),
      row('docker volume create -d cbs (1 GiB)', median(times.dockerCreate), 'cbs volume create (1 GiB)', median(times.cbsCreate)),
    ]
  } finally {
    await dockerd.remove()
    server.kill('SIGTERM')
    await new Promise((resolve) => server.once('exit', resolve))
    takeDown(cbsBin, root)
    spawnSync('umount', [shared])
    rmSync(shared, {recursive: true, force: true})
  }
}

function mustMount(args) {
  const result = spawnSync('mount', args, {encoding: 'utf8'})
  if (result.status !== 0) throw new Error(`bench: mount ${args.join(' ')}: ${result.stderr}`)
}

/** A dockerd with its own data, exec root, socket and plugin folder under `dir`, the test image copied in. */
async function startDockerd(dir) {
  const env = {DOCKER_HOST: `unix://${dir}/docker.sock`}
  const plugins = `${dir}/plugins`
  mkdirSync(plugins)
  const args = ['--data-root', `${dir}/data`, '--exec-root', `${dir}/x`, '-H', env.DOCKER_HOST, '--pidfile', `${dir}/docker.pid`]
  const dockerd = ['dockerd', ...args, '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-forward=false']
  const child = spawn('sh', [IN_NAMESPACE, plugins, ...dockerd], {stdio: 'ignore'})
  const answers = () => spawnSync('docker', ['info'], {env: {...process.env, ...env}, stdio: 'ignore'}).status === 0
  for (let waited = 0; !answers(); waited += 100) {
    if (child.exitCode !== null || waited > 60_000) throw new Error('bench: the benchmark\'s dockerd did not start')
    await sleep(100)
  }
  const saved = spawnSync('docker', ['save', IMAGE], {maxBuffer: 1 << 30})
  spawnSync('docker', ['load'], {input: saved.stdout, env: {...process.env, ...env}})
  return {
    env,
    plugins,
    async remove() {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
      releaseRoot(dir)
      rmSync(dir, {recursive: true, force: true})
    },
  }
}

if (process.argv[1] === import.meta.filename) {
  const {printTable} = await import('./support.js')
  printTable(await benchPlugin({cbsBin: join(import.meta.dirname, '..', 'bin', 'run.js'), repeats: Number(process.env.BENCH_REPEATS ?? 10)}))
}
