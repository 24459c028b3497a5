import assert from 'node:assert/strict'
import {type ChildProcess, spawn} from 'node:child_process'
import {readFileSync, statfsSync} from 'node:fs'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {fingerprint, writeData} from '../support/faults.js'
import {cbs, json, jsonOne, leftovers, makeRoot, removeRoot, requireHost} from '../support/integration.js'

const MiB = 1024 ** 2
/** The size of the filesystem mounted at `dir`, as df sees it. */
const fsBytes = (dir: string) => {
  const stat = statfsSync(dir)
  return stat.blocks * stat.bsize
}

/** The filesystem took (nearly all of) the added space: metadata takes a share of it. */
function assertGrew(before: number, after: number, addedMiB: number): void {
  assert.ok(after - before > 0.75 * addedMiB * MiB, `filesystem grew from ${before} to ${after} bytes, ${addedMiB}M added`)
}

/** Appends a line every few milliseconds to a file on the volume until stopped; its cwd keeps the volume busy. */
function writer(dir: string): {child: ChildProcess; stop: () => Promise<string[]>} {
  const child = spawn('sh', ['-c', 'i=0; while :; do i=$((i+1)); echo "$i" >> log; sleep 0.005; done'], {cwd: dir, stdio: 'ignore'})
  return {
    child,
    stop: async () => {
      child.kill('SIGKILL')
      await new Promise((done) => child.on('close', done))
      return readFileSync(`${dir}/log`, 'utf8').trim().split('\n')
    },
  }
}

/** Every line the writer wrote is there, in order: no write was lost or torn. */
function assertUnbroken(lines: string[]): void {
  assert.ok(lines.length > 10, `only ${lines.length} lines written`)
  lines.forEach((line, index) => assert.equal(line, String(index + 1)))
}

describe('integration: volume resize', function () {
  this.timeout(120_000)
  let root: string

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'mkfs.xfs', 'mkfs.btrfs', 'resize2fs', 'xfs_growfs', 'btrfs', 'chattr'])
  })
  beforeEach(() => {
    root = makeRoot()
  })
  afterEach(() => {
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  const create = (name: string, size: string, fs = 'ext4') => {
    const result = cbs(root, ['volume', 'create', name, '--size', size, '--fs', fs, '--json'])
    assert.equal(result.code, 0, result.stderr)
    return jsonOne<Volume>(result)
  }
  const resize = (name: string, size: string) => cbs(root, ['volume', 'resize', name, '--size', size])

  it('grows a mounted ext4 volume nobody uses (offline, as this host refuses online ext4 growth); data intact', () => {
    const volume = create('v', '32M')
    writeData(volume.mountpoint)
    const before = fingerprint(volume.mountpoint)
    const size = fsBytes(volume.mountpoint)
    const grown = resize('v', '64M')
    assert.equal(grown.code, 0, grown.stderr)
    assert.equal(grown.stdout, 'v\n')
    const [after] = json<Volume[]>(cbs(root, ['volume', 'inspect', 'v', '--json']))
    assert.equal(after.status, 'mounted')
    assert.equal(after.sizeBytes, 64 * MiB)
    assertGrew(size, fsBytes(volume.mountpoint), 32)
    assert.deepEqual(fingerprint(volume.mountpoint), before)
  })

  it('refuses to grow ext4 while a process writes to it (exit 4, why and what to do), and changes nothing', async () => {
    const volume = create('v', '32M')
    const busy = writer(volume.mountpoint)
    const refused = resize('v', '64M')
    await new Promise((done) => setTimeout(done, 300))
    const lines = await busy.stop()
    assert.equal(refused.code, 4, refused.stderr)
    assert.match(refused.stderr, /^cbs: volume "v" is in use by process(es)? \d+ \(\w+\)(, \d+ \(\w+\))*, and this host does not let cbs grow ext4 while mounted \(it lacks CAP_SYS_RESOURCE\): stop the processes/)
    assertUnbroken(lines)
    const [after] = json<Volume[]>(cbs(root, ['volume', 'inspect', 'v', '--json']))
    assert.equal(after.status, 'mounted')
    assert.equal(after.sizeBytes, 32 * MiB)
  })

  for (const [fs, from, to] of [
    ['xfs', '300M', '400M'],
    ['btrfs', '200M', '300M'],
  ] as const) {
    it(`grows ${fs} online while a process writes to it`, async () => {
      const volume = create('v', from, fs)
      writeData(volume.mountpoint)
      const before = fingerprint(volume.mountpoint)
      const size = fsBytes(volume.mountpoint)
      const busy = writer(volume.mountpoint)
      const grown = resize('v', to)
      await new Promise((done) => setTimeout(done, 200))
      const lines = await busy.stop()
      assert.equal(grown.code, 0, grown.stderr)
      assertUnbroken(lines)
      assertGrew(size, fsBytes(volume.mountpoint), Number.parseInt(to, 10) - Number.parseInt(from, 10))
      const {log: _, ...kept} = fingerprint(volume.mountpoint)
      assert.deepEqual(kept, before)
    })
  }

  it('grows an unmounted volume and leaves it unmounted', () => {
    const volume = create('v', '32M')
    writeData(volume.mountpoint)
    const before = fingerprint(volume.mountpoint)
    const size = fsBytes(volume.mountpoint)
    assert.equal(cbs(root, ['volume', 'unmount', 'v']).code, 0)
    assert.equal(resize('v', '48M').code, 0)
    const [after] = json<Volume[]>(cbs(root, ['volume', 'inspect', 'v', '--json']))
    assert.equal(after.status, 'unmounted')
    assert.equal(after.sizeBytes, 48 * MiB)
    assert.equal(cbs(root, ['volume', 'mount', 'v']).code, 0)
    assertGrew(size, fsBytes(volume.mountpoint), 16)
    assert.deepEqual(fingerprint(volume.mountpoint), before)
  })

  it('refuses to shrink (exit 2) and to grow past the free space of the host (exit 5); unknown volumes exit 3', () => {
    create('v', '32M')
    const shrink = resize('v', '16M')
    assert.equal(shrink.code, 2)
    assert.match(shrink.stderr, /^cbs: volume "v" is 32M: shrinking is not supported/)
    const free = statfsSync(root).bavail * statfsSync(root).bsize
    const huge = resize('v', String(free + 64 * MiB))
    assert.equal(huge.code, 5, huge.stderr)
    assert.match(huge.stderr, /needs that much free space on the host/)
    assert.equal(resize('nope', '64M').code, 3)
    assert.equal(json<Volume[]>(cbs(root, ['volume', 'inspect', 'v', '--json']))[0].sizeBytes, 32 * MiB)
  })
})
