import assert from 'node:assert/strict'
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {closeSync, constants, existsSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import type {Snapshot} from '../../src/lib/snapshots/snapshot.js'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {type HostFs, makeHostFs} from '../support/host-fs.js'
import {cbs, json, leftovers, makeRoot, REPO, removeRoot, requireHost, sh} from '../support/integration.js'
import {fileSums, sizeOf, writeFiles} from '../support/streams.js'

const MiB = 1024 ** 2
const BIN = join(REPO, 'bin', 'run.js')

function ok(result: {code: number; stdout?: string; stderr: string}, what = ''): string {
  assert.equal(result.code, 0, `${what} ${result.stdout ?? ''}${result.stderr}`)
  return result.stdout ?? ''
}

/** `export ARGS | import ARGS` between two roots, through a real pipe. */
function pipe(from: string, exportArgs: string[], to: string, importArgs: string[]): {code: number; stderr: string} {
  const quote = (words: string[]) => words.map((word) => `'${word}'`).join(' ')
  const script = `set -o pipefail; CBS_ROOT='${from}' node ${BIN} volume export ${quote(exportArgs)} | CBS_ROOT='${to}' node ${BIN} volume import ${quote(importArgs)}`
  const result = spawnSync('bash', ['-c', script], {encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}})
  return {code: result.status ?? 1, stderr: result.stderr}
}

/** What must be true after any refused import: nothing new under root, no import intent. */
function assertNothingLeft(root: string, volumes: string[]): void {
  const state = JSON.parse(readFileSync(join(root, 'state.json'), 'utf8'))
  assert.deepEqual(Object.keys(state.volumes).sort(), volumes)
  assert.deepEqual(state.imports ?? {}, {})
  const images = existsSync(join(root, 'images')) ? readdirSync(join(root, 'images')) : []
  assert.deepEqual(images.sort(), volumes.map((name) => `${name}.img`))
  for (const volume of volumes) {
    const dir = join(root, 'snapshots', volume)
    if (existsSync(dir)) assert.deepEqual(readdirSync(dir).filter((name) => name.startsWith('.')), [])
  }
}

describe('integration: volume export / import', function () {
  this.timeout(300_000)
  let a: string
  let b: string
  let files: string
  let host: HostFs | undefined

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'mkfs.xfs', 'mkfs.btrfs', 'chattr', 'fsfreeze', 'filefrag', 'fallocate'])
  })
  beforeEach(() => {
    a = makeRoot()
    b = makeRoot()
    files = makeRoot()
    host = undefined
  })
  afterEach(() => {
    host?.remove()
    for (const root of [a, b, files]) removeRoot(root)
    for (const root of [a, b]) assert.deepEqual(leftovers(root), [])
  })

  for (const fs of ['ext4', 'xfs', 'btrfs']) {
    it(`${fs}: a full and an incremental round trip through a pipe; files, labels and snapshot ids match`, () => {
      const source = json<Volume[]>(cbs(a, ['volume', 'create', 'db', '--fs', fs, '--size', '512M', '--label', 'env=prod', '--json']))[0]
      writeFiles(source.mountpoint, 24)
      ok(cbs(a, ['volume', 'snapshot', 'create', 'db', 'mon']))
      ok(pipe(a, ['db@mon'], b, ['db']), 'full')
      const target = json<Volume[]>(cbs(b, ['volume', 'inspect', 'db', '--json']))[0]
      assert.equal(target.status, 'mounted')
      assert.equal(target.fs, fs)
      assert.deepEqual(target.labels, {env: 'prod'})
      assert.deepEqual(fileSums(target.mountpoint), fileSums(source.mountpoint))
      // the same snapshot, same id, on both sides
      const ids = (root: string) => json<Snapshot[]>(cbs(root, ['volume', 'snapshot', 'ls', 'db', '--json'])).map((snapshot) => `${snapshot.name} ${snapshot.id}`)
      assert.deepEqual(ids(b), ids(a))

      // Change some, delete some, then send only that.
      writeFiles(source.mountpoint, 3, 'g')
      unlinkSync(join(source.mountpoint, 'f0'))
      rmSync(join(source.mountpoint, 'f-dir', 'f1'))
      ok(cbs(a, ['volume', 'snapshot', 'create', 'db', 'tue']))
      const stream = join(files, 'tue.cbs')
      ok(cbs(a, ['volume', 'export', 'db@tue', '--since', 'db@mon', '-o', stream]))
      assert.ok(sizeOf(stream) < 12 * MiB, `incremental stream of ${sizeOf(stream)} bytes`)
      const imported = cbs(b, ['volume', 'import', 'db', '-i', stream, '--json'])
      assert.deepEqual(json<Volume[]>(imported).map((volume) => volume.name), ['db'])
      assert.deepEqual(fileSums(target.mountpoint), fileSums(source.mountpoint))
      assert.deepEqual(ids(b), ids(a))
      assert.equal(cbs(b, ['doctor']).code, 0, cbs(b, ['doctor']).stdout)
    })
  }

  it('a mounted volume through a pipe: its temporary snapshot (streamed as it is copied) arrives whole, and both ends widen the pipe', () => {
    const source = json<Volume[]>(cbs(a, ['volume', 'create', 'db', '--size', '256M', '--json']))[0]
    writeFiles(source.mountpoint, 12)
    const piped = pipe(a, ['db', '--verbose'], b, ['db', '--verbose'])
    ok(piped, 'export | import')
    const {stderr} = piped
    assert.match(stderr, /cbs-pipe-size 1\n/, 'export grows the pipe on its stdout')
    assert.match(stderr, /cbs-pipe-size 0\n/, 'import grows the pipe on its stdin')
    assert.doesNotMatch(stderr, /\+ cp /, 'the snapshot is not copied before it is streamed')
    const target = json<Volume[]>(cbs(b, ['volume', 'inspect', 'db', '--json']))[0]
    assert.deepEqual(fileSums(target.mountpoint), fileSums(source.mountpoint))
    assert.deepEqual(json<Snapshot[]>(cbs(a, ['volume', 'snapshot', 'ls', 'db', '--json'])), [], 'the temporary snapshot is gone')
  })

  it('a mounted volume to a reader that waits: thawed long before the stream ends, which still holds the volume as it was', async () => {
    const source = json<Volume[]>(cbs(a, ['volume', 'create', 'db', '--size', '256M', '--json']))[0]
    writeFiles(source.mountpoint, 96) // more than the export holds in memory (64 MiB): the rest is set aside
    const before = fileSums(source.mountpoint)
    const stream = join(files, 'late.cbs')
    const gate = join(files, 'gate')
    execFileSync('mkfifo', [gate])
    // The reader takes nothing until the test opens the gate.
    const child = spawn('bash', ['-c', `set -o pipefail; CBS_ROOT='${a}' node ${BIN} volume export db | { read -r _ < '${gate}'; cat > '${stream}'; }`], {stdio: 'ignore'})
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    try {
      const snapshots = () => json<Snapshot[]>(cbs(a, ['volume', 'snapshot', 'ls', 'db', '--json']))
      for (let waited = 0; snapshots()[0]?.status !== 'exporting' && waited < 20_000; waited += 100) await sleep(100)
      const exporting = snapshots()[0]
      assert.equal(exporting.status, 'exporting', 'the snapshot is taken, the volume thawed, while the reader has taken nothing')
      const aside = exporting.allocatedBytes!
      assert.ok(aside >= 16 * MiB && aside <= 64 * MiB, `only what the reader could not take is set aside (${aside} bytes; the volume holds about 105 MiB)`)
      writeFileSync(join(source.mountpoint, 'late'), randomBytes(MiB), {flush: true})
    } finally {
      writeFileSync(gate, 'go\n')
      assert.equal(await closed, 0)
    }
    ok(cbs(b, ['volume', 'import', 'db', '-i', stream]))
    const target = json<Volume[]>(cbs(b, ['volume', 'inspect', 'db', '--json']))[0]
    assert.deepEqual(fileSums(target.mountpoint), before, 'the stream holds the volume as it was when the export began')
    assert.deepEqual(json<Snapshot[]>(cbs(a, ['volume', 'snapshot', 'ls', 'db', '--json'])), [], 'the temporary snapshot is gone')
  })

  it('stdout a file, or a socket (a Node parent\'s pipe, non-blocking): the stream arrives whole', async () => {
    const source = json<Volume[]>(cbs(a, ['volume', 'create', 'db', '--size', '64M', '--json']))[0]
    writeFiles(source.mountpoint, 12)
    const file = join(files, 'stdout.cbs')
    sh('bash', ['-c', `CBS_ROOT='${a}' node ${BIN} volume export db > '${file}'`])
    ok(cbs(b, ['volume', 'import', 'fromfile', '-i', file]))
    const child = spawn(process.execPath, [BIN, 'volume', 'export', 'db'], {env: {...process.env, CBS_ROOT: a}, stdio: ['ignore', 'pipe', 'inherit']})
    const parts: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => parts.push(chunk))
    assert.equal(await new Promise((resolve) => child.on('close', resolve)), 0)
    writeFileSync(file, Buffer.concat(parts))
    ok(cbs(b, ['volume', 'import', 'fromsocket', '-i', file]))
    for (const name of ['fromfile', 'fromsocket']) {
      const target = json<Volume[]>(cbs(b, ['volume', 'inspect', name, '--json']))[0]
      assert.deepEqual(fileSums(target.mountpoint), fileSums(source.mountpoint), name)
    }
  })

  it('a chain of three incrementals on a reflink (xfs) host, each applying on the one before', () => {
    host = makeHostFs('xfs', 2048)
    const src = join(host.root, 'a')
    const source = json<Volume[]>(cbs(src, ['volume', 'create', 'db', '--size', '256M', '--json']))[0]
    writeFiles(source.mountpoint, 8)
    ok(cbs(src, ['volume', 'snapshot', 'create', 'db', 's0']))
    ok(pipe(src, ['db@s0'], b, ['db']), 'full')
    for (const step of [1, 2, 3]) {
      writeFiles(source.mountpoint, 2, `s${step}-`)
      ok(cbs(src, ['volume', 'snapshot', 'create', 'db', `s${step}`]))
      const stream = join(files, `s${step}.cbs`)
      ok(cbs(src, ['volume', 'export', `db@s${step}`, '--since', `db@s${step - 1}`, '-o', stream]))
      assert.ok(sizeOf(stream) < 3 * MiB, `step ${step}: ${sizeOf(stream)} bytes, 2 MiB changed`)
      ok(cbs(b, ['volume', 'import', 'db', '-i', stream]), `step ${step}`)
      assert.deepEqual(fileSums(join(b, 'mounts', 'db')), fileSums(source.mountpoint), `step ${step}`)
    }
    // Out of order: s3 since s1 again is refused, the snapshot is already there.
    const stream = join(files, 'again.cbs')
    ok(cbs(src, ['volume', 'export', 'db@s3', '--since', 'db@s1', '-o', stream]))
    const again = cbs(b, ['volume', 'import', 'db', '-i', stream])
    assert.equal(again.code, 4)
    assert.match(again.stderr, /^cbs: snapshot db@s3 already exists/)
  })

  it('refuses damaged streams, each with one line and a stable exit code, leaving nothing and the target untouched', () => {
    const source = json<Volume[]>(cbs(a, ['volume', 'create', 'db', '--size', '64M', '--label', 'k=v', '--json']))[0]
    writeFiles(source.mountpoint, 6)
    ok(cbs(a, ['volume', 'snapshot', 'create', 'db', 'mon']))
    const full = join(files, 'mon.cbs')
    ok(cbs(a, ['volume', 'export', 'db@mon', '-o', full]))
    const bytes = readFileSync(full)
    const headerEnd = 14 + bytes.readUInt32BE(10) + 32
    const variant = (name: string, change: (copy: Buffer) => Buffer) => {
      const file = join(files, name)
      writeFileSync(file, change(Buffer.from(bytes)))
      return file
    }
    const flip = (at: number) => (copy: Buffer) => ((copy[at] ^= 0x20), copy)
    const newer = (copy: Buffer) => (copy.writeUInt16BE(2, 8), copy)
    // b has a volume of its own, which every refusal must leave alone
    const other = json<Volume[]>(cbs(b, ['volume', 'create', 'keep', '--size', '16M', '--json']))[0]
    writeFileSync(join(other.mountpoint, 'x'), 'keep me')
    const cases: Array<[string, string, number, RegExp]> = [
      ['truncated', variant('truncated.cbs', (copy) => copy.subarray(0, Math.floor(copy.length / 2))), 2, /the stream is truncated/],
      ['a flipped byte in the data', variant('data.cbs', flip(headerEnd + 13 + 4096)), 2, /the checksum of record 1 \(offset \d+\) does not match/],
      ['a flipped byte in the header', variant('header.cbs', flip(30)), 2, /the header checksum does not match/],
      ['a wrong magic number', variant('magic.cbs', flip(1)), 2, /not a cbs stream \(wrong magic number\)/],
      ['a newer version', variant('newer.cbs', newer), 2, /format version 2; this cbs reads version 1/],
    ]
    for (const [what, file, code, message] of cases) {
      const result = cbs(b, ['volume', 'import', 'db', '-i', file])
      assert.equal(result.code, code, `${what}: ${result.stderr}`)
      assert.match(result.stderr, new RegExp(`^cbs: [^\\n]*${message.source}[^\\n]*\\n$`), `${what}: ${result.stderr}`)
      assertNothingLeft(b, ['keep'])
    }
    // An existing NAME: refused before and without touching it.
    const existing = cbs(b, ['volume', 'import', 'keep', '-i', full])
    assert.equal(existing.code, 4)
    assert.match(existing.stderr, /^cbs: volume "keep" already exists: [^\n]*\n$/)
    assert.equal(readFileSync(join(other.mountpoint, 'x'), 'utf8'), 'keep me')
    assertNothingLeft(b, ['keep'])

    // An incremental stream whose base the target does not have (exit 4, naming it).
    ok(cbs(a, ['volume', 'snapshot', 'create', 'db', 'tue']))
    const incremental = join(files, 'tue.cbs')
    ok(cbs(a, ['volume', 'export', 'db@tue', '--since', 'db@mon', '-o', incremental]))
    const baseId = json<Snapshot[]>(cbs(a, ['volume', 'snapshot', 'ls', 'db', '--json']))[0].id
    for (const name of ['keep', 'db']) {
      const missing = cbs(b, ['volume', 'import', name, '-i', incremental])
      assert.equal(missing.code, 4, missing.stderr)
      assert.match(missing.stderr, new RegExp(`^cbs: this incremental stream needs snapshot db@mon \\(id ${baseId}\\) as its base[^\\n]*\\n$`))
    }
    assertNothingLeft(b, ['keep'])

    // An incremental stream damaged half way leaves the target as it was.
    ok(cbs(b, ['volume', 'import', 'db', '-i', full]))
    const before = fileSums(join(b, 'mounts', 'db'))
    const damaged = join(files, 'tue-damaged.cbs')
    const incrementalBytes = readFileSync(incremental)
    incrementalBytes[incrementalBytes.length - 60] ^= 1
    writeFileSync(damaged, incrementalBytes)
    const refused = cbs(b, ['volume', 'import', 'db', '-i', damaged])
    assert.equal(refused.code, 2, refused.stderr)
    assert.deepEqual(fileSums(join(b, 'mounts', 'db')), before)
    assert.deepEqual(json<Snapshot[]>(cbs(b, ['volume', 'snapshot', 'ls', 'db', '--json'])).map((snapshot) => snapshot.snapshot), ['mon'])
    assertNothingLeft(b, ['db', 'keep'])
    assert.equal(json<Volume[]>(cbs(b, ['volume', 'inspect', 'db', '--json']))[0].status, 'mounted')
  })

  it('refuses an incremental import onto a target changed since its base (exit 4), unless --force', () => {
    const source = json<Volume[]>(cbs(a, ['volume', 'create', 'db', '--size', '64M', '--json']))[0]
    writeFiles(source.mountpoint, 2)
    ok(cbs(a, ['volume', 'snapshot', 'create', 'db', 'mon']))
    ok(pipe(a, ['db@mon'], b, ['db']))
    writeFiles(source.mountpoint, 1, 'new')
    ok(cbs(a, ['volume', 'snapshot', 'create', 'db', 'tue']))
    const stream = join(files, 'tue.cbs')
    ok(cbs(a, ['volume', 'export', 'db@tue', '--since', 'db@mon', '-o', stream]))
    writeFileSync(join(b, 'mounts', 'db', 'local-change'), 'mine')
    const refused = cbs(b, ['volume', 'import', 'db', '-i', stream])
    assert.equal(refused.code, 4)
    assert.match(refused.stderr, /^cbs: volume "db" has changed since db@mon: pass --force/)
    assert.equal(readFileSync(join(b, 'mounts', 'db', 'local-change'), 'utf8'), 'mine')
    ok(cbs(b, ['volume', 'import', 'db', '-i', stream, '--force']))
    assert.deepEqual(fileSums(join(b, 'mounts', 'db')), fileSums(source.mountpoint))
  })

  it('a full host disk during import: exit 5, nothing left, the other volumes untouched', () => {
    const source = json<Volume[]>(cbs(a, ['volume', 'create', 'db', '--size', '128M', '--json']))[0]
    writeFiles(source.mountpoint, 48)
    ok(cbs(a, ['volume', 'snapshot', 'create', 'db', 'mon']))
    const stream = join(files, 'mon.cbs')
    ok(cbs(a, ['volume', 'export', 'db@mon', '-o', stream]))
    host = makeHostFs('ext4', 40)
    const small = join(host.root, 'cbs')
    const keep = json<Volume[]>(cbs(small, ['volume', 'create', 'keep', '--size', '8M', '--json']))[0]
    writeFileSync(join(keep.mountpoint, 'x'), 'keep me')
    const full = cbs(small, ['volume', 'import', 'db', '-i', stream])
    assert.equal(full.code, 5, full.stderr)
    assert.match(full.stderr, /^cbs: no space left on the host under [^\n]*\n$/)
    assertNothingLeft(small, ['keep'])
    assert.equal(readFileSync(join(keep.mountpoint, 'x'), 'utf8'), 'keep me')
    removeRoot(small)
  })

  for (const signal of ['SIGINT', 'SIGKILL'] as const) {
    it(`${signal} half way through an import leaves no volume${signal === 'SIGKILL' ? ' once the next command recovers' : ''}`, async () => {
      const source = json<Volume[]>(cbs(a, ['volume', 'create', 'db', '--size', '64M', '--json']))[0]
      writeFiles(source.mountpoint, 8)
      ok(cbs(a, ['volume', 'snapshot', 'create', 'db', 'mon']))
      const stream = join(files, 'mon.cbs')
      ok(cbs(a, ['volume', 'export', 'db@mon', '-o', stream]))
      const bytes = readFileSync(stream)
      const child = spawn(process.execPath, [BIN, 'volume', 'import', 'db'], {env: {...process.env, CBS_ROOT: b, NO_COLOR: '1'}, stdio: ['pipe', 'pipe', 'pipe']})
      let stderr = ''
      child.stderr.on('data', (chunk) => (stderr += chunk))
      const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
      child.stdin.write(bytes.subarray(0, Math.floor(bytes.length / 2)))
      const partial = join(b, 'images', '.db.img.partial')
      for (let waited = 0; !(existsSync(partial) && sizeOf(partial) > 0) && waited < 20_000; waited += 50) await sleep(50)
      await sleep(500)
      assert.ok(existsSync(partial), `the import started: ${stderr}`)
      assert.deepEqual(json<Volume[]>(cbs(b, ['volume', 'ls', '--json'])), [], 'no volume while the import is under way')
      child.kill(signal)
      const code = await closed
      child.stdin.destroy()
      if (signal === 'SIGINT') {
        assert.equal(code, 130, stderr)
        assert.match(stderr, /^cbs: interrupted by SIGINT/m)
      } else {
        const doctor = cbs(b, ['doctor'])
        assert.match(doctor.stdout, /the import of volume "db" was left half done/)
        ok(cbs(b, ['doctor', '--fix']))
      }
      assertNothingLeft(b, [])
      assert.equal(cbs(b, ['doctor']).code, 0)
    })
  }

  for (const stdin of ['a pipe', 'a socket'] as const) {
    it(`SIGINT while the import waits on ${stdin} that has sent nothing yet: exit 130 at once, nothing left`, async () => {
      // A FIFO the test holds open for writing too: the import sees neither data nor its end.
      const fifo = join(files, 'silent')
      execFileSync('mkfifo', [fifo])
      const writer = stdin === 'a pipe' ? openSync(fifo, constants.O_RDWR) : undefined
      const child = spawn(process.execPath, [BIN, 'volume', 'import', 'db'], {env: {...process.env, CBS_ROOT: b, NO_COLOR: '1'}, stdio: [writer ?? 'pipe', 'ignore', 'pipe']})
      let stderr = ''
      child.stderr!.on('data', (chunk) => (stderr += chunk))
      const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
      await sleep(1500) // started, and waiting for the header
      child.kill('SIGINT')
      const code = await Promise.race([closed, sleep(10_000).then(() => 'still running')])
      child.kill('SIGKILL')
      if (writer !== undefined) closeSync(writer)
      assert.equal(code, 130, stderr)
      assert.match(stderr, /^cbs: interrupted by SIGINT/m)
      assert.deepEqual(json<Volume[]>(cbs(b, ['volume', 'ls', '--json'])), [])
    })
  }

  it('SIGKILL half way through an incremental import: the next command puts the target back as it was', async () => {
    const source = json<Volume[]>(cbs(a, ['volume', 'create', 'db', '--size', '64M', '--json']))[0]
    writeFiles(source.mountpoint, 2)
    ok(cbs(a, ['volume', 'snapshot', 'create', 'db', 'mon']))
    ok(pipe(a, ['db@mon'], b, ['db']))
    const before = fileSums(join(b, 'mounts', 'db'))
    writeFiles(source.mountpoint, 8, 'tue')
    ok(cbs(a, ['volume', 'snapshot', 'create', 'db', 'tue']))
    const stream = join(files, 'tue.cbs')
    ok(cbs(a, ['volume', 'export', 'db@tue', '--since', 'db@mon', '-o', stream]))
    const bytes = readFileSync(stream)
    const child = spawn(process.execPath, [BIN, 'volume', 'import', 'db'], {env: {...process.env, CBS_ROOT: b, NO_COLOR: '1'}, stdio: ['pipe', 'ignore', 'pipe']})
    const closed = new Promise((resolve) => child.on('close', resolve))
    child.stdin.write(bytes.subarray(0, Math.floor(bytes.length / 2)))
    for (let waited = 0; json<Volume[]>(cbs(b, ['volume', 'inspect', 'db', '--json']))[0].status !== 'receiving' && waited < 20_000; waited += 100) await sleep(100)
    await sleep(500)
    child.kill('SIGKILL')
    await closed
    child.stdin.destroy()
    const doctor = cbs(b, ['doctor'])
    assert.match(doctor.stdout, /the receive of volume "db" was left half done/)
    ok(cbs(b, ['doctor', '--fix']))
    const target = json<Volume[]>(cbs(b, ['volume', 'inspect', 'db', '--json']))[0]
    assert.equal(target.status, 'mounted')
    assert.deepEqual(fileSums(target.mountpoint), before)
    assert.deepEqual(json<Snapshot[]>(cbs(b, ['volume', 'snapshot', 'ls', 'db', '--json'])).map((snapshot) => snapshot.snapshot), ['mon'])
    assertNothingLeft(b, ['db'])
    // and the stream still applies afterwards
    ok(cbs(b, ['volume', 'import', 'db', '-i', stream]))
    assert.deepEqual(fileSums(target.mountpoint), fileSums(source.mountpoint))
  })

  it('SIGINT during the export of a volume removes its temporary snapshot; after SIGKILL the next command does', async () => {
    const source = json<Volume[]>(cbs(a, ['volume', 'create', 'db', '--size', '64M', '--json']))[0]
    writeFiles(source.mountpoint, 16)
    for (const signal of ['SIGINT', 'SIGKILL'] as const) {
      // A reader that takes nothing: the export blocks on the full pipe, half way.
      const child = spawn(process.execPath, [BIN, 'volume', 'export', 'db'], {env: {...process.env, CBS_ROOT: a, NO_COLOR: '1'}, stdio: ['ignore', 'pipe', 'pipe']})
      child.stdout.pause()
      const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
      const snapshots = () => json<Snapshot[]>(cbs(a, ['volume', 'snapshot', 'ls', 'db', '--json']))
      try {
        for (let waited = 0; snapshots()[0]?.status !== 'exporting' && waited < 20_000; waited += 100) await sleep(100)
        assert.equal(snapshots()[0].status, 'exporting')
        await sleep(500)
      } finally {
        child.kill(signal)
      }
      if (signal === 'SIGINT') child.stdout.resume() // let it go on to see the interruption
      await closed
      child.stdout.destroy()
      if (signal === 'SIGKILL') ok(cbs(a, ['volume', 'snapshot', 'create', 'db', 'after']))
      assert.deepEqual(snapshots().map((snapshot) => snapshot.snapshot), signal === 'SIGKILL' ? ['after'] : [])
    }
    assert.deepEqual(readdirSync(join(a, 'snapshots', 'db')), ['after.img'])
  })

  it('SIGINT to an export whose reader, a pipe, stopped reading: exit 130 at once, its temporary snapshot removed', async () => {
    const source = json<Volume[]>(cbs(a, ['volume', 'create', 'db', '--size', '64M', '--json']))[0]
    writeFiles(source.mountpoint, 16) // more than the pipe holds (1 MiB once widened)
    // A FIFO the test holds open for reading too, and never reads: the export fills it and waits.
    const fifo = join(files, 'stalled')
    execFileSync('mkfifo', [fifo])
    const reader = openSync(fifo, constants.O_RDWR)
    const child = spawn(process.execPath, [BIN, 'volume', 'export', 'db'], {env: {...process.env, CBS_ROOT: a, NO_COLOR: '1'}, stdio: ['ignore', reader, 'pipe']})
    let stderr = ''
    child.stderr!.on('data', (chunk) => (stderr += chunk))
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    const snapshots = () => json<Snapshot[]>(cbs(a, ['volume', 'snapshot', 'ls', 'db', '--json']))
    for (let waited = 0; snapshots()[0]?.status !== 'exporting' && waited < 20_000; waited += 100) await sleep(100)
    await sleep(500) // the pipe is full by now
    child.kill('SIGINT')
    const code = await Promise.race([closed, sleep(10_000).then(() => 'still running')])
    child.kill('SIGKILL')
    closeSync(reader)
    assert.equal(code, 130, stderr)
    assert.match(stderr, /^cbs: interrupted by SIGINT/m)
    assert.deepEqual(snapshots(), [])
  })

  it('an export of a volume being written is consistent (it comes from a snapshot), and removes its snapshot', async () => {
    const source = json<Volume[]>(cbs(a, ['volume', 'create', 'db', '--size', '128M', '--json']))[0]
    writeFiles(source.mountpoint, 8)
    const writer = spawn('sh', ['-c', `i=0; while :; do i=$((i+1)); dd if=/dev/urandom of=${source.mountpoint}/busy-$((i % 8)) bs=256k count=4 status=none; done`])
    try {
      await sleep(300)
      const stream = join(files, 'live.cbs')
      ok(cbs(a, ['volume', 'export', 'db', '-o', stream]))
      ok(cbs(b, ['volume', 'import', 'copy', '-i', stream]))
    } finally {
      writer.kill()
      await new Promise((resolve) => writer.on('close', resolve))
    }
    assert.deepEqual(json<Snapshot[]>(cbs(a, ['volume', 'snapshot', 'ls', '--json'])), [])
    const copy = json<Volume[]>(cbs(b, ['volume', 'inspect', 'copy', '--json']))[0]
    const sums = fileSums(copy.mountpoint)
    for (let index = 0; index < 8; index++) assert.ok(sums[`f${index}`.replace(/^f(\d*[13579])$/, 'f-dir/f$1')], `f${index}`)
    ok(cbs(b, ['volume', 'unmount', 'copy']))
    sh('e2fsck', ['-f', '-n', copy.image]) // throws on any inconsistency
  })

  it('refuses binary output to a terminal and --json without -o (exit 2)', () => {
    ok(cbs(a, ['volume', 'create', 'db', '--size', '16M']))
    const script = spawnSync('script', ['-qec', `CBS_ROOT=${a} node ${BIN} volume export db`, '/dev/null'], {encoding: 'utf8'})
    assert.match(script.stdout, /cbs: stdout is a terminal: pipe the stream/)
    const refused = cbs(a, ['volume', 'export', 'db', '--json'])
    assert.equal(refused.code, 2)
    assert.match(json<{error: {message: string}}>(refused).error.message, /--json needs -o FILE/)
  })
})
