import assert from 'node:assert/strict'
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import type {Snapshot} from '../../src/lib/snapshots/snapshot.js'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {makeHostFs, thawAll, wasFrozen, type HostFs} from '../support/host-fs.js'
import {cbs, json, jsonOne, leftovers, makeRoot, REPO, removeRoot, requireHost, sh} from '../support/integration.js'

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
    const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '64M', '--json']))
    const before = writeRandom(`${volume.mountpoint}/before`, 4)
    const created = cbs(root, ['volume', 'snapshot', 'create', 'db', 's1', '--label', 'ticket=DB-42'])
    assert.equal(created.code, 0, created.stderr)
    assert.equal(created.stdout, 'db@s1\n')
    assert.equal(created.stderr, '', 'no progress bar when stderr is not a terminal')
    const frozen = jsonOne(cbs(root, ['volume', 'snapshot', 'create', 'db', 's2', '--json'])).frozenMs
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
    const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '64M', '--json']))
    const file = `${volume.mountpoint}/table`
    const first = writeRandom(file, 4)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'db', 's1']).code, 0)
    const second = writeRandom(file, 4)
    writeFileSync(`${volume.mountpoint}/added`, 'after s1')
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'db', 's2']).code, 0)
    writeFileSync(`${volume.mountpoint}/added-later`, 'after s2')

    const restored = cbs(root, ['volume', 'snapshot', 'restore', 'db@s1', '--json'])
    assert.equal(restored.code, 0, restored.stderr)
    assert.equal(jsonOne<Volume>(restored).status, 'mounted')
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
    assert.equal(jsonOne<Volume>(cbs(root, ['volume', 'snapshot', 'restore', 'db@s2', '--json'])).status, 'unmounted')
    assert.equal(cbs(root, ['volume', 'mount', 'db']).code, 0)
    assert.equal(sha(file), second)
    assert.deepEqual(readdirSync(join(root, 'images')), ['db.img'], 'no partial file left')
  })

  it('create --from makes an independent, larger copy of a snapshot with a filesystem UUID of its own', () => {
    const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '64M', '--json']))
    const seeded = writeRandom(`${volume.mountpoint}/seed`, 4)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'db', 'seed']).code, 0)
    writeFileSync(`${volume.mountpoint}/after-snapshot`, 'not in the clone')

    const created = cbs(root, ['volume', 'create', 'ci', '--from', 'db@seed', '--size', '128M', '--label', 'job=1', '--json'])
    assert.equal(created.code, 0, created.stderr)
    const clone = jsonOne<Volume>(created)
    assert.equal(clone.status, 'mounted')
    assert.equal(clone.sizeBytes, 128 * MiB)
    assert.deepEqual(clone.labels, {job: '1'})
    assert.ok(statfsSync(clone.mountpoint).blocks * statfsSync(clone.mountpoint).bsize > 100 * MiB, 'the filesystem grew with the image')
    assert.equal(sha(`${clone.mountpoint}/seed`), seeded)
    assert.ok(!existsSync(`${clone.mountpoint}/after-snapshot`))
    assert.notEqual(uuidOf(clone.device!), uuidOf(volume.device!))

    // Independent both ways.
    writeFileSync(`${clone.mountpoint}/seed`, 'changed in the clone')
    assert.equal(sha(`${volume.mountpoint}/seed`), seeded)
    writeFileSync(`${volume.mountpoint}/only-in-db`, 'x')
    assert.ok(!existsSync(`${clone.mountpoint}/only-in-db`))
    assert.equal(jsonOne<Volume>(cbs(root, ['volume', 'create', 'same', '--from', 'db@seed', '--json'])).sizeBytes, 64 * MiB, 'the snapshot size by default')

    // A clone survives its source and the snapshot.
    assert.equal(cbs(root, ['volume', 'rm', '--force', '--recursive', 'db']).code, 0)
    assert.equal(readFileSync(`${clone.mountpoint}/seed`, 'utf8'), 'changed in the clone')
    assert.equal(cbs(root, ['volume', 'unmount', 'ci']).code, 0)
    assert.equal(cbs(root, ['volume', 'mount', 'ci']).code, 0)
    assert.equal(readFileSync(`${clone.mountpoint}/seed`, 'utf8'), 'changed in the clone')
  })

  for (const fs of ['xfs', 'btrfs'] as const) {
    it(`create --from of ${fs} mounts next to its mounted source (a new UUID), and grows`, () => {
      const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'v', '--fs', fs, '--size', '320M', '--json']))
      const seeded = writeRandom(`${volume.mountpoint}/seed`, 2)
      assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'v', 's']).code, 0)
      const created = cbs(root, ['volume', 'create', 'c', '--from', 'v@s', '--size', '400M', '--json'])
      assert.equal(created.code, 0, created.stderr)
      const clone = jsonOne<Volume>(created)
      assert.equal(sh('findmnt', ['-n', '-o', 'FSTYPE', clone.mountpoint]).trim(), fs)
      assert.notEqual(uuidOf(clone.device!), uuidOf(volume.device!))
      assert.equal(sha(`${clone.mountpoint}/seed`), seeded)
      writeFileSync(`${clone.mountpoint}/seed`, 'clone')
      assert.equal(sha(`${volume.mountpoint}/seed`), seeded, 'the source is untouched')
      assert.ok(statfsSync(clone.mountpoint).blocks * statfsSync(clone.mountpoint).bsize > 330 * MiB, 'grown')
      assert.equal(cbs(root, ['volume', 'rm', 'c']).code, 0)
    })
  }

  it('create --from and restore of a union volume snapshot: its upper layer over the same lowers', () => {
    const db = jsonOne<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '32M', '--json']))
    writeFileSync(`${db.mountpoint}/base`, 'base')
    writeFileSync(`${db.mountpoint}/gone`, 'deleted in the union')
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'db', 'seed']).code, 0)
    const union = jsonOne<Volume>(cbs(root, ['volume', 'create', 'u', '--type', 'overlay', '--lower', 'db@seed', '--size', '32M', '--json']))
    writeFileSync(`${union.mountpoint}/mine`, 'v1')
    rmSync(`${union.mountpoint}/gone`)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'u', 's']).code, 0)
    writeFileSync(`${union.mountpoint}/mine`, 'v2')

    const clone = jsonOne<Volume>(cbs(root, ['volume', 'create', 'u2', '--from', 'u@s', '--json']))
    assert.equal(clone.type, 'overlay')
    assert.deepEqual(clone.lowers!.map((lower) => lower.source), ['db@seed'])
    assert.equal(readFileSync(`${clone.mountpoint}/mine`, 'utf8'), 'v1')
    assert.equal(readFileSync(`${clone.mountpoint}/base`, 'utf8'), 'base')
    assert.ok(!existsSync(`${clone.mountpoint}/gone`), 'the whiteout came along')

    assert.equal(cbs(root, ['volume', 'snapshot', 'restore', 'u@s']).code, 0)
    assert.equal(readFileSync(`${union.mountpoint}/mine`, 'utf8'), 'v1')
    assert.equal(cbs(root, ['volume', 'rm', '--force', '--recursive', 'u', 'u2', 'db']).code, 0)
  })

  it('create --from refuses bad requests before creating anything', () => {
    cbs(root, ['volume', 'create', 'db', '--size', '64M'])
    cbs(root, ['volume', 'snapshot', 'create', 'db', 's'])
    for (const [args, code] of [
      [['--from', 'db'], 2],
      [['--from', 'db@s', '--size', '32M'], 2],
      [['--from', 'db@s', '--fs', 'xfs'], 2],
      [['--from', 'db@nope'], 3],
      [['--from', 'nope@s'], 3],
    ] as const) {
      const result = cbs(root, ['volume', 'create', 'c', ...args])
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`)
      assert.match(result.stderr, /^cbs: [^\n]+\n$/)
    }
    assert.deepEqual(readdirSync(join(root, 'images')), ['db.img'])
    assert.deepEqual(json<Volume[]>(cbs(root, ['volume', 'ls', '--json'])).map((volume) => volume.name), ['db'])
  })

  it('names snapshots after the UTC time by default; rm removes them; volume rm needs -r (--recursive) while they exist', () => {
    cbs(root, ['volume', 'create', 'db', '--size', '16M'])
    const created = cbs(root, ['volume', 'snapshot', 'create', 'db'])
    assert.match(created.stdout, /^db@\d{8}T\d{6}Z\n$/)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'db', 'b']).code, 0)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'db', 'b']).code, 4, 'taken name')

    const refused = cbs(root, ['volume', 'rm', 'db'])
    assert.equal(refused.code, 4)
    assert.match(refused.stderr, /has snapshots: db@\d{8}T\d{6}Z, db@b: .*--recursive/)
    // --force is docker's: names that do not exist are fine, snapshots still are not.
    assert.equal(cbs(root, ['volume', 'rm', '-f', 'db', 'nope']).code, 4)
    assert.equal(cbs(root, ['volume', 'rm', '-f', 'nope']).code, 0)
    assert.equal(json<Volume[]>(cbs(root, ['volume', 'inspect', 'db', '--json']))[0].status, 'mounted')

    assert.equal(cbs(root, ['volume', 'snapshot', 'rm', 'db@b']).stdout, 'db@b\n')
    assert.equal(snapshots(root).length, 1)
    assert.equal(cbs(root, ['volume', 'rm', '--force', '--recursive', 'db']).code, 0)
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
    const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '16M', '--json']))
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
      const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '16M', '--json']))
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
    const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '16M', '--json']))
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
    const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '16M', '--json']))
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
    const last = cbs(root, ['volume', 'snapshot', 'create', 'db', 'last'])
    assert.equal(last.code, 0, last.stderr)
    assert.ok(snapshots(root).every((snapshot) => snapshot.status === 'ready'))
    assert.equal(cbs(root, ['volume', 'rm', '--force', '--recursive', 'db']).code, 0)
  })

  it('fails (exit 5) rather than keep a volume frozen past --freeze-timeout, and undoes the copy', () => {
    const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '16M', '--json']))
    const {env, dir} = fakeCp('"$REAL_CP" "$@" && exec sleep 10')
    try {
      const started = Date.now()
      const result = cbs(root, ['volume', 'snapshot', 'create', 'db', 's1', '--freeze-timeout', '1'], {env})
      assert.equal(result.code, 5, result.stderr)
      assert.match(result.stderr, /^cbs: the copy took longer than 1s, the most cbs keeps a volume frozen: .*--freeze-timeout/)
      assert.ok(Date.now() - started < 5000, 'stopped at the bound, not when cp was done')
    } finally {
      rmSync(dir, {recursive: true})
    }
    assert.ok(!wasFrozen(volume.mountpoint))
    assert.deepEqual(snapshots(root), [])
    assert.deepEqual(readdirSync(join(root, 'snapshots', 'db')), [])
  })

  it('shows a progress line on stderr when it is a terminal', () => {
    cbs(root, ['volume', 'create', 'db', '--size', '16M'])
    // A copy slow enough for the progress line to show; `script` gives cbs a terminal.
    const {env, dir} = fakeCp('"$REAL_CP" "$@" && sleep 1')
    try {
      const command = [process.execPath, join(REPO, 'bin', 'run.js'), 'volume', 'snapshot', 'create', 'db', 's1'].join(' ')
      const result = spawnSync('script', ['-qec', command, '/dev/null'], {env: {...process.env, ...env, CBS_ROOT: root, NO_COLOR: '1'}, encoding: 'utf8'})
      assert.equal(result.status, 0, result.stdout)
      assert.match(result.stdout, /\[\s*\d+\/100\] copying db → db@s1: \S+ of \S+/)
      assert.match(result.stdout, /db@s1\r?\n/)
    } finally {
      rmSync(dir, {recursive: true})
    }
  })

  it('refuses a copy the host has no room for (exit 5) and leaves nothing behind', () => {
    host = makeHostFs('ext4', 96)
    const volume = jsonOne<Volume>(cbs(host.root, ['volume', 'create', 'db', '--size', '64M', '--json']))
    writeRandom(`${volume.mountpoint}/data`, 30)
    assert.equal(cbs(host.root, ['volume', 'snapshot', 'create', 'db', 's1']).code, 0, 'room for one copy')
    const result = cbs(host.root, ['volume', 'snapshot', 'create', 'db', 's2'])
    assert.equal(result.code, 5, result.stderr)
    assert.match(result.stderr, /^cbs: not enough free space under .*: it needs \S+, \S+ is free: .*\n$/)
    assert.deepEqual(snapshots(host.root).map((snapshot) => snapshot.name), ['db@s1'])
    assert.deepEqual(readdirSync(join(host.root, 'snapshots', 'db')), ['s1.img'])
    assert.ok(!wasFrozen(volume.mountpoint))

    const clone = cbs(host.root, ['volume', 'create', 'c', '--from', 'db@s1'])
    assert.equal(clone.code, 5, clone.stderr)
    assert.deepEqual(readdirSync(join(host.root, 'images')), ['db.img'])
    assert.deepEqual(json<Volume[]>(cbs(host.root, ['volume', 'ls', '--json'])).map((each) => each.name), ['db'])
  })

  it('clones by reflink on an xfs host: milliseconds, no extra space, and the volume still mounts afterwards', () => {
    host = makeHostFs('xfs', 1024)
    for (const fs of ['ext4', 'xfs'] as const) {
      const volume: Volume = jsonOne<Volume>(cbs(host.root, ['volume', 'create', fs, '--fs', fs, '--size', fs === 'xfs' ? '320M' : '64M', '--json']))
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
      // And clone by reflink.
      const freeBeforeClone = statfsAvailable(host.root)
      const cloned = cbs(host.root, ['volume', 'create', `${fs}-clone`, '--from', `${fs}@s1`, '--json'])
      assert.equal(cloned.code, 0, cloned.stderr)
      // Mounting an xfs clone replays its log (64 MiB here), which then is its own.
      const extra = freeBeforeClone - statfsAvailable(host.root)
      assert.ok(extra < (fs === 'xfs' ? 72 : 8) * MiB, `the ${fs} clone took ${extra / MiB} MiB`)
      assert.equal(sha(`${jsonOne<Volume>(cloned).mountpoint}/before`), before)
    }
  })
})

const uuidOf = (device: string) => sh('blkid', ['-s', 'UUID', '-o', 'value', device]).trim()

function statfsAvailable(path: string): number {
  const stat = statfsSync(path)
  return stat.bavail * stat.bsize
}
