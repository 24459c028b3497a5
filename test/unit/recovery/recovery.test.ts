import assert from 'node:assert/strict'
import {existsSync, mkdirSync, statSync, truncateSync, writeFileSync} from 'node:fs'
import {CbsError} from '../../../src/lib/common/errors.js'
import {recoverInterrupted} from '../../../src/lib/recovery/recovery.js'
import type {PendingOperation} from '../../../src/lib/store/state.js'
import {createVolume} from '../../../src/lib/volumes/create.js'
import {removeVolumes} from '../../../src/lib/volumes/remove.js'
import {resizeVolume} from '../../../src/lib/volumes/resize.js'
import {type UnitContext, unitContext, withScript} from '../../support/unit-context.js'
import {hostEffects, seedVolume} from '../../support/volumes.js'

const GiB = 1024 ** 3
const DEAD = 4_000_000

/** The intent a process that is now gone (pid DEAD: not among the fake host's live ones) left on "db". */
const left = (operation: PendingOperation['operation'], details: Partial<PendingOperation> = {}): PendingOperation => ({
  operation,
  pid: DEAD,
  startTime: '1',
  startedAt: '2026-01-01T00:00:00.000Z',
  ...details,
})

describe('recovery of operations a killed cbs left half done (planned commands)', () => {
  let ctx: UnitContext
  beforeEach(() => {
    ctx = unitContext()
  })
  afterEach(() => ctx.cleanup())

  const dir = () => ctx.layout.mountpoint('db')
  const image = () => ctx.layout.image('db')
  const discard = () => [{command: `chattr -i ${dir()}`}, {command: `rmdir ${dir()}`}, {command: `rm -f ${image()}`}]

  it('rolls back a create that had not mounted yet: detach, mountpoint, image, record', async () => {
    await seedVolume(ctx, {mounted: false, attached: true, pending: left('create')})
    const run = withScript(ctx, [{command: 'losetup --detach /dev/loop7'}, ...discard()])
    assert.deepEqual(await recoverInterrupted(run), [{volume: 'db', operation: 'create', outcome: 'rolled back'}])
    run.exec.assertDone()
    assert.ok(!existsSync(image()))
    assert.deepEqual(ctx.store.read().volumes, {})
  })

  it('finishes a create that had mounted: only the record was not marked done', async () => {
    await seedVolume(ctx, {pending: left('create')})
    const run = withScript(ctx, [])
    assert.deepEqual(await recoverInterrupted(run), [{volume: 'db', operation: 'create', outcome: 'finished'}])
    assert.equal(ctx.store.read().volumes.db.pending, undefined)
  })

  it('finishes a remove: unmount, detach, mountpoint, image, record', async () => {
    await seedVolume(ctx, {pending: left('remove')})
    const host = hostEffects(ctx)
    const run = withScript(ctx, [{command: `umount ${dir()}`, then: host.unmounted}, {command: 'losetup --detach /dev/loop7', then: host.detached}, ...discard()])
    assert.deepEqual(await recoverInterrupted(run), [{volume: 'db', operation: 'remove', outcome: 'finished'}])
    run.exec.assertDone()
    assert.deepEqual(ctx.store.read().volumes, {})
  })

  it('rolls back a resize that had not reached the filesystem: the image shrinks back, the volume is mounted again', async () => {
    await seedVolume(ctx, {mounted: false, attached: true, pending: left('resize', {sizeBytes: 2 * GiB, fromBytes: GiB, wasMounted: true})})
    truncateSync(image(), 2 * GiB)
    const run = withScript(ctx, [
      {command: `truncate --size ${GiB} ${image()}`},
      {command: 'losetup --set-capacity /dev/loop7'},
      {command: `mount -o discard /dev/loop7 ${dir()}`},
    ])
    assert.deepEqual(await recoverInterrupted(run), [{volume: 'db', operation: 'resize', outcome: 'rolled back'}])
    run.exec.assertDone()
    assert.equal(statSync(image()).size, GiB)
    assert.equal(ctx.store.read().volumes.db.sizeBytes, GiB)
  })

  it('finishes a resize whose filesystem had started to grow', async () => {
    await seedVolume(ctx, {mounted: false, attached: true, pending: left('resize', {sizeBytes: 2 * GiB, fromBytes: GiB, wasMounted: true, committed: true})})
    truncateSync(image(), 2 * GiB)
    const run = withScript(ctx, [
      {command: 'losetup --set-capacity /dev/loop7'},
      {command: 'e2fsck -f -p /dev/loop7'},
      {command: 'resize2fs /dev/loop7'},
      {command: `mount -o discard /dev/loop7 ${dir()}`},
    ])
    assert.deepEqual(await recoverInterrupted(run), [{volume: 'db', operation: 'resize', outcome: 'finished'}])
    run.exec.assertDone()
    assert.equal(ctx.store.read().volumes.db.sizeBytes, 2 * GiB)
    assert.equal(ctx.store.read().volumes.db.pending, undefined)
  })

  it('finishes a restore: the image is whole either way; the partial copy goes, the volume is mounted again', async () => {
    await seedVolume(ctx, {mounted: false, pending: left('restore', {wasMounted: true})})
    const host = hostEffects(ctx)
    const run = withScript(ctx, [
      {command: `rm -f ${ctx.layout.imagesDir}/.db.img.partial`},
      {command: `losetup --find --show --nooverlap --direct-io=on ${image()}`, stdout: '/dev/loop7\n', then: host.attached},
      {command: `mount -o discard /dev/loop7 ${dir()}`, then: host.mounted},
    ])
    assert.deepEqual(await recoverInterrupted(run), [{volume: 'db', operation: 'restore', outcome: 'finished'}])
    run.exec.assertDone()
    assert.equal(ctx.store.read().volumes.db.pending, undefined)
  })

  it('leaves alone an operation whose process still runs', async () => {
    await seedVolume(ctx, {pending: {...left('create'), pid: process.pid, startTime: undefined}})
    assert.deepEqual(await recoverInterrupted(withScript(ctx, [])), [])
    assert.equal(ctx.store.read().volumes.db.pending?.pid, process.pid)
  })

  it('a recovery that fails leaves the intent to its dead owner, says why, and is retried by the next command', async () => {
    await seedVolume(ctx, {pending: left('remove')})
    const busy = withScript(ctx, [{command: `umount ${dir()}`, fails: `umount: ${dir()}: target is busy.`}])
    const [recovery] = await recoverInterrupted(busy)
    assert.equal(recovery.outcome, 'failed')
    assert.match(recovery.error!, /busy/)
    const {pending} = ctx.store.read().volumes.db
    assert.deepEqual({...pending, error: undefined}, {...left('remove'), error: undefined}, 'as it was found: still abandoned')
    assert.match(pending!.error!, /busy/)
    const again = withScript(ctx, [{command: `umount ${dir()}`, fails: `umount: ${dir()}: target is busy.`}])
    const error = await createVolume(again, {name: 'db'}).catch((caught: unknown) => caught)
    again.exec.assertDone()
    assert.ok(error instanceof CbsError && error.exitCode === 4)
    assert.match(error.message, /left half removed by a process that died, and could not be recovered \(.*busy.*\): run `cbs doctor`/)
  })

  it('a snapshot that cannot be cleared is left to its dead owner, still incomplete', async () => {
    await seedVolume(ctx)
    const image = ctx.layout.snapshotImage('db', 'half')
    mkdirSync(ctx.layout.snapshotDir('db'), {recursive: true})
    writeFileSync(image, '')
    const left = {operation: 'snapshot' as const, pid: DEAD, startTime: '1', startedAt: ''}
    await ctx.store.update((state) => {
      state.volumes.db.snapshots = {half: {name: 'half', id: '00000000-0000-4000-8000-000000000001', volume: 'db', fs: 'ext4', sizeBytes: 1, method: 'copy', labels: {}, createdAt: '', pending: left}}
    })
    const [reaped] = await recoverInterrupted(withScript(ctx, [{command: `chattr -i ${image}`, fails: 'chattr: Operation not permitted'}]))
    assert.equal(reaped.outcome, 'failed')
    const {pending} = ctx.store.read().volumes.db.snapshots!.half
    assert.deepEqual({...pending, error: undefined}, {...left, error: undefined})
    assert.match(pending!.error!, /not permitted/)
  })

  it('every command that changes something recovers first (here: a resize of another volume)', async () => {
    await seedVolume(ctx, {mounted: false, pending: left('create')})
    const run = withScript(ctx, [...discard()])
    await assert.rejects(resizeVolume(run, 'db', 2 * GiB), /no such volume: db/)
    run.exec.assertDone()
  })

  it('rm takes over an operation that could not be recovered', async () => {
    await seedVolume(ctx, {pending: {...left('resize', {sizeBytes: 2 * GiB, fromBytes: GiB, wasMounted: true, committed: true}), error: 'busy'}})
    const host = hostEffects(ctx)
    const run = withScript(ctx, [
      // recovery (the volume is mounted: ext4 must go offline) fails: it is still busy; rm's own try too
      {command: `umount ${dir()}`, fails: `umount: ${dir()}: target is busy.`},
      {command: `umount ${dir()}`, fails: `umount: ${dir()}: target is busy.`},
      // then rm, once whatever held it is gone
      {command: `umount ${dir()}`, then: host.unmounted},
      {command: 'losetup --detach /dev/loop7', then: host.detached},
      ...discard(),
    ])
    assert.equal((await recoverInterrupted(run))[0].outcome, 'failed')
    assert.deepEqual((await removeVolumes(run, ['db'])).map((each) => each.name), ['db'])
    run.exec.assertDone()
    assert.deepEqual(ctx.store.read().volumes, {})
  })

  it('never starts a create over an image file no volume knows (it may hold data)', async () => {
    await seedVolume(ctx, {mounted: false})
    await ctx.store.update((state) => {
      delete state.volumes.db
    })
    const error = await createVolume(withScript(ctx, []), {name: 'db'}).catch((caught: unknown) => caught)
    assert.ok(error instanceof CbsError && error.exitCode === 4)
    assert.match(error.message, /belongs to no volume: run `cbs doctor --fix` to move it to lost\+found/)
    assert.ok(existsSync(image()))
  })
})
