#!/usr/bin/env node
// The volume plugin: `docker run` on a cbs volume against the same run on a `local` volume, and
// `docker volume create -d` against `cbs volume create`, in the same rounds. The plugin runs as
// one long-lived `cbs plugin serve` (no Node start-up per request) on a socket under a
// temporary CBS_ROOT, registered with dockerd through a spec file of its own name.
// Called by bench/run.js (`npm run bench`); standalone: `npm run build && node bench/plugin.js`.
// dockerd keeps every plugin it has talked to until it restarts, and waits on one that is gone:
// CBS_TEST_DOCKER_PLUGIN=NAME:SOCKET reuses a plugin name and socket it already knows.
import {spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {median, row, takeDown, timed} from './support.js'

const IMAGE = process.env.CBS_CI_IMAGE ?? 'cbs-test-busybox:latest'

/** Rows for bench/run.js; none (with a note) where docker does not answer. */
export async function benchPlugin({cbsBin, repeats = 10}) {
  if (spawnSync('docker', ['info'], {stdio: 'ignore'}).status !== 0) {
    console.error('bench: docker does not answer: no plugin rows')
    return []
  }
  const root = mkdtempSync('/tmp/cbs-bench-plugin-')
  const [reused, reusedSocket] = process.env.CBS_TEST_DOCKER_PLUGIN?.split(/:(.*)/) ?? []
  const driver = reused || `cbs-bench-${randomBytes(4).toString('hex')}`
  const socket = reusedSocket || join(root, 'plugin.sock')
  const spec = `/etc/docker/plugins/${driver}.spec`
  const server = spawn(process.execPath, [cbsBin, 'plugin', 'serve', '--socket', socket], {env: {...process.env, CBS_ROOT: root}, stdio: ['ignore', 'ignore', 'pipe']})
  let log = ''
  server.stderr.on('data', (chunk) => (log += chunk))
  const docker = (...args) => timed('docker', args)
  const cbs = (...args) => timed(process.execPath, [cbsBin, ...args], {CBS_ROOT: root})
  try {
    for (let waited = 0; !log.includes('listening on'); waited += 20) {
      if (waited > 20_000) throw new Error(`cbs plugin serve did not start: ${log}`)
      await sleep(20)
    }
    mkdirSync('/etc/docker/plugins', {recursive: true})
    writeFileSync(spec, `unix://${socket}\n`)
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
      spawnSync('docker', ['volume', 'rm', '--force', local, mine])
    }
    return [
      row('docker run --rm -v NAME:/d --volume-driver cbs busybox true', median(times.plugin), 'same with a local volume', median(times.local)),
      row('docker volume create -d cbs (1 GiB)', median(times.dockerCreate), 'cbs volume create (1 GiB)', median(times.cbsCreate)),
    ]
  } finally {
    rmSync(spec, {force: true})
    server.kill('SIGTERM')
    await new Promise((resolve) => server.once('exit', resolve))
    takeDown(cbsBin, root)
  }
}

if (process.argv[1] === import.meta.filename) {
  const {printTable} = await import('./support.js')
  printTable(await benchPlugin({cbsBin: join(import.meta.dirname, '..', 'bin', 'run.js'), repeats: Number(process.env.BENCH_REPEATS ?? 10)}))
}
