import assert from 'node:assert/strict'
import {existsSync, statSync} from 'node:fs'
import {CbsError} from '../../../src/lib/common/errors.js'
import {resizeVolume} from '../../../src/lib/volumes/resize.js'
import {type UnitContext, unitContext, withScript} from '../../support/unit-context.js'
import {hostEffects, seedVolume} from '../../support/volumes.js'
import {exitCodeOf} from '../../support/exit-codes.js'

const MiB = 1024 ** 2
const GiB = 1024 ** 3

describe('volume resize (planned commands)', () => {
  let ctx: UnitContext
  beforeEach(() => {
    ctx = unitContext()
  })
  afterEach(() => ctx.cleanup())

  const sizeOfImage = () => statSync(ctx.layout.image('db')).size
  const dir = () => ctx.layout.mountpoint('db')

  it('grows a mounted ext4 volume offline when cbs lacks CAP_SYS_RESOURCE: unmount, grow the file, losetup -c, e2fsck, resize2fs, mount', async () => {
    await seedVolume(ctx)
    const host = hostEffects(ctx)
    const run = withScript(ctx, [
      {command: `umount ${dir()}`, then: host.unmounted},
      {command: `truncate --size ${2 * GiB} ${ctx.layout.image('db')}`},
      {command: 'losetup --set-capacity /dev/loop7'},
      {command: 'e2fsck -f -p /dev/loop7', fails: '/dev/loop7: 11/65536 files', exitCode: 1},
      {command: 'resize2fs /dev/loop7'},
      {command: `mount -o discard /dev/loop7 ${dir()}`, then: host.mounted},
    ])
    const volume = await resizeVolume(run, 'db', 2 * GiB)
    run.exec.assertDone()
    assert.equal(volume.sizeBytes, 2 * GiB)
    assert.equal(volume.status, 'mounted')
    assert.equal(sizeOfImage(), 2 * GiB)
    assert.equal(statSync(ctx.layout.image('db')).blocks, 0, 'the added part is a hole')
    assert.deepEqual(ctx.store.read().volumes.db.pending, undefined)
    assert.equal(ctx.store.read().volumes.db.sizeBytes, 2 * GiB)
  })

  it('grows ext4 online where cbs has CAP_SYS_RESOURCE', async () => {
    await seedVolume(ctx)
    ctx.host.capabilities = 1n << 24n
    const run = withScript(ctx, [
      {command: `truncate --size ${2 * GiB} ${ctx.layout.image('db')}`},
      {command: 'losetup --set-capacity /dev/loop7'},
      {command: 'resize2fs /dev/loop7'},
    ])
    await resizeVolume(run, 'db', 2 * GiB)
    run.exec.assertDone()
  })

  for (const [fs, grow] of [
    ['xfs', (mountpoint: string) => `xfs_growfs ${mountpoint}`],
    ['btrfs', (mountpoint: string) => `btrfs filesystem resize max ${mountpoint}`],
  ] as const) {
    it(`grows a mounted ${fs} volume online: file, losetup -c, then the filesystem`, async () => {
      await seedVolume(ctx, {fs})
      const run = withScript(ctx, [
        {command: `truncate --size ${2 * GiB} ${ctx.layout.image('db')}`},
        {command: 'losetup --set-capacity /dev/loop7'},
        {command: grow(dir())},
      ])
      await resizeVolume(run, 'db', 2 * GiB)
      run.exec.assertDone()
    })
  }

  it('grows an unmounted volume and leaves it unmounted (xfs is mounted for the moment of the grow)', async () => {
    await seedVolume(ctx, {fs: 'xfs', mounted: false})
    const host = hostEffects(ctx)
    const run = withScript(ctx, [
      {command: `truncate --size ${2 * GiB} ${ctx.layout.image('db')}`},
      {command: `losetup --find --show --nooverlap --direct-io=on ${ctx.layout.image('db')}`, stdout: '/dev/loop7\n', then: host.attached},
      {command: `mount -o discard /dev/loop7 ${dir()}`, then: host.mounted},
      {command: `xfs_growfs ${dir()}`},
      {command: `umount ${dir()}`, then: host.unmounted},
      {command: 'losetup --detach /dev/loop7', then: host.detached},
    ])
    const volume = await resizeVolume(run, 'db', 2 * GiB)
    run.exec.assertDone()
    assert.equal(volume.status, 'unmounted')
  })

  it('refuses a busy ext4 volume it cannot grow online (exit 4), with nothing changed', async () => {
    await seedVolume(ctx)
    const run = withScript(ctx, [{command: `umount ${dir()}`, fails: `umount: ${dir()}: target is busy.`}])
    const error = await resizeVolume(run, 'db', 2 * GiB).catch((caught: unknown) => caught)
    assert.ok(error instanceof CbsError && error.exitCode === 4)
    assert.match(error.message, /in use, and this host does not let cbs grow ext4 while mounted \(it lacks CAP_SYS_RESOURCE\): stop the processes/)
    run.exec.assertDone()
    assert.equal(sizeOfImage(), GiB)
    assert.equal(ctx.store.read().volumes.db.pending, undefined)
  })

  it('refuses a volume a container holds from another mount namespace, and mounts it back', async () => {
    await seedVolume(ctx)
    ctx.host.busyDevices.add('/dev/loop7')
    const host = hostEffects(ctx)
    const run = withScript(ctx, [
      {command: `umount ${dir()}`, then: host.unmounted},
      {command: `mount -o discard /dev/loop7 ${dir()}`, then: host.mounted},
    ])
    assert.equal(await exitCodeOf(resizeVolume(run, 'db', 2 * GiB)), 4)
    run.exec.assertDone()
    assert.equal(sizeOfImage(), GiB)
  })

  it('rolls back when e2fsck finds problems it cannot fix: the image shrinks back and the volume is mounted again', async () => {
    await seedVolume(ctx)
    const host = hostEffects(ctx)
    const run = withScript(ctx, [
      {command: `umount ${dir()}`, then: host.unmounted},
      {command: `truncate --size ${2 * GiB} ${ctx.layout.image('db')}`},
      {command: 'losetup --set-capacity /dev/loop7'},
      {command: 'e2fsck -f -p /dev/loop7', fails: 'UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.', exitCode: 4},
      {command: `truncate --size ${GiB} ${ctx.layout.image('db')}`},
      {command: 'losetup --set-capacity /dev/loop7'},
      {command: `mount -o discard /dev/loop7 ${dir()}`, then: host.mounted},
    ])
    await assert.rejects(resizeVolume(run, 'db', 2 * GiB), /RUN fsck MANUALLY/)
    run.exec.assertDone()
    assert.equal(sizeOfImage(), GiB)
    assert.equal(ctx.store.read().volumes.db.pending, undefined)
  })

  it('once the filesystem grows it is never rolled back: a failure leaves the resize recorded, mounted again', async () => {
    await seedVolume(ctx)
    const host = hostEffects(ctx)
    const run = withScript(ctx, [
      {command: `umount ${dir()}`, then: host.unmounted},
      {command: `truncate --size ${2 * GiB} ${ctx.layout.image('db')}`},
      {command: 'losetup --set-capacity /dev/loop7'},
      {command: 'e2fsck -f -p /dev/loop7'},
      {command: 'resize2fs /dev/loop7', fails: 'resize2fs: Input/output error'},
      {command: `mount -o discard /dev/loop7 ${dir()}`, then: host.mounted},
    ])
    await assert.rejects(resizeVolume(run, 'db', 2 * GiB), /Input\/output error/)
    run.exec.assertDone()
    assert.equal(sizeOfImage(), 2 * GiB)
    assert.deepEqual(
      {...ctx.store.read().volumes.db.pending, pid: 0, startTime: '', startedAt: ''},
      {operation: 'resize', pid: 0, startTime: '', startedAt: '', sizeBytes: 2 * GiB, fromBytes: GiB, wasMounted: true, committed: true},
    )
  })

  it('an interruption (Ctrl-C) past the point of no return finishes the resize', async () => {
    await seedVolume(ctx)
    const host = hostEffects(ctx)
    const interrupt = () => run.exec.interrupt(new CbsError('interrupted', 'interrupted by SIGINT'))
    const run = withScript(ctx, [
      {command: `umount ${dir()}`, then: host.unmounted},
      {command: `truncate --size ${2 * GiB} ${ctx.layout.image('db')}`},
      {command: 'losetup --set-capacity /dev/loop7'},
      {command: 'e2fsck -f -p /dev/loop7'},
      {command: 'resize2fs /dev/loop7', then: interrupt},
      // The mount is where the interruption lands; the resize then runs again, idempotently.
      {command: 'losetup --set-capacity /dev/loop7'},
      {command: 'e2fsck -f -p /dev/loop7'},
      {command: 'resize2fs /dev/loop7'},
      {command: `mount -o discard /dev/loop7 ${dir()}`, then: host.mounted},
    ])
    const volume = await resizeVolume(run, 'db', 2 * GiB)
    run.exec.assertDone()
    assert.equal(volume.status, 'mounted')
    assert.equal(ctx.store.read().volumes.db.pending, undefined)
  })

  it('refuses to shrink (exit 2), does nothing at the same size, and refuses what the host has no room for (exit 5)', async () => {
    await seedVolume(ctx)
    const untouched = withScript(ctx, [])
    assert.equal(await exitCodeOf(resizeVolume(untouched, 'db', 512 * MiB)), 2)
    assert.equal((await resizeVolume(untouched, 'db', GiB)).sizeBytes, GiB)
    ctx.host.availableBytes = 512 * MiB
    assert.equal(await exitCodeOf(resizeVolume(untouched, 'db', 2 * GiB)), 5)
    assert.equal(await exitCodeOf(resizeVolume(untouched, 'nope', 2 * GiB)), 3)
    untouched.exec.assertDone()
    assert.equal(ctx.store.read().volumes.db.pending, undefined)
  })

  it('refuses to grow btrfs below 256M, which the kernel refuses (exit 2)', async () => {
    await seedVolume(ctx, {fs: 'btrfs', sizeBytes: 128 * MiB})
    assert.equal(await exitCodeOf(resizeVolume(withScript(ctx, []), 'db', 200 * MiB)), 2)
  })

  it('--dry-run prints the plan and changes nothing', async () => {
    const plan = unitContext([], {dryRun: true})
    try {
      await seedVolume(plan)
      await resizeVolume(plan, 'db', 2 * GiB)
      assert.deepEqual(plan.exec.ran, [
        `umount ${plan.layout.mountpoint('db')}`,
        `truncate --size ${2 * GiB} ${plan.layout.image('db')}`,
        'losetup --set-capacity /dev/loop7',
        'e2fsck -f -p /dev/loop7',
        'resize2fs /dev/loop7',
        `mount -o discard /dev/loop7 ${plan.layout.mountpoint('db')}`,
      ])
      assert.equal(statSync(plan.layout.image('db')).size, GiB)
      assert.ok(!existsSync(plan.layout.stateFile))
    } finally {
      plan.cleanup()
    }
  })
})
