import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {cbs, json, leftovers, makeRoot, removeRoot} from '../support/integration.js'
import {type DockerWithPlugin, PluginServer, startDockerWithPlugin} from '../support/plugin.js'
import type {PrivateDockerd} from '../support/private-dockerd.js'
import {IMAGE, requireRuntime} from '../support/runtimes.js'

// Docker tests run against a dockerd of their own: see test/support/private-dockerd.ts.

describe('integration: docker through cbs plugin serve', function () {
  this.timeout(300_000)
  let root: string
  let setup: DockerWithPlugin
  let driver: string
  let dockerd: PrivateDockerd
  let prefix: string
  const made: string[] = []
  /** A docker volume name of this test's own. */
  const named = (suffix: string) => {
    const name = `${prefix}-${suffix}`
    made.push(name)
    return name
  }
  const run = (args: string[]) => dockerd.run(['run', '--network', 'none', ...args])
  const create = (name: string, opts: string[] = ['-o', 'size=32M']) => dockerd.run(['volume', 'create', '-d', driver, ...opts, name])

  before(async function () {
    requireRuntime.call(this, 'docker')
    prefix = `cbsp-${randomBytes(3).toString('hex')}`
    setup = await startDockerWithPlugin()
    ;({root, driver, dockerd} = setup)
  })
  after(async () => {
    if (!root) return
    const containers = dockerd.run(['ps', '--all', '--quiet']).stdout.split('\n').filter(Boolean)
    if (containers.length > 0) dockerd.must(['rm', '--force', ...containers])
    for (const name of made) dockerd.run(['volume', 'rm', '--force', name])
    await setup.remove()
    assert.deepEqual(leftovers(root), [])
  })

  it('create -o size=, run, write, stop, run again and read back; the size limit holds inside', () => {
    const name = named('data')
    const created = create(name)
    assert.equal(created.code, 0, created.stderr)
    const written = run(['--rm', '-v', `${name}:/d`, IMAGE, 'sh', '-c', 'echo hello >/d/greeting && df -k /d | tail -n 1'])
    assert.equal(written.code, 0, written.stderr)
    const read = run(['--rm', '-v', `${name}:/d`, IMAGE, 'cat', '/d/greeting'])
    assert.equal(read.stdout, 'hello\n')
    const full = run(['--rm', '-v', `${name}:/d`, IMAGE, 'sh', '-c', 'dd if=/dev/zero of=/d/fill bs=1M count=64'])
    assert.match(full.stderr, /No space left on device/)
    const [volume] = json<Volume[]>(cbs(root, ['volume', 'inspect', name, '--json']))
    assert.equal(volume.sizeBytes, 32 * 1024 ** 2)
    assert.equal(readFileSync(join(volume.mountpoint, 'greeting'), 'utf8'), 'hello\n')
    assert.equal(volume.status, 'mounted', 'the last Unmount leaves it mounted')
  })

  it('docker volume ls and inspect show cbs volumes, those made by cbs volume create too; docker run --volume-driver uses them', () => {
    const viaCli = named('cli')
    assert.equal(cbs(root, ['volume', 'create', viaCli, '--size', '32M']).code, 0)
    const implicit = named('implicit')
    const ran = run(['--rm', '--volume-driver', driver, '-v', `${viaCli}:/a`, '-v', `${implicit}:/b`, IMAGE, 'sh', '-c', 'echo a >/a/x && echo b >/b/x'])
    assert.equal(ran.code, 0, ran.stderr)
    const listed = dockerd.must(['volume', 'ls', '--filter', `driver=${driver}`, '--format', '{{.Name}}']).split('\n').filter(Boolean)
    for (const name of [viaCli, implicit]) assert.ok(listed.includes(name), `${name} in ${listed.join(' ')}`)
    const [inspected] = JSON.parse(dockerd.must(['volume', 'inspect', implicit]))
    assert.equal(inspected.Driver, driver)
    assert.equal(inspected.Mountpoint, `${root}/mounts/${implicit}`)
    assert.equal(inspected.Status.status, 'mounted')
    assert.equal(inspected.Status.sizeBytes, 1024 ** 3, 'no options: the CLI\'s default size')
    assert.deepEqual(json<Volume[]>(cbs(root, ['volume', 'inspect', implicit, '--json'])).map((volume) => volume.name), [implicit])
  })

  it('docker volume rm removes the cbs volume; a volume with snapshots is refused with cbs\'s message, fit for a docker user', () => {
    const name = named('snap')
    assert.equal(create(name).code, 0)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', name, 's1']).code, 0)
    const refused = dockerd.run(['volume', 'rm', name])
    assert.notEqual(refused.code, 0)
    assert.ok(refused.stderr.includes(`volume "${name}" has snapshots: ${name}@s1: remove them first with \`cbs volume snapshot rm\`, or the volume with them with \`cbs volume rm -r ${name}\``), refused.stderr)
    assert.equal(cbs(root, ['volume', 'snapshot', 'rm', `${name}@s1`]).code, 0)
    assert.equal(dockerd.run(['volume', 'rm', name]).code, 0)
    assert.equal(cbs(root, ['volume', 'inspect', name]).code, 3)
  })

  it('a bad option reaches the docker user as cbs says it', () => {
    const bad = create(named('bad'), ['-o', 'size=12Q'])
    assert.notEqual(bad.code, 0)
    assert.ok(bad.stderr.includes('invalid size "12Q": use a number with an optional unit K, M, G or T, e.g. 10G'), bad.stderr)
    const unknown = create(named('bad2'), ['-o', 'colour=red'])
    assert.ok(unknown.stderr.includes('unknown option "colour"'), unknown.stderr)
  })

  it('two containers use one volume at once; it stays mounted while either runs', () => {
    const name = named('shared')
    assert.equal(create(name).code, 0)
    const first = run(['--detach', '-v', `${name}:/d`, IMAGE, 'sh', '-c', 'echo one >/d/one; sleep 600'])
    assert.equal(first.code, 0, first.stderr)
    const id = first.stdout.trim()
    const second = run(['--rm', '-v', `${name}:/d`, IMAGE, 'sh', '-c', 'while [ ! -f /d/one ]; do sleep 0.1; done; cat /d/one; echo two >/d/two'])
    assert.equal(second.stdout, 'one\n', second.stderr)
    assert.equal(dockerd.must(['exec', id, 'cat', '/d/two']), 'two\n')
    dockerd.must(['rm', '--force', id])
    assert.equal(json<Volume[]>(cbs(root, ['volume', 'inspect', name, '--json']))[0].status, 'mounted')
  })

  it('-o from=VOLUME@SNAPSHOT makes a copy of a snapshot', () => {
    const source = named('source')
    assert.equal(create(source).code, 0)
    assert.equal(run(['--rm', '-v', `${source}:/d`, IMAGE, 'sh', '-c', 'echo seed >/d/seed']).code, 0)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', source, 'seed']).code, 0)
    const copy = named('copy')
    const created = create(copy, ['-o', `from=${source}@seed`])
    assert.equal(created.code, 0, created.stderr)
    assert.equal(run(['--rm', '-v', `${copy}:/d`, IMAGE, 'cat', '/d/seed']).stdout, 'seed\n')
    assert.equal(cbs(root, ['volume', 'snapshot', 'rm', `${source}@seed`]).code, 0)
  })

  it('20 parallel docker volume create -d and docker run: every volume whole, its own data', async () => {
    const names = Array.from({length: 20}, (_, index) => named(`p${index}`))
    const docker = (args: string[]) =>
      new Promise<{code: number; stderr: string}>((resolve) => {
        const child = spawn('docker', args, {env: dockerd.env})
        let stderr = ''
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
        child.on('close', (code: number) => resolve({code, stderr}))
      })
    const results = await Promise.all(
      names.map(async (name) => {
        const created = await docker(['volume', 'create', '-d', driver, '-o', 'size=16M', name])
        if (created.code !== 0) return created
        return docker(['run', '--rm', '--network', 'none', '-v', `${name}:/d`, IMAGE, 'sh', '-c', `echo ${name} >/d/name`])
      }),
    )
    for (const result of results) assert.equal(result.code, 0, result.stderr)
    const volumes = json<Volume[]>(cbs(root, ['volume', 'ls', '--json'])).filter((volume) => names.includes(volume.name))
    assert.equal(volumes.length, 20)
    for (const volume of volumes) {
      assert.equal(volume.status, 'mounted')
      assert.equal(readFileSync(join(volume.mountpoint, 'name'), 'utf8'), `${volume.name}\n`)
    }
    const doctor = cbs(root, ['doctor'])
    assert.equal(doctor.code, 0, doctor.stdout)
  })
  it('dockerd restarted while a container runs: the container comes back on its volume, every byte there', async () => {
    const name = named('restart')
    assert.equal(create(name).code, 0)
    const started = run(['--detach', '--restart', 'always', '-v', `${name}:/d`, IMAGE, 'sh', '-c', 'echo boot >>/d/boots; sleep 600'])
    assert.equal(started.code, 0, started.stderr)
    const [volume] = json<Volume[]>(cbs(root, ['volume', 'inspect', name, '--json']))
    const boots = async (count: number) => {
      for (let waited = 0; (readFileSync(join(volume.mountpoint, 'boots'), {encoding: 'utf8', flag: 'a+'}).match(/boot/g) ?? []).length < count; waited += 100) {
        if (waited > 60_000) throw new Error(`the container did not start ${count} time(s)`)
        await sleep(100)
      }
    }
    await boots(1)
    writeFileSync(join(volume.mountpoint, 'kept'), 'kept\n')
    await dockerd.stop()
    assert.equal(json<Volume[]>(cbs(root, ['volume', 'inspect', name, '--json']))[0].status, 'mounted')
    await dockerd.start()
    await boots(2)
    assert.equal(dockerd.must(['inspect', '--format', '{{.State.Running}}', started.stdout.trim()]), 'true\n')
    assert.equal(dockerd.must(['exec', started.stdout.trim(), 'cat', '/d/kept']), 'kept\n')
    dockerd.must(['rm', '--force', started.stdout.trim()])
  })
})


describe('integration: docker-compose with driver: <the plugin>', function () {
  this.timeout(300_000)
  let root: string
  let setup: DockerWithPlugin
  let project: string

  before(async function () {
    requireRuntime.call(this, 'docker')
    if (spawnSync('sh', ['-c', 'command -v docker-compose']).status !== 0) {
      if (process.env.CI === 'true') throw new Error('docker-compose is not installed (.ci/containers.sh installs it)')
      console.log('      SKIPPED (docker-compose is not installed)')
      this.skip()
    }
    project = `cbsp-${randomBytes(3).toString('hex')}`
    setup = await startDockerWithPlugin()
    root = setup.root
  })
  after(async () => {
    if (!root) return
    setup.dockerd.run(['volume', 'rm', '--force', `${project}_data`])
    await setup.remove()
    assert.deepEqual(leftovers(root), [])
  })

  it('a volume of driver_opts {size: 48M} is a cbs volume of that size; down -v removes it', () => {
    const file = join(root, 'compose.yml')
    writeFileSync(
      file,
      `version: "2.4"
services:
  app:
    image: ${IMAGE}
    network_mode: none
    command: ["sh", "-c", "echo compose >/data/hello"]
    volumes: ["data:/data"]
volumes:
  data:
    driver: ${setup.driver}
    driver_opts:
      size: 48M
`,
    )
    const compose = (args: string[]) => spawnSync('docker-compose', ['--project-name', project, '--file', file, ...args], {encoding: 'utf8', timeout: 120_000, env: setup.dockerd.env})
    const up = compose(['up', '--abort-on-container-exit'])
    assert.equal(up.status, 0, up.stderr)
    const [volume] = json<Volume[]>(cbs(root, ['volume', 'inspect', `${project}_data`, '--json']))
    assert.equal(volume.sizeBytes, 48 * 1024 ** 2)
    assert.equal(readFileSync(join(volume.mountpoint, 'hello'), 'utf8'), 'compose\n')
    const down = compose(['down', '--volumes'])
    assert.equal(down.status, 0, down.stderr)
    assert.equal(cbs(root, ['volume', 'inspect', `${project}_data`]).code, 3)
  })
})

describe('integration: podman through its [engine.volume_plugins] entry', function () {
  this.timeout(300_000)
  let root: string
  let plugin: PluginServer
  let driver: string
  let name: string
  const podman = (args: string[]) => {
    const result = spawnSync('podman', args, {encoding: 'utf8', timeout: 120_000, env: {...process.env, CONTAINERS_CONF: join(root, 'containers.conf')}})
    return {code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr}
  }

  before(async function () {
    requireRuntime.call(this, 'podman')
    root = makeRoot()
    driver = `cbs-test-${randomBytes(4).toString('hex')}`
    name = `${driver}-vol`
    plugin = await new PluginServer(root).start()
    // The test's own copy of the podman settings, with the plugin added by `cbs plugin install`.
    writeFileSync(join(root, 'containers.conf'), readFileSync(process.env.CONTAINERS_CONF!, 'utf8'))
    const installed = cbs(root, ['plugin', 'install', '--name', driver, '--socket', plugin.socket, '--containers-conf', join(root, 'containers.conf'), '--dir', join(root, 'systemd')])
    assert.equal(installed.code, 0, installed.stderr)
    assert.equal(installed.stdout, [join(root, 'containers.conf'), join(root, 'systemd', 'cbs-plugin.service'), join(root, 'systemd', 'cbs-plugin.socket'), ''].join('\n'))
  })
  after(async () => {
    if (!root) return
    podman(['rm', '--force', '--time', '0', '--filter', `label=cbs.test=${root}`])
    podman(['volume', 'rm', '--force', name])
    await plugin.stop()
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  it('podman volume create --driver, run, write, run again and read back; podman volume rm removes the cbs volume', () => {
    assert.match(readFileSync(join(root, 'containers.conf'), 'utf8'), new RegExp(`^\\[engine\\.volume_plugins\\]\\n${driver} = "${plugin.socket}"$`, 'm'))
    const created = podman(['volume', 'create', '--driver', driver, '-o', 'size=32M', name])
    assert.equal(created.code, 0, created.stderr)
    const run = (script: string) => podman(['run', '--rm', '--label', `cbs.test=${root}`, '-v', `${name}:/d`, IMAGE, 'sh', '-c', script])
    const written = run('echo podman >/d/hello')
    assert.equal(written.code, 0, written.stderr)
    assert.equal(run('cat /d/hello').stdout, 'podman\n')
    const [volume] = json<Volume[]>(cbs(root, ['volume', 'inspect', name, '--json']))
    assert.equal(volume.sizeBytes, 32 * 1024 ** 2)
    assert.equal(JSON.parse(podman(['volume', 'inspect', name]).stdout)[0].Driver, driver)
    const removed = podman(['volume', 'rm', name])
    assert.equal(removed.code, 0, removed.stderr)
    assert.equal(cbs(root, ['volume', 'inspect', name]).code, 3)
  })
})
