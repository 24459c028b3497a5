import assert from 'node:assert/strict'
import {existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync} from 'node:fs'
import {interrupted} from '../../../src/lib/common/errors.js'
import {partialPath} from '../../../src/lib/store/layout.js'
import {createSnapshot} from '../../../src/lib/snapshots/create.js'
import {listSnapshots} from '../../../src/lib/snapshots/list.js'
import {removeSnapshots} from '../../../src/lib/snapshots/remove.js'
import {restoreSnapshot} from '../../../src/lib/snapshots/restore.js'
import {findSnapshot} from '../../../src/lib/snapshots/snapshot.js'
import type {SnapshotRecord} from '../../../src/lib/store/state.js'
import {createVolume} from '../../../src/lib/volumes/create.js'
import {removeVolumes} from '../../../src/lib/volumes/remove.js'
import type {Expectation} from '../../support/fake-executor.js'
import {type UnitContext, unitContext, withScript} from '../../support/unit-context.js'
import {exitCodeOf} from '../../support/exit-codes.js'

const MiB = 1024 ** 2
const DEAD_PID = 999_999_999

/** A volume "db" as `cbs volume create db --size 64M` leaves it: image, record, device, mount. */
export async function seedVolume(ctx: UnitContext, options: {mounted?: boolean} = {}): Promise<void> {
  const {layout} = ctx
  for (const dir of [layout.imagesDir, layout.mountpoint('db')]) mkdirSync(dir, {recursive: true})
  writeFileSync(layout.image('db'), 'data')
  truncateSync(layout.image('db'), 64 * MiB)
  await ctx.store.update((state) => {
    state.volumes.db = {name: 'db', type: 'loop', fs: 'ext4', sizeBytes: 64 * MiB, labels: {}, createdAt: '2026-11-25T23:00:00.000Z'}
  })
  if (options.mounted ?? true) {
    ctx.host.loops.push({device: '/dev/loop7', backingFile: layout.image('db')})
    ctx.host.mounts.push({source: '/dev/loop7', mountpoint: layout.mountpoint('db')})
  }
}

/** The commands of `cbs volume snapshot create db NAME`, copying `db` (sparse copy, mounted). */
export function snapshotScript(ctx: UnitContext, name = 's1', options: {mounted?: boolean; reflink?: boolean} = {}): Expectation[] {
  const {layout} = ctx
  const image = layout.snapshotImage('db', name)
  const partial = partialPath(image)
  const write = () => writeFileSync(partial, 'copy')
  const copy: Expectation = options.reflink
    ? {command: `cp --reflink=always ${layout.image('db')} ${partial}`, effect: write}
    : {command: `cp --sparse=always ${layout.image('db')} ${partial}`, then: write}
  const mounted = options.mounted ?? true
  return [
    {command: `mkdir -p -m 0700 ${layout.snapshotsDir}`},
    {command: `mkdir -p -m 0700 ${layout.snapshotDir('db')}`},
    ...(mounted ? [{command: `fsfreeze --freeze ${layout.mountpoint('db')}`}] : []),
    copy,
    ...(mounted ? [{command: `fsfreeze --unfreeze ${layout.mountpoint('db')}`}] : []),
    {command: `sync ${partial}`},
    {command: `mv --no-clobber ${partial} ${image}`},
    {command: `chmod 0400 ${image}`},
    {command: `chattr +i ${image}`},
  ]
}

describe('volume snapshot create (planned commands)', () => {
  let ctx: UnitContext
  beforeEach(async () => {
    ctx = unitContext()
    await seedVolume(ctx)
  })
  afterEach(() => ctx.cleanup())

  it('freezes a mounted volume only around the copy, then makes the image read-only and records it', async () => {
    const run = withScript(ctx, snapshotScript(ctx))
    const snapshot = await createSnapshot(run, {volume: 'db', snapshot: 's1', labels: {ticket: 'DB-42'}})
    run.exec.assertDone()
    assert.equal(snapshot.name, 'db@s1')
    assert.equal(snapshot.status, 'ready')
    assert.equal(snapshot.method, 'copy')
    assert.equal(snapshot.sizeBytes, 64 * MiB)
    assert.deepEqual(snapshot.labels, {ticket: 'DB-42'})
    assert.equal(ctx.store.read().volumes.db.snapshots?.s1.pending, undefined)
    assert.ok(existsSync(ctx.layout.snapshotImage('db', 's1')))
    assert.ok(!existsSync(partialPath(ctx.layout.snapshotImage('db', 's1'))))
  })

  it('clones by reflink where the host can, and records the method', async () => {
    ctx.host.reflink = true
    const run = withScript(ctx, snapshotScript(ctx, 's1', {reflink: true}))
    assert.equal((await createSnapshot(run, {volume: 'db', snapshot: 's1'})).method, 'reflink')
    run.exec.assertDone()
  })

  it('copies an unmounted volume without freezing anything', async () => {
    ctx.host.loops = []
    ctx.host.mounts = []
    const run = withScript(ctx, snapshotScript(ctx, 's1', {mounted: false}))
    await createSnapshot(run, {volume: 'db', snapshot: 's1'})
    run.exec.assertDone()
  })

  it('takes VOLUME@SNAPSHOT as zfs snapshot does; a second name with it is exit 2', async () => {
    const run = withScript(ctx, snapshotScript(ctx, 's1', {reflink: false}))
    assert.equal((await createSnapshot(run, {volume: 'db@s1'})).name, 'db@s1')
    run.exec.assertDone()
    assert.equal(await exitCodeOf(createSnapshot(withScript(ctx, []), {volume: 'db@s2', snapshot: 's3'})), 2)
  })

  it('names a snapshot after the UTC time by default', async () => {
    const dry = unitContext([], {dryRun: true})
    try {
      await seedVolume(dry)
      assert.match((await createSnapshot(dry, {volume: 'db'})).name, /^db@\d{8}T\d{6}Z$/)
    } finally {
      dry.cleanup()
    }
  })

  it('thaws and removes the partial copy when the copy fails, and records nothing', async () => {
    const script = snapshotScript(ctx)
    const partial = partialPath(ctx.layout.snapshotImage('db', 's1'))
    const run = withScript(ctx, [
      ...script.slice(0, 3),
      {command: /^cp --sparse=always /, fails: 'cp: error reading: Input/output error', then: () => writeFileSync(partial, 'half')},
      script[4],
      {command: `rm -f ${partial}`},
    ])
    await assert.rejects(createSnapshot(run, {volume: 'db', snapshot: 's1'}), (error: Error) => /Input\/output error/.test(error.message) && !/could not undo/.test(error.message))
    run.exec.assertDone()
    assert.equal(ctx.store.read().volumes.db.snapshots?.s1, undefined)
  })

  it('fails (exit 5) and undoes it all when the guardian thawed before the copy was confirmed', async () => {
    const script = snapshotScript(ctx)
    script[4] = {...script[4], boundPassed: true}
    const partial = partialPath(ctx.layout.snapshotImage('db', 's1'))
    const run = withScript(ctx, [...script.slice(0, 5), {command: `rm -f ${partial}`}])
    assert.equal(await exitCodeOf(createSnapshot(run, {volume: 'db', snapshot: 's1'})), 5)
    run.exec.assertDone()
    assert.ok(!existsSync(partial))
    assert.equal(ctx.store.read().volumes.db.snapshots?.s1, undefined)
  })

  it('copies nothing when the freeze fails', async () => {
    const script = snapshotScript(ctx)
    const partial = partialPath(ctx.layout.snapshotImage('db', 's1'))
    const run = withScript(ctx, [...script.slice(0, 2), {command: script[2].command, fails: 'fsfreeze: /m: Operation not supported'}, {command: `rm -f ${partial}`}])
    assert.equal(await exitCodeOf(createSnapshot(run, {volume: 'db', snapshot: 's1'})), 5)
    run.exec.assertDone()
  })

  it('refuses a copy the host has no room for (exit 5) before touching anything', async () => {
    ctx.host.availableBytes = 8 * MiB
    const run = withScript(ctx, [])
    assert.equal(await exitCodeOf(createSnapshot(run, {volume: 'db', snapshot: 's1'})), 5)
    assert.equal(ctx.store.read().volumes.db.snapshots, undefined)
    assert.ok(!existsSync(ctx.layout.snapshotsDir))
    ctx.host.reflink = true // a reflink takes no room: fine
    await createSnapshot(withScript(ctx, snapshotScript(ctx, 's1', {reflink: true})), {volume: 'db', snapshot: 's1'})
  })

  it('refuses bad names (exit 2), unknown volumes (exit 3) and taken names (exit 4)', async () => {
    const untouched = withScript(ctx, [])
    assert.equal(await exitCodeOf(createSnapshot(untouched, {volume: 'db', snapshot: 'a@b'})), 2)
    assert.equal(await exitCodeOf(createSnapshot(untouched, {volume: 'db', snapshot: '.hidden'})), 2)
    assert.equal(await exitCodeOf(createSnapshot(untouched, {volume: 'db/..', snapshot: 's'})), 2)
    assert.equal(await exitCodeOf(createSnapshot(untouched, {volume: 'nope', snapshot: 's'})), 3)
    await createSnapshot(withScript(ctx, snapshotScript(ctx)), {volume: 'db', snapshot: 's1'})
    assert.equal(await exitCodeOf(createSnapshot(untouched, {volume: 'db', snapshot: 's1'})), 4)
  })

  it('shows a snapshot whose process died as incomplete, never ready, and the next snapshot clears it', async () => {
    const abandoned: SnapshotRecord = {
      name: 'old', id: '00000000-0000-4000-8000-000000000002', volume: 'db', fs: 'ext4', sizeBytes: 64 * MiB, method: 'copy', labels: {}, createdAt: '2026-11-25T23:10:00.000Z',
      pending: {operation: 'snapshot', pid: DEAD_PID, startedAt: '2026-11-25T23:10:00.000Z'},
    }
    await ctx.store.update((state) => (state.volumes.db.snapshots = {old: abandoned}))
    assert.equal(listSnapshots(ctx, 'db')[0].status, 'incomplete')
    assert.equal(await exitCodeOf(Promise.resolve().then(() => findSnapshot(ctx, {volume: 'db', snapshot: 'old'}))), 4)
    const partial = partialPath(ctx.layout.snapshotImage('db', 'old'))
    const run = withScript(ctx, [{command: `rm -f ${ctx.layout.snapshotImage('db', 'old')}`}, {command: `rm -f ${partial}`}, ...snapshotScript(ctx)])
    await createSnapshot(run, {volume: 'db', snapshot: 's1'})
    run.exec.assertDone()
    assert.deepEqual(listSnapshots(ctx).map((snapshot) => `${snapshot.name} ${snapshot.status}`), ['db@s1 ready'])
  })

  it('refuses a second snapshot of a volume while one is being taken by a live process (exit 4)', async () => {
    ctx.host.alive.add(4242)
    await ctx.store.update((state) => {
      state.volumes.db.snapshots = {
        a: {name: 'a', id: '00000000-0000-4000-8000-000000000003', volume: 'db', fs: 'ext4', sizeBytes: 1, method: 'copy', labels: {}, createdAt: '', pending: {operation: 'snapshot', pid: 4242, startedAt: ''}},
      }
    })
    assert.equal(await exitCodeOf(createSnapshot(withScript(ctx, []), {volume: 'db', snapshot: 'b'})), 4)
    assert.equal(listSnapshots(ctx)[0].status, 'creating')
  })

  it('--dry-run prints the plan and changes nothing', async () => {
    const dry = unitContext([], {dryRun: true})
    try {
      await seedVolume(dry)
      await createSnapshot(dry, {volume: 'db', snapshot: 's1'})
      assert.deepEqual(dry.exec.ran, snapshotScript(dry).map((step) => step.command))
      assert.ok(!existsSync(dry.layout.snapshotsDir))
      assert.equal(ctx.store.read().volumes.db.snapshots, undefined)
    } finally {
      dry.cleanup()
    }
  })
})

describe('volume snapshot ls, rm, and volume rm of a volume with snapshots', () => {
  let ctx: UnitContext
  beforeEach(async () => {
    ctx = unitContext()
    await seedVolume(ctx)
    await createSnapshot(withScript(ctx, snapshotScript(ctx, 'a')), {volume: 'db', snapshot: 'a'})
    await createSnapshot(withScript(ctx, snapshotScript(ctx, 'b')), {volume: 'db', snapshot: 'b'})
  })
  afterEach(() => ctx.cleanup())

  const rmScript = (ctx: UnitContext, name: string) => [
    {command: `chattr -i ${ctx.layout.snapshotImage('db', name)}`},
    {command: `rm -f ${ctx.layout.snapshotImage('db', name)}`},
    {command: `rm -f ${partialPath(ctx.layout.snapshotImage('db', name))}`},
  ]

  it('lists snapshots oldest first; an unknown volume is exit 3', async () => {
    assert.deepEqual(listSnapshots(ctx).map((snapshot) => snapshot.name), ['db@a', 'db@b'])
    assert.deepEqual(listSnapshots(ctx, 'db').map((snapshot) => snapshot.status), ['ready', 'ready'])
    assert.equal(await exitCodeOf(Promise.resolve().then(() => listSnapshots(ctx, 'nope'))), 3)
  })

  it('rm removes the image (immutable first) and the record', async () => {
    const run = withScript(ctx, rmScript(ctx, 'a'))
    assert.deepEqual((await removeSnapshots(run, ['db@a'])).map((each) => each.name), ['db@a'])
    run.exec.assertDone()
    assert.deepEqual(Object.keys(ctx.store.read().volumes.db.snapshots ?? {}), ['b'])
  })

  it('rm checks every name first: bad ones exit 2, unknown ones exit 3, and nothing is removed', async () => {
    const untouched = withScript(ctx, [])
    assert.equal(await exitCodeOf(removeSnapshots(untouched, ['db@a', 'db'])), 2)
    assert.equal(await exitCodeOf(removeSnapshots(untouched, ['db@a', 'db@nope'])), 3)
    assert.equal(await exitCodeOf(removeSnapshots(untouched, ['db@a', 'nope@a'])), 3)
    assert.equal(Object.keys(ctx.store.read().volumes.db.snapshots ?? {}).length, 2)
  })

  it('volume rm refuses a volume with snapshots (exit 4), even with --force; --recursive removes them too', async () => {
    assert.equal(await exitCodeOf(removeVolumes(withScript(ctx, []), ['db'])), 4)
    await assert.rejects(removeVolumes(withScript(ctx, []), ['db', 'nope'], {force: true}), /has snapshots: db@a, db@b: remove them first, or pass -r \(--recursive\)/)
    const run = withScript(ctx, [
      {command: `umount ${ctx.layout.mountpoint('db')}`},
      {command: 'losetup --detach /dev/loop7'},
      ...rmScript(ctx, 'a'),
      ...rmScript(ctx, 'b'),
      {command: `rmdir ${ctx.layout.snapshotDir('db')}`},
      {command: `chattr -i ${ctx.layout.mountpoint('db')}`},
      {command: `rmdir ${ctx.layout.mountpoint('db')}`},
      {command: `rm -f ${ctx.layout.image('db')}`},
    ])
    assert.deepEqual((await removeVolumes(run, ['db'], {recursive: true})).map((each) => each.name), ['db'])
    run.exec.assertDone()
    assert.deepEqual(ctx.store.read().volumes, {})
    assert.ok(!existsSync(ctx.layout.snapshotDir('db')))
  })
})

describe('volume snapshot restore (planned commands)', () => {
  let ctx: UnitContext
  beforeEach(async () => {
    ctx = unitContext()
    await seedVolume(ctx)
    await createSnapshot(withScript(ctx, snapshotScript(ctx, 's1')), {volume: 'db', snapshot: 's1'})
  })
  afterEach(() => ctx.cleanup())

  const partial = () => partialPath(ctx.layout.image('db'))
  const down = () => [{command: `umount ${ctx.layout.mountpoint('db')}`}, {command: 'losetup --detach /dev/loop7'}]
  const up = () => [
    {command: `losetup --find --show --nooverlap --direct-io=on ${ctx.layout.image('db')}`, stdout: '/dev/loop3\n'},
    {command: `mount -o discard /dev/loop3 ${ctx.layout.mountpoint('db')}`},
  ]
  /** The host after `down`: no device, no mount. */
  const wentDown = () => {
    ctx.host.loops = []
    ctx.host.mounts = []
  }

  it('unmounts, copies the snapshot over the image (via a partial file), and mounts again', async () => {
    const run = withScript(ctx, [
      ...down(),
      {command: `cp --sparse=always ${ctx.layout.snapshotImage('db', 's1')} ${partial()}`, then: () => (wentDown(), writeFileSync(partial(), 'old'))},
      {command: `chmod 0600 ${partial()}`},
      {command: `sync ${partial()}`},
      {command: `mv ${partial()} ${ctx.layout.image('db')}`},
      ...up(),
    ])
    const volume = await restoreSnapshot(run, {snapshot: 'db@s1'})
    run.exec.assertDone()
    assert.equal(volume.name, 'db')
    assert.equal(readFileSync(ctx.layout.image('db'), 'utf8'), 'old')
    assert.equal(ctx.store.read().volumes.db.pending, undefined)
    assert.ok(ctx.store.read().volumes.db.snapshots?.s1, 'the snapshot stays')
  })

  it('leaves an unmounted volume unmounted', async () => {
    wentDown()
    const run = withScript(ctx, [
      {command: /^cp --sparse=always /, then: () => writeFileSync(partial(), 'old')},
      {command: `chmod 0600 ${partial()}`},
      {command: `sync ${partial()}`},
      {command: `mv ${partial()} ${ctx.layout.image('db')}`},
    ])
    assert.equal((await restoreSnapshot(run, {snapshot: 'db@s1'})).status, 'unmounted')
    run.exec.assertDone()
  })

  it('refuses a busy volume (exit 4) and leaves it as it was', async () => {
    const run = withScript(ctx, [{command: `umount ${ctx.layout.mountpoint('db')}`, fails: `umount: ${ctx.layout.mountpoint('db')}: target is busy.`}])
    assert.equal(await exitCodeOf(restoreSnapshot(run, {snapshot: 'db@s1'})), 4)
    run.exec.assertDone()
    assert.equal(readFileSync(ctx.layout.image('db'), 'utf8').slice(0, 4), 'data')
    assert.equal(ctx.store.read().volumes.db.pending, undefined)
  })

  it('a busy volume: the message names the processes (like fuser -v) and offers --force', async () => {
    ctx.host.alive.add(4242)
    ctx.host.commands.set(4242, 'postgres')
    ctx.host.users.set(ctx.layout.mountpoint('db'), [4242])
    const run = withScript(ctx, [{command: `umount ${ctx.layout.mountpoint('db')}`, fails: `umount: ${ctx.layout.mountpoint('db')}: target is busy.`}])
    await assert.rejects(restoreSnapshot(run, {snapshot: 'db@s1'}), {
      message: 'volume "db" is busy: process 4242 (postgres) uses it: stop them and try again, or pass --force to stop them (SIGTERM, then SIGKILL after 10 s)',
    })
  })

  it('--force stops the processes using the volume first', async () => {
    ctx.host.alive.add(4242)
    ctx.host.users.set(ctx.layout.mountpoint('db'), [4242])
    const run = withScript(ctx, [
      {command: 'kill -TERM 4242', effect: () => ctx.host.alive.delete(4242)},
      ...down(),
      {command: /^cp --sparse=always /, then: () => (wentDown(), writeFileSync(partial(), 'old'))},
      {command: `chmod 0600 ${partial()}`},
      {command: `sync ${partial()}`},
      {command: `mv ${partial()} ${ctx.layout.image('db')}`},
      ...up(),
    ])
    await restoreSnapshot(run, {snapshot: 'db@s1', force: true})
    run.exec.assertDone()
  })

  it('mounts the old image again when the copy fails, and removes the partial copy', async () => {
    const run = withScript(ctx, [
      ...down(),
      {command: /^cp --sparse=always /, fails: 'cp: No space left on device', then: () => (wentDown(), writeFileSync(partial(), 'half'))},
      {command: `rm -f ${partial()}`},
      ...up(),
    ])
    assert.equal(await exitCodeOf(restoreSnapshot(run, {snapshot: 'db@s1'})), 5)
    run.exec.assertDone()
    assert.ok(!existsSync(partial()))
    assert.equal(readFileSync(ctx.layout.image('db'), 'utf8').slice(0, 4), 'data')
    assert.equal(ctx.store.read().volumes.db.pending, undefined)
  })

  it('an interruption during the copy stops it, and the volume comes back as it was', async () => {
    const run = withScript(ctx, [
      ...down(),
      {command: /^cp --sparse=always /, then: () => (wentDown(), run.exec.interrupt(interrupted('SIGINT')))},
      {command: `rm -f ${partial()}`},
      ...up(),
    ])
    assert.equal(await exitCodeOf(restoreSnapshot(run, {snapshot: 'db@s1'})), 130)
    run.exec.assertDone()
  })

  it('refuses unknown snapshots (exit 3), bad references (exit 2), an incomplete snapshot (exit 4)', async () => {
    const untouched = withScript(ctx, [])
    assert.equal(await exitCodeOf(restoreSnapshot(untouched, {snapshot: 'db@nope'})), 3)
    assert.equal(await exitCodeOf(restoreSnapshot(untouched, {snapshot: 'nope@s1'})), 3)
    assert.equal(await exitCodeOf(restoreSnapshot(untouched, {snapshot: 'db'})), 2)
    await ctx.store.update((state) => (state.volumes.db.snapshots!.s1.pending = {operation: 'snapshot', pid: DEAD_PID, startedAt: ''}))
    assert.equal(await exitCodeOf(restoreSnapshot(untouched, {snapshot: 'db@s1'})), 4)
  })
})

describe('volume create --from (planned commands)', () => {
  let ctx: UnitContext
  beforeEach(async () => {
    ctx = unitContext()
    await seedVolume(ctx)
    await createSnapshot(withScript(ctx, snapshotScript(ctx, 's1')), {volume: 'db', snapshot: 's1'})
  })
  afterEach(() => ctx.cleanup())

  const image = () => ctx.layout.image('copy')
  const partial = () => partialPath(image())
  const copy = (): Expectation => ({
    command: `cp --sparse=always ${ctx.layout.snapshotImage('db', 's1')} ${partial()}`,
    then: () => (writeFileSync(partial(), 'old'), truncateSync(partial(), 64 * MiB)),
  })
  const attachAndMount = (): Expectation[] => [
    {command: `losetup --find --show --nooverlap --direct-io=on ${image()}`, stdout: '/dev/loop9\n'},
    {command: `mkdir -m 0755 ${ctx.layout.mountpoint('copy')}`},
    {command: `chattr +i ${ctx.layout.mountpoint('copy')}`},
  ]

  it('copies the snapshot, gives the ext4 a new UUID, grows it offline, then attaches and mounts it', async () => {
    const run = withScript(ctx, [
      {command: `mkdir -p -m 0700 ${ctx.layout.imagesDir}`},
      {command: `mkdir -p -m 0700 ${ctx.layout.mountsDir}`},
      copy(),
      {command: `chmod 0600 ${partial()}`},
      {command: `e2fsck -f -p ${partial()}`, fails: 'copy: fixed the superblock (exit 1)'},
      {command: `tune2fs -U random ${partial()}`},
      {command: `truncate --size ${128 * MiB} ${partial()}`},
      {command: `resize2fs ${partial()}`},
      {command: `sync ${partial()}`},
      {command: `mv --no-clobber ${partial()} ${image()}`},
      ...attachAndMount(),
      {command: `mount -o discard /dev/loop9 ${ctx.layout.mountpoint('copy')}`},
    ])
    const volume = await createVolume(run, {name: 'copy', from: 'db@s1', sizeBytes: 128 * MiB})
    run.exec.assertDone()
    assert.equal(volume.sizeBytes, 128 * MiB)
    assert.equal(volume.fs, 'ext4')
    assert.equal(ctx.store.read().volumes.copy.pending, undefined)
  })

  it('keeps the size of the snapshot by default', async () => {
    const run = withScript(ctx, [
      {command: /^mkdir -p /},
      {command: /^mkdir -p /},
      copy(),
      {command: `chmod 0600 ${partial()}`},
      {command: `e2fsck -f -p ${partial()}`},
      {command: `tune2fs -U random ${partial()}`},
      {command: `sync ${partial()}`},
      {command: `mv --no-clobber ${partial()} ${image()}`},
      ...attachAndMount(),
      {command: `mount -o discard /dev/loop9 ${ctx.layout.mountpoint('copy')}`},
    ])
    assert.equal((await createVolume(run, {name: 'copy', from: 'db@s1'})).sizeBytes, 64 * MiB)
    run.exec.assertDone()
  })

  it('gives an xfs clone a new UUID on its device (after replaying its log) and grows it mounted', async () => {
    await ctx.store.update((state) => (state.volumes.db.snapshots!.s1.fs = 'xfs'))
    truncateSync(ctx.layout.snapshotImage('db', 's1'), 320 * MiB)
    await ctx.store.update((state) => (state.volumes.db.snapshots!.s1.sizeBytes = 320 * MiB))
    const mountpoint = ctx.layout.mountpoint('copy')
    const run = withScript(ctx, [
      {command: /^mkdir -p /},
      {command: /^mkdir -p /},
      copy(),
      {command: `chmod 0600 ${partial()}`},
      {command: `truncate --size ${400 * MiB} ${partial()}`},
      {command: `sync ${partial()}`},
      {command: `mv --no-clobber ${partial()} ${image()}`},
      ...attachAndMount(),
      {command: `mount -o discard,nouuid /dev/loop9 ${mountpoint}`},
      {command: `umount ${mountpoint}`},
      {command: 'xfs_admin -U generate /dev/loop9'},
      {command: `mount -o discard /dev/loop9 ${mountpoint}`},
      {command: `xfs_growfs ${mountpoint}`},
    ])
    assert.equal((await createVolume(run, {name: 'copy', from: 'db@s1', sizeBytes: 400 * MiB})).fs, 'xfs')
    run.exec.assertDone()
  })

  it('rolls back everything when a step fails: no image, partial file, device or record', async () => {
    const run = withScript(ctx, [
      {command: /^mkdir -p /},
      {command: /^mkdir -p /},
      copy(),
      {command: `chmod 0600 ${partial()}`},
      {command: `e2fsck -f -p ${partial()}`},
      {command: `tune2fs -U random ${partial()}`, fails: 'tune2fs: Bad magic number in super-block'},
      {command: `rm -f ${partial()}`},
    ])
    await assert.rejects(createVolume(run, {name: 'copy', from: 'db@s1'}), (error: Error) => /Bad magic/.test(error.message) && !/could not undo/.test(error.message))
    run.exec.assertDone()
    assert.ok(!existsSync(partial()))
    assert.equal(ctx.store.read().volumes.copy, undefined)
  })

  it('refuses what it cannot do before touching anything', async () => {
    const untouched = withScript(ctx, [])
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'copy', from: 'db'})), 2, 'not a snapshot')
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'copy', from: 'db@s1', sizeBytes: 32 * MiB})), 2, 'smaller')
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'copy', from: 'db@s1', fs: 'xfs'})), 2, 'another fs')
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'copy', from: 'db@s1', type: 'overlay'})), 2, 'another type')
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'copy', from: 'db@nope'})), 3)
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'copy', from: 'nope@s1'})), 3)
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'db', from: 'db@s1'})), 4, 'name taken')
    ctx.host.availableBytes = 8 * MiB
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'copy', from: 'db@s1'})), 5, 'no room')
    assert.equal(ctx.store.read().volumes.copy, undefined)
  })
})
