import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {existsSync, readFileSync, statSync} from 'node:fs'
import type {StreamHeader} from '../../../src/lib/streams/format.js'
import {importStream} from '../../../src/lib/streams/import.js'
import {type Sink, StreamWriter} from '../../../src/lib/streams/writer.js'
import type {Expectation} from '../../support/fake-executor.js'
import {exitCodeOf} from '../../support/exit-codes.js'
import {type UnitContext, unitContext, withScript} from '../../support/unit-context.js'

const MiB = 1024 ** 2
const SIZE = 64 * MiB

const header: StreamHeader = {
  source: 'db',
  fs: 'ext4',
  sizeBytes: SIZE,
  labels: {env: 'prod'},
  snapshot: {name: 'mon', id: '3f1c7f0e-8a4b-4c1e-9d2a-0b6f5e4d3c2b', createdAt: '2026-11-28T06:00:00.000Z'},
  base: null,
  createdAt: '2026-11-28T06:01:00.000Z',
}

/** A full stream of `data` at 1 MiB and 8 KiB of zeros at 16 MiB, in pieces of 64 KiB. */
async function fullStream(data: Buffer): Promise<Buffer> {
  const parts: Buffer[] = []
  const sink: Sink = {write: async (bytes) => void parts.push(Buffer.from(bytes))}
  const writer = await StreamWriter.start(sink, header)
  await writer.data(MiB, data)
  await writer.zeros(16 * MiB, 8192)
  await writer.end()
  return Buffer.concat(parts)
}

async function* piecesOf(bytes: Buffer): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += 65_536) yield bytes.subarray(at, at + 65_536)
}

describe('volume import (planned commands)', () => {
  let ctx: UnitContext
  beforeEach(() => (ctx = unitContext()))
  afterEach(() => ctx.cleanup())

  const volumePartial = () => `${ctx.layout.imagesDir}/.db.img.partial`
  const snapshotPartial = () => `${ctx.layout.snapshotDir('db')}/.mon.img.partial`

  /** Up to the end of the data: the two partial images (no reflinks on this host) made empty. */
  const receiving = (): Expectation[] => [
    {command: `mkdir -p -m 0700 ${ctx.layout.imagesDir}`},
    {command: `mkdir -p -m 0700 ${ctx.layout.mountsDir}`},
    {command: `truncate --size ${SIZE} ${volumePartial()}`},
    {command: `mkdir -p -m 0700 ${ctx.layout.snapshotsDir}`},
    {command: `mkdir -p -m 0700 ${ctx.layout.snapshotDir('db')}`},
    {command: `truncate --size ${SIZE} ${snapshotPartial()}`},
  ]

  /** After the snapshot is in place: the volume's image renamed into place and mounted, its listing taken. */
  const mounting = (): Expectation[] => [
    {command: `sync ${volumePartial()}`},
    {command: `mv --no-clobber ${volumePartial()} ${ctx.layout.image('db')}`},
    {command: `losetup --find --show --nooverlap --direct-io=on ${ctx.layout.image('db')}`, stdout: '/dev/loop7\n'},
    {command: `mkdir -m 0755 ${ctx.layout.mountpoint('db')}`},
    {command: `chattr +i ${ctx.layout.mountpoint('db')}`},
    {command: `mount -o discard /dev/loop7 ${ctx.layout.mountpoint('db')}`},
    {command: /^find /, stdout: 'data\0f\0' + '3145728\0\n'},
  ]

  it('without reflinks, writes the volume and its snapshot side by side from the stream, then renames, seals and mounts', async () => {
    const data = randomBytes(3 * MiB)
    const image = ctx.layout.image('db')
    const snapshot = ctx.layout.snapshotImage('db', 'mon')
    const run = withScript(ctx, [
      ...receiving(),
      // Holes are punched once the whole stream matched, in both images.
      {command: `fallocate --punch-hole --keep-size --offset ${16 * MiB} --length 8192 ${volumePartial()}`},
      {command: `fallocate --punch-hole --keep-size --offset ${16 * MiB} --length 8192 ${snapshotPartial()}`},
      {command: `mkdir -p -m 0700 ${ctx.layout.snapshotsDir}`},
      {command: `mkdir -p -m 0700 ${ctx.layout.snapshotDir('db')}`},
      {command: `sync ${snapshotPartial()}`},
      {command: `mv --no-clobber ${snapshotPartial()} ${snapshot}`},
      {command: `chmod 0400 ${snapshot}`},
      {command: `chattr +i ${snapshot}`},
      ...mounting(),
    ])
    await importStream(run, {name: 'db'}, piecesOf(await fullStream(data)))
    run.exec.assertDone()
    for (const file of [image, snapshot]) {
      const bytes = readFileSync(file)
      assert.equal(bytes.length, SIZE, file)
      assert.ok(bytes.subarray(MiB, 4 * MiB).equals(data), file)
      assert.ok(statSync(file).blocks * 512 < 8 * MiB, `${file} stays sparse`)
    }
    const {volumes, imports} = ctx.store.read()
    assert.deepEqual(imports ?? {}, {})
    assert.equal(volumes.db.pending, undefined)
    assert.deepEqual(volumes.db.labels, {env: 'prod'})
    const {mon} = volumes.db.snapshots!
    assert.equal(mon.id, header.snapshot!.id)
    assert.equal(mon.method, 'copy')
    assert.equal(mon.pending, undefined)
    assert.match(mon.receivedFingerprint ?? '', /^[0-9a-f]{64}$/)
  })

  it('with reflinks, writes the volume only, and its snapshot is a reflink of it', async () => {
    ctx.host.reflink = true
    const snapshot = ctx.layout.snapshotImage('db', 'mon')
    const run = withScript(ctx, [
      ...receiving().slice(0, 3), // the volume's partial image only
      {command: `fallocate --punch-hole --keep-size --offset ${16 * MiB} --length 8192 ${volumePartial()}`},
      {command: `mkdir -p -m 0700 ${ctx.layout.snapshotsDir}`},
      {command: `mkdir -p -m 0700 ${ctx.layout.snapshotDir('db')}`},
      {command: `cp --reflink=always ${volumePartial()} ${snapshotPartial()}`, effect: () => {}},
      {command: `sync ${snapshotPartial()}`, effect: () => {}},
      {command: `mv --no-clobber ${snapshotPartial()} ${snapshot}`, effect: () => {}},
      {command: `chmod 0400 ${snapshot}`, effect: () => {}},
      {command: `chattr +i ${snapshot}`},
      ...mounting(),
    ])
    await importStream(run, {name: 'db'}, piecesOf(await fullStream(randomBytes(3 * MiB))))
    run.exec.assertDone()
    assert.equal(ctx.store.read().volumes.db.snapshots!.mon.method, 'reflink')
  })

  it('a damaged stream: both partial images go, nothing is renamed, no volume, exit 2', async () => {
    const stream = await fullStream(randomBytes(3 * MiB))
    stream[stream.length - 200] ^= 1 // inside the last data record's bytes
    const run = withScript(ctx, [...receiving(), {command: `rm -f ${snapshotPartial()}`}, {command: `rm -f ${volumePartial()}`}])
    assert.equal(await exitCodeOf(importStream(run, {name: 'db'}, piecesOf(stream))), 2)
    run.exec.assertDone()
    assert.ok(!existsSync(volumePartial()) && !existsSync(snapshotPartial()))
    assert.deepEqual(ctx.store.read().volumes, {})
    assert.deepEqual(ctx.store.read().imports ?? {}, {})
  })
})
