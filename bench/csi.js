// The CSI row of `npm run bench`: CreateVolume + NodePublishVolume + NodeUnpublishVolume +
// DeleteVolume over gRPC to `cbs csi serve`, against the same four operations through the core
// in one long-lived process (bench/csi-core.ts), in the same rounds. Within 1.3x shows that the
// server adds no start-up or process cost per call.
import {spawn} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join, resolve} from 'node:path'
import {performance} from 'node:perf_hooks'
import {createInterface} from 'node:readline'
import {median, row, takeDown} from './support.js'

const REPO = resolve(import.meta.dirname, '..')
const require = createRequire(import.meta.url)
const MiB = 1024 ** 2

export async function benchCsi({cbsBin, repeats}) {
  const serverRoot = mkdtempSync('/tmp/cbs-bench-csi-')
  const coreRoot = mkdtempSync('/tmp/cbs-bench-core-')
  const server = spawn(process.execPath, [cbsBin, 'csi', 'serve', '--endpoint', `unix://${serverRoot}/csi.sock`, '--node-id', 'bench'], {
    env: {...process.env, CBS_ROOT: serverRoot},
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const core = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'bench', 'csi-core.ts')], {env: {...process.env, CBS_ROOT: coreRoot}, stdio: ['pipe', 'pipe', 'inherit']})
  const coreLines = createInterface({input: core.stdout})[Symbol.asyncIterator]()
  const coreCycle = async (name) => {
    core.stdin.write(`cycle ${name}\n`)
    return Number((await coreLines.next()).value)
  }
  try {
    await new Promise((ready, fail) => {
      let stderr = ''
      server.stderr.on('data', (chunk) => (stderr += chunk) && stderr.includes('cbs csi: serving') && ready())
      server.on('exit', (code) => fail(new Error(`cbs csi serve exited with ${code}: ${stderr}`)))
    })
    const csi = client(join(serverRoot, 'csi.sock'))
    const capability = {mount: {fs_type: 'ext4'}, access_mode: {mode: 'SINGLE_NODE_WRITER'}}
    const grpcCycle = async (name) => {
      const target = join(serverRoot, `target-${name}`)
      const start = performance.now()
      await csi.controller('CreateVolume', {name, capacity_range: {required_bytes: 64 * MiB}, volume_capabilities: [capability]})
      await csi.node('NodePublishVolume', {volume_id: name, target_path: target, volume_capability: capability})
      await csi.node('NodeUnpublishVolume', {volume_id: name, target_path: target})
      await csi.controller('DeleteVolume', {volume_id: name})
      return performance.now() - start
    }
    // One unmeasured cycle each: the first loads conf and warms both processes up.
    await grpcCycle('warm-up')
    await coreCycle('warm-up')
    const times = {grpc: [], core: []}
    for (let round = 0; round < repeats; round++) {
      times.grpc.push(await grpcCycle(`pvc-${round}`))
      times.core.push(await coreCycle(`pvc-${round}`))
    }
    csi.close()
    return [row('CSI create+publish+unpublish+delete over gRPC', median(times.grpc), 'the same through the core, in process', median(times.core))]
  } finally {
    server.kill('SIGTERM')
    core.stdin.end()
    await Promise.all([server, core].map((child) => (child.exitCode === null ? new Promise((done) => child.on('exit', done)) : undefined)))
    takeDown(cbsBin, serverRoot)
    takeDown(cbsBin, coreRoot)
  }
}

/** A small promise client of the Controller and Node services. */
function client(socket) {
  const grpc = require('@grpc/grpc-js')
  const loader = require('@grpc/proto-loader')
  const definition = loader.loadSync(join(REPO, 'proto', 'csi.proto'), {keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true})
  const csi = grpc.loadPackageDefinition(definition).csi.v1
  const services = {controller: new csi.Controller(`unix://${socket}`, grpc.credentials.createInsecure()), node: new csi.Node(`unix://${socket}`, grpc.credentials.createInsecure())}
  const call = (service) => (method, request) => new Promise((done, fail) => services[service][method](request, (error, response) => (error ? fail(error) : done(response))))
  return {controller: call('controller'), node: call('node'), close: () => Object.values(services).forEach((each) => each.close())}
}

if (process.argv[1] === import.meta.filename) {
  const {printTable} = await import('./support.js')
  printTable(await benchCsi({cbsBin: join(REPO, 'bin', 'run.js'), repeats: Number(process.env.BENCH_REPEATS ?? 25)}))
}
