import assert from 'node:assert/strict'
import {existsSync, readFileSync, statSync, unlinkSync, writeFileSync} from 'node:fs'
import {CbsError} from '../../../src/lib/common/errors.js'
import {createVolume} from '../../../src/lib/volumes/create.js'
import {inspectExisting, inspectVolumes, listVolumes} from '../../../src/lib/volumes/list.js'
import {mountVolumes, selectionOf, unmountVolumes} from '../../../src/lib/volumes/mount.js'
import {removeVolumes} from '../../../src/lib/volumes/remove.js'
import type {Expectation} from '../../support/fake-executor.js'
import {type UnitContext, unitContext, withScript} from '../../support/unit-context.js'
import {exitCodeOf} from '../../support/exit-codes.js'

const GiB = 1024 ** 3

/** The commands `cbs volume create db` runs, in order. */
function createScript(ctx: UnitContext, name = 'db', device = '/dev/loop7'): Expectation[] {
  const {layout} = ctx
  return [
    {command: `mkdir -p -m 0700 ${layout.imagesDir}`},
    {command: `mkdir -p -m 0700 ${layout.mountsDir}`},
    {command: `truncate --size ${GiB} ${layout.image(name)}`},
    {command: `losetup --find --show --nooverlap --direct-io=on ${layout.image(name)}`, stdout: `${device}\n`},
    {command: /^mkfs\.ext4 -q -F -b 4096 -m 0 -E \S+ \/dev\/loop7$/},
    {command: `mkdir -m 0755 ${layout.mountpoint(name)}`},
    {command: `chattr +i ${layout.mountpoint(name)}`},
    {command: `mount -o discard ${device} ${layout.mountpoint(name)}`},
  ]
}

/** The host as it is after a successful create of `name` on `device`. */
function attachedAndMounted(ctx: UnitContext, name = 'db', device = '/dev/loop7') {
  ctx.host.loops.push({device, backingFile: ctx.layout.image(name)})
  ctx.host.mounts.push({source: device, mountpoint: ctx.layout.mountpoint(name)})
}

describe('volume create (planned commands)', () => {
  let ctx: UnitContext
  beforeEach(() => {
    ctx = unitContext()
  })
  afterEach(() => ctx.cleanup())

  it('runs truncate, losetup, mkfs, mkdir, chattr, mount in that order and records the volume', async () => {
    ctx = {...ctx, ...withScript(ctx, createScript(ctx))}
    const volume = await createVolume(ctx, {name: 'db'})
    ctx.exec.assertDone()
    assert.equal(volume.name, 'db')
    assert.equal(statSync(ctx.layout.image('db')).size, GiB)
    assert.ok(statSync(ctx.layout.image('db')).blocks === 0, 'image is sparse')
    const state = ctx.store.read()
    assert.deepEqual(Object.keys(state.volumes), ['db'])
    assert.equal(state.volumes.db.pending, undefined)
    assert.equal((statSync(ctx.layout.stateFile).mode & 0o777).toString(8), '600')
  })

  it('rolls back everything when mkfs fails, and keeps the error', async () => {
    const script = createScript(ctx)
    script[4] = {command: /^mkfs\.ext4/, fails: 'mkfs.ext4: Input/output error'}
    const failing = withScript(ctx, [...script.slice(0, 5), {command: 'losetup --detach /dev/loop7'}])
    await assert.rejects(createVolume(failing, {name: 'db'}), /Input\/output error/)
    failing.exec.assertDone()
    assert.ok(!existsSync(ctx.layout.image('db')), 'image removed')
    assert.deepEqual(ctx.store.read().volumes, {})
  })

  it('rolls back the mountpoint, device and image when mount fails', async () => {
    const script = createScript(ctx)
    script[7] = {command: /^mount /, fails: 'mount: wrong fs type'}
    const failing = withScript(ctx, [
      ...script,
      {command: `chattr -i ${ctx.layout.mountpoint('db')}`},
      {command: `rmdir ${ctx.layout.mountpoint('db')}`},
      {command: 'losetup --detach /dev/loop7'},
    ])
    await assert.rejects(createVolume(failing, {name: 'db'}), /wrong fs type/)
    failing.exec.assertDone()
    assert.ok(!existsSync(ctx.layout.image('db')))
    assert.ok(!existsSync(ctx.layout.mountpoint('db')))
    assert.deepEqual(ctx.store.read().volumes, {})
  })

  it('an interruption (Ctrl-C) during mkfs undoes the steps taken so far (exit 130)', async () => {
    const script: Expectation[] = createScript(ctx).slice(0, 5)
    script[4] = {...script[4], then: () => run.exec.interrupt(new CbsError('interrupted', 'interrupted by SIGINT'))}
    const run = withScript(ctx, [...script, {command: 'losetup --detach /dev/loop7'}])
    assert.equal(await exitCodeOf(createVolume(run, {name: 'db'})), 130)
    run.exec.assertDone()
    assert.ok(!existsSync(ctx.layout.image('db')))
    assert.deepEqual(ctx.store.read().volumes, {})
  })

  it('reports a full host disk during mkfs as an environment error (exit 5)', async () => {
    const script = createScript(ctx)
    script[4] = {command: /^mkfs/, fails: 'mkfs.ext4: No space left on device while writing'}
    const failing = withScript(ctx, [...script.slice(0, 5), {command: 'losetup --detach /dev/loop7'}])
    assert.equal(await exitCodeOf(createVolume(failing, {name: 'db'})), 5)
  })

  it('refuses an existing name with exit 4, or returns it with --if-not-exists', async () => {
    await createVolume(withScript(ctx, createScript(ctx)), {name: 'db'})
    attachedAndMounted(ctx)
    assert.equal(await exitCodeOf(createVolume(withScript(ctx, []), {name: 'db'})), 4)
    const again = await createVolume(withScript(ctx, []), {name: 'db', ifNotExists: true})
    assert.equal(again.status, 'mounted')
    assert.equal(await exitCodeOf(createVolume(withScript(ctx, []), {name: 'db', sizeBytes: 2 * GiB, ifNotExists: true})), 4)
  })

  it('refuses bad input before touching anything (exit 2), and non-root (exit 5)', async () => {
    const untouched = withScript(ctx, [])
    assert.equal(await exitCodeOf(createVolume(untouched, {name: '../etc'})), 2)
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'x', sizeBytes: 1024})), 2)
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'x', fs: 'xfs', sizeBytes: 100 * 1024 ** 2})), 2)
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'x', sizeBytes: 200 * GiB})), 2, 'larger than the host')
    ctx.host.root = false
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'x'})), 5)
    assert.ok(!existsSync(ctx.layout.stateFile))
  })

  it('--dry-run prints the plan and changes nothing', async () => {
    const dry = unitContext([], {dryRun: true})
    try {
      await createVolume(dry, {name: 'db'})
      assert.equal(dry.exec.ran.length, 8)
      assert.match(dry.exec.ran[4], /^mkfs\.ext4 .* \/dev\/loopN$/)
      assert.ok(!existsSync(dry.layout.root + '/images'))
      assert.ok(!existsSync(dry.layout.stateFile))
    } finally {
      dry.cleanup()
    }
  })

  it('never overwrites a state file that is not valid JSON (exit 5)', async () => {
    writeFileSync(ctx.layout.stateFile, '{"schemaVersion": 1, "volu')
    assert.equal(await exitCodeOf(createVolume(withScript(ctx, []), {name: 'db'})), 5)
    assert.equal(readFileSync(ctx.layout.stateFile, 'utf8'), '{"schemaVersion": 1, "volu')
  })

  it('refuses a state file from a newer cbs (exit 5)', async () => {
    writeFileSync(ctx.layout.stateFile, JSON.stringify({schemaVersion: 99, volumes: {}}))
    await assert.rejects(listVolumes(ctx), /schema version 99/)
  })
})

describe('volume rm, mount, unmount (planned commands)', () => {
  let ctx: UnitContext
  beforeEach(async () => {
    ctx = unitContext()
    await createVolume(withScript(ctx, createScript(ctx)), {name: 'db'})
    attachedAndMounted(ctx)
  })
  afterEach(() => ctx.cleanup())

  it('rm unmounts, detaches, removes the mountpoint, the image and the record', async () => {
    const rm = withScript(ctx, [
      {command: `umount ${ctx.layout.mountpoint('db')}`},
      {command: 'losetup --detach /dev/loop7'},
      {command: `chattr -i ${ctx.layout.mountpoint('db')}`},
      {command: `rmdir ${ctx.layout.mountpoint('db')}`},
      {command: `rm -f ${ctx.layout.image('db')}`},
    ])
    const [removed] = await removeVolumes(rm, ['db'])
    rm.exec.assertDone()
    assert.deepEqual(ctx.store.read().volumes, {})
    // What rm prints: the volume as it was, removed, down.
    assert.deepEqual([removed.name, removed.status, removed.device, removed.usedBytes, removed.image, removed.snapshots], ['db', 'removed', null, null, ctx.layout.image('db'), []])
  })

  it('rm of a busy volume is refused with exit 4, naming the processes (like fuser -v), and nothing changes', async () => {
    for (const [pid, command] of [[4242, 'postgres'], [4250, 'sh']] as const) {
      ctx.host.alive.add(pid)
      ctx.host.commands.set(pid, command)
    }
    ctx.host.users.set(ctx.layout.mountpoint('db'), [4242, 4250])
    const rm = withScript(ctx, [{command: `umount ${ctx.layout.mountpoint('db')}`, fails: `umount: ${ctx.layout.mountpoint('db')}: target is busy.`}])
    await assert.rejects(removeVolumes(rm, ['db']), {
      message: `volume "db" is busy: files on ${ctx.layout.mountpoint('db')} are in use by processes 4242 (postgres), 4250 (sh): stop them and try again`,
    })
    rm.exec.assertDone()
    assert.ok(existsSync(ctx.layout.image('db')))
    assert.ok(ctx.store.read().volumes.db)
  })

  it('rm of a volume a container still holds mounts it back and refuses (exit 4)', async () => {
    ctx.host.busyDevices.add('/dev/loop7')
    const rm = withScript(ctx, [{command: `umount ${ctx.layout.mountpoint('db')}`}, {command: `mount -o discard /dev/loop7 ${ctx.layout.mountpoint('db')}`}])
    assert.equal(await exitCodeOf(removeVolumes(rm, ['db'])), 4)
    rm.exec.assertDone()
    assert.ok(existsSync(ctx.layout.image('db')))
  })

  it('rm of unknown names fails with exit 3 before touching anything, unless --force', async () => {
    assert.equal(await exitCodeOf(removeVolumes(withScript(ctx, []), ['db', 'nope'])), 3)
    assert.deepEqual((await removeVolumes(withScript(ctx, []), ['nope'], {force: true})).map((each) => each.name), [])
  })

  it('mount of a mounted volume does nothing; unmount then mount brings it back', async () => {
    await mountVolumes(withScript(ctx, []), {all: true})
    const down = withScript(ctx, [{command: `umount ${ctx.layout.mountpoint('db')}`}, {command: 'losetup --detach /dev/loop7'}])
    await unmountVolumes(down, {names: ['db']})
    down.exec.assertDone()
    ctx.host.loops = []
    ctx.host.mounts = []
    assert.equal((await listVolumes(ctx))[0].status, 'unmounted')
    const up = withScript(ctx, [
      {command: `losetup --find --show --nooverlap --direct-io=on ${ctx.layout.image('db')}`, stdout: '/dev/loop3'},
      {command: `mount -o discard /dev/loop3 ${ctx.layout.mountpoint('db')}`},
    ])
    await mountVolumes(up, {names: ['db']})
    up.exec.assertDone()
  })

  it('a volume unmounted by name stays down at `mount --all`; `unmount --all` (a shutdown) keeps every record', async () => {
    const down = withScript(ctx, [{command: `umount ${ctx.layout.mountpoint('db')}`}, {command: 'losetup --detach /dev/loop7'}])
    await unmountVolumes(down, {all: true})
    assert.equal(ctx.store.read().volumes.db.meantToBeMounted, true)
    ctx.host.loops = []
    ctx.host.mounts = []
    const up = withScript(ctx, [
      {command: `losetup --find --show --nooverlap --direct-io=on ${ctx.layout.image('db')}`, stdout: '/dev/loop3'},
      {command: `mount -o discard /dev/loop3 ${ctx.layout.mountpoint('db')}`},
    ])
    await mountVolumes(up, {all: true})
    up.exec.assertDone()
    const byName = withScript(ctx, [{command: `umount ${ctx.layout.mountpoint('db')}`}, {command: 'losetup --detach /dev/loop3'}])
    await unmountVolumes(byName, {names: ['db']})
    assert.equal(ctx.store.read().volumes.db.meantToBeMounted, false)
    ctx.host.loops = []
    ctx.host.mounts = []
    await mountVolumes(withScript(ctx, []), {all: true})
    assert.equal((await listVolumes(ctx))[0].status, 'unmounted')
  })

  it('--all and names do not go together (exit 2, saying what to type)', () => {
    assert.deepEqual(selectionOf(true, [], 'mount'), {all: true})
    assert.deepEqual(selectionOf(undefined, ['db'], 'unmount'), {names: ['db']})
    assert.throws(() => selectionOf(true, ['db'], 'mount'), (error: CbsError) => error.exitCode === 2 && error.message === '--all takes no volume names (db): type `cbs volume mount --all` or `cbs volume mount db`')
  })

  it('inspect of names some of which do not exist: those that do, and the error naming the others', async () => {
    const {volumes, missing} = await inspectExisting(ctx, ['db', 'nope'])
    assert.deepEqual(volumes.map((volume) => volume.name), ['db'])
    assert.equal(missing?.exitCode, 3)
    assert.equal(missing?.message, 'no such volume: nope: see `cbs volume ls`')
    assert.equal((await inspectExisting(ctx, ['db'])).missing, undefined)
  })

  it('status comes from the system: a vanished mount is unmounted, a missing image is error', async () => {
    ctx.host.mounts = []
    assert.equal((await inspectVolumes(ctx, ['db']))[0].status, 'unmounted')
    assert.equal((await inspectVolumes(ctx, ['db']))[0].usedBytes, null)
    ctx.host.loops = []
    unlinkSync(ctx.layout.image('db'))
    assert.equal((await listVolumes(ctx))[0].status, 'error')
    assert.equal((await listVolumes(ctx))[0].allocatedBytes, null)
  })

  it('ls still answers when another command unmounts and removes a volume between its reads', async () => {
    // The mounts say "mounted"; by the time ls asks for the usage the mountpoint is gone.
    ctx.host.vanished.add(ctx.layout.mountpoint('db'))
    const [volume] = await listVolumes(ctx)
    assert.equal(volume.status, 'mounted')
    assert.equal(volume.usedBytes, null)
    assert.equal((await inspectVolumes(ctx, ['db']))[0].usedBytes, null)
  })
})
