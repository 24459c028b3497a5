import assert from 'node:assert/strict'
import {mkdirSync, writeFileSync} from 'node:fs'
import {chooseRuntime} from '../../../src/lib/runtimes/container-runtime.js'
import {CbsError} from '../../../src/lib/common/errors.js'
import {attachToContainer, detachFromContainer} from '../../../src/lib/runtimes/live-attach.js'
import {MOUNT_INTO} from '../../../src/lib/runtimes/mount-into.js'
import {bindMount, parseContainers, runArgs, usesVolume, volumeCreateArgs} from '../../../src/lib/runtimes/runtimes.js'
import type {RuntimeName} from '../../../src/lib/store/state.js'
import {attachVolume, detachVolume} from '../../../src/lib/runtimes/attach.js'
import {describeVolume} from '../../../src/lib/volumes/volume.js'
import {HostView} from '../../../src/lib/system/host-view.js'
import {unmountVolumes} from '../../../src/lib/volumes/mount.js'
import {removeVolumes} from '../../../src/lib/volumes/remove.js'
import type {Expectation} from '../../support/fake-executor.js'
import {type UnitContext, unitContext, withScript} from '../../support/unit-context.js'
import {exitCodeOf} from '../../support/exit-codes.js'

const ID = 'a'.repeat(64)

/** What the store records of db's attachments (what ls shows is what the runtimes confirm of it: attachment-view tests). */
const recorded = (ctx: UnitContext) => ctx.store.read().volumes.db.attachments ?? []
const statusOf = (ctx: UnitContext) => describeVolume(ctx, ctx.store.read().volumes.db, HostView.read(ctx.host)).status
const OTHER = 'b'.repeat(64)

/** A volume "db" as create leaves it: image, mountpoint, record; mounted on /dev/loop7 unless told. */
async function seedVolume(ctx: UnitContext, mounted = true): Promise<void> {
  mkdirSync(ctx.layout.imagesDir, {recursive: true})
  mkdirSync(ctx.layout.mountpoint('db'), {recursive: true})
  writeFileSync(ctx.layout.image('db'), '')
  await ctx.store.update((state) => {
    state.volumes.db = {name: 'db', type: 'loop', fs: 'ext4', sizeBytes: 1024 ** 3, labels: {}, createdAt: '2026-01-01T00:00:00.000Z'}
  })
  if (!mounted) return
  ctx.host.loops.push({device: '/dev/loop7', backingFile: ctx.layout.image('db')})
  ctx.host.mounts.push({source: '/dev/loop7', mountpoint: ctx.layout.mountpoint('db')})
}

const probe = (runtime: RuntimeName): Expectation => ({
  command: runtime === 'podman' ? `podman info --format '{{.Version.Version}}'` : `${runtime} info --format '{{.ServerVersion}}'`,
  stdout: '1.0\n',
})

const labels = (ctx: UnitContext) => `--label cbs.managed=true --label cbs.volume=db --label cbs.root=${ctx.layout.root}`

/** `ps` then `container inspect` answering the given containers (id, name, status, mounts). */
function containers(runtime: RuntimeName, list: Array<[string, string, string, object[]]>): Expectation[] {
  const ps: Expectation = {command: `${runtime} ps --all --quiet --no-trunc`, stdout: list.map(([id]) => `${id}\n`).join('')}
  if (list.length === 0) return [ps]
  return [
    ps,
    {
      command: `${runtime} container inspect --format '{{.Id}} {{.Name}} {{.State.Status}} {{json .Mounts}}' ${list.map(([id]) => id).join(' ')}`,
      stdout: list.map(([id, name, status, mounts]) => `${id} ${name} ${status} ${JSON.stringify(mounts)}\n`).join(''),
    },
  ]
}

describe('runtime command lines (pure)', () => {
  it('builds a local bind volume, a run with a bind mount, and refuses paths --mount cannot carry', () => {
    assert.deepEqual(volumeCreateArgs('db', '/var/lib/cbs/mounts/db', {'cbs.managed': 'true'}), [
      'volume', 'create', '--driver', 'local', '--opt', 'type=none', '--opt', 'o=bind', '--opt', 'device=/var/lib/cbs/mounts/db', '--label', 'cbs.managed=true', 'db',
    ])
    assert.deepEqual(runArgs('/m/db', '/data', '/r/x.cid', {}, ['-d', 'img', 'sh', '-c', 'echo a,b']), [
      'run', '--cidfile', '/r/x.cid', '--mount', 'type=bind,source=/m/db,target=/data', '-d', 'img', 'sh', '-c', 'echo a,b',
    ])
    assert.equal(bindMount('/m/db'), 'type=bind,source=/m/db')
    assert.throws(() => bindMount('/m/db', '/da,ta'), /cannot be used in a --mount option/)
  })

  it('parses containers and tells which use the volume (named volume or a bind of the mountpoint)', () => {
    const [docker, podman, other] = parseContainers(
      [
        `${ID} /web exited [{"Type":"volume","Name":"db","Source":"/var/lib/docker/volumes/db/_data"}]`,
        `${OTHER} api running [{"Type":"bind","Source":"/m/db/sub","Destination":"/x"}]`,
        `${'c'.repeat(64)} other running null`,
      ].join('\n'),
    )
    assert.equal(docker.name, 'web')
    assert.ok(usesVolume(docker, '/m/db', 'db'))
    assert.ok(!usesVolume(docker, '/m/db', null))
    assert.ok(usesVolume(podman, '/m/db', null))
    assert.ok(!usesVolume(podman, '/m/d', null), 'a prefix of the name is not the folder')
    assert.deepEqual(other.mounts, [])
  })
})

describe('runtime detection', () => {
  let ctx: UnitContext
  beforeEach(() => {
    ctx = unitContext()
  })
  afterEach(() => ctx.cleanup())

  it('takes the first of docker, nerdctl, podman that answers', async () => {
    const detect = withScript(ctx, [{command: /^docker info/, missing: true}, {command: /^nerdctl info/, fails: 'cannot access containerd socket'}, probe('podman')])
    assert.equal((await chooseRuntime(detect, undefined, {})).name, 'podman')
    detect.exec.assertDone()
  })

  it('uses --runtime, else CBS_RUNTIME, and probes only that one', async () => {
    const flag = withScript(ctx, [probe('nerdctl')])
    assert.equal((await chooseRuntime(flag, 'nerdctl', {CBS_RUNTIME: 'podman'})).name, 'nerdctl')
    const env = withScript(ctx, [probe('podman')])
    assert.equal((await chooseRuntime(env, undefined, {CBS_RUNTIME: 'podman'})).name, 'podman')
    assert.equal(await exitCodeOf(chooseRuntime(withScript(ctx, []), undefined, {CBS_RUNTIME: 'lxc'})), 2)
  })

  it('exits 5 naming the runtime that is missing or does not answer', async () => {
    const missing = withScript(ctx, [{command: /^podman info/, missing: true}])
    await assert.rejects(chooseRuntime(missing, 'podman', {}), (error: CbsError) => error.exitCode === 5 && /^podman is not installed/.test(error.message))
    const down = withScript(ctx, [{command: /^docker info/, fails: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?'}])
    await assert.rejects(chooseRuntime(down, 'docker', {}), (error: CbsError) => error.exitCode === 5 && /^docker does not answer \(Cannot connect/.test(error.message))
    const none = withScript(ctx, [
      {command: /^docker info/, missing: true},
      {command: /^nerdctl info/, missing: true},
      {command: /^podman info/, fails: 'Error: cannot set ulimits'},
    ])
    await assert.rejects(
      chooseRuntime(none, undefined, {}),
      (error: CbsError) => error.exitCode === 5 && /no container runtime answers \(docker is not installed; nerdctl is not installed; podman does not answer/.test(error.message),
    )
  })
})

describe('volume attach / detach (planned commands)', () => {
  let ctx: UnitContext
  let mountpoint: string
  beforeEach(async () => {
    ctx = unitContext()
    mountpoint = ctx.layout.mountpoint('db')
    await seedVolume(ctx)
  })
  afterEach(() => ctx.cleanup())

  for (const runtime of ['docker', 'podman'] as const) {
    it(`${runtime}: registers a local bind volume named after the volume, and records it`, async () => {
      const attach = withScript(ctx, [
        probe(runtime),
        {command: `${runtime} volume inspect db`, fails: 'Error: no such volume db'},
        {command: `${runtime} volume create --driver local --opt type=none --opt o=bind --opt device=${mountpoint} ${labels(ctx)} db`},
      ])
      const result = await attachVolume(attach, {name: 'db', runtime})
      attach.exec.assertDone()
      assert.deepEqual(result, {volume: 'db', runtime, name: 'db', mount: `type=bind,source=${mountpoint}`, container: null})
      assert.deepEqual(recorded(ctx), [{runtime, name: 'db', containers: []}])
    })

    it(`${runtime}: detach removes the registration; rm removes it with the volume`, async () => {
      await attachVolume(withScript(ctx, [probe(runtime), {command: `${runtime} volume inspect db`, fails: 'no such volume'}, {command: /volume create/}]), {name: 'db', runtime})
      const detach = withScript(ctx, [probe(runtime), ...containers(runtime, []), {command: `${runtime} volume rm db`}])
      assert.deepEqual(await detachVolume(detach, {name: 'db'}), {volume: 'db', detached: [runtime]})
      detach.exec.assertDone()
      assert.deepEqual(recorded(ctx), [])

      await attachVolume(withScript(ctx, [probe(runtime), {command: `${runtime} volume inspect db`, fails: 'no such volume'}, {command: /volume create/}]), {name: 'db', runtime})
      const rm = withScript(ctx, [
        probe(runtime),
        ...containers(runtime, [[OTHER, 'unrelated', 'running', [{Type: 'volume', Name: 'other'}]]]),
        {command: `umount ${mountpoint}`},
        {command: 'losetup --detach /dev/loop7'},
        {command: `${runtime} volume rm db`, fails: 'Error: no such volume db'},
        {command: `chattr -i ${mountpoint}`},
        {command: `rmdir ${mountpoint}`},
        {command: `rm -f ${ctx.layout.image('db')}`},
      ])
      assert.deepEqual((await removeVolumes(rm, ['db'])).map((each) => each.name), ['db'])
      rm.exec.assertDone()
    })
  }

  it('nerdctl: registers nothing (no driver options, nerdctl#694) and answers the --mount flag', async () => {
    const attach = withScript(ctx, [probe('nerdctl')])
    const result = await attachVolume(attach, {name: 'db', runtime: 'nerdctl'})
    attach.exec.assertDone()
    assert.deepEqual(result, {volume: 'db', runtime: 'nerdctl', name: null, mount: `type=bind,source=${mountpoint}`, container: null})
    const detach = withScript(ctx, [probe('nerdctl'), ...containers('nerdctl', [])])
    assert.deepEqual(await detachVolume(detach, {name: 'db', runtime: 'nerdctl'}), {volume: 'db', detached: ['nerdctl']})
    detach.exec.assertDone()
  })

  it('mounts an unmounted volume before the runtime sees it', async () => {
    ctx.host.loops = []
    ctx.host.mounts = []
    const attach = withScript(ctx, [
      probe('docker'),
      {command: `losetup --find --show --nooverlap --direct-io=on ${ctx.layout.image('db')}`, stdout: '/dev/loop3\n'},
      {command: `mount -o discard /dev/loop3 ${mountpoint}`},
      {command: 'docker volume inspect db', fails: 'no such volume'},
      {command: /^docker volume create /},
    ])
    await attachVolume(attach, {name: 'db', runtime: 'docker'})
    attach.exec.assertDone()
  })

  it('adopts its own registration, and refuses a runtime volume of that name that binds something else (exit 4)', async () => {
    const inspect = (device: string) => JSON.stringify([{Name: 'db', Driver: 'local', Labels: {}, Options: {type: 'none', o: 'bind', device}}])
    const again = withScript(ctx, [probe('docker'), {command: 'docker volume inspect db', stdout: inspect(mountpoint)}])
    assert.equal((await attachVolume(again, {name: 'db', runtime: 'docker'})).name, 'db')
    again.exec.assertDone()
    const taken = withScript(ctx, [probe('podman'), {command: 'podman volume inspect db', stdout: inspect('/srv/elsewhere')}])
    assert.equal(await exitCodeOf(attachVolume(taken, {name: 'db', runtime: 'podman'})), 4)
    taken.exec.assertDone()
    assert.deepEqual(
      recorded(ctx).map((attachment) => attachment.runtime),
      ['docker'],
    )
  })

  for (const runtime of ['docker', 'nerdctl', 'podman'] as const) {
    it(`${runtime}: --target runs the container with a bind mount and records it`, async () => {
      const cidfile = `${ctx.layout.root}/run/db.${process.pid}.cid`
      const attach = withScript(ctx, [
        probe(runtime),
        {command: `mkdir -p -m 0700 ${ctx.layout.root}/run`},
        {
          command: `${runtime} run --cidfile ${cidfile} --mount type=bind,source=${mountpoint},target=/data ${labels(ctx)} --network none -d img sh -c 'echo hi > /data/f'`,
          then: () => writeFileSync(cidfile, ID),
        },
      ])
      const result = await attachVolume(attach, {name: 'db', runtime, target: '/data', runArgs: ['--network', 'none', '-d', 'img', 'sh', '-c', 'echo hi > /data/f']})
      attach.exec.assertDone()
      assert.equal(result.container, ID)
      assert.deepEqual(recorded(ctx), [{runtime, name: null, containers: [ID]}])

      // It exists (stopped): detach and rm are refused, naming it.
      const used = containers(runtime, [[ID, runtime === 'docker' ? '/web' : 'web', 'exited', [{Type: 'bind', Source: mountpoint, Destination: '/data'}]]])
      const detach = withScript(ctx, [probe(runtime), ...used])
      await assert.rejects(detachVolume(detach, {name: 'db'}), (error: CbsError) => {
        assert.equal(error.exitCode, 4)
        assert.equal(error.message, `volume "db" is used by container web (${runtime} aaaaaaaaaaaa, exited): remove it first (${runtime} rm web)`)
        return true
      })
      detach.exec.assertDone()
      assert.equal(await exitCodeOf(removeVolumes(withScript(ctx, [probe(runtime), ...used]), ['db'])), 4)
      assert.equal(statusOf(ctx), 'mounted')
      // Running: `rm` alone refuses it (docker and podman alike), so the hint is rm -f.
      const running = containers(runtime, [[ID, runtime === 'docker' ? '/web' : 'web', 'running', [{Type: 'bind', Source: mountpoint, Destination: '/data'}]]])
      await assert.rejects(removeVolumes(withScript(ctx, [probe(runtime), ...running]), ['db']), (error: CbsError) => {
        assert.equal(error.message, `volume "db" is used by container web (${runtime} aaaaaaaaaaaa, running): remove it first (${runtime} rm -f web)`)
        return true
      })

      // Once it is gone, detach forgets it.
      const gone = withScript(ctx, [probe(runtime), ...containers(runtime, [])])
      assert.deepEqual(await detachVolume(gone, {name: 'db', runtime}), {volume: 'db', detached: [runtime]})
      assert.deepEqual(recorded(ctx), [])
    })
  }

  it('--target: a container that failed is recorded, and its exit status is the result (as docker run); no container is an error', async () => {
    const cidfile = `${ctx.layout.root}/run/db.${process.pid}.cid`
    const attach = withScript(ctx, [
      probe('docker'),
      {command: /^mkdir /},
      {command: /^docker run /, then: () => writeFileSync(cidfile, ID), fails: 'exec: "nope": executable file not found', exitCode: 127},
    ])
    const result = await attachVolume(attach, {name: 'db', runtime: 'docker', target: '/data', runArgs: ['img', 'nope']})
    assert.equal(result.container, ID)
    assert.equal(result.exitStatus, 127)
    assert.equal(result.runtimeError, 'exec: "nope": executable file not found')
    assert.deepEqual(recorded(ctx)[0].containers, [ID])

    const exited = withScript(ctx, [probe('docker'), {command: /^mkdir /}, {command: /^docker run /, then: () => writeFileSync(cidfile, OTHER), fails: '', exitCode: 3}])
    assert.deepEqual(await attachVolume(exited, {name: 'db', runtime: 'docker', target: '/data', runArgs: ['img', 'sh', '-c', 'exit 3']}), {
      volume: 'db', runtime: 'docker', name: null, mount: `type=bind,source=${ctx.layout.mountpoint('db')}`, container: OTHER, exitStatus: 3,
    })

    const noImage = withScript(ctx, [probe('docker'), {command: /^mkdir /}, {command: /^docker run /, fails: 'Unable to find image', exitCode: 125}])
    await assert.rejects(attachVolume(noImage, {name: 'db', runtime: 'docker', target: '/data', runArgs: ['nope']}), /Unable to find image/)
  })

  it('refuses bad requests before touching anything (exit 2, 3)', async () => {
    const untouched = withScript(ctx, [])
    assert.equal(await exitCodeOf(attachVolume(untouched, {name: 'nope', runtime: 'docker'})), 3)
    assert.equal(await exitCodeOf(attachVolume(untouched, {name: 'db', runtime: 'lxc'})), 2)
    assert.equal(await exitCodeOf(attachVolume(untouched, {name: 'db', target: 'data', runArgs: ['img']})), 2)
    assert.equal(await exitCodeOf(attachVolume(untouched, {name: 'db', target: '/data'})), 2)
    assert.equal(await exitCodeOf(attachVolume(untouched, {name: 'db', runArgs: ['img']})), 2)
    assert.equal(await exitCodeOf(detachVolume(untouched, {name: 'db', runtime: 'rkt'})), 2)
  })

  it('unmount of a volume a running container holds names the container (exit 4)', async () => {
    await attachVolume(withScript(ctx, [probe('docker'), {command: 'docker volume inspect db', fails: 'no such volume'}, {command: /volume create/}]), {name: 'db', runtime: 'docker'})
    ctx.host.mounts.push({source: '/dev/loop7', mountpoint: '/var/lib/docker/volumes/db/_data'})
    const unmount = withScript(ctx, [
      probe('docker'),
      ...containers('docker', [
        [ID, '/web', 'running', [{Type: 'volume', Name: 'db'}]],
        [OTHER, '/old', 'exited', [{Type: 'volume', Name: 'db'}]],
      ]),
    ])
    await assert.rejects(unmountVolumes(unmount, {names: ['db']}), (error: CbsError) => {
      assert.equal(error.exitCode, 4)
      assert.equal(error.message, 'volume "db" is used by container web (docker aaaaaaaaaaaa, running): stop it first (docker stop web)')
      return true
    })
    unmount.exec.assertDone()
  })

  it('unmount of an attached volume that nothing holds asks no runtime', async () => {
    await attachVolume(withScript(ctx, [probe('docker'), {command: 'docker volume inspect db', fails: 'no such volume'}, {command: /volume create/}]), {name: 'db', runtime: 'docker'})
    const unmount = withScript(ctx, [{command: `umount ${mountpoint}`}, {command: 'losetup --detach /dev/loop7'}])
    await unmountVolumes(unmount, {names: ['db']})
    unmount.exec.assertDone()
  })
})

describe('volume attach --container (a running container, planned commands)', () => {
  let ctx: UnitContext
  let mountpoint: string
  beforeEach(async () => {
    ctx = unitContext()
    mountpoint = ctx.layout.mountpoint('db')
    await seedVolume(ctx)
    ctx.host.startTimes.set(4242, '777')
  })
  afterEach(() => ctx.cleanup())

  const inspect = (runtime: RuntimeName, container: string): Expectation => ({
    command: `${runtime} container inspect --format '{{.Id}} {{.Name}} {{.State.Pid}} {{.State.Running}}' ${container}`,
    stdout: `${ID} /web 4242 true\n`,
  })
  /** The container's mountinfo once the helper mounted something (device 7:7 is the volume's loop7). */
  const containerMounts = (...lines: string[]) => () => ctx.host.processMounts.set(4242, ['600 1 0:90 / / rw - overlay overlay rw', ...lines].join('\n'))

  for (const runtime of ['docker', 'nerdctl', 'podman'] as const) {
    it(`${runtime}: the helper clones the volume's mount into the container (no device node), cbs checks its mountinfo, records it`, async () => {
      const attach = withScript(ctx, [
        probe(runtime),
        inspect(runtime, 'web'),
        {command: `${MOUNT_INTO} attach 4242 777 ${mountpoint} /data`, stdout: '677 /data\n', then: containerMounts('677 600 7:7 / /data rw,relatime - ext4 /dev/loop7 rw')},
      ])
      const result = await attachToContainer(attach, {name: 'db', runtime, container: 'web', target: '/data/'})
      attach.exec.assertDone()
      assert.equal(result.container, ID)
      assert.deepEqual(recorded(ctx), [{runtime, name: null, containers: [], live: [{container: ID, name: 'web', target: '/data'}]}])

      // While it runs, the volume cannot be detached, removed or unmounted; detach --container unmounts it there.
      const running = containers(runtime, [[ID, 'web', 'running', []]])
      await assert.rejects(detachVolume(withScript(ctx, [probe(runtime), ...running]), {name: 'db'}), (error: CbsError) => {
        assert.equal(error.message, `volume "db" is used by container web (${runtime} aaaaaaaaaaaa, running): detach it first (cbs volume detach db --container web)`)
        return true
      })
      ctx.host.busyDevices.add('/dev/loop7')
      const unmount = withScript(ctx, [{command: `umount ${mountpoint}`}, {command: `mount -o discard /dev/loop7 ${mountpoint}`}, probe(runtime), ...running])
      assert.equal(await exitCodeOf(unmountVolumes(unmount, {names: ['db']})), 4)
      unmount.exec.assertDone()
      ctx.host.busyDevices.delete('/dev/loop7')

      // Only the mount with the volume's device at the recorded target is taken out, by its id.
      const detach = withScript(ctx, [probe(runtime), inspect(runtime, ID), {command: `${MOUNT_INTO} detach 4242 777 /data 677`}])
      assert.deepEqual(await detachFromContainer(detach, {name: 'db', container: 'web'}), {volume: 'db', detached: [runtime]})
      detach.exec.assertDone()
      // Nothing left of the record: no "docker: bind mount only" for ls and inspect to show.
      assert.deepEqual(recorded(ctx), [])
    })
  }

  it('records the path the kernel mounted on (symlinks resolved inside the container)', async () => {
    const attach = withScript(ctx, [
      probe('docker'),
      inspect('docker', 'web'),
      {command: `${MOUNT_INTO} attach 4242 777 ${mountpoint} /var/run/db`, stdout: '677 /run/db\n', then: containerMounts('677 600 7:7 / /run/db rw - ext4 /dev/loop7 rw')},
    ])
    await attachToContainer(attach, {name: 'db', runtime: 'docker', container: 'web', target: '/var/run/db'})
    assert.equal(recorded(ctx)[0].live?.[0].target, '/run/db')
  })

  for (const [what, mounts] of [
    ['another device', '677 600 7:9 / /data rw - ext4 /dev/loop9 rw'],
    ['a sub-folder of the volume', '677 600 7:7 /etc /data rw - ext4 /dev/loop7 rw'],
    ['the mount elsewhere', '677 600 7:7 / /proc/sysrq-trigger rw - ext4 /dev/loop7 rw'],
    ['no such mount', ''],
    ['the mount covered by another', '677 600 7:7 / /data rw - ext4 /dev/loop7 rw\n678 677 0:5 / /data rw - tmpfs tmpfs rw'],
  ]) {
    it(`undoes the mount at once and records nothing when the container's mountinfo shows ${what} (exit 5)`, async () => {
      const attach = withScript(ctx, [
        probe('docker'),
        inspect('docker', 'web'),
        {command: `${MOUNT_INTO} attach 4242 777 ${mountpoint} /data`, stdout: '677 /data\n', then: containerMounts(mounts)},
        {command: `${MOUNT_INTO} detach 4242 777 /data 677`},
      ])
      await assert.rejects(attachToContainer(attach, {name: 'db', runtime: 'docker', container: 'web', target: '/data'}), (error: CbsError) => {
        assert.equal(error.exitCode, 5)
        assert.match(error.message, /^what was mounted in container web is not volume "db" \(.+\); cbs unmounted it again: check the container, then try again$/)
        return true
      })
      attach.exec.assertDone()
      assert.deepEqual(recorded(ctx), [])
    })
  }

  it('records nothing when the helper refuses, and says why (exit 5)', async () => {
    const attach = withScript(ctx, [
      probe('docker'),
      inspect('docker', 'web'),
      {command: `${MOUNT_INTO} attach 4242 777 ${mountpoint} /data`, fails: 'cbs-mount-into: the target is inside /proc or /sys of the container'},
    ])
    await assert.rejects(attachToContainer(attach, {name: 'db', runtime: 'docker', container: 'web', target: '/data'}), (error: CbsError) => {
      assert.equal(error.exitCode, 5)
      assert.equal(error.message, 'could not mount volume "db" at /data in container web (the target is inside /proc or /sys of the container): check the target inside the container')
      return true
    })
    attach.exec.assertDone()
    assert.deepEqual(recorded(ctx), [])
  })

  for (const target of ['data', '/', '//', '/../../..', '/data/../etc', '/./data', '/a//b', '/data\nx', '']) {
    it(`refuses --target ${JSON.stringify(target)} before anything runs (exit 2)`, async () => {
      assert.equal(await exitCodeOf(attachToContainer(withScript(ctx, []), {name: 'db', runtime: 'docker', container: 'web', target})), 2)
    })
  }

  it('refuses a container whose process is gone by the time cbs looks (4), and forgets a mount whose container process is gone', async () => {
    ctx.host.startTimes.delete(4242)
    const attach = withScript(ctx, [probe('docker'), inspect('docker', 'web')])
    assert.equal(await exitCodeOf(attachToContainer(attach, {name: 'db', runtime: 'docker', container: 'web', target: '/data'})), 4)
    attach.exec.assertDone()
    await ctx.store.update((s) => {
      s.volumes.db.attachments = [{runtime: 'docker', name: null, containers: [], live: [{container: ID, name: 'web', target: '/data'}]}]
    })
    const detach = withScript(ctx, [probe('docker'), inspect('docker', ID)])
    await detachFromContainer(detach, {name: 'db', container: 'web'})
    detach.exec.assertDone()
    assert.deepEqual(recorded(ctx), [], 'nothing left to show')
  })

  it('detach: a busy mount is a conflict (4) and stays recorded; one already gone is only forgotten', async () => {
    await ctx.store.update((s) => {
      s.volumes.db.attachments = [{runtime: 'docker', name: null, containers: [], live: [{container: ID, name: 'web', target: '/data'}]}]
    })
    containerMounts('677 600 7:7 / /data rw - ext4 /dev/loop7 rw')()
    const busy = withScript(ctx, [probe('docker'), inspect('docker', ID), {command: `${MOUNT_INTO} detach 4242 777 /data 677`, fails: 'cbs-mount-into: busy: files on the target are in use'}])
    assert.equal(await exitCodeOf(detachFromContainer(busy, {name: 'db', container: 'web'})), 4)
    assert.equal(recorded(ctx)[0].live?.length, 1)
    // Something else at the target (the container's own mount) is never unmounted.
    containerMounts('680 600 254:0 /x / /data rw - ext4 /dev/vda rw')()
    const gone = withScript(ctx, [probe('docker'), inspect('docker', ID)])
    await detachFromContainer(gone, {name: 'db', container: 'web'})
    gone.exec.assertDone()
    assert.deepEqual(recorded(ctx), [], 'nothing left to show')
  })

  it('refuses a stopped container (4), an unknown one (3), a relative target (2); a stopped container needs no unmount', async () => {
    const stopped = withScript(ctx, [probe('podman'), {command: /container inspect/, stdout: `${ID} web 0 false\n`}])
    assert.equal(await exitCodeOf(attachToContainer(stopped, {name: 'db', runtime: 'podman', container: 'web', target: '/data'})), 4)
    const unknown = withScript(ctx, [probe('podman'), {command: /container inspect/, fails: 'Error: no such container nope'}])
    assert.equal(await exitCodeOf(attachToContainer(unknown, {name: 'db', runtime: 'podman', container: 'nope', target: '/data'})), 3)
    assert.equal(await exitCodeOf(attachToContainer(withScript(ctx, []), {name: 'db', runtime: 'podman', container: 'web', target: 'data'})), 2)
    assert.equal(await exitCodeOf(detachFromContainer(withScript(ctx, []), {name: 'db', container: 'web'})), 3)

    await ctx.store.update((s) => {
      s.volumes.db.attachments = [{runtime: 'podman', name: null, containers: [], live: [{container: ID, name: 'web', target: '/data'}]}]
    })
    const gone = withScript(ctx, [probe('podman'), {command: /container inspect/, stdout: `${ID} web 0 false\n`}])
    await detachFromContainer(gone, {name: 'db', container: 'aaaa'})
    gone.exec.assertDone()
    assert.deepEqual(recorded(ctx), [])
  })
})
