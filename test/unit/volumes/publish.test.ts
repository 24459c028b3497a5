import assert from 'node:assert/strict'
import {existsSync, mkdirSync} from 'node:fs'
import {join} from 'node:path'
import {publishVolume, unpublishVolume} from '../../../src/lib/volumes/publish.js'
import {FakeExecutor} from '../../support/fake-executor.js'
import {unitContext, type UnitContext, withScript} from '../../support/unit-context.js'
import {hostEffects, seedVolume} from '../../support/volumes.js'

/** Publishing for CSI (NodePublishVolume), planned: the commands as data, in order. */
describe('volume publish (planned commands)', () => {
  let ctx: UnitContext
  let target: string
  beforeEach(() => {
    ctx = unitContext()
    target = join(ctx.layout.root, 'pods', 'p1', 'mount')
    mkdirSync(join(ctx.layout.root, 'pods', 'p1'), {recursive: true})
  })
  afterEach(() => ctx.cleanup())
  const script = (...commands: (string | {command: string; then?: () => void})[]) => {
    ctx = withScript(ctx, commands.map((each) => (typeof each === 'string' ? {command: each} : each)))
  }

  it('binds the mounted volume onto the target folder it makes, read-only with the flags asked for', async () => {
    await seedVolume(ctx)
    script(`mkdir ${target}`, `mount --bind -o ro,nosuid ${ctx.layout.mountpoint('db')} ${target}`)
    await publishVolume(ctx, {name: 'db', target, readOnly: true, block: false, options: ['nosuid']})
    assert.ok(existsSync(target))
  })

  it('mounts an unmounted volume first (as `volume mount` does), then binds it', async () => {
    await seedVolume(ctx, {mounted: false, attached: true})
    const {mounted} = hostEffects(ctx)
    script({command: `mount -o discard /dev/loop7 ${ctx.layout.mountpoint('db')}`, then: mounted}, `mkdir ${target}`, `mount --bind ${ctx.layout.mountpoint('db')} ${target}`)
    await publishVolume(ctx, {name: 'db', target, readOnly: false, block: false})
  })

  it('does nothing when the same publication is there already, and refuses another one at the target', async () => {
    await seedVolume(ctx)
    ctx.host.mounts.push({source: '/dev/loop7', mountpoint: target})
    script()
    await publishVolume(ctx, {name: 'db', target, readOnly: false, block: false})
    await assert.rejects(publishVolume(ctx, {name: 'db', target, readOnly: true, block: false}), (error: Error & {exitCode?: number}) => error.exitCode === 4 && /already has/.test(error.message))
    ctx.host.mounts.pop()
    ctx.host.mounts.push({source: '/dev/loop9', mountpoint: target})
    await assert.rejects(publishVolume(ctx, {name: 'db', target, readOnly: false, block: false}), /already has \/dev\/loop9/)
  })

  it('publishes the raw device: the volume\'s own mount taken down, the loop device bound onto a file', async () => {
    await seedVolume(ctx)
    const {unmounted} = hostEffects(ctx)
    script({command: `umount ${ctx.layout.mountpoint('db')}`, then: unmounted}, `touch ${target}`, `mount --bind /dev/loop7 ${target}`)
    await publishVolume(ctx, {name: 'db', target, readOnly: false, block: true})
    assert.ok(existsSync(target))
  })

  it('refuses bad input before anything runs: unknown volume, relative or dotted target, unknown mount flag', async () => {
    await seedVolume(ctx)
    script()
    await assert.rejects(publishVolume(ctx, {name: 'nope', target, readOnly: false, block: false}), (error: Error & {exitCode?: number}) => error.exitCode === 3)
    for (const bad of ['relative', `${target}/../x`, '/', `${target}/`]) {
      await assert.rejects(publishVolume(ctx, {name: 'db', target: bad, readOnly: false, block: false}), (error: Error & {exitCode?: number}) => error.exitCode === 2, bad)
    }
    await assert.rejects(publishVolume(ctx, {name: 'db', target, readOnly: false, block: false, options: ['exec,suid']}), /mount flag "exec,suid" is not supported/)
  })

  it('unpublishes: unmounts the target and removes it; a target already gone is fine', async () => {
    await seedVolume(ctx)
    mkdirSync(target)
    ctx.host.mounts.push({source: '/dev/loop7', mountpoint: target})
    script({command: `umount ${target}`, then: () => ctx.host.mounts.pop()}, `rm -d ${target}`)
    await unpublishVolume(ctx, target)
    assert.ok(!existsSync(target))
    script(`rm -d ${target}`)
    await unpublishVolume(ctx, target)
  })

  it('unpublishes under --dry-run: one umount and the rm planned, the target left as it is', async () => {
    await seedVolume(ctx)
    mkdirSync(target)
    ctx.host.mounts.push({source: '/dev/loop7', mountpoint: target})
    const planned = {...ctx, exec: new FakeExecutor([], true)}
    await unpublishVolume(planned, target)
    assert.deepEqual(planned.exec.ran, [`umount ${target}`, `rm -d ${target}`])
    assert.ok(existsSync(target))
  })
})
