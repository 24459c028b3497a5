import assert from 'node:assert/strict'
import {existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {stackDepth, unionDependents} from '../../../src/lib/union/lowers.js'
import type {State, VolumeRecord} from '../../../src/lib/store/state.js'
import {createVolume} from '../../../src/lib/volumes/create.js'
import {inspectVolumes} from '../../../src/lib/volumes/list.js'
import {mountVolumes, unmountVolumes} from '../../../src/lib/volumes/mount.js'
import {removeVolumes} from '../../../src/lib/volumes/remove.js'
import {type UnitContext, unitContext, withScript} from '../../support/unit-context.js'
import {exitCodeOf} from '../../support/exit-codes.js'
import type {CbsError} from '../../../src/lib/common/errors.js'

const MiB = 1024 ** 2

/** `cbs volume create u --type overlay --lower A --lower B --size 64M`, in order. */
function createScript(ctx: UnitContext, lowers: string[], device = '/dev/loop4') {
  const {layout} = ctx
  const upper = layout.upperMount('u')
  return [
    {command: `mkdir -p -m 0700 ${layout.imagesDir}`},
    {command: `mkdir -p -m 0700 ${layout.uppersDir}`},
    {command: `mkdir -p -m 0700 ${layout.mountsDir}`},
    {command: `truncate --size ${64 * MiB} ${layout.image('u')}`},
    {command: `losetup --find --show --nooverlap --direct-io=on ${layout.image('u')}`, stdout: `${device}\n`},
    {command: /^mkfs\.ext4 -q -F -b 4096 -m 0 -E \S+ \/dev\/loop4$/},
    {command: `mkdir -m 0755 ${upper}`},
    {command: `chattr +i ${upper}`},
    {command: `mount -o discard ${device} ${upper}`},
    {command: `mkdir -m 0755 ${upper}/upper ${upper}/work`},
    {command: `mkdir -m 0755 ${layout.mountpoint('u')}`},
    {command: `chattr +i ${layout.mountpoint('u')}`},
    {
      command: new RegExp(`^mount -t overlay -o lowerdir=${lowers.map((lower) => `${lower.startsWith(layout.root) ? lower.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&') : HANDLE}/`).join(':')},upperdir=${upper}/upper/,workdir=${upper}/work/ overlay ${layout.mountpoint('u')}$`),
    },
  ]
}

/** The mount gets each host folder by its open handle in this process, never by its path (cbs's own snapshot mounts: by path). */
const HANDLE = `/proc/${process.pid}/fd/\\d+`

describe('union volumes (planned commands)', () => {
  let ctx: UnitContext
  let lowers: string
  let a: string
  let b: string
  beforeEach(() => {
    ctx = unitContext()
    lowers = mkdtempSync(join(tmpdir(), 'cbs-lowers-'))
    a = join(lowers, 'a')
    b = join(lowers, 'b')
    mkdirSync(a)
    mkdirSync(b)
  })
  afterEach(() => {
    ctx.cleanup()
    rmSync(lowers, {recursive: true, force: true})
  })

  /** The host as it is after a successful create of u on /dev/loop4. */
  function mounted() {
    ctx.host.loops.push({device: '/dev/loop4', backingFile: ctx.layout.image('u')})
    ctx.host.mounts.push({source: '/dev/loop4', mountpoint: ctx.layout.upperMount('u')})
    ctx.host.mounts.push({source: 'overlay', mountpoint: ctx.layout.mountpoint('u'), fstype: 'overlay'})
  }

  async function create() {
    const script = withScript(ctx, createScript(ctx, [a, b]))
    const volume = await createVolume(script, {name: 'u', type: 'overlay', lowers: [a, b], sizeBytes: 64 * MiB})
    script.exec.assertDone()
    mounted()
    return volume
  }

  it('creates the upper volume, its upper and work folders, then mounts the overlay; records the lowers', async () => {
    const volume = await create()
    assert.equal(volume.type, 'overlay')
    const identity = (path: string) => `${statSync(path).dev}:${statSync(path).ino}`
    assert.deepEqual(ctx.store.read().volumes.u.lowers, [
      {type: 'directory', path: a, identity: identity(a)},
      {type: 'directory', path: b, identity: identity(b)},
    ])
    const [inspected] = await inspectVolumes(ctx, ['u'])
    assert.equal(inspected.status, 'mounted')
    assert.deepEqual(
      inspected.lowers?.map((lower) => [lower.source, lower.type]),
      [
        [a, 'directory'],
        [b, 'directory'],
      ],
    )
    assert.deepEqual(inspected.upper, {mountpoint: ctx.layout.upperMount('u'), sizeBytes: 64 * MiB, usedBytes: 0})
  })

  it('rolls back the upper volume it created when the overlay mount fails', async () => {
    const script = createScript(ctx, [a, b])
    const upper = ctx.layout.upperMount('u')
    script[12] = {command: /^mount -t overlay /, fails: 'mount: wrong fs type, bad option'} as (typeof script)[number]
    const failing = withScript(ctx, [
      ...script,
      {command: `chattr -i ${ctx.layout.mountpoint('u')}`},
      {command: `rmdir ${ctx.layout.mountpoint('u')}`},
      {command: `umount ${upper}`},
      {command: `chattr -i ${upper}`},
      {command: `rmdir ${upper}`},
      {command: 'losetup --detach /dev/loop4'},
    ])
    await assert.rejects(createVolume(failing, {name: 'u', type: 'overlay', lowers: [a, b], sizeBytes: 64 * MiB}), /wrong fs type/)
    failing.exec.assertDone()
    assert.ok(!existsSync(ctx.layout.image('u')))
    assert.deepEqual(ctx.store.read().volumes, {})
  })

  it('refuses --type aufs on a kernel without aufs (exit 5), creating nothing', async () => {
    const script = withScript(ctx, [{command: 'modprobe --dry-run --quiet aufs', fails: 'modprobe: FATAL: Module aufs not found'}])
    assert.equal(await exitCodeOf(createVolume(script, {name: 'u', type: 'aufs', lowers: [a]})), 5)
    script.exec.assertDone()
    assert.ok(!existsSync(ctx.layout.stateFile))
    assert.ok(!existsSync(ctx.layout.imagesDir))
  })

  it('mounts with aufs where the kernel has it', async () => {
    ctx.host.procFilesystems = () => 'nodev\taufs\n\text4\n'
    const script = createScript(ctx, [a])
    const upper = ctx.layout.upperMount('u')
    script[12] = {command: new RegExp(`^mount -t aufs -o br=${upper}/upper=rw:${HANDLE}=ro\\+wh,xino=${upper}/xino none ${ctx.layout.mountpoint('u')}$`)}
    const run = withScript(ctx, script)
    await createVolume(run, {name: 'u', type: 'aufs', lowers: [a], sizeBytes: 64 * MiB})
    run.exec.assertDone()
  })

  it('refuses bad lowers before touching anything (exit 2 or 3)', async () => {
    writeFileSync(join(lowers, 'file'), '')
    await createVolume(withScript(ctx, createScript(ctx, [a, b])), {name: 'u', type: 'overlay', lowers: [a, b], sizeBytes: 64 * MiB})
    const untouched = withScript(ctx, [])
    for (const [sources, code] of [
      [[], 2],
      [['relative/dir'], 2],
      [['u'], 2], // a live volume
      [[join(lowers, 'missing')], 3],
      [[join(lowers, 'file')], 2],
      [[a, a], 2],
      [[a, lowers], 2], // nested
      [[ctx.layout.mountpoint('u')], 2],
      [[ctx.layout.mountpoint('v')], 2], // itself
      [[ctx.layout.root], 2],
      [['/'], 2], // contains the union volume
      [['v@snap'], 2], // itself
      [['nope@snap'], 3],
      [['bad name@x'], 2],
    ] as const) {
      assert.equal(await exitCodeOf(createVolume(untouched, {name: 'v', type: 'overlay', lowers: [...sources]})), code, JSON.stringify(sources))
    }
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'v', lowers: [a]})), 2, '--lower without a union type')
    assert.deepEqual(Object.keys(ctx.store.read().volumes), ['u'])
  })

  it('unmounts the overlay, then the upper volume; mounts them back in the reverse order', async () => {
    await create()
    const upper = ctx.layout.upperMount('u')
    const down = withScript(ctx, [{command: `umount ${ctx.layout.mountpoint('u')}`}, {command: `umount ${upper}`}, {command: 'losetup --detach /dev/loop4'}])
    await unmountVolumes(down, {names: ['u']})
    down.exec.assertDone()
    ctx.host.loops = []
    ctx.host.mounts = []
    assert.equal((await inspectVolumes(ctx, ['u']))[0].status, 'unmounted')
    const up = withScript(ctx, [
      {command: `losetup --find --show --nooverlap --direct-io=on ${ctx.layout.image('u')}`, stdout: '/dev/loop5'},
      {command: `mount -o discard /dev/loop5 ${upper}`},
      {command: /^mount -t overlay -o lowerdir=\S+ overlay \S+\/mounts\/u$/},
    ])
    await mountVolumes(up, {names: ['u']})
    up.exec.assertDone()
  })

  it('mounts the union back when a container still holds its upper volume (exit 4)', async () => {
    await create()
    ctx.host.busyDevices.add('/dev/loop4')
    const upper = ctx.layout.upperMount('u')
    const down = withScript(ctx, [
      {command: `umount ${ctx.layout.mountpoint('u')}`, then: () => (ctx.host.mounts = ctx.host.mounts.filter((mount) => mount.fstype !== 'overlay'))},
      {command: `umount ${upper}`},
      {command: `mount -o discard /dev/loop4 ${upper}`},
      {command: /^mount -t overlay -o lowerdir=\S+ overlay \S+\/mounts\/u$/},
    ])
    assert.equal(await exitCodeOf(unmountVolumes(down, {names: ['u']})), 4)
    down.exec.assertDone()
  })

  it('refuses (exit 4) to unmount a union a container still holds, before unmounting anything: mounting it back would put a second overlay on the same upper', async () => {
    await create()
    const union = ctx.host.mountinfo().split('\n').find((line) => line.includes(` ${ctx.layout.mountpoint('u')} `))!.split(' ')[2]
    ctx.host.elsewhere.set(union, [4242])
    const untouched = withScript(ctx, [])
    await assert.rejects(unmountVolumes(untouched, {names: ['u']}), (error: CbsError) => error.exitCode === 4 && /in use outside this mount namespace/.test(error.message))
    untouched.exec.assertDone()
  })

  it('takes the upper volume down again when the union cannot be mounted on it (a lower swapped): up whole or not at all', async () => {
    await create()
    ctx.host.loops = []
    ctx.host.mounts = []
    renameSync(b, `${b}.checked`) // kept, so that the new folder cannot reuse its inode
    mkdirSync(b) // same path, another folder
    const upper = ctx.layout.upperMount('u')
    const up = withScript(ctx, [
      {command: `losetup --find --show --nooverlap --direct-io=on ${ctx.layout.image('u')}`, stdout: '/dev/loop5'},
      {command: `mount -o discard /dev/loop5 ${upper}`},
      {command: `umount ${upper}`},
      {command: 'losetup --detach /dev/loop5'},
    ])
    assert.equal(await exitCodeOf(mountVolumes(up, {names: ['u']})), 4)
    up.exec.assertDone()
  })

  it('refuses a missing host folder lower at mount time (exit 3)', async () => {
    await create()
    ctx.host.mounts = ctx.host.mounts.filter((mount) => mount.fstype !== 'overlay')
    rmSync(b, {recursive: true})
    assert.equal(await exitCodeOf(mountVolumes(withScript(ctx, []), {names: ['u']})), 3)
  })

  it('refuses (exit 4) a folder lower swapped after create, by a symbolic link or by another folder, mounting nothing; --accept-lowers takes a new folder, never a link', async () => {
    await create()
    ctx.host.mounts = ctx.host.mounts.filter((mount) => mount.fstype !== 'overlay')
    const elsewhere = mkdtempSync(join(tmpdir(), 'cbs-elsewhere-'))
    try {
      renameSync(b, `${b}.checked`)
      symlinkSync(elsewhere, b)
      await assert.rejects(mountVolumes(withScript(ctx, []), {names: ['u']}), (error: CbsError) => error.exitCode === 4 && /lower layer \S+\/b of volume "u" is no longer a folder/.test(error.message))
      rmSync(b)
      symlinkSync(ctx.layout.mountpoint('u'), b)
      assert.equal(await exitCodeOf(mountVolumes(withScript(ctx, []), {names: ['u']})), 4, 'a link into $CBS_ROOT')
      rmSync(b)
      mkdirSync(b) // same path, another folder
      await assert.rejects(mountVolumes(withScript(ctx, []), {names: ['u']}), (error: CbsError) => error.exitCode === 4 && /is not the folder checked at create/.test(error.message))
      // The parent replaced by a link: the path leads elsewhere although its last part is a folder.
      renameSync(lowers, `${lowers}.moved`)
      symlinkSync(`${lowers}.moved`, lowers)
      await assert.rejects(mountVolumes(withScript(ctx, []), {names: ['u']}), (error: CbsError) => error.exitCode === 4 && /symbolic link/.test(error.message))
      await assert.rejects(mountVolumes(withScript(ctx, []), {names: ['u']}, {acceptLowers: true}), /symbolic link/, 'never accepted')
      rmSync(lowers)
      renameSync(`${lowers}.moved`, lowers)
      // The new folder, accepted on purpose: mounted and recorded.
      const up = withScript(ctx, [{command: /^mount -t overlay /}])
      await mountVolumes(up, {names: ['u']}, {acceptLowers: true})
      up.exec.assertDone()
      const lower = ctx.store.read().volumes.u.lowers?.[1]
      assert.equal(lower?.type === 'directory' && lower.identity, `${statSync(b).dev}:${statSync(b).ino}`)
    } finally {
      rmSync(elsewhere, {recursive: true, force: true})
    }
  })

  it('a folder lower recorded without its identity (an older cbs) is checked like at create and recorded at its next mount', async () => {
    await create()
    ctx.host.mounts = ctx.host.mounts.filter((mount) => mount.fstype !== 'overlay')
    await ctx.store.update((state) => {
      for (const lower of state.volumes.u.lowers ?? []) if (lower.type === 'directory') delete lower.identity
    })
    const up = withScript(ctx, [{command: /^mount -t overlay /}])
    await mountVolumes(up, {names: ['u']})
    up.exec.assertDone()
    assert.deepEqual(
      ctx.store.read().volumes.u.lowers?.map((lower) => lower.type === 'directory' && lower.identity),
      [a, b].map((path) => `${statSync(path).dev}:${statSync(path).ino}`),
    )
  })

  it('rm unmounts both mounts and removes both mountpoints, the image and the record', async () => {
    await create()
    const upper = ctx.layout.upperMount('u')
    // What the upper volume held, as the fake host leaves it in the mountpoint.
    for (const dir of ['upper', 'work']) rmSync(join(upper, dir), {recursive: true})
    const rm = withScript(ctx, [
      {command: `umount ${ctx.layout.mountpoint('u')}`},
      {command: `umount ${upper}`},
      {command: 'losetup --detach /dev/loop4'},
      {command: `chattr -i ${ctx.layout.mountpoint('u')}`},
      {command: `rmdir ${ctx.layout.mountpoint('u')}`},
      {command: `chattr -i ${upper}`},
      {command: `rmdir ${upper}`},
      {command: `rm -f ${ctx.layout.image('u')}`},
    ])
    assert.deepEqual((await removeVolumes(rm, ['u'])).map((each) => each.name), ['u'])
    rm.exec.assertDone()
    assert.deepEqual(ctx.store.read().volumes, {})
  })
})

describe('union volumes over snapshots (planned commands)', () => {
  let ctx: UnitContext
  beforeEach(async () => {
    ctx = unitContext()
    // db@seed: a snapshot record and its (read-only) image.
    mkdirSync(ctx.layout.snapshotDir('db'), {recursive: true})
    writeFileSync(ctx.layout.snapshotImage('db', 'seed'), '')
    await ctx.store.update((state) => {
      state.volumes.db = {name: 'db', type: 'loop', fs: 'ext4', sizeBytes: 64 * MiB, labels: {}, createdAt: ''}
      state.volumes.db.snapshots = {seed: {name: 'seed', id: '00000000-0000-4000-8000-000000000004', volume: 'db', fs: 'ext4', sizeBytes: 64 * MiB, method: 'copy', labels: {}, createdAt: ''}}
    })
  })
  afterEach(() => ctx.cleanup())

  const lower = () => ctx.layout.lowerMount('db@seed')
  /** The commands that mount db@seed read-only on /dev/loop9. */
  const mountSnapshot = () => [
    {command: `mkdir -p -m 0700 ${ctx.layout.lowersDir}`},
    {command: `losetup --find --show --nooverlap --read-only --direct-io=on ${ctx.layout.snapshotImage('db', 'seed')}`, stdout: '/dev/loop9\n'},
    {command: `mkdir -m 0755 ${lower()}`},
    {command: `chattr +i ${lower()}`},
    {command: `mount -o ro,noload /dev/loop9 ${lower()}`},
  ]
  /** createScript for `u` with the snapshot mounted first, or already there. */
  function overSnapshot(options: {mounted?: boolean} = {}) {
    const script = createScript(ctx, [lower()])
    return [...script.slice(0, 10), ...(options.mounted ? [] : mountSnapshot()), ...script.slice(10)]
  }

  it('mounts the snapshot read-only (no journal replay) below the overlay', async () => {
    const run = withScript(ctx, overSnapshot())
    const volume = await createVolume(run, {name: 'u', type: 'overlay', lowers: ['db@seed'], sizeBytes: 64 * MiB})
    run.exec.assertDone()
    assert.deepEqual(ctx.store.read().volumes.u.lowers, [{type: 'snapshot', volume: 'db', snapshot: 'seed'}])
    assert.deepEqual(volume.lowers?.[0], {
      source: 'db@seed',
      type: 'snapshot',
      volume: 'db',
      snapshot: 'seed',
      image: ctx.layout.snapshotImage('db', 'seed'),
      mountpoint: lower(),
      mounted: false, // the fake host does not mount
    })
  })

  it('rolls back the snapshot mount and the upper volume when the overlay mount fails', async () => {
    const script = overSnapshot()
    const upper = ctx.layout.upperMount('u')
    script[script.length - 1] = {command: /^mount -t overlay /, fails: 'mount: wrong fs type'} as (typeof script)[number]
    const failing = withScript(ctx, [
      ...script,
      {command: `chattr -i ${ctx.layout.mountpoint('u')}`},
      {command: `rmdir ${ctx.layout.mountpoint('u')}`},
      {command: `umount ${lower()}`},
      {command: `chattr -i ${lower()}`},
      {command: `rmdir ${lower()}`},
      {command: 'losetup --detach /dev/loop9'},
      {command: `umount ${upper}`},
      {command: `chattr -i ${upper}`},
      {command: `rmdir ${upper}`},
      {command: 'losetup --detach /dev/loop4'},
    ])
    await assert.rejects(createVolume(failing, {name: 'u', type: 'overlay', lowers: ['db@seed'], sizeBytes: 64 * MiB}), /wrong fs type/)
    failing.exec.assertDone()
    assert.deepEqual(Object.keys(ctx.store.read().volumes), ['db'])
  })

  it('shares one snapshot mount between union volumes; the last one down unmounts it', async () => {
    ctx.host.loops.push({device: '/dev/loop9', backingFile: ctx.layout.snapshotImage('db', 'seed')})
    ctx.host.mounts.push({source: '/dev/loop9', mountpoint: lower()})
    await ctx.store.update((state) => {
      state.volumes.other = {name: 'other', type: 'overlay', fs: 'ext4', sizeBytes: MiB, labels: {}, createdAt: '', lowers: [{type: 'snapshot', volume: 'db', snapshot: 'seed'}]}
    })
    ctx.host.mounts.push({source: 'overlay', mountpoint: ctx.layout.mountpoint('other'), fstype: 'overlay'})
    const run = withScript(ctx, overSnapshot({mounted: true}))
    await createVolume(run, {name: 'u', type: 'overlay', lowers: ['db@seed'], sizeBytes: 64 * MiB})
    run.exec.assertDone()
    ctx.host.loops.push({device: '/dev/loop4', backingFile: ctx.layout.image('u')})
    ctx.host.mounts.push({source: '/dev/loop4', mountpoint: ctx.layout.upperMount('u')}, {source: 'overlay', mountpoint: ctx.layout.mountpoint('u'), fstype: 'overlay'})

    const upDown = [{command: `umount ${ctx.layout.mountpoint('u')}`}, {command: `umount ${ctx.layout.upperMount('u')}`}, {command: 'losetup --detach /dev/loop4'}]
    const down = withScript(ctx, upDown)
    await unmountVolumes(down, {names: ['u']})
    down.exec.assertDone() // "other" still stacks db@seed

    ctx.host.mounts = ctx.host.mounts.filter((mount) => mount.mountpoint !== ctx.layout.mountpoint('other'))
    const last = withScript(ctx, [...upDown, {command: `umount ${lower()}`}, {command: 'losetup --detach /dev/loop9'}, {command: `chattr -i ${lower()}`}, {command: `rmdir ${lower()}`}])
    await unmountVolumes(last, {names: ['u']})
    last.exec.assertDone()
  })

  it('refuses a live volume (exit 2, hint: snapshot it), a missing snapshot (3), a snapshot of itself (2)', async () => {
    const untouched = withScript(ctx, [])
    await assert.rejects(createVolume(untouched, {name: 'u', type: 'overlay', lowers: ['db']}), /live volume.*snapshot it first \(cbs volume snapshot create db\)/)
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'u', type: 'overlay', lowers: ['db@nope']})), 3)
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'u', type: 'overlay', lowers: ['nope@seed']})), 3)
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'u', type: 'overlay', lowers: ['u@seed']})), 2)
    assert.equal(await exitCodeOf(createVolume(untouched, {name: 'u', type: 'overlay', lowers: ['db@seed', 'db@seed']})), 2)
    assert.deepEqual(Object.keys(ctx.store.read().volumes), ['db'])
  })
})

describe('union volume dependencies', () => {
  const record = (name: string, lowers?: VolumeRecord['lowers']): VolumeRecord => ({
    name,
    type: lowers ? 'overlay' : 'loop',
    fs: 'ext4',
    sizeBytes: MiB,
    labels: {},
    createdAt: '',
    lowers,
  })
  // db <- u1 (db@seed), u1 <- u2 (u1@s1), plain: no dependents
  const state: State = {
    schemaVersion: 1,
    volumes: {
      db: record('db'),
      plain: record('plain'),
      u1: record('u1', [{type: 'snapshot', volume: 'db', snapshot: 'seed'}, {type: 'directory', path: '/srv'}]),
      u2: record('u2', [{type: 'snapshot', volume: 'u1', snapshot: 's1'}]),
    },
  }

  it('names the union volumes that stack a volume or a snapshot, directly or through another', () => {
    assert.deepEqual(unionDependents(state, 'db'), ['u1', 'u2'])
    assert.deepEqual(unionDependents(state, 'db', 'seed'), ['u1', 'u2'])
    assert.deepEqual(unionDependents(state, 'db', 'other'), [])
    assert.deepEqual(unionDependents(state, 'u1'), ['u2'])
    assert.deepEqual(unionDependents(state, 'plain'), [])
  })

  it('orders volumes below the union volumes that stack them', () =>
    assert.deepEqual(
      ['u2', 'plain', 'u1', 'db'].map((name) => stackDepth(state, name)),
      [2, 0, 1, 0],
    ))

  it('refuses to remove a volume whose snapshot a union volume stacks (exit 4), unless that goes too', async () => {
    const ctx = unitContext()
    try {
      await ctx.store.update((current) => Object.assign(current.volumes, structuredClone(state.volumes)))
      await assert.rejects(removeVolumes(withScript(ctx, []), ['db']), /volume "db" has snapshots that union volumes stack as lower layers: u1, u2/)
      assert.equal(await exitCodeOf(removeVolumes(withScript(ctx, []), ['db', 'u1'])), 4, 'u2 still needs db')
      assert.equal(await exitCodeOf(removeVolumes(withScript(ctx, []), ['u1'])), 4)
      assert.equal(Object.keys(ctx.store.read().volumes).length, 4)
    } finally {
      ctx.cleanup()
    }
  })
})
