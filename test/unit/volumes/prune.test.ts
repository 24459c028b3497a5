import assert from 'node:assert/strict'
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import type {VolumeRecord} from '../../../src/lib/store/state.js'
import {pruneCandidates, pruneVolumes} from '../../../src/lib/volumes/prune.js'
import {type UnitContext, unitContext, withScript} from '../../support/unit-context.js'

async function seed(ctx: UnitContext, name: string, extra: Partial<VolumeRecord> = {}, mountedOn?: string): Promise<void> {
  mkdirSync(ctx.layout.imagesDir, {recursive: true})
  mkdirSync(ctx.layout.mountpoint(name), {recursive: true})
  writeFileSync(ctx.layout.image(name), '')
  await ctx.store.update((state) => {
    state.volumes[name] = {name, type: 'loop', fs: 'ext4', sizeBytes: 1024 ** 2, labels: {}, createdAt: '2026-01-01T00:00:00.000Z', ...extra}
  })
  if (!mountedOn) return
  ctx.host.loops.push({device: mountedOn, backingFile: ctx.layout.image(name)})
  ctx.host.mounts.push({source: mountedOn, mountpoint: ctx.layout.mountpoint(name)})
}

const snapshot = {a: {name: 'a', id: '00000000-0000-4000-8000-000000000003', volume: 'snap', fs: 'ext4' as const, sizeBytes: 1, method: 'copy' as const, labels: {}, createdAt: '2026-01-01T00:00:00.000Z'}}

describe('volume prune (planned commands)', () => {
  let ctx: UnitContext
  beforeEach(async () => {
    ctx = unitContext()
    await seed(ctx, 'idle')
    await seed(ctx, 'busy', {}, '/dev/loop7')
    await seed(ctx, 'snap', {snapshots: snapshot})
    await seed(ctx, 'pending', {pending: {operation: 'create', pid: process.pid, startedAt: '2026-01-01T00:00:00.000Z'}} as Partial<VolumeRecord>)
  })
  afterEach(() => ctx.cleanup())

  it('by default: unmounted volumes with no snapshot and no attachment; --all: every volume not in error or worked on', async () => {
    assert.deepEqual((await pruneCandidates(withScript(ctx, []))).map((volume) => volume.name), ['idle'])
    assert.deepEqual((await pruneCandidates(withScript(ctx, []), true)).map((volume) => volume.name).sort(), ['busy', 'idle', 'snap'])
  })

  it('asks first: no means nothing changes; yes removes them and returns the volumes as they were', async () => {
    let asked: string[] = []
    const no = withScript(ctx, [])
    assert.deepEqual(await pruneVolumes(no, {confirm: async (volumes) => ((asked = volumes.map((volume) => volume.name)), false)}), [])
    assert.deepEqual(asked, ['idle'])
    assert.ok(existsSync(ctx.layout.image('idle')))

    const yes = withScript(ctx, [
      {command: `chattr -i ${ctx.layout.mountpoint('idle')}`},
      {command: `rmdir ${ctx.layout.mountpoint('idle')}`},
      {command: `rm -f ${ctx.layout.image('idle')}`},
    ])
    const removed = await pruneVolumes(yes, {confirm: async () => true})
    yes.exec.assertDone()
    // As rm prints them (the JSON contract): the volumes as they were, status removed.
    assert.deepEqual(removed.map((volume) => [volume.name, volume.status]), [['idle', 'removed']])
    assert.deepEqual(Object.keys(ctx.store.read().volumes).sort(), ['busy', 'pending', 'snap'])
  })

  it('--all keeps a volume in use and still removes the others', async () => {
    const mountpoint = ctx.layout.mountpoint('busy')
    const all = withScript(ctx, [
      {command: `umount ${mountpoint}`, fails: `umount: ${mountpoint}: target is busy.`},
      {command: `chattr -i ${ctx.layout.mountpoint('idle')}`},
      {command: `rmdir ${ctx.layout.mountpoint('idle')}`},
      {command: `rm -f ${ctx.layout.image('idle')}`},
      {command: `rm -f ${ctx.layout.snapshotImage('snap', 'a')}`},
      {command: /^rm -f .*\/\.a\.img\.partial$/},
      {command: `chattr -i ${ctx.layout.mountpoint('snap')}`},
      {command: `rmdir ${ctx.layout.mountpoint('snap')}`},
      {command: `rm -f ${ctx.layout.image('snap')}`},
    ])
    const removed = await pruneVolumes(all, {all: true})
    all.exec.assertDone()
    assert.deepEqual(removed.map((volume) => volume.name), ['idle', 'snap'])
    assert.deepEqual(Object.keys(ctx.store.read().volumes).sort(), ['busy', 'pending'])
  })
})
