import assert from 'node:assert/strict'
import {type ChildProcess, spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import type {Snapshot} from '../../src/lib/snapshot.js'
import type {Volume} from '../../src/lib/volume.js'
import {makeHostFs, thawAll, wasFrozen, type HostFs} from '../support/host-fs.js'
import {cbs, json, leftovers, makeRoot, REPO, removeRoot, requireHost, sh} from '../support/integration.js'

const MiB = 1024 ** 2

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

/** Writes `mib` MiB of random data to a file on a volume, flushed to the device. */
function writeRandom(file: string, mib: number): string {
  writeFileSync(file, randomBytes(mib * MiB), {flush: true})
  return sha(file)
}

/** Mounts an image read-only for a moment (never replaying its log) and reads through it. */
function readImage<T>(image: string, fs: string, read: (dir: string) => T): T {
  const dir = mkdtempSync('/tmp/cbs-ro-')
  const device = sh('losetup', ['--find', '--show', '--read-only', image]).trim()
  try {
    const options = {ext4: 'ro,noload', xfs: 'ro,norecovery,nouuid', btrfs: 'ro,rescue=nologreplay'}[fs]!
    sh('mount', ['-o', options, device, dir])
    try {
      return read(dir)
    } finally {
      sh('umount', [dir])
    }
  } finally {
    sh('losetup', ['--detach', device])
    rmSync(dir, {recursive: true})
  }
}

/** A PATH with a fake `cp` in front: `body` is its shell script, REAL_CP the real one. */
function fakeCp(body: string): {env: NodeJS.ProcessEnv; dir: string} {
  const dir = mkdtempSync('/tmp/cbs-fakebin-')
  writeFileSync(join(dir, 'cp'), `#!/bin/sh\nREAL_CP=/usr/bin/cp\n${body}\n`, {mode: 0o755})
  return {env: {PATH: `${dir}:${process.env.PATH}`}, dir}
}

function spawnCbs(root: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess & {result: Promise<{code: number | null; signal: string | null; stderr: string}>} {
  const child = spawn(process.execPath, [join(REPO, 'bin', 'run.js'), ...args], {env: {...process.env, CBS_ROOT: root, NO_COLOR: '1', ...env}, stdio: ['ignore', 'pipe', 'pipe']})
  let stderr = ''
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  const result = new Promise<{code: number | null; signal: string | null; stderr: string}>((resolve) => child.on('close', (code, signal) => resolve({code, signal, stderr})))
  return Object.assign(child, {result})
}

async function eventually(check: () => boolean, ms = 5000): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(25)) if (check()) return true
  return check()
}

const snapshots = (root: string, volume?: string) => json<Snapshot[]>(cbs(root, ['volume', 'snapshot', 'ls', ...(volume ? [volume] : []), '--json']))

describe('integration: snapshots', function () {
  this.timeout(120_000)
  let root: string
  let host: HostFs | undefined

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'mkfs.xfs', 'mkfs.btrfs', 'chattr', 'fsfreeze'])
  })
  beforeEach(() => {
    root = makeRoot()
    host = undefined
  })
  afterEach(() => {
    for (const dir of [root, host?.root]) if (dir) thawAll(dir)
    host?.remove()
    removeRoot(root)
    for (const dir of [root, host?.root]) if (dir) assert.deepEqual(leftovers(dir), [])
  })

  it('holds the data written before it and not the data written after (sparse copy on ext4)', () => {
    const volume = json<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '64M', '--json']))
    const before = writeRandom(`${volume.mountpoint}/before`, 4)
    const created = cbs(root, ['volume', 'snapshot', 'create', 'db', 's1', '--label', 'ticket=DB-42'])
    assert.equal(created.code, 0, created.stderr)
    assert.equal(created.stdout, 'db@s1\n')
    assert.equal(created.stderr, '', 'no progress bar when stderr is not a terminal')
    const frozen = json(cbs(root, ['volume', 'snapshot', 'create', 'db', 's2', '--json'])).frozenMs
    assert.ok(frozen > 0 && frozen < 2000, `frozen for ${frozen} ms`)
    assert.equal(cbs(root, ['volume', 'snapshot', 'rm', 'db@s2']).code, 0)
    writeRandom(`${volume.mountpoint}/after`, 1)
    writeFileSync(`${volume.mountpoint}/before`, 'changed')

    const [snapshot] = snapshots(root, 'db')
    assert.equal(snapshot.name, 'db@s1')
    assert.equal(snapshot.status, 'ready')
    assert.equal(snapshot.method, 'copy')
    assert.equal(snapshot.sizeBytes, 64 * MiB)
    assert.deepEqual(snapshot.labels, {ticket: 'DB-42'})
    assert.ok(snapshot.allocatedBytes! < 16 * MiB, `sparse: ${snapshot.allocatedBytes}`)
    assert.equal(snapshot.image, join(root, 'snapshots', 'db', 's1.img'))
    // Stored read-only: mode 0400 and immutable, even for root.
    assert.equal((statSync(snapshot.image).mode & 0o777).toString(8), '400')
    assert.match(sh('lsattr', [snapshot.image]), /^\S*i\S* /)
    assert.throws(() => writeFileSync(snapshot.image, 'x'), /EPERM/)

    readImage(snapshot.image, 'ext4', (dir) => {
      assert.equal(sha(`${dir}/before`), before)
      assert.ok(!existsSync(`${dir}/after`))
    })
    assert.ok(!wasFrozen(volume.mountpoint))

    const listed = cbs(root, ['volume', 'snapshot', 'ls'])
    assert.match(listed.stdout, /^NAME\s+CREATED\s+SIZE\s+ALLOCATED\s+METHOD\s+STATUS$/m)
    assert.match(listed.stdout, /^db@s1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+64M\s+\S+\s+copy\s+ready$/m)

    const [inspected] = json<Volume[]>(cbs(root, ['volume', 'inspect', 'db', '--json']))
    assert.deepEqual(inspected.snapshots!.map((each) => [each.name, each.method]), [['db@s1', 'copy']])
    assert.match(cbs(root, ['volume', 'inspect', 'db']).stdout, /^Snapshots:\s+db@s1 \(copy\)$/m)
  })

  it('restore brings the old bytes back and keeps every snapshot; a busy volume is refused unless --force', async () => {
    const volume = json<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '64M', '--json']))
    const file = `${volume.mountpoint}/table`
    const first = writeRandom(file, 4)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'db', 's1']).code, 0)
    const second = writeRandom(file, 4)
    writeFileSync(`${volume.mountpoint}/added`, 'after s1')
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'db', 's2']).code, 0)
    writeFileSync(`${volume.mountpoint}/added-later`, 'after s2')

    const restored = cbs(root, ['volume', 'snapshot', 'restore', 'db@s1', '--json'])
    assert.equal(restored.code, 0, restored.stderr)
    assert.equal(json<Volume>(restored).status, 'mounted')
    assert.equal(sha(file), first)
    assert.deepEqual(readdirSync(volume.mountpoint).filter((name) => name !== 'lost+found'), ['table'])
    assert.deepEqual(snapshots(root).map((snapshot) => snapshot.name), ['db@s1', 'db@s2'], 'the snapshot and the later one stay')

    assert.equal(cbs(root, ['volume', 'snapshot', 'restore', 'db@s2']).stdout, 'db\n')
    assert.equal(sha(file), second)
    assert.equal(readFileSync(`${volume.mountpoint}/added`, 'utf8'), 'after s1')

    // Busy: a process works in the volume.
    const holder = spawn('sleep', ['60'], {cwd: volume.mountpoint})
    try {
      const refused = cbs(root, ['volume', 'snapshot', 'restore', 'db@s1'])
      assert.equal(refused.code, 4, refused.stderr)
      assert.match(refused.stderr, /^cbs: volume "db" is busy/)
      assert.equal(sha(file), second, 'left as it was')
      assert.equal(json<Volume[]>(cbs(root, ['volume', 'inspect', 'db', '--json']))[0].status, 'mounted')
      const forced = cbs(root, ['volume', 'snapshot', 'restore', 'db@s1', '--force'])
      assert.equal(forced.code, 0, forced.stderr)
      assert.equal(sha(file), first)
      assert.ok(await eventually(() => holder.exitCode !== null || holder.signalCode !== null), 'the holder was stopped')
      assert.equal(holder.signalCode, 'SIGTERM')
    } finally {
      holder.kill('SIGKILL')
    }

    // An unmounted volume is restored and stays unmounted.
    assert.equal(cbs(root, ['volume', 'unmount', 'db']).code, 0)
    assert.equal(json<Volume>(cbs(root, ['volume', 'snapshot', 'restore', 'db@s2', '--json'])).status, 'unmounted')
    assert.equal(cbs(root, ['volume', 'mount', 'db']).code, 0)
    assert.equal(sha(file), second)
    assert.deepEqual(readdirSync(join(root, 'images')), ['db.img'], 'no partial file left')
  })

  it('names snapshots after the UTC time by default; rm removes them; volume rm needs --force while they exist', () => {
    cbs(root, ['volume', 'create', 'db', '--size', '16M'])
    const created = cbs(root, ['volume', 'snapshot', 'create', 'db'])
    assert.match(created.stdout, /^db@\d{8}T\d{6}Z\n$/)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'db', 'b']).code, 0)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'db', 'b']).code, 4, 'taken name')

    const refused = cbs(root, ['volume', 'rm', 'db'])
    assert.equal(refused.code, 4)
    assert.match(refused.stderr, /has snapshots: db@\d{8}T\d{6}Z, db@b: .*--force/)
    assert.equal(json<Volume[]>(cbs(root, ['volume', 'inspect', 'db', '--json']))[0].status, 'mounted')

    assert.equal(cbs(root, ['volume', 'snapshot', 'rm', 'db@b']).stdout, 'db@b\n')
    assert.equal(snapshots(root).length, 1)
    assert.equal(cbs(root, ['volume', 'rm', '--force', 'db']).code, 0)
    assert.deepEqual(readdirSync(join(root, 'snapshots')), [])
    assert.deepEqual(snapshots(root), [])
  })

  it('refuses bad names (exit 2) and unknown volumes or snapshots (exit 3)', () => {
    cbs(root, ['volume', 'create', 'db', '--size', '16M'])
    for (const args of [
      ['volume', 'snapshot', 'create', 'db', 'a@b'],
      ['volume', 'snapshot', 'create', 'db', '../x'],
      ['volume', 'snapshot', 'create', 'db', '.hidden'],
      ['volume', 'snapshot', 'create', 'db', 'x'.repeat(64)],
      ['volume', 'snapshot', 'rm', 'db'],
      ['volume', 'snapshot', 'rm', 'db@'],
      ['volume', 'snapshot', 'ls', 'a/b'],
      ['volume', 'snapshot', 'restore', 'db'],
      ['volume', 'snapshot', 'restore', 'db@a/b'],
    ]) {
      const result = cbs(root, args)
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`)
      assert.match(result.stderr, /^cbs: [^\n]+\n$/)
    }
    for (const args of [
      ['volume', 'snapshot', 'create', 'nope'],
      ['volume', 'snapshot', 'ls', 'nope'],
      ['volume', 'snapshot', 'rm', 'db@nope'],
      ['volume', 'snapshot', 'rm', 'nope@x'],
      ['volume', 'snapshot', 'restore', 'db@nope'],
      ['volume', 'snapshot', 'restore', 'nope@x'],
    ]) {
      assert.equal(cbs(root, args).code, 3, args.join(' '))
    }
    assert.ok(!existsSync(join(root, 'snapshots')))
  })

  it('thaws the volume when the copy fails, and lists no snapshot', () => {
    const volume = json<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '16M', '--json']))
    const {env, dir} = fakeCp('echo "cp: simulated failure" >&2\nexit 1')
    try {
      const result = cbs(root, ['volume', 'snapshot', 'create', 'db', 's1'], {env})
      assert.equal(result.code, 1, result.stderr)
      assert.match(result.stderr, /simulated failure/)
    } finally {
      rmSync(dir, {recursive: true})
    }
    assert.ok(!wasFrozen(volume.mountpoint), 'thawed')
    writeFileSync(`${volume.mountpoint}/still-writable`, 'yes')
    assert.deepEqual(snapshots(root), [])
    assert.deepEqual(readdirSync(join(root, 'snapshots', 'db')), [], 'no partial copy left')
  })

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} while frozen: the copy is stopped and undone, the volume thawed (exit 130)`, async () => {
      const volume = json<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '16M', '--json']))
      const marker = join(root, 'copied')
      // The copy completes, then cp lingers while the volume is still frozen.
      const {env, dir} = fakeCp(`"$REAL_CP" "$@" && touch ${marker} && exec sleep 5`)
      try {
        const child = spawnCbs(root, ['volume', 'snapshot', 'create', 'db', 's1'], env)
        assert.ok(await eventually(() => existsSync(marker)), 'the copy started')
        child.kill(signal)
        const result = await child.result
        assert.equal(result.code, 130, result.stderr)
        assert.match(result.stderr, new RegExp(`^cbs: interrupted by ${signal}: what was done so far has been undone\n$`))
      } finally {
        rmSync(dir, {recursive: true})
      }
      assert.ok(!wasFrozen(volume.mountpoint), 'thawed by cbs')
      writeFileSync(`${volume.mountpoint}/still-writable`, 'yes')
      assert.deepEqual(snapshots(root), [])
      assert.deepEqual(readdirSync(join(root, 'snapshots', 'db')), [])
    })
  }

  it('SIGKILL while frozen: the guardian thaws at once; the half snapshot is never listed as ready and is cleared next time', async () => {
    const volume = json<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '16M', '--json']))
    const marker = join(root, 'copied')
    const {env, dir} = fakeCp(`"$REAL_CP" "$@" && touch ${marker} && exec sleep 5`)
    try {
      const child = spawnCbs(root, ['volume', 'snapshot', 'create', 'db', 's1'], env)
      assert.ok(await eventually(() => existsSync(marker)), 'the copy started')
      child.kill('SIGKILL')
      await child.result
    } finally {
      rmSync(dir, {recursive: true})
    }
    await sleep(1000) // the guardian's bound is 30 s: only cbs's death can have thawed it by now
    assert.ok(!wasFrozen(volume.mountpoint), 'thawed by the guardian')
    writeFileSync(`${volume.mountpoint}/still-writable`, 'yes')
    assert.deepEqual(snapshots(root).map((snapshot) => `${snapshot.name} ${snapshot.status}`), ['db@s1 incomplete'])
    assert.match(cbs(root, ['volume', 'snapshot', 'ls']).stdout, /^db@s1 .* incomplete$/m)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'db', 's2']).code, 0)
    assert.deepEqual(snapshots(root).map((snapshot) => `${snapshot.name} ${snapshot.status}`), ['db@s2 ready'])
    assert.deepEqual(readdirSync(join(root, 'snapshots', 'db')), ['s2.img'])
  })

  it('killed at any moment (SIGKILL, SIGTERM): never frozen afterwards, and whatever is listed ready is whole', async () => {
    const volume = json<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '16M', '--json']))
    const before = writeRandom(`${volume.mountpoint}/before`, 2)
    for (const [index, delay] of [150, 250, 350, 450, 600].entries()) {
      for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
        const child = spawnCbs(root, ['volume', 'snapshot', 'create', 'db', `${signal}-${index}`])
        await sleep(delay)
        child.kill(signal)
        await child.result
        await sleep(signal === 'SIGKILL' ? 300 : 0)
        assert.ok(!wasFrozen(volume.mountpoint), `frozen after ${signal} at ${delay} ms`)
      }
    }
    writeFileSync(`${volume.mountpoint}/still-writable`, 'yes')
    for (const snapshot of snapshots(root)) {
      assert.ok(['ready', 'incomplete'].includes(snapshot.status), `${snapshot.name} ${snapshot.status}`)
      if (snapshot.status === 'ready') readImage(snapshot.image, 'ext4', (dir) => assert.equal(sha(`${dir}/before`), before, snapshot.name))
    }
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'db', 'last']).code, 0)
    assert.ok(snapshots(root).every((snapshot) => snapshot.status === 'ready'))
    assert.equal(cbs(root, ['volume', 'rm', '--force', 'db']).code, 0)
  })

  it('refuses a copy the host has no room for (exit 5) and leaves nothing behind', () => {
    host = makeHostFs('ext4', 96)
    const volume = json<Volume>(cbs(host.root, ['volume', 'create', 'db', '--size', '64M', '--json']))
    writeRandom(`${volume.mountpoint}/data`, 50)
    const result = cbs(host.root, ['volume', 'snapshot', 'create', 'db', 's1'])
    assert.equal(result.code, 5, result.stderr)
    assert.match(result.stderr, /^cbs: not enough free space under .*: it needs \S+, \S+ is free: .*\n$/)
    assert.ok(!existsSync(join(host.root, 'snapshots')))
    assert.deepEqual(snapshots(host.root), [])
    assert.ok(!wasFrozen(volume.mountpoint))
  })

  it('clones by reflink on an xfs host: milliseconds, no extra space, and the volume still mounts afterwards', () => {
    host = makeHostFs('xfs', 1024)
    for (const fs of ['ext4', 'xfs'] as const) {
      const volume: Volume = json<Volume>(cbs(host.root, ['volume', 'create', fs, '--fs', fs, '--size', fs === 'xfs' ? '320M' : '64M', '--json']))
      const before = writeRandom(`${volume.mountpoint}/before`, 32)
      const free = statfsAvailable(host.root)
      const started = Date.now()
      const created = cbs(host.root, ['volume', 'snapshot', 'create', fs, 's1'])
      assert.equal(created.code, 0, created.stderr)
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`)
      assert.ok(free - statfsAvailable(host.root) < 4 * MiB, 'no extra space taken')
      writeRandom(`${volume.mountpoint}/after`, 1)
      const [snapshot] = snapshots(host.root, fs)
      assert.equal(snapshot.method, 'reflink')
      readImage(snapshot.image, fs, (dir) => {
        assert.equal(sha(`${dir}/before`), before)
        assert.ok(!existsSync(`${dir}/after`))
      })
      // The image now shares extents with the snapshot, which makes its loop device's sectors
      // 4 KiB: the volume must still mount (it is formatted with 4 KiB blocks and sectors).
      assert.equal(cbs(host.root, ['volume', 'unmount', fs]).code, 0)
      const mounted = cbs(host.root, ['volume', 'mount', fs])
      assert.equal(mounted.code, 0, mounted.stderr)
      assert.equal(sha(`${volume.mountpoint}/before`), before)
      // Restore by reflink too.
      const freeBefore = statfsAvailable(host.root)
      const restored = cbs(host.root, ['volume', 'snapshot', 'restore', `${fs}@s1`, '--verbose'])
      assert.equal(restored.code, 0, restored.stderr)
      assert.match(restored.stderr, /^\+ cp --reflink=always /m)
      assert.ok(freeBefore - statfsAvailable(host.root) < 4 * MiB, 'no extra space taken')
      assert.ok(!existsSync(`${volume.mountpoint}/after`))
      assert.equal(sha(`${volume.mountpoint}/before`), before)
    }
  })
})

function statfsAvailable(path: string): number {
  const stat = statfsSync(path)
  return stat.bavail * stat.bsize
}
