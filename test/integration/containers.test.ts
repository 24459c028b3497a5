import assert from 'node:assert/strict'
import {createHash, randomBytes} from 'node:crypto'
import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {cbs, json, jsonOne, leftovers, makeRoot, removeRoot} from '../support/integration.js'
import {cleanRuntime, IMAGE, must, requireRuntime, runtime, type TestRuntime} from '../support/runtimes.js'

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

for (const engine of ['docker', 'podman'] as const) {
  describe(`integration: volumes in ${engine} containers`, function () {
    this.timeout(180_000)
    let root: string
    let name: string
    /** `engine run --rm --network none -v NAME:/data IMAGE sh -c SCRIPT`, labelled for cleanup. */
    const inContainer = (script: string, options: string[] = ['--rm']) =>
      runtime(engine, ['run', ...options, '--network', 'none', '--label', `cbs.test=${root}`, '-v', `${name}:/data`, IMAGE, 'sh', '-c', script])
    const create = () => jsonOne<Volume>(cbs(root, ['volume', 'create', name, '--size', '32M', '--json']))
    const attach = () => {
      const attached = cbs(root, ['volume', 'attach', name, '--runtime', engine])
      assert.equal(attached.code, 0, attached.stderr)
      assert.equal(attached.stdout, `${name}\n`)
    }

    before(function () {
      requireRuntime.call(this, engine)
    })
    beforeEach(() => {
      root = makeRoot()
      name = `cbsit-${randomBytes(4).toString('hex')}`
    })
    afterEach(() => {
      cleanRuntime(engine, root, [name])
      removeRoot(root)
      assert.deepEqual(leftovers(root), [])
    })

    it('data written in a container outlives it: the host and a new container read the same bytes; the size limit holds inside', () => {
      const volume = create()
      attach()
      const written = inContainer('head -c 1048576 /dev/urandom >/data/blob && sha256sum /data/blob')
      assert.equal(written.code, 0, written.stderr)
      const digest = written.stdout.split(' ')[0]
      assert.equal(sha256(readFileSync(`${volume.mountpoint}/blob`)), digest, 'host reads the same bytes')
      const reread = inContainer('sha256sum /data/blob')
      assert.equal(reread.stdout.split(' ')[0], digest, 'a new container reads the same bytes')

      const full = inContainer('dd if=/dev/zero of=/data/fill bs=1M count=64; df -k /data | tail -n 1')
      assert.match(full.stderr, /No space left on device/)
      assert.equal(runtime(engine, ['volume', 'inspect', name]).code, 0)

      const [inspected] = json<Volume[]>(cbs(root, ['volume', 'inspect', name, '--json']))
      assert.deepEqual(inspected.attachments, [{runtime: engine, name, containers: []}])
      assert.match(cbs(root, ['volume', 'ls']).stdout, new RegExp(`^${name}\\s.*\\s${engine}$`, 'm'))
      assert.match(cbs(root, ['volume', 'inspect', name]).stdout, new RegExp(`^Attached:\\s+${engine}: volume ${name}$`, 'm'))
    })

    it('a container that exists (stopped) blocks detach and rm; removing the runtime view never loses data', () => {
      const volume = create()
      attach()
      const container = `${name}-c`
      assert.equal(inContainer('echo kept >/data/f', ['--name', container]).code, 0)
      for (const args of [['volume', 'detach', name], ['volume', 'rm', name]]) {
        const refused = cbs(root, args)
        assert.equal(refused.code, 4, `${args.join(' ')}: ${refused.stderr}`)
        assert.match(refused.stderr, new RegExp(`^cbs: volume "${name}" is used by container ${container} \\(${engine} [0-9a-f]{12}, exited\\): remove it first \\(${engine} rm ${container}\\)\\n$`))
      }
      assert.equal(json<Volume[]>(cbs(root, ['volume', 'inspect', name, '--json']))[0].status, 'mounted')

      must(engine, ['rm', '-v', container])
      assert.equal(readFileSync(`${volume.mountpoint}/f`, 'utf8'), 'kept\n', `after ${engine} rm -v`)
      must(engine, ['volume', 'rm', name])
      assert.equal(readFileSync(`${volume.mountpoint}/f`, 'utf8'), 'kept\n', `after ${engine} volume rm`)
      attach()
      pruneAllVolumes(engine, root)
      assert.equal(readFileSync(`${volume.mountpoint}/f`, 'utf8'), 'kept\n', `after ${engine} volume prune`)

      attach()
      assert.equal(inContainer('cat /data/f').stdout, 'kept\n')
      const removed = cbs(root, ['volume', 'rm', name])
      assert.equal(removed.code, 0, removed.stderr)
      assert.notEqual(runtime(engine, ['volume', 'inspect', name]).code, 0, 'rm removed the registration')
    })

    it('detach removes the registration and keeps the data; it refuses nothing once the containers are gone', () => {
      const volume = create()
      attach()
      assert.equal(inContainer('echo x >/data/x').code, 0)
      const detached = cbs(root, ['volume', 'detach', name])
      assert.equal(detached.code, 0, detached.stderr)
      assert.equal(detached.stdout, `${engine}\n`)
      assert.notEqual(runtime(engine, ['volume', 'inspect', name]).code, 0)
      assert.equal(readFileSync(`${volume.mountpoint}/x`, 'utf8'), 'x\n')
      assert.deepEqual(json<Volume[]>(cbs(root, ['volume', 'inspect', name, '--json']))[0].attachments, [])
    })

    it('survives a reboot: unmount --all, mount --all, and a new container sees the data again', () => {
      const volume = create()
      attach()
      assert.equal(inContainer('echo before >/data/f').code, 0)
      const running = `${name}-run`
      assert.equal(inContainer('sleep 600', ['-d', '--name', running]).code, 0)
      const busy = cbs(root, ['volume', 'unmount', '--all'])
      assert.equal(busy.code, 4, busy.stderr)
      assert.match(busy.stderr, new RegExp(`used by container ${running} \\(${engine} [0-9a-f]{12}, running\\): stop it first`))
      must(engine, ['rm', '--force', ...(engine === 'podman' ? ['--time', '0'] : []), running])

      const down = cbs(root, ['volume', 'unmount', '--all'])
      assert.equal(down.code, 0, down.stderr)
      // While unmounted, a container bound to it cannot write to the host disk underneath.
      const leak = inContainer('echo leak >/data/leak')
      assert.notEqual(leak.code, 0, 'writing to an unmounted volume fails')
      assert.ok(!existsSync(`${volume.mountpoint}/leak`))

      const up = cbs(root, ['volume', 'mount', '--all'])
      assert.equal(up.code, 0, up.stderr)
      assert.equal(inContainer('cat /data/f').stdout, 'before\n')
    })

    it('--container mounts the volume into a running container without restarting it; detach --container undoes it', () => {
      const volume = create()
      writeFileSync(`${volume.mountpoint}/hello`, 'from the host\n')
      const web = `${name}-web`
      must(engine, ['run', '-d', '--name', web, '--network', 'none', '--label', `cbs.test=${root}`, IMAGE, 'sleep', '600'])
      const startedAt = () => must(engine, ['container', 'inspect', '--format', '{{.State.StartedAt}}', web])
      const before = startedAt()
      const attached = cbs(root, ['volume', 'attach', name, '-r', engine, '--container', web, '--target', '/live/data'])
      assert.equal(attached.code, 0, attached.stderr)
      assert.equal(must(engine, ['exec', web, 'cat', '/live/data/hello']), 'from the host\n')
      must(engine, ['exec', web, 'sh', '-c', 'echo from the container >/live/data/back'])
      assert.equal(readFileSync(`${volume.mountpoint}/back`, 'utf8'), 'from the container\n')
      assert.doesNotMatch(must(engine, ['exec', web, 'ls', '-a', '/dev']), /cbs/, 'no device node left in the container')
      assert.equal(startedAt(), before, 'not restarted')
      assert.match(cbs(root, ['volume', 'inspect', name]).stdout, new RegExp(`^Attached:\\s+${engine}: mounted in ${web} at /live/data$`, 'm'))
      for (const args of [['volume', 'detach', name], ['volume', 'rm', name], ['volume', 'unmount', name]]) {
        const refused = cbs(root, args)
        assert.equal(refused.code, 4, `${args.join(' ')}: ${refused.stderr}`)
        assert.match(refused.stderr, new RegExp(`used by container ${web} .*cbs volume detach ${name} --container ${web}`))
      }
      const detached = cbs(root, ['volume', 'detach', name, '--container', web])
      assert.equal(detached.code, 0, detached.stderr)
      assert.notEqual(runtime(engine, ['exec', web, 'grep', ' /live/data ', '/proc/mounts']).code, 0, 'unmounted in the container')
      assert.equal(cbs(root, ['volume', 'unmount', name]).code, 0, 'nothing holds it any more')
    })

    it('--container: a container that swaps device nodes in its /dev cannot get another device mounted', () => {
      const volume = create()
      writeFileSync(`${volume.mountpoint}/whose`, 'the volume\n')
      const decoy = jsonOne<Volume>(cbs(root, ['volume', 'create', `${name}-decoy`, '--size', '32M', '--json']))
      writeFileSync(`${decoy.mountpoint}/whose`, 'the decoy\n')
      const deviceAt = (mountinfo: string, path: string) => mountinfo.split('\n').findLast((line) => line.split(' ')[4] === path)?.split(' ')[2]
      const [major, minor] = deviceAt(readFileSync('/proc/self/mountinfo', 'utf8'), decoy.mountpoint)!.split(':')
      // Any block node appearing in its /dev is replaced at once by one for the decoy's loop device.
      const swapper = `${root}/dev-swapper`
      execFileSync('gcc', ['-static', '-O2', '-o', swapper, fileURLToPath(new URL('fixtures/dev-swapper.c', import.meta.url))])
      const hostile = `${name}-hostile`
      must(engine, ['run', '-d', '--name', hostile, '--network', 'none', '--label', `cbs.test=${root}`, '--cap-add', 'MKNOD', '-v', `${swapper}:/dev-swapper:ro`, IMAGE, '/dev-swapper', major, minor])
      const logs = () => must(engine, ['logs', hostile])
      const waitFor = (text: string) => {
        for (let tries = 0; !logs().includes(text); tries++) {
          assert.ok(tries < 200, `the swapper never printed "${text}": ${logs()}`)
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50)
        }
      }
      waitFor('watching\n')
      must(engine, ['exec', hostile, 'touch', '/dev/probe'])
      waitFor('swapped probe\n') // it can: the test is not vacuous

      const attached = cbs(root, ['volume', 'attach', name, '-r', engine, '--container', hostile, '--target', '/data'])
      assert.equal(attached.code, 0, attached.stderr)
      assert.equal(must(engine, ['exec', hostile, 'cat', '/data/whose']), 'the volume\n')
      const volumeDevice = deviceAt(readFileSync('/proc/self/mountinfo', 'utf8'), volume.mountpoint)
      const inside = must(engine, ['exec', hostile, 'cat', '/proc/self/mountinfo'])
      assert.equal(deviceAt(inside, '/data'), volumeDevice, 'the volume\'s filesystem is mounted at /data')
      assert.match(inside, /^\d+ \d+ \d+:\d+ \/ \/data \S+ - ext4 /m, 'a private mount: no peer group with the host (no shared: or master: field)')
      assert.equal(logs(), 'watching\nswapped probe\n', 'cbs made no node in the container\'s /dev for it to swap')
      const detached = cbs(root, ['volume', 'detach', name, '--container', hostile])
      assert.equal(detached.code, 0, detached.stderr)
      assert.equal(must(engine, ['exec', hostile, 'cat', '/proc/self/mountinfo']).includes(' /data '), false)
    })

    it('--container resolves --target inside the container: no symlink leads out of its root or into its /proc', () => {
      create()
      const web = `${name}-web`
      must(engine, ['run', '-d', '--name', web, '--network', 'none', '--label', `cbs.test=${root}`, IMAGE, 'sleep', '600'])
      must(engine, ['exec', web, 'sh', '-c', 'ln -s ../../../.. /up && ln -s /proc/sys /kernel'])
      const intoProc = cbs(root, ['volume', 'attach', name, '-r', engine, '--container', web, '--target', '/kernel/cbs'])
      assert.equal(intoProc.code, 5, intoProc.stderr)
      assert.match(intoProc.stderr, new RegExp(`^cbs: could not mount volume "${name}" at /kernel/cbs in container ${web} \\(.+\\): check the target inside the container\\n$`))
      const outward = cbs(root, ['volume', 'attach', name, '-r', engine, '--container', web, '--target', `/up/${name}`])
      assert.equal(outward.code, 0, outward.stderr)
      assert.equal(existsSync(`/${name}`), false, 'nothing made on the host')
      assert.match(must(engine, ['exec', web, 'cat', '/proc/self/mountinfo']), new RegExp(` /${name} `), 'mounted at the container\'s own root')
      assert.deepEqual(json<Volume[]>(cbs(root, ['volume', 'inspect', name, '--json']))[0].attachments[0].live?.map((live) => live.target), [`/${name}`])
      const detached = cbs(root, ['volume', 'detach', name, '--container', web])
      assert.equal(detached.code, 0, detached.stderr)
      assert.doesNotMatch(must(engine, ['exec', web, 'cat', '/proc/self/mountinfo']), new RegExp(` /${name} `))
    })

    it('attachments shown are what the runtime has: after rm of a --target container, volume rm, detach --container; doctor --fix forgets the rest', () => {
      create()
      const run = ['--network', 'none', '--label', `cbs.test=${root}`]
      const attached = () => cbs(root, ['volume', 'ls', '--format', '{{.Name}} {{json .Attachments}}']).stdout
      const detailed = () => cbs(root, ['volume', 'inspect', name]).stdout
      // As `docker run`: cbs exits with the container's own status, and --json still names the container.
      const failed = cbs(root, ['volume', 'attach', name, '-r', engine, '-t', '/data', '--json', '--', ...run, IMAGE, 'sh', '-c', 'exit 3'])
      assert.equal(failed.code, 3, failed.stderr)
      const [{container}] = json<Array<{container: string}>>(failed)
      assert.match(container, /^[0-9a-f]{64}$/)
      assert.equal(cbs(root, ['volume', 'attach', name, '-r', engine, '-t', '/data', '--', ...run, '--rm', IMAGE, 'true']).code, 0)
      attach()
      assert.match(cbs(root, ['volume', 'ls']).stdout, new RegExp(`^${name}\\s.*\\s${engine}$`, 'm'))
      assert.equal(attached(), `${name} ${JSON.stringify([{runtime: engine, name, containers: [container]}])}\n`)

      must(engine, ['rm', container])
      assert.equal(attached(), `${name} ${JSON.stringify([{runtime: engine, name, containers: []}])}\n`, `after ${engine} rm`)
      assert.match(detailed(), new RegExp(`^Attached:\\s+${engine}: volume ${name}$`, 'm'))
      must(engine, ['volume', 'rm', name])
      assert.equal(attached(), `${name} []\n`, `after ${engine} volume rm`)
      assert.match(cbs(root, ['volume', 'ls']).stdout, new RegExp(`^${name}\\s.*\\s-$`, 'm'))
      assert.doesNotMatch(detailed(), /^Attached:/m)

      const doctor = cbs(root, ['doctor'])
      assert.match(doctor.stdout, new RegExp(`volume "${name}" records an attachment to ${engine} that ${engine} no longer has \\(volume ${name}, container ${container.slice(0, 12)}, container [0-9a-f]{12}\\)`), 'the --rm one too')
      const fixed = cbs(root, ['doctor', '--fix'])
      assert.match(fixed.stdout, new RegExp(`forgot what ${engine} no longer has of volume "${name}"`))
      assert.doesNotMatch(cbs(root, ['doctor']).stdout, /no longer has/)

      // A live mount undone with detach --container leaves nothing behind, not "bind mount only".
      const web = `${name}-web`
      must(engine, ['run', '-d', '--name', web, ...run, IMAGE, 'sleep', '600'])
      assert.equal(cbs(root, ['volume', 'attach', name, '-r', engine, '--container', web, '--target', '/live']).code, 0)
      assert.match(detailed(), new RegExp(`^Attached:\\s+${engine}: mounted in ${web} at /live$`, 'm'))
      assert.equal(cbs(root, ['volume', 'detach', name, '--container', web]).code, 0)
      assert.equal(attached(), `${name} []\n`)
      assert.doesNotMatch(detailed(), /^Attached:/m)
    })

    it('--target runs a container with the volume bound, records it, and mounts the volume first', () => {
      const volume = create()
      const run = ['--network', 'none', '--label', `cbs.test=${root}`]
      const started = cbs(root, ['volume', 'attach', name, '--runtime', engine, '--target', '/data', '--json', '--', ...run, '-d', IMAGE, 'sh', '-c', 'echo t >/data/t; sleep 600'])
      assert.equal(started.code, 0, started.stderr)
      const {container} = jsonOne<{container: string}>(started)
      assert.match(container, /^[0-9a-f]{64}$/)
      assert.deepEqual(json<Volume[]>(cbs(root, ['volume', 'inspect', name, '--json']))[0].attachments, [{runtime: engine, name: null, containers: [container]}])
      for (const args of [['volume', 'detach', name], ['volume', 'rm', name], ['volume', 'unmount', name]]) {
        const refused = cbs(root, args)
        assert.equal(refused.code, 4, `${args.join(' ')}: ${refused.stderr}`)
        assert.match(refused.stderr, new RegExp(`\\(${engine} ${container.slice(0, 12)}, running\\)`))
      }
      must(engine, ['rm', '--force', ...(engine === 'podman' ? ['--time', '0'] : []), container])
      assert.equal(readFileSync(`${volume.mountpoint}/t`, 'utf8'), 't\n')

      assert.equal(cbs(root, ['volume', 'unmount', name]).code, 0)
      const again = cbs(root, ['volume', 'attach', name, '-r', engine, '-t', '/data', '--', ...run, '--rm', IMAGE, 'cat', '/data/t'])
      assert.equal(again.code, 0, again.stderr)
      assert.equal(again.stdout, 't\n', 'the container output passes through, and it saw the mounted volume')
      const detached = cbs(root, ['volume', 'detach', name])
      assert.equal(detached.code, 0, detached.stderr)
      assert.deepEqual(json<Volume[]>(cbs(root, ['volume', 'inspect', name, '--json']))[0].attachments, [])
    })

    it('--target with a union volume: unmount is refused while the container runs, and the overlay the container writes to stays the only one on its upper', () => {
      const base = `${name}-db`
      assert.equal(cbs(root, ['volume', 'create', base, '--size', '16M']).code, 0)
      assert.equal(cbs(root, ['volume', 'snapshot', 'create', base, 'seed']).code, 0)
      const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', name, '--type', 'overlay', '--lower', `${base}@seed`, '--size', '16M', '--json']))
      const run = ['--network', 'none', '--label', `cbs.test=${root}`]
      const started = cbs(root, ['volume', 'attach', name, '--runtime', engine, '--target', '/data', '--', ...run, '-d', IMAGE, 'sleep', '600'])
      assert.equal(started.code, 0, started.stderr)
      // The overlay's anonymous device: a second overlay on the same upper would have another.
      const overlay = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((line) => line.split(' ')[4] === volume.mountpoint)?.split(' ')[2]
      const before = overlay()
      const refused = cbs(root, ['volume', 'unmount', name])
      assert.equal(refused.code, 4, refused.stderr)
      assert.match(refused.stderr, new RegExp(`\\(${engine} [0-9a-f]{12}, running\\)`))
      assert.equal(overlay(), before, 'the same overlay, never unmounted and mounted again')
      cleanRuntime(engine, root, [])
      const unmounted = cbs(root, ['volume', 'unmount', name])
      assert.equal(unmounted.code, 0, unmounted.stderr)
      const removed = cbs(root, ['volume', 'rm', name, base, '-r'])
      assert.equal(removed.code, 0, removed.stderr)
    })
  })
}

describe('integration: runtime selection', function () {
  this.timeout(60_000)
  let root: string
  let name: string
  before(function () {
    requireRuntime.call(this, 'docker')
  })
  beforeEach(() => {
    root = makeRoot()
    name = `cbsit-${randomBytes(4).toString('hex')}`
  })
  afterEach(() => {
    cleanRuntime('docker', root, [name])
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  it('exits 5 naming a runtime whose daemon does not answer, 2 for an unknown CBS_RUNTIME; the first that answers is used', () => {
    assert.equal(cbs(root, ['volume', 'create', name, '--size', '16M']).code, 0)
    const down = cbs(root, ['volume', 'attach', name], {env: {CBS_RUNTIME: 'docker', DOCKER_HOST: `unix://${root}/no.sock`}})
    assert.equal(down.code, 5, down.stderr)
    assert.match(down.stderr, /^cbs: docker does not answer \(.*\): install or start it, or choose another runtime with --runtime or CBS_RUNTIME\n$/)
    const unknown = cbs(root, ['volume', 'attach', name], {env: {CBS_RUNTIME: 'lxc'}})
    assert.equal(unknown.code, 2, unknown.stderr)
    const detected = cbs(root, ['volume', 'attach', name, '--json'], {env: {CBS_RUNTIME: ''}})
    assert.equal(detected.code, 0, detected.stderr)
    assert.deepEqual(jsonOne<Volume>(detected).attachments.map((attachment) => attachment.runtime), ['docker'])
    assert.equal(cbs(root, ['volume', 'create', 'v', '--size', '16M']).code, 0)
    assert.equal(cbs(root, ['volume', 'attach', 'v', '--runtime', 'docker']).code, 2, 'docker wants names of two characters or more')
    assert.equal(cbs(root, ['volume', 'rm', 'v', name]).code, 0)
    assert.notEqual(runtime('docker', ['volume', 'inspect', name]).code, 0)
  })
})

describe('integration: volumes in nerdctl containers', function () {
  this.timeout(180_000)
  let root: string
  before(function () {
    requireRuntime.call(this, 'nerdctl')
  })
  beforeEach(() => {
    root = makeRoot()
  })
  afterEach(() => {
    cleanRuntime('nerdctl', root, [])
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  it('attach prints the --mount flag; data written through it outlives the container; --target works', () => {
    const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'n', '--size', '16M', '--json']))
    const attached = cbs(root, ['volume', 'attach', 'n', '--runtime', 'nerdctl'])
    assert.equal(attached.code, 0, attached.stderr)
    assert.equal(attached.stdout, `--mount=type=bind,source=${volume.mountpoint}\n`)
    const flag = `${attached.stdout.trim()},target=/data`
    must('nerdctl', ['run', '--rm', '--network', 'none', '--label', `cbs.test=${root}`, flag, IMAGE, 'sh', '-c', 'echo n >/data/n'])
    assert.equal(readFileSync(`${volume.mountpoint}/n`, 'utf8'), 'n\n')
    const started = cbs(root, ['volume', 'attach', 'n', '-r', 'nerdctl', '-t', '/data', '--json', '--', '--network', 'none', '--label', `cbs.test=${root}`, '-d', IMAGE, 'sleep', '600'])
    assert.equal(started.code, 0, started.stderr)
    assert.equal(cbs(root, ['volume', 'detach', 'n']).code, 4)
    must('nerdctl', ['rm', '--force', jsonOne(started).container])
    assert.equal(cbs(root, ['volume', 'detach', 'n']).code, 0)
    assert.equal(cbs(root, ['volume', 'rm', 'n']).code, 0)
  })
})

/**
 * `docker volume prune -a` (API 1.42+; an older daemon prunes named volumes without -a; podman has
 * no -a), limited to this test's volumes: the daemon is shared.
 */
function pruneAllVolumes(engine: TestRuntime, root: string): void {
  const filter = ['--filter', `label=cbs.root=${root}`]
  const all = runtime(engine, ['volume', 'prune', '--force', ...filter, ...(engine === 'docker' ? ['--all'] : [])])
  if (all.code === 0) return
  assert.match(all.stderr, /requires API version/, all.stderr)
  must(engine, ['volume', 'prune', '--force', ...filter])
}
