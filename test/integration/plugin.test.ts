import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {statSync} from 'node:fs'
import {join} from 'node:path'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {cbs, json, leftovers, makeRoot, REPO, removeRoot, requireHost} from '../support/integration.js'
import {call, PluginServer} from '../support/plugin.js'

describe('integration: cbs plugin serve, at the protocol level', function () {
  this.timeout(120_000)
  let root: string
  let plugin: PluginServer

  before(function () {
    requireHost.call(this)
  })
  beforeEach(async () => {
    root = makeRoot()
    plugin = await new PluginServer(root).start()
  })
  afterEach(async () => {
    await plugin.stop('SIGKILL')
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  it('answers Activate and Capabilities on a socket only root may use (mode 0600)', async () => {
    const stat = statSync(plugin.socket)
    assert.ok(stat.isSocket())
    assert.equal(stat.mode & 0o777, 0o600)
    assert.equal(stat.uid, 0)
    assert.deepEqual((await plugin.call('/Plugin.Activate')).body, {Implements: ['VolumeDriver']})
    assert.deepEqual((await plugin.call('/VolumeDriver.Capabilities', null)).body, {Capabilities: {Scope: 'local'}})
  })

  it('refuses bad JSON, an unknown endpoint, an oversize body, a bad name and a bad option with Err, and keeps running', async () => {
    const refused = [
      [await plugin.call('/VolumeDriver.Get', undefined, '{"Name": '), 400, /not valid JSON/],
      [await plugin.call('/VolumeDriver.Get', [1]), 400, /must be a JSON object/],
      [await plugin.call('/VolumeDriver.Nope', {}), 404, /unknown endpoint \/VolumeDriver\.Nope/],
      [await plugin.call('/VolumeDriver.Create', {Name: 'x', Opts: {pad: 'x'.repeat(70_000)}}), 413, /larger than 65536 bytes/],
      [await plugin.call('/VolumeDriver.Create', {Name: '../etc'}), 500, /^invalid volume name "\.\.\/etc"/],
      [await plugin.call('/VolumeDriver.Create', {}), 500, /no volume Name/],
      [await plugin.call('/VolumeDriver.Mount', {Name: 'x'}), 500, /no valid caller ID/],
      [await plugin.call('/VolumeDriver.Create', {Name: 'x', Opts: {colour: 'red'}}), 500, /^unknown option "colour": cbs takes -o size=/],
      [await plugin.call('/VolumeDriver.Get', {Name: 'nothere'}), 500, /^no such volume: nothere/],
    ] as const
    for (const [reply, status, message] of refused) {
      assert.equal(reply.status, status, JSON.stringify(reply.body))
      assert.match(reply.body.Err, message)
    }
    // A bad value gets exactly the CLI's message.
    const cli = cbs(root, ['volume', 'create', 'x', '--size', '12Q'])
    assert.equal(cli.code, 2)
    const viaPlugin = await plugin.call('/VolumeDriver.Create', {Name: 'x', Opts: {size: '12Q'}})
    assert.equal(`cbs: ${viaPlugin.body.Err}\n`, cli.stderr)
    assert.deepEqual((await plugin.call('/Plugin.Activate')).body, {Implements: ['VolumeDriver']})
    assert.deepEqual(json<Volume[]>(cbs(root, ['volume', 'ls', '--json'])), [])
    assert.match(plugin.stderr, /^POST \/VolumeDriver\.Get 400 \d+ms: request body is not valid JSON$/m)
  })

  it('Create, Get, List, Mount, Path, Unmount and Remove act on the same volumes as the CLI', async () => {
    assert.deepEqual((await plugin.call('/VolumeDriver.Create', {Name: 'web', Opts: {size: '300M', fs: 'xfs', label: 'env=ci,team=web'}})).body, {})
    const [made] = json<Volume[]>(cbs(root, ['volume', 'inspect', 'web', '--json']))
    assert.equal(made.sizeBytes, 300 * 1024 ** 2)
    assert.equal(made.fs, 'xfs')
    assert.deepEqual(made.labels, {env: 'ci', team: 'web'})
    assert.equal(cbs(root, ['volume', 'create', 'cli', '--size', '32M']).code, 0)

    const got = (await plugin.call('/VolumeDriver.Get', {Name: 'cli'})).body
    assert.equal(got.Volume.Name, 'cli')
    assert.equal(got.Volume.Mountpoint, `${root}/mounts/cli`)
    assert.equal(got.Volume.Status.status, 'mounted')
    const listed = (await plugin.call('/VolumeDriver.List')).body
    assert.deepEqual(listed.Volumes.map((volume: {Name: string}) => volume.Name), ['cli', 'web'])

    // A volume its user unmounted comes back on Mount; two callers, and it stays mounted after both left.
    assert.equal(cbs(root, ['volume', 'unmount', 'cli']).code, 0)
    for (const id of ['c1', 'c2']) assert.deepEqual((await plugin.call('/VolumeDriver.Mount', {Name: 'cli', ID: id})).body, {Mountpoint: `${root}/mounts/cli`})
    assert.equal((await plugin.call('/VolumeDriver.Get', {Name: 'cli'})).body.Volume.Status.containers, 2)
    assert.match((await plugin.call('/VolumeDriver.Remove', {Name: 'cli'})).body.Err, /^volume "cli" is mounted by 2 container\(s\)/)
    for (const id of ['c1', 'c2']) assert.deepEqual((await plugin.call('/VolumeDriver.Unmount', {Name: 'cli', ID: id})).body, {})
    assert.deepEqual((await plugin.call('/VolumeDriver.Path', {Name: 'cli'})).body, {Mountpoint: `${root}/mounts/cli`})
    assert.equal(json<Volume[]>(cbs(root, ['volume', 'inspect', 'cli', '--json']))[0].status, 'mounted')

    // Remove refuses a volume with snapshots, as cbs volume rm does, with what a docker user can do (no -r to pass).
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'web', 's1']).code, 0)
    const refused = await plugin.call('/VolumeDriver.Remove', {Name: 'web'})
    const cli = cbs(root, ['volume', 'rm', 'web']).stderr
    assert.ok(cli.startsWith('cbs: volume "web" has snapshots: web@s1: '), cli)
    assert.equal(refused.body.Err, 'volume "web" has snapshots: web@s1: remove them first with `cbs volume snapshot rm`, or the volume with them with `cbs volume rm -r web`')
    assert.equal(cbs(root, ['volume', 'snapshot', 'rm', 'web@s1']).code, 0)
    for (const name of ['web', 'cli']) assert.deepEqual((await plugin.call('/VolumeDriver.Remove', {Name: name})).body, {})
    assert.deepEqual(json<Volume[]>(cbs(root, ['volume', 'ls', '--json'])), [])
  })

  it('-o type=overlay with lower=, and -o from=VOLUME@SNAPSHOT, as the CLI\'s --type, --lower and --from', async () => {
    assert.equal(cbs(root, ['volume', 'create', 'base', '--size', '32M']).code, 0)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'base', 's1']).code, 0)
    assert.deepEqual((await plugin.call('/VolumeDriver.Create', {Name: 'u', Opts: {type: 'overlay', lower: 'base@s1', size: '32M'}})).body, {})
    assert.deepEqual((await plugin.call('/VolumeDriver.Create', {Name: 'copy', Opts: {from: 'base@s1'}})).body, {})
    const [union, copy] = json<Volume[]>(cbs(root, ['volume', 'inspect', 'u', 'copy', '--json']))
    assert.equal(union.type, 'overlay')
    assert.equal(copy.sizeBytes, 32 * 1024 ** 2)
    const stacked = await plugin.call('/VolumeDriver.Remove', {Name: 'base'})
    assert.match(stacked.body.Err, /has snapshots|union volumes stack/)
    assert.equal(cbs(root, ['volume', 'rm', '--force', '--recursive', 'u', 'copy', 'base']).code, 0)
  })

  it('SIGTERM: the Create in flight finishes, nothing is unmounted, the socket goes', async () => {
    assert.equal(cbs(root, ['volume', 'create', 'kept', '--size', '32M']).code, 0)
    await plugin.stop('SIGKILL')
    await plugin.start({}, ['--verbose'])
    // SIGTERM as soon as the Create's system work begins (losetup, mkfs and mount are still to come).
    const child = plugin.child!
    const signalled = new Promise<void>((resolve) => {
      const onData = () => {
        if (!plugin.stderr.includes('+ truncate')) return
        child.stderr!.off('data', onData)
        child.kill('SIGTERM')
        resolve()
      }
      child.stderr!.on('data', onData)
    })
    const creating = plugin.call('/VolumeDriver.Create', {Name: 'late', Opts: {size: '32M'}})
    await signalled
    const code = await plugin.stop('SIGTERM')
    assert.deepEqual((await creating).body, {})
    assert.equal(code, 0, plugin.stderr)
    const handled = plugin.stderr.indexOf('SIGTERM: finishing the requests in flight')
    const answered = plugin.stderr.indexOf('POST /VolumeDriver.Create "late" 200')
    assert.ok(handled >= 0 && answered > handled, `the signal came while the Create was in flight:\n${plugin.stderr}`)
    const volumes = json<Volume[]>(cbs(root, ['volume', 'ls', '--json']))
    assert.deepEqual(volumes.map((volume) => [volume.name, volume.status]), [['kept', 'mounted'], ['late', 'mounted']])
    assert.throws(() => statSync(plugin.socket))
  })

  it('SIGKILL in the middle of a Create, then a restart: nothing is left half made', async () => {
    await plugin.stop('SIGKILL')
    await plugin.start({CBS_TEST_PAUSE_AT: 'create:format'})
    const creating = plugin.call('/VolumeDriver.Create', {Name: 'half', Opts: {size: '32M'}}).catch((error) => error)
    await plugin.waitFor('paused at create:format')
    await plugin.stop('SIGKILL')
    assert.ok((await creating) instanceof Error, 'the caller sees the connection drop')
    await plugin.start()
    // dockerd retries the Create on the restarted plugin: it rolls the dead one back first.
    assert.deepEqual((await plugin.call('/VolumeDriver.Create', {Name: 'half', Opts: {size: '32M'}})).body, {})
    const [volume] = json<Volume[]>(cbs(root, ['volume', 'ls', '--json']))
    assert.equal(volume.status, 'mounted')
    const doctor = cbs(root, ['doctor'])
    assert.equal(doctor.code, 0, doctor.stdout)
  })
})

describe('integration: volumes come back as they were, and the plugin under socket activation', function () {
  this.timeout(120_000)
  let root: string

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'chattr', 'systemd-socket-activate'])
  })
  beforeEach(() => {
    root = makeRoot()
  })
  afterEach(() => {
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  it('a volume unmounted by name stays down across unmount --all (a shutdown) and mount --all (a boot); doctor names the fix', () => {
    for (const name of ['up', 'down']) assert.equal(cbs(root, ['volume', 'create', name, '--size', '32M']).code, 0)
    assert.equal(cbs(root, ['volume', 'unmount', 'down']).code, 0)
    assert.equal(cbs(root, ['volume', 'unmount', '--all']).code, 0)
    const doctor = cbs(root, ['doctor'])
    assert.equal(doctor.code, 1)
    assert.match(doctor.stdout, /^warning\s+volumes\s+volume "up" is meant to be mounted but is not\n\s+fix: cbs volume mount up /m)
    assert.doesNotMatch(doctor.stdout, /volume "down" is meant/)
    const mounted = cbs(root, ['volume', 'mount', '--all', '--json'])
    assert.deepEqual(json<Volume[]>(mounted).map((volume) => [volume.name, volume.status]), [['down', 'unmounted'], ['up', 'mounted']])
    assert.equal(cbs(root, ['doctor']).code, 0)
    assert.equal(cbs(root, ['volume', 'mount', 'down']).code, 0)
    assert.equal(cbs(root, ['volume', 'unmount', '--all']).code, 0)
    assert.deepEqual(json<Volume[]>(cbs(root, ['volume', 'mount', '--all', '--json'])).map((volume) => volume.status), ['mounted', 'mounted'])
  })

  it('plugin serve takes the socket systemd passes (LISTEN_FDS) and leaves it in place at SIGTERM', async () => {
    const socket = join(root, 'activated.sock')
    const child = spawn('systemd-socket-activate', ['--listen', socket, process.execPath, join(REPO, 'bin', 'run.js'), 'plugin', 'serve', '--json', '--socket', join(root, 'unused.sock')], {
      env: {...process.env, CBS_ROOT: root},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    let stdout = ''
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.stdout.on('data', (chunk) => (stdout += chunk))
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    try {
      for (let waited = 0; !statSync(socket, {throwIfNoEntry: false}); waited += 20) {
        if (waited > 10_000) throw new Error(`no socket: ${stderr}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      assert.deepEqual((await call(socket, '/Plugin.Activate')).body, {Implements: ['VolumeDriver']})
      assert.match(stderr, /listening on the socket systemd passed/)
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await exited, 0, stderr)
    assert.deepEqual(JSON.parse(stdout), {socket}, '--json names the socket it served, not --socket')
    assert.ok(statSync(socket).isSocket(), 'the socket is systemd\'s: it stays')
    assert.ok(!statSync(join(root, 'unused.sock'), {throwIfNoEntry: false}))
  })
})
