import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {cbs, cbsAsync, json, jsonOne, leftovers, makeRoot, removeRoot, requireHost, sh} from '../support/integration.js'

const MiB = 1024 ** 2

describe('integration: loop volumes on real loop devices', function () {
  this.timeout(120_000)
  let root: string

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'mkfs.xfs', 'mkfs.btrfs', 'chattr'])
  })
  beforeEach(() => {
    root = makeRoot()
  })
  afterEach(() => {
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  it('creates a mounted, sparse, size-limited ext4 volume and reports it', () => {
    const created = cbs(root, ['volume', 'create', 'db', '--size', '64M', '--label', 'env=ci', '--json'])
    assert.equal(created.code, 0, created.stderr)
    const volume = jsonOne<Volume>(created)
    assert.equal(volume.status, 'mounted')
    assert.equal(volume.fs, 'ext4')
    assert.equal(volume.sizeBytes, 64 * MiB)
    assert.match(volume.device!, /^\/dev\/loop\d+$/)
    assert.deepEqual(volume.labels, {env: 'ci'})
    assert.ok(volume.allocatedBytes! < 16 * MiB, `sparse: ${volume.allocatedBytes}`)
    assert.equal(sh('findmnt', ['-n', '-o', 'FSTYPE,SOURCE', volume.mountpoint]).trim(), `ext4   ${volume.device}`)
    assert.match(sh('findmnt', ['-n', '-o', 'OPTIONS', volume.mountpoint]), /discard/)
    assert.equal(sh('losetup', ['-n', '-O', 'DIO', volume.device!]).trim(), '1', 'direct I/O on')
    assert.equal((statSync(root).mode & 0o777).toString(8), '700')
    assert.equal((statSync(join(root, 'state.json')).mode & 0o777).toString(8), '600')

    // The size limit holds inside the volume.
    const fill = cbsFill(volume.mountpoint, 80)
    assert.match(fill, /No space left/)

    const listed = cbs(root, ['volume', 'ls'])
    assert.match(listed.stdout, /^NAME\s+TYPE\s+FS\s+SIZE\s+USED\s+STATUS\s+MOUNTPOINT\s+ATTACHED$/m)
    assert.match(listed.stdout, /^db\s+loop\s+ext4\s+64M\s+\S+\s+mounted\s+\S+\s+-$/m)
    assert.equal(cbs(root, ['volume', 'ls', '-q']).stdout, 'db\n')
    assert.equal(cbs(root, ['volume', 'ls', '-q', '--filter', 'label=env=ci']).stdout, 'db\n')
    assert.equal(cbs(root, ['volume', 'ls', '-q', '--filter', 'status=unmounted']).stdout, '')
    const [inspected] = json<Volume[]>(cbs(root, ['volume', 'inspect', 'db', '--json']))
    assert.equal(inspected.image, join(root, 'images', 'db.img'))
    assert.ok(inspected.usedBytes! > 0)

    assert.equal(cbs(root, ['volume', 'rm', 'db']).code, 0)
    assert.equal(cbs(root, ['volume', 'ls', '-q']).stdout, '')
  })

  for (const fs of ['xfs', 'btrfs'] as const) {
    it(`creates ${fs} volumes`, () => {
      const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'v', '--fs', fs, '--size', '320M', '--json']))
      assert.equal(sh('findmnt', ['-n', '-o', 'FSTYPE', volume.mountpoint]).trim(), fs)
      assert.equal(cbs(root, ['volume', 'rm', 'v']).code, 0)
    })
  }

  it('gives freed space back to the host (discard)', () => {
    const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'v', '--size', '256M', '--json']))
    sh('dd', ['if=/dev/urandom', `of=${volume.mountpoint}/blob`, 'bs=1M', 'count=64', 'conv=fsync', 'status=none'])
    const full = statSync(volume.image).blocks * 512
    assert.ok(full >= 64 * MiB, `allocated ${full}`)
    rmSync(`${volume.mountpoint}/blob`)
    sh('sync', ['-f', volume.mountpoint])
    const [after] = json<Volume[]>(cbs(root, ['volume', 'inspect', 'v', '--json']))
    assert.ok(after.allocatedBytes! < full - 32 * MiB, `allocated ${after.allocatedBytes} after delete, ${full} before`)
  })

  it('unmount makes the mountpoint unwritable; mount brings the data back', () => {
    const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'v', '--size', '32M', '--json']))
    writeFileSync(`${volume.mountpoint}/data`, 'kept')
    assert.equal(cbs(root, ['volume', 'unmount', 'v']).code, 0)
    assert.equal(cbs(root, ['volume', 'unmount', 'v']).code, 0, 'idempotent')
    const [down] = json<Volume[]>(cbs(root, ['volume', 'inspect', 'v', '--json']))
    assert.equal(down.status, 'unmounted')
    assert.equal(down.device, null)
    assert.throws(() => writeFileSync(`${volume.mountpoint}/leak`, 'x'), /EPERM|EACCES/)
    assert.equal(cbs(root, ['volume', 'mount', 'v']).code, 0)
    assert.equal(cbs(root, ['volume', 'mount', 'v']).code, 0, 'idempotent')
    assert.equal(readFileSync(`${volume.mountpoint}/data`, 'utf8'), 'kept')
  })

  it('survives a reboot: mount --all brings back volumes whose devices and mounts vanished', () => {
    const volumes = ['a', 'b', 'c'].map((name) => jsonOne<Volume>(cbs(root, ['volume', 'create', name, '--size', '16M', '--json'])))
    for (const volume of volumes) writeFileSync(`${volume.mountpoint}/id`, volume.name)
    for (const volume of volumes) {
      sh('umount', [volume.mountpoint])
      sh('losetup', ['-d', volume.device!])
    }
    assert.deepEqual(
      json<Volume[]>(cbs(root, ['volume', 'ls', '--json'])).map((volume) => volume.status),
      ['unmounted', 'unmounted', 'unmounted'],
    )
    const mounted = cbs(root, ['volume', 'mount', '--all'])
    assert.equal(mounted.code, 0, mounted.stderr)
    for (const volume of volumes) assert.equal(readFileSync(`${volume.mountpoint}/id`, 'utf8'), volume.name)
  })

  it('shows a volume whose image vanished as error', () => {
    const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'v', '--size', '16M', '--json']))
    sh('umount', [volume.mountpoint])
    sh('losetup', ['-d', volume.device!])
    rmSync(volume.image)
    assert.equal(cbs(root, ['volume', 'ls', '-q', '--filter', 'status=error']).stdout, 'v\n')
  })

  it('refuses to remove or unmount a busy volume (exit 4) and leaves it as it was', async () => {
    const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'v', '--size', '16M', '--json']))
    const holder = spawn('sleep', ['60'], {cwd: volume.mountpoint})
    try {
      const removed = cbs(root, ['volume', 'rm', 'v'])
      assert.equal(removed.code, 4, removed.stderr)
      assert.match(removed.stderr, /^cbs: volume "v" is busy.*\n$/)
      assert.equal(cbs(root, ['volume', 'unmount', 'v']).code, 4)
      assert.equal(json<Volume[]>(cbs(root, ['volume', 'inspect', 'v', '--json']))[0].status, 'mounted')
    } finally {
      holder.kill()
      await new Promise((resolve) => holder.on('close', resolve))
    }
    assert.equal(cbs(root, ['volume', 'rm', 'v']).code, 0)
  })

  it('refuses bad input with exit 2 and one line on stderr, touching nothing', () => {
    for (const args of [
      ['volume', 'create', 'a/b'],
      ['volume', 'create', '..'],
      ['volume', 'create', 'x;reboot'],
      ['volume', 'create', 'x', '--size', '0'],
      ['volume', 'create', 'x', '--size', '-5G'],
      ['volume', 'create', 'x', '--size', 'lots'],
      ['volume', 'create', 'x', '--size', '1K'],
      ['volume', 'create', 'x', '--size', '900T'],
      ['volume', 'create', 'x', '--fs', 'zfs'],
      ['volume', 'create', 'x', '--fs', 'xfs', '--size', '100M'],
      ['volume', 'ls', '--filter', 'colour=red'],
      ['volume', 'create', 'x', '--label', 'note=a\nAttached:     docker: volume FAKE'],
      ['volume', 'create', 'x', '--label', 'note=\u001B[2J'],
      ['volume', 'ls', '--filter', 'label=note=\u001B[2J'],
      ['volume', 'create', 'x\u001B[2J'],
    ]) {
      const result = cbs(root, args)
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`)
      assert.match(result.stderr, /^cbs: [^\n]+\n$/, args.join(' '))
    }
    assert.deepEqual(sh('ls', ['-A', root]), '')
  })

  it('shows control characters in what it prints as escapes: a label an older cbs took cannot forge a line', () => {
    const volume = jsonOne<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '16M', '--label', 'note=fine', '--json']))
    const stateFile = join(root, 'state.json')
    const state = JSON.parse(readFileSync(stateFile, 'utf8'))
    state.volumes.db.labels.note = 'a\nAttached:     docker: volume FAKE\u001B[2J'
    writeFileSync(stateFile, JSON.stringify(state))
    const shown = cbs(root, ['volume', 'inspect', 'db'])
    assert.equal(shown.code, 0, shown.stderr)
    assert.match(shown.stdout, /^Labels:\s+note=a\\nAttached: {5}docker: volume FAKE\\x1b\[2J$/m)
    assert.doesNotMatch(shown.stdout, /^Attached:|\u001B/m)
    assert.equal(json<Volume[]>(cbs(root, ['volume', 'inspect', 'db', '--json']))[0].labels.note, state.volumes.db.labels.note, 'JSON keeps the value as it is')
    // Error messages too: they quote what was given.
    const failed = cbs(root, ['volume', 'inspect', 'x\u001B[2J\nfake'])
    assert.equal(failed.code, 2)
    assert.match(failed.stderr, /^cbs: invalid volume name "x\\x1b\[2J\\nfake": [^\n]+\n$/)
    assert.equal(volume.name, 'db')
  })

  it('reports errors as JSON with --json, and exit 3 for unknown volumes', () => {
    const result = cbs(root, ['volume', 'inspect', 'nope', '--json'])
    assert.equal(result.code, 3)
    assert.deepEqual(json(result), {error: {message: 'no such volume: nope: see `cbs volume ls`', exitCode: 3}})
    assert.equal(cbs(root, ['volume', 'rm', 'nope']).code, 3)
    assert.equal(cbs(root, ['volume', 'rm', '--force', 'nope']).code, 0)
  })

  it('refuses an existing name (exit 4) unless --if-not-exists matches', () => {
    assert.equal(cbs(root, ['volume', 'create', 'v', '--size', '16M']).code, 0)
    assert.equal(cbs(root, ['volume', 'create', 'v', '--size', '16M']).code, 4)
    assert.equal(cbs(root, ['volume', 'create', 'v', '--size', '16M', '--if-not-exists']).code, 0)
    assert.equal(cbs(root, ['volume', 'create', 'v', '--size', '32M', '--if-not-exists']).code, 4)
  })

  it('refuses to run without root (exit 5, suggests sudo)', () => {
    chmodSync(root, 0o755)
    const result = cbs(root, ['volume', 'ls'], {uid: 65534})
    assert.equal(result.code, 5, result.stderr)
    assert.equal(result.stderr, 'cbs: root is needed to manage loop devices and mounts: run it with sudo\n', 'says what is needed, without "cbs: cbs"')
  })

  it('rolls back a create whose mkfs fails: no device, mount, file or record left', () => {
    const bin = mkdtempSync('/tmp/cbs-fakebin-')
    try {
      writeFileSync(join(bin, 'mkfs.ext4'), '#!/bin/sh\necho "mkfs.ext4: simulated failure" >&2\nexit 1\n', {mode: 0o755})
      const result = cbs(root, ['volume', 'create', 'v', '--size', '16M'], {env: {PATH: `${bin}:${process.env.PATH}`}})
      assert.equal(result.code, 1, result.stderr)
      assert.match(result.stderr, /simulated failure/)
    } finally {
      rmSync(bin, {recursive: true})
    }
    assert.deepEqual(leftovers(root), [])
    assert.equal(sh('ls', ['-A', join(root, 'images')]), '')
    assert.equal(sh('ls', ['-A', join(root, 'mounts')]), '')
    assert.equal(cbs(root, ['volume', 'ls', '-q']).stdout, '')
  })

  it('SIGTERM during a create undoes it (exit 130): nothing left behind', async () => {
    const bin = mkdtempSync('/tmp/cbs-fakebin-')
    writeFileSync(join(bin, 'mkfs.ext4'), `#!/bin/sh\nsleep 1\nexec ${sh('sh', ['-c', 'command -v mkfs.ext4']).trim()} "$@"\n`, {mode: 0o755})
    try {
      const running = cbsAsync(root, ['volume', 'create', 'v', '--size', '16M'], {env: {PATH: `${bin}:${process.env.PATH}`}, onSpawn: (child) => setTimeout(() => child.kill('SIGTERM'), 500)})
      const result = await running
      assert.equal(result.code, 130, result.stderr)
      assert.match(result.stderr, /interrupted by SIGTERM/)
    } finally {
      rmSync(bin, {recursive: true})
    }
    assert.deepEqual(leftovers(root), [])
    assert.equal(sh('ls', ['-A', join(root, 'images')]), '')
    assert.equal(cbs(root, ['volume', 'ls', '-q']).stdout, '')
  })

  it('never overwrites a state file that is not valid JSON (exit 5)', () => {
    writeFileSync(join(root, 'state.json'), '{broken')
    for (const args of [['volume', 'ls'], ['volume', 'create', 'v', '--size', '16M']]) {
      const result = cbs(root, args)
      assert.equal(result.code, 5)
      assert.match(result.stderr, /state\.json is not valid JSON/)
    }
    assert.equal(readFileSync(join(root, 'state.json'), 'utf8'), '{broken')
    assert.deepEqual(leftovers(root), [])
  })

  it('--dry-run prints the commands and changes nothing', () => {
    const result = cbs(root, ['volume', 'create', 'v', '--size', '16M', '--dry-run'])
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /^losetup --find --show --nooverlap --direct-io=on \S+\/images\/v\.img$/m)
    assert.match(result.stdout, /^mount -o discard \/dev\/loopN \S+\/mounts\/v$/m)
    assert.equal(sh('ls', ['-A', root]), '')
  })

  it('--verbose logs each system command to stderr', () => {
    const result = cbs(root, ['volume', 'create', 'v', '--size', '16M', '--verbose'])
    assert.equal(result.stdout, 'v\n')
    assert.match(result.stderr, /^\+ mkfs\.ext4 /m)
  })

  it('16 concurrent creates all succeed, on 16 distinct loop devices', async () => {
    const names = Array.from({length: 16}, (_, index) => `c${index}`)
    const results = await Promise.all(names.map((name) => cbsAsync(root, ['volume', 'create', name, '--size', '8M'])))
    for (const result of results) assert.equal(result.code, 0, result.stderr)
    const volumes = json<Volume[]>(cbs(root, ['volume', 'ls', '--json']))
    assert.deepEqual(volumes.map((volume) => volume.name).sort(), [...names].sort())
    assert.equal(new Set(volumes.map((volume) => volume.device)).size, 16)
    assert.ok(volumes.every((volume) => volume.status === 'mounted'))
    const removed = await Promise.all(names.map((name) => cbsAsync(root, ['volume', 'rm', name])))
    for (const result of removed) assert.equal(result.code, 0, result.stderr)
  })
})

/** Writes up to `mib` MiB into a file on the volume; returns dd's stderr. */
function cbsFill(mountpoint: string, mib: number): string {
  try {
    sh('dd', ['if=/dev/zero', `of=${mountpoint}/fill`, 'bs=1M', `count=${mib}`, 'status=none'])
    return ''
  } catch (error) {
    return String((error as {stderr?: string}).stderr)
  } finally {
    rmSync(`${mountpoint}/fill`, {force: true})
  }
}
