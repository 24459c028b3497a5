import assert from 'node:assert/strict'
import {mkdirSync, writeFileSync} from 'node:fs'
import {mountVolumes} from '../../../src/lib/volumes/mount.js'
import {exitCodeOf} from '../../support/exit-codes.js'
import {type UnitContext, unitContext, withScript} from '../../support/unit-context.js'

describe('a read-only host filesystem under CBS_ROOT', () => {
  let ctx: UnitContext
  beforeEach(async () => {
    ctx = unitContext()
    await ctx.store.update((state) => {
      state.volumes.db = {name: 'db', type: 'loop', fs: 'ext4', sizeBytes: 1024 ** 2, labels: {}, createdAt: 'now'}
    })
    mkdirSync(ctx.layout.imagesDir)
    mkdirSync(ctx.layout.mountpoint('db'), {recursive: true})
    writeFileSync(ctx.layout.image('db'), '')
  })
  afterEach(() => ctx.cleanup())

  it('mount refuses (exit 5) the read-only loop device losetup silently fell back to, and detaches it', async () => {
    ctx.host.readOnlyDevices.add('/dev/loop3')
    const run = withScript(ctx, [
      {command: `losetup --find --show --nooverlap --direct-io=on ${ctx.layout.image('db')}`, stdout: '/dev/loop3\n'},
      {command: 'losetup --detach /dev/loop3'},
    ])
    const failure = mountVolumes(run, {names: ['db']})
    assert.equal(await exitCodeOf(failure), 5)
    await assert.rejects(mountVolumes(withScript(ctx, [{command: /^losetup --find/, stdout: '/dev/loop3\n'}, {command: 'losetup --detach /dev/loop3'}]), {names: ['db']}), /could only be attached read-only \(\/dev\/loop3\).*read-only: remount it read-write/)
    run.exec.assertDone()
  })
})
