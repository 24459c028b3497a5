import assert from 'node:assert/strict'
import {mkdirSync, writeFileSync} from 'node:fs'
import {VolumeDriver} from '../../../src/servers/plugin/volume-driver.js'
import {type UnitContext, unitContext, withScript} from '../../support/unit-context.js'
import type {Expectation} from '../../support/fake-executor.js'

describe('plugin: the VolumeDriver mapping (fake executor)', () => {
  let ctx: UnitContext
  let script: Expectation[]
  let driver: VolumeDriver
  const call = (path: string, body: Record<string, unknown> = {}) => driver.routes[path](body) as Promise<any>

  beforeEach(async () => {
    ctx = unitContext()
    script = []
    // Every request gets a fresh context: here, one that runs the commands the test expects next.
    driver = new VolumeDriver(() => withScript(ctx, script.splice(0)))
    mkdirSync(ctx.layout.imagesDir, {recursive: true})
    writeFileSync(ctx.layout.image('db'), '')
    await ctx.store.update((state) => {
      state.volumes.db = {name: 'db', type: 'loop', fs: 'ext4', sizeBytes: 1024 ** 3, labels: {}, createdAt: '2026-11-28T00:00:00.000Z'}
    })
  })
  afterEach(() => ctx.cleanup())

  it('Mount brings an unmounted volume up (meant to be mounted from then on); more Mounts run nothing', async () => {
    mkdirSync(ctx.layout.mountpoint('db'), {recursive: true})
    script.push(
      {command: `losetup --find --show --nooverlap --direct-io=on ${ctx.layout.image('db')}`, stdout: '/dev/loop3'},
      {command: `mount -o discard /dev/loop3 ${ctx.layout.mountpoint('db')}`},
    )
    assert.deepEqual(await call('/VolumeDriver.Mount', {Name: 'db', ID: 'a'}), {Mountpoint: ctx.layout.mountpoint('db')})
    assert.equal(ctx.store.read().volumes.db.meantToBeMounted, true)
    ctx.host.loops = [{device: '/dev/loop3', backingFile: ctx.layout.image('db')}]
    ctx.host.mounts = [{source: '/dev/loop3', mountpoint: ctx.layout.mountpoint('db')}]
    assert.deepEqual(await call('/VolumeDriver.Mount', {Name: 'db', ID: 'b'}), {Mountpoint: ctx.layout.mountpoint('db')})
    assert.equal((await call('/VolumeDriver.Get', {Name: 'db'})).Volume.Status.containers, 2)
  })

  it('counts Mount and Unmount per caller: Remove is refused until every caller unmounted; the last Unmount runs nothing', async () => {
    ctx.host.loops = [{device: '/dev/loop3', backingFile: ctx.layout.image('db')}]
    ctx.host.mounts = [{source: '/dev/loop3', mountpoint: ctx.layout.mountpoint('db')}]
    await call('/VolumeDriver.Mount', {Name: 'db', ID: 'a'})
    await call('/VolumeDriver.Mount', {Name: 'db', ID: 'a'})
    await call('/VolumeDriver.Mount', {Name: 'db', ID: 'b'})
    await call('/VolumeDriver.Unmount', {Name: 'db', ID: 'a'})
    await assert.rejects(call('/VolumeDriver.Remove', {Name: 'db'}), /^CbsError: volume "db" is mounted by 1 container\(s\): stop them first$/)
    assert.deepEqual(await call('/VolumeDriver.Unmount', {Name: 'db', ID: 'b'}), {})
    assert.equal((await call('/VolumeDriver.Get', {Name: 'db'})).Volume.Status.containers, 0)
    assert.equal(ctx.store.read().volumes.db.meantToBeMounted, undefined, 'the record is left as it was')
  })

  it('refuses bad names and caller ids, and unknown volumes, before anything runs', async () => {
    await assert.rejects(call('/VolumeDriver.Mount', {Name: '../db', ID: 'a'}), /invalid volume name/)
    await assert.rejects(call('/VolumeDriver.Mount', {Name: 'db', ID: 'a b'}), /no valid caller ID/)
    await assert.rejects(call('/VolumeDriver.Mount', {Name: 'nope', ID: 'a'}), /^CbsError: no such volume: nope/)
    await assert.rejects(call('/VolumeDriver.Path', {Name: 42}), /no volume Name/)
  })

  it('answers Activate, Capabilities and List in the protocol\'s shapes', async () => {
    assert.deepEqual(await call('/Plugin.Activate'), {Implements: ['VolumeDriver']})
    assert.deepEqual(await call('/VolumeDriver.Capabilities'), {Capabilities: {Scope: 'local'}})
    const {Volumes} = await call('/VolumeDriver.List')
    assert.deepEqual(
      Volumes.map(({Name, Mountpoint, CreatedAt, Status}: any) => [Name, Mountpoint, CreatedAt, Status.status]),
      [['db', ctx.layout.mountpoint('db'), '2026-11-28T00:00:00.000Z', 'unmounted']],
    )
  })
})
