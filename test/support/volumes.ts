import {mkdirSync, truncateSync, writeFileSync} from 'node:fs'
import type {Filesystem} from '../../src/lib/images/filesystems.js'
import type {PendingOperation} from '../../src/lib/store/state.js'
import type {UnitContext} from './unit-context.js'

const GiB = 1024 ** 3

/** Volume "db" of 1G as create leaves it, mounted on /dev/loop7 unless told otherwise. */
export async function seedVolume(
  ctx: UnitContext,
  options: {fs?: Filesystem; sizeBytes?: number; mounted?: boolean; attached?: boolean; pending?: PendingOperation} = {},
): Promise<void> {
  mkdirSync(ctx.layout.imagesDir, {recursive: true})
  mkdirSync(ctx.layout.mountpoint('db'), {recursive: true})
  writeFileSync(ctx.layout.image('db'), '')
  truncateSync(ctx.layout.image('db'), options.sizeBytes ?? GiB)
  await ctx.store.update((state) => {
    state.volumes.db = {name: 'db', type: 'loop', fs: options.fs ?? 'ext4', sizeBytes: options.sizeBytes ?? GiB, labels: {}, createdAt: '2026-01-01T00:00:00.000Z', pending: options.pending}
  })
  if (options.mounted === false && !options.attached) return
  ctx.host.loops.push({device: '/dev/loop7', backingFile: ctx.layout.image('db')})
  if (options.mounted === false) return
  ctx.host.mounts.push({source: '/dev/loop7', mountpoint: ctx.layout.mountpoint('db')})
}

/** Keeps the fake host in step with the commands the script runs. */
export const hostEffects = (ctx: UnitContext) => ({
  unmounted: () => {
    ctx.host.mounts = ctx.host.mounts.filter((mount) => mount.mountpoint !== ctx.layout.mountpoint('db'))
  },
  mounted: () => {
    ctx.host.mounts.push({source: '/dev/loop7', mountpoint: ctx.layout.mountpoint('db')})
  },
  attached: () => {
    ctx.host.loops.push({device: '/dev/loop7', backingFile: ctx.layout.image('db')})
  },
  detached: () => {
    ctx.host.loops = []
  },
})
