import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, unlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {cbs, json, jsonOne, leftovers, makeRoot, releaseRoot, removeRoot, requireHost, sh} from '../support/integration.js'

const MiB = 1024 ** 2
const statfsBytes = (dir: string) => {
  const stat = statfsSync(dir)
  return stat.blocks * stat.bsize
}

/** sha256 of every file under dir, by relative path: what must not change in a lower layer. */
function checksums(dir: string): Record<string, string> {
  const sums: Record<string, string> = {}
  for (const entry of readdirSync(dir, {recursive: true, withFileTypes: true})) {
    if (!entry.isFile()) continue
    const path = join(entry.parentPath, entry.name)
    sums[path.slice(dir.length)] = createHash('sha256').update(readFileSync(path)).digest('hex')
  }
  return sums
}

describe('integration: union volumes (overlayfs)', function () {
  this.timeout(120_000)
  let root: string
  let lowers: string
  let top: string
  let bottom: string

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'chattr'])
  })
  beforeEach(() => {
    root = makeRoot()
    lowers = mkdtempSync('/tmp/cbs-it-lowers-')
    top = join(lowers, 'top')
    bottom = join(lowers, 'bottom')
    mkdirSync(join(top, 'etc'), {recursive: true})
    mkdirSync(join(bottom, 'etc'), {recursive: true})
    writeFileSync(join(top, 'etc', 'config'), 'top wins\n')
    writeFileSync(join(top, 'only-top'), 'T\n')
    writeFileSync(join(bottom, 'etc', 'config'), 'bottom loses\n')
    writeFileSync(join(bottom, 'only-bottom'), 'B\n')
    writeFileSync(join(bottom, 'doomed'), 'to be deleted\n')
  })
  afterEach(() => {
    removeRoot(root)
    rmSync(lowers, {recursive: true, force: true})
    assert.deepEqual(leftovers(root), [])
  })

  const create = (name: string, ...args: string[]) => {
    const result = cbs(root, ['volume', 'create', name, '--type', 'overlay', '--lower', top, '--lower', bottom, '--size', '16M', '--json', ...args])
    assert.equal(result.code, 0, result.stderr)
    return jsonOne<Volume>(result)
  }

  it('resize grows the upper layer; the union comes back mounted with its data, lowers untouched', () => {
    const before = {top: checksums(top), bottom: checksums(bottom)}
    const volume = create('u')
    writeFileSync(join(volume.mountpoint, 'written'), 'kept\n')
    const upperBefore = statfsBytes(volume.upper!.mountpoint)
    const resized = cbs(root, ['volume', 'resize', 'u', '--size', '48M', '--json'])
    assert.equal(resized.code, 0, resized.stderr)
    const after = jsonOne<Volume>(resized)
    assert.equal(after.status, 'mounted')
    assert.equal(after.sizeBytes, 48 * MiB)
    assert.ok(statfsBytes(after.upper!.mountpoint) - upperBefore > 24 * MiB, 'the upper filesystem grew')
    assert.equal(sh('findmnt', ['-n', '-o', 'FSTYPE', after.mountpoint]).trim(), 'overlay')
    assert.equal(readFileSync(join(after.mountpoint, 'written'), 'utf8'), 'kept\n')
    assert.equal(readFileSync(join(after.mountpoint, 'etc', 'config'), 'utf8'), 'top wins\n')
    assert.deepEqual({top: checksums(top), bottom: checksums(bottom)}, before)
  })

  it('shows every lower, the top-most first; writes and deletes land in the upper layer only', () => {
    const before = {top: checksums(top), bottom: checksums(bottom)}
    const volume = create('u')
    const mp = volume.mountpoint
    assert.equal(sh('findmnt', ['-n', '-o', 'FSTYPE', mp]).trim(), 'overlay')
    assert.equal(readFileSync(join(mp, 'etc', 'config'), 'utf8'), 'top wins\n')
    assert.equal(readFileSync(join(mp, 'only-top'), 'utf8'), 'T\n')
    assert.equal(readFileSync(join(mp, 'only-bottom'), 'utf8'), 'B\n')

    writeFileSync(join(mp, 'etc', 'config'), 'changed\n')
    writeFileSync(join(mp, 'new'), 'new\n')
    unlinkSync(join(mp, 'doomed'))
    assert.equal(readFileSync(join(mp, 'etc', 'config'), 'utf8'), 'changed\n')
    assert.ok(!existsSync(join(mp, 'doomed')))

    assert.deepEqual({top: checksums(top), bottom: checksums(bottom)}, before, 'lower bytes unchanged')
    const upper = join(volume.upper!.mountpoint, 'upper')
    assert.equal(readFileSync(join(upper, 'etc', 'config'), 'utf8'), 'changed\n')
    assert.equal(readFileSync(join(upper, 'new'), 'utf8'), 'new\n')
    const whiteout = statSync(join(upper, 'doomed'))
    assert.ok(whiteout.isCharacterDevice() && whiteout.rdev === 0, 'a delete is a whiteout (0/0 character device)')

    const listed = cbs(root, ['volume', 'ls'])
    assert.match(listed.stdout, /^u\s+overlay\s+ext4\s+16M\s+\S+\s+mounted\s+\S+/m)
    assert.equal(cbs(root, ['volume', 'ls', '-q', '--filter', 'type=overlay']).stdout, 'u\n')
    const [inspected] = json<Volume[]>(cbs(root, ['volume', 'inspect', 'u', '--json']))
    assert.deepEqual(inspected.lowers, [
      {source: top, type: 'directory', path: top, exists: true},
      {source: bottom, type: 'directory', path: bottom, exists: true},
    ])
    assert.equal(inspected.upper!.sizeBytes, 16 * MiB)
    assert.ok(inspected.upper!.usedBytes! > 0)

    assert.equal(cbs(root, ['volume', 'rm', 'u']).code, 0)
    assert.deepEqual({top: checksums(top), bottom: checksums(bottom)}, before)
    assert.equal(sh('ls', ['-A', join(root, 'mounts'), join(root, 'uppers'), join(root, 'images')]).replaceAll(/\S+:\n/g, '').trim(), '')
  })

  it('limits writes to --size: ENOSPC in the volume while the host still has space', () => {
    const volume = create('u')
    let error = ''
    try {
      sh('dd', ['if=/dev/zero', `of=${volume.mountpoint}/fill`, 'bs=1M', 'count=32', 'status=none'])
    } catch (failure) {
      error = String((failure as {stderr?: string}).stderr)
    }
    assert.match(error, /No space left/)
    assert.ok(statSync(join(volume.mountpoint, 'fill')).size < 16 * MiB)
    assert.ok(Number(sh('df', ['--output=avail', '-B1', lowers]).split('\n')[1]) > 64 * MiB, 'the host has space')
    assert.deepEqual(readdirSync(top).sort(), ['etc', 'only-top'])
  })

  it('unmount --all takes the union down before its upper volume; mount --all brings it back', () => {
    const volume = create('u')
    create('v')
    assert.equal(cbs(root, ['volume', 'create', 'plain', '--size', '16M']).code, 0)
    writeFileSync(join(volume.mountpoint, 'kept'), 'kept\n')

    const down = cbs(root, ['volume', 'unmount', '--all', '--verbose'])
    assert.equal(down.code, 0, down.stderr)
    const unmounts = down.stderr.split('\n').filter((line) => line.startsWith('+ umount '))
    assert.deepEqual(
      unmounts.map((line) => line.slice(root.length + 9)),
      ['/mounts/u', '/uppers/u', '/mounts/v', '/uppers/v', '/mounts/plain'],
    )
    assert.equal(sh('findmnt', ['-n', '-R', '-o', 'TARGET', '-l']).includes(root), false)
    assert.deepEqual(
      json<Volume[]>(cbs(root, ['volume', 'ls', '--json'])).map((each) => each.status),
      ['unmounted', 'unmounted', 'unmounted'],
    )

    const up = cbs(root, ['volume', 'mount', '--all', '--verbose'])
    assert.equal(up.code, 0, up.stderr)
    const mounts = up.stderr.split('\n').filter((line) => line.startsWith('+ mount '))
    assert.deepEqual(
      mounts.map((line) => line.split(' ').at(-1)!.slice(root.length)),
      ['/mounts/plain', '/uppers/u', '/mounts/u', '/uppers/v', '/mounts/v'],
    )
    assert.equal(readFileSync(join(volume.mountpoint, 'kept'), 'utf8'), 'kept\n')
    assert.equal(readFileSync(join(volume.mountpoint, 'only-bottom'), 'utf8'), 'B\n')
  })

  it('refuses (exit 4) to mount a folder lower that its owner swapped after create, by a link or by another folder', () => {
    // A folder a user other than root owns, stacked by root; a root-only folder beside it.
    chmodSync(lowers, 0o755)
    const shared = join(lowers, 'shared')
    const data = join(shared, 'data')
    const secret = join(lowers, 'secret')
    mkdirSync(data, {recursive: true})
    writeFileSync(join(data, 'mine'), 'mine\n')
    mkdirSync(secret, {mode: 0o700})
    writeFileSync(join(secret, 'key'), 'root only\n')
    sh('chown', ['-R', '65534:65534', shared])
    const result = cbs(root, ['volume', 'create', 'u', '--type', 'overlay', '--lower', data, '--size', '16M', '--json'])
    assert.equal(result.code, 0, result.stdout + result.stderr)
    const volume = jsonOne<Volume>(result)
    assert.equal(cbs(root, ['volume', 'unmount', 'u']).code, 0)
    const asNobody = (script: string) => {
      const run = spawnSync('sh', ['-c', script], {cwd: shared, uid: 65_534, gid: 65_534, encoding: 'utf8'})
      assert.equal(run.status, 0, run.stderr)
    }
    const refused = (why: RegExp) => {
      const mount = cbs(root, ['volume', 'mount', 'u'])
      assert.equal(mount.code, 4, mount.stdout + mount.stderr)
      assert.equal(mount.stderr.trim().split('\n').length, 1, mount.stderr)
      assert.match(mount.stderr, new RegExp(`lower layer ${data} of volume "u" ${why.source}`))
      assert.equal(spawnSync('findmnt', [volume.mountpoint]).status, 1, 'the union is not mounted')
      assert.equal(spawnSync('findmnt', [join(root, 'uppers', 'u')]).status, 1, 'nor its upper volume: up whole or not at all')
      const doctor = cbs(root, ['doctor', '--json'])
      assert.equal(doctor.code, 1, doctor.stdout)
      const found = json<{findings: Array<{message: string; fix?: string}>}>(doctor).findings.filter((finding) => finding.message.startsWith(`lower layer ${data} `))
      assert.equal(found.length, 1, doctor.stdout)
      assert.match(found[0].message, new RegExp(`of volume "u" ${why.source}.*: its next mount will be refused$`))
      assert.match(found[0].fix ?? '', /cbs volume mount u --accept-lowers/)
    }

    asNobody(`mv data data.checked && ln -s ${secret} data`)
    refused(/is no longer a folder/)
    asNobody(`rm data && ln -s ${root}/mounts data`)
    refused(/is no longer a folder/)
    asNobody('rm data && mkdir data')
    refused(/is not the folder checked at create/)

    asNobody('rmdir data && mv data.checked data')
    const mount = cbs(root, ['volume', 'mount', 'u', '--verbose'])
    assert.equal(mount.code, 0, mount.stderr)
    assert.match(mount.stderr, /\+ mount -t overlay -o lowerdir=\/proc\/\d+\/fd\/\d+\//, 'the folder is passed by its open handle')
    assert.equal(readFileSync(join(volume.mountpoint, 'mine'), 'utf8'), 'mine\n')
    assert.equal(existsSync(join(volume.mountpoint, 'key')), false)
  })

  it('a copy of the union that mount propagation made in a service\'s namespace does not block unmount: it goes with it', () => {
    // As on a systemd host: mounts under the root are shared, and a service runs in a slave namespace.
    sh('mount', ['--bind', root, root])
    sh('mount', ['--make-shared', root])
    const service = spawn('unshare', ['--mount', '--propagation', 'slave', 'sleep', '600'], {stdio: 'ignore'})
    try {
      const namespace = (pid: number | 'self') => spawnSync('readlink', [`/proc/${pid}/ns/mnt`], {encoding: 'utf8'}).stdout
      for (let waited = 0; namespace(service.pid!) === namespace('self') && waited < 5000; waited += 50) spawnSync('sleep', ['0.05'])
      const volume = create('u')
      const copies = () => readFileSync(`/proc/${service.pid}/mountinfo`, 'utf8').split('\n').filter((line) => line.split(' ')[4] === volume.mountpoint)
      assert.match(copies().join('\n'), / master:\d+ - overlay /, 'the service sees the union, as a slave copy')
      const unmounted = cbs(root, ['volume', 'unmount', 'u'])
      assert.equal(unmounted.code, 0, unmounted.stderr)
      assert.deepEqual(copies(), [], 'the copy went with it')
    } finally {
      service.kill()
      releaseRoot(root)
      spawnSync('umount', [root])
    }
  })

  it('refuses --type aufs on this kernel (exit 5) and creates nothing', function () {
    // Not a missing prerequisite: on a kernel that has aufs there is nothing to refuse.
    if (readFileSync('/proc/filesystems', 'utf8').includes('\taufs\n')) {
      console.log('      SKIPPED (this kernel has aufs)')
      this.skip()
    }
    const result = cbs(root, ['volume', 'create', 'u', '--type', 'aufs', '--lower', top])
    assert.equal(result.code, 5, result.stderr)
    assert.match(result.stderr, /^cbs: the running kernel has no aufs.*use --type overlay\n$/)
    assert.equal(sh('ls', ['-A', root]), '')
  })

  it('refuses bad lowers with exit 2 or 3 before creating anything', () => {
    assert.equal(cbs(root, ['volume', 'create', 'live', '--size', '16M']).code, 0)
    writeFileSync(join(lowers, 'file'), '')
    for (const [lower, code] of [
      [join(lowers, 'missing'), 3],
      ['relative/dir', 2],
      [join(lowers, 'file'), 2],
      ['live', 2],
      [join(root, 'mounts', 'live'), 2],
      [join(root, 'mounts', 'u'), 2],
      ['u@snap', 2],
      ['/', 2],
    ] as const) {
      const result = cbs(root, ['volume', 'create', 'u', '--type', 'overlay', '--lower', lower])
      assert.equal(result.code, code, `${lower}: ${result.stderr}`)
      assert.match(result.stderr, /^cbs: [^\n]+\n$/)
    }
    assert.match(cbs(root, ['volume', 'create', 'u', '--type', 'overlay', '--lower', 'live']).stderr, /snapshot it first/)
    assert.equal(cbs(root, ['volume', 'ls', '-q']).stdout, 'live\n')
    assert.deepEqual(readdirSync(join(root, 'images')), ['live.img'])
  })

  it('escapes ":" and "," in lower paths', () => {
    const odd = join(lowers, 'a:b,ro')
    mkdirSync(odd)
    writeFileSync(join(odd, 'odd'), 'odd\n')
    const result = cbs(root, ['volume', 'create', 'u', '--type', 'overlay', '--lower', odd, '--lower', bottom, '--size', '16M', '--json'])
    assert.equal(result.code, 0, result.stderr)
    const volume = jsonOne<Volume>(result)
    assert.equal(readFileSync(join(volume.mountpoint, 'odd'), 'utf8'), 'odd\n')
    assert.equal(readFileSync(join(volume.mountpoint, 'only-bottom'), 'utf8'), 'B\n')
    assert.match(sh('findmnt', ['-n', '-o', 'OPTIONS', volume.mountpoint]), /^rw,/, 'not read-only: "ro" was not taken as an option')
  })

  it('rolls back the upper volume when the overlay mount fails', () => {
    const bin = mkdtempSync('/tmp/cbs-fakebin-')
    try {
      const mount = sh('sh', ['-c', 'command -v mount']).trim()
      writeFileSync(
        join(bin, 'mount'),
        `#!/bin/sh\ncase " $* " in *" -t overlay "*) echo "mount: simulated overlay failure" >&2; exit 32;; esac\nexec ${mount} "$@"\n`,
        {mode: 0o755},
      )
      const result = cbs(root, ['volume', 'create', 'u', '--type', 'overlay', '--lower', top, '--size', '16M'], {env: {PATH: `${bin}:${process.env.PATH}`}})
      assert.equal(result.code, 1, result.stderr)
      assert.match(result.stderr, /simulated overlay failure/)
    } finally {
      rmSync(bin, {recursive: true})
    }
    assert.deepEqual(leftovers(root), [])
    for (const dir of ['images', 'mounts', 'uppers']) assert.equal(sh('ls', ['-A', join(root, dir)]), '', dir)
    assert.equal(cbs(root, ['volume', 'ls', '-q']).stdout, '')
  })
})

describe('integration: union volumes over snapshots', function () {
  this.timeout(120_000)
  let root: string
  let db: Volume

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'chattr', 'fsfreeze'])
  })
  beforeEach(() => {
    root = makeRoot()
    db = jsonOne<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '32M', '--json']))
    writeFileSync(join(db.mountpoint, 'seeded'), 'seeded\n')
    writeFileSync(join(db.mountpoint, 'doomed'), 'to be deleted\n')
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'db', 'seed']).code, 0)
    writeFileSync(join(db.mountpoint, 'later'), 'after the snapshot\n')
  })
  afterEach(() => {
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  const overlay = (name: string, ...lowers: string[]) => {
    const result = cbs(root, ['volume', 'create', name, '--type', 'overlay', ...lowers.flatMap((lower) => ['--lower', lower]), '--size', '16M', '--json'])
    assert.equal(result.code, 0, result.stderr)
    return jsonOne<Volume>(result)
  }
  const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

  it('shows the snapshot read-only below; writes and deletes never reach it; union volumes share its mount', () => {
    const image = join(root, 'snapshots', 'db', 'seed.img')
    const before = sha256(image)
    const u = overlay('u', 'db@seed')
    const v = overlay('v', 'db@seed')
    assert.equal(readFileSync(join(u.mountpoint, 'seeded'), 'utf8'), 'seeded\n')
    assert.ok(!existsSync(join(u.mountpoint, 'later')), 'written after the snapshot')
    writeFileSync(join(u.mountpoint, 'seeded'), 'changed in u\n')
    unlinkSync(join(u.mountpoint, 'doomed'))
    assert.equal(readFileSync(join(v.mountpoint, 'seeded'), 'utf8'), 'seeded\n', 'v has its own upper layer')
    assert.ok(existsSync(join(v.mountpoint, 'doomed')))

    const lower = join(root, 'lowers', 'db@seed')
    assert.match(sh('findmnt', ['-n', '-o', 'OPTIONS', lower]), /^ro,/)
    const devices = sh('losetup', ['-n', '-O', 'NAME,RO', '-j', image]).trim().split('\n')
    assert.equal(devices.length, 1, 'one read-only device for both')
    assert.match(devices[0], /\s1$/)
    const [inspected] = json<Volume[]>(cbs(root, ['volume', 'inspect', 'u', '--json']))
    assert.deepEqual(inspected.lowers, [{source: 'db@seed', type: 'snapshot', volume: 'db', snapshot: 'seed', image, mountpoint: lower, mounted: true}])

    assert.equal(cbs(root, ['volume', 'rm', 'u', 'v']).code, 0)
    assert.ok(!existsSync(lower), 'the last union volume down unmounts the snapshot')
    assert.equal(sha256(image), before, 'snapshot bytes unchanged')
  })

  it('refuses to remove a volume or snapshot a union volume stacks (exit 4), naming it', () => {
    overlay('u', 'db@seed')
    for (const args of [
      ['volume', 'rm', 'db', '--force'],
      ['volume', 'snapshot', 'rm', 'db@seed'],
    ]) {
      const result = cbs(root, args)
      assert.equal(result.code, 4, result.stderr)
      assert.match(result.stderr, /lower layer.*\bu\b/)
    }
    const live = cbs(root, ['volume', 'create', 'w', '--type', 'overlay', '--lower', 'db'])
    assert.equal(live.code, 2)
    assert.match(live.stderr, /live volume.*snapshot it first/)
    assert.equal(cbs(root, ['volume', 'create', 'w', '--type', 'overlay', '--lower', 'db@nope']).code, 3)
    assert.equal(cbs(root, ['volume', 'rm', 'u']).code, 0)
    assert.equal(cbs(root, ['volume', 'snapshot', 'rm', 'db@seed']).code, 0)
  })

  it('unmount --all leaves nothing attached; mount --all mounts the snapshot before the union volume', () => {
    const u = overlay('u', 'db@seed')
    writeFileSync(join(u.mountpoint, 'kept'), 'kept\n')
    const down = cbs(root, ['volume', 'unmount', '--all', '--verbose'])
    assert.equal(down.code, 0, down.stderr)
    const unmounted = down.stderr.split('\n').filter((line) => line.startsWith('+ umount ')).map((line) => line.slice(9 + root.length))
    assert.deepEqual(unmounted, ['/mounts/u', '/uppers/u', '/lowers/db@seed', '/mounts/db'])
    assert.deepEqual(leftovers(root), [])

    const up = cbs(root, ['volume', 'mount', '--all', '--verbose'])
    assert.equal(up.code, 0, up.stderr)
    const mounted = up.stderr.split('\n').filter((line) => line.startsWith('+ mount ')).map((line) => line.split(' ').at(-1)!.slice(root.length))
    assert.deepEqual(mounted, ['/mounts/db', '/uppers/u', '/lowers/db@seed', '/mounts/u'])
    assert.equal(readFileSync(join(u.mountpoint, 'kept'), 'utf8'), 'kept\n')
    assert.equal(readFileSync(join(u.mountpoint, 'seeded'), 'utf8'), 'seeded\n')
  })

  it('restores a union volume\'s upper layer from its snapshot, over the same lowers', () => {
    const u = overlay('u', 'db@seed')
    writeFileSync(join(u.mountpoint, 'one'), 'one\n')
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'u', 's1']).code, 0)
    writeFileSync(join(u.mountpoint, 'two'), 'two\n')
    unlinkSync(join(u.mountpoint, 'seeded'))
    const restored = cbs(root, ['volume', 'snapshot', 'restore', 'u@s1'])
    assert.equal(restored.code, 0, restored.stderr)
    assert.equal(readFileSync(join(u.mountpoint, 'one'), 'utf8'), 'one\n')
    assert.ok(!existsSync(join(u.mountpoint, 'two')))
    assert.equal(readFileSync(join(u.mountpoint, 'seeded'), 'utf8'), 'seeded\n')
    assert.equal(sh('findmnt', ['-n', '-o', 'FSTYPE', u.mountpoint]).trim(), 'overlay')
  })

  it('clones a union volume from its snapshot with --from: a union volume over the same lowers', () => {
    const u = overlay('u', 'db@seed')
    writeFileSync(join(u.mountpoint, 'one'), 'one\n')
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'u', 's1']).code, 0)
    writeFileSync(join(u.mountpoint, 'two'), 'two\n')
    const created = cbs(root, ['volume', 'create', 'v', '--from', 'u@s1', '--json'])
    assert.equal(created.code, 0, created.stderr)
    const v = jsonOne<Volume>(created)
    assert.equal(v.type, 'overlay')
    assert.deepEqual(v.lowers?.map((lower) => lower.source), ['db@seed'])
    assert.equal(readFileSync(join(v.mountpoint, 'one'), 'utf8'), 'one\n')
    assert.equal(readFileSync(join(v.mountpoint, 'seeded'), 'utf8'), 'seeded\n')
    assert.ok(!existsSync(join(v.mountpoint, 'two')))
    writeFileSync(join(v.mountpoint, 'three'), 'three\n')
    assert.ok(!existsSync(join(u.mountpoint, 'three')), 'independent of u')
    assert.match(cbs(root, ['volume', 'snapshot', 'rm', 'db@seed']).stderr, /lower layer of u, v\b/)
  })

  it('snapshots a union volume\'s upper layer; a union volume over that snapshot sees its writes and deletes', () => {
    const u = overlay('u', 'db@seed')
    writeFileSync(join(u.mountpoint, 'from-u'), 'u\n')
    unlinkSync(join(u.mountpoint, 'doomed'))
    const snapshot = cbs(root, ['volume', 'snapshot', 'create', 'u', 's1'])
    assert.equal(snapshot.code, 0, snapshot.stderr)
    writeFileSync(join(u.mountpoint, 'after'), 'after\n')

    const w = overlay('w', 'u@s1')
    assert.equal(readFileSync(join(w.mountpoint, 'from-u'), 'utf8'), 'u\n')
    assert.equal(readFileSync(join(w.mountpoint, 'seeded'), 'utf8'), 'seeded\n', "u's own lower comes along")
    assert.ok(!existsSync(join(w.mountpoint, 'doomed')), "u's whiteout holds")
    assert.ok(!existsSync(join(w.mountpoint, 'after')))
    assert.equal(cbs(root, ['volume', 'rm', 'u', '--force']).code, 4, 'w stacks u@s1')
    assert.equal(cbs(root, ['volume', 'rm', 'db', '--force']).code, 4, 'w stacks db@seed through u@s1')
    assert.equal(cbs(root, ['volume', 'rm', '--force', '--recursive', 'db', 'u', 'w']).code, 0, 'all together, union volumes first')
  })
})
