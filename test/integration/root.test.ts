import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {chmodSync, chownSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {fillFilesystem, fingerprint, smallHostFilesystem, writeData} from '../support/faults.js'
import {cbs, json, jsonOne, leftovers, makeRoot, removeRoot, requireHost, sh} from '../support/integration.js'

/** $CBS_ROOT itself as an attacker or an unlucky operator leaves it: others can write it, a link, a full or read-only disk. */
describe('integration: the root folder', function () {
  this.timeout(120_000)
  let root: string

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'chattr'])
  })
  beforeEach(() => {
    root = makeRoot()
  })
  afterEach(() => {
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  it('refuses (exit 5) a root others can write to or own, naming it and the fix; doctor reports it', () => {
    chmodSync(root, 0o777)
    const created = cbs(root, ['volume', 'create', 'a', '--size', '16M'])
    assert.equal(created.code, 5, created.stderr)
    assert.match(created.stderr, new RegExp(`^cbs: CBS_ROOT ${root} is not safe: ${root} is writable by group and others .*chmod 0700 ${root}`, 'm'))
    const report = cbs(root, ['doctor'])
    assert.equal(report.code, 1, report.stdout)
    assert.match(report.stdout, new RegExp(`^error\\s+root\\s+CBS_ROOT ${root} is not safe`, 'm'))
    assert.equal(cbs(root, ['volume', 'ls']).code, 5)
    chmodSync(root, 0o700)
    chownSync(root, 65_534, 65_534)
    assert.match(cbs(root, ['volume', 'create', 'a', '--size', '16M']).stderr, /is owned by uid 65534, not root/)
    chownSync(root, 0, 0)
    assert.deepEqual(readdirSync(root), [], 'nothing was written')
  })

  it('never writes through links planted where the lock and its drafts go (a dead owner\'s lock is taken over)', () => {
    const victim = `${root}-victim`
    writeFileSync(victim, 'precious')
    try {
      // As reported: links for the pids to come (pids are handed out in turn), and a dead owner's lock.
      const next = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'))
      for (let pid = next + 1; pid <= next + 2000; pid++) symlinkSync(victim, `${root}/state.lock.${pid}`)
      symlinkSync(victim, `${root}/state.lock`)
      const created = cbs(root, ['volume', 'create', 'a', '--size', '16M'])
      assert.equal(created.code, 0, created.stderr)
      assert.equal(readFileSync(victim, 'utf8'), 'precious')
      assert.equal(cbs(root, ['volume', 'rm', 'a']).code, 0)
      assert.equal(readFileSync(victim, 'utf8'), 'precious')
    } finally {
      rmSync(victim, {force: true})
    }
  })

  it('a root reached through a symbolic link: status, rm and mount act on the real paths and leave nothing', () => {
    const link = `${root}-link`
    symlinkSync(root, link)
    try {
      const volume = jsonOne<Volume>(cbs(link, ['volume', 'create', 's1', '--size', '16M', '--json']))
      assert.equal(volume.mountpoint, `${root}/mounts/s1`)
      assert.deepEqual(json<Volume[]>(cbs(link, ['volume', 'ls', '--json'])).map((each) => each.status), ['mounted'])
      const unmounted = cbs(link, ['volume', 'unmount', 's1'])
      assert.equal(unmounted.code, 0, unmounted.stderr)
      assert.deepEqual(leftovers(root), [])
      assert.equal(cbs(link, ['volume', 'mount', 's1']).code, 0)
      assert.equal(cbs(link, ['doctor']).code, 0)
      const removed = cbs(link, ['volume', 'rm', 's1'])
      assert.equal(removed.code, 0, removed.stderr)
      assert.deepEqual(leftovers(root), [])
    } finally {
      rmSync(link)
    }
  })

  it('on a full host disk, rm still runs and frees the space; failed tries leave no lock file behind', () => {
    const host = smallHostFilesystem(`${root}/host`, 64)
    const cbsRoot = `${host.mountpoint}/cbs`
    try {
      const run = (args: string[]) => cbs(cbsRoot, args)
      const keep = jsonOne<Volume>(run(['volume', 'create', 'keep', '--size', '8M', '--json']))
      jsonOne<Volume>(run(['volume', 'create', 'gone', '--size', '16M', '--json']))
      writeData(keep.mountpoint, 2, 64 * 1024)
      const sums = fingerprint(keep.mountpoint)
      fillFilesystem(`${host.mountpoint}/filler`)
      assert.equal(statfsSync(host.mountpoint).bavail, 0)
      // A create that cannot have its space fails (exit 5), as before, and leaves nothing.
      assert.equal(run(['volume', 'create', 'new', '--size', '32M']).code, 5)
      const removed = run(['volume', 'rm', 'gone'])
      assert.equal(removed.code, 0, removed.stderr)
      assert.deepEqual(json<Volume[]>(run(['volume', 'ls', '--json'])).map((volume) => volume.name), ['keep'])
      assert.deepEqual(readdirSync(cbsRoot).filter((name) => name.startsWith('state.lock')), [])
      assert.ok(statfsSync(host.mountpoint).bavail > 0, 'rm freed the space of the image')
      assert.equal(statSync(`${cbsRoot}/state.reserve`).size, 1024 ** 2, 'the reserve is whole again')
      assert.deepEqual(fingerprint(keep.mountpoint), sums)
      assert.doesNotMatch(run(['doctor']).stdout, /stray lock/)
      assert.equal(run(['volume', 'rm', 'keep']).code, 0)
    } finally {
      removeRoot(cbsRoot)
      host.remove()
    }
  })

  it('a read-only host filesystem: mount refuses (exit 5) instead of a read-only volume; changes refuse; doctor says so', () => {
    const host = smallHostFilesystem(`${root}/host`, 64)
    const cbsRoot = `${host.mountpoint}/cbs`
    try {
      const run = (args: string[]) => cbs(cbsRoot, args)
      assert.equal(run(['volume', 'create', 'v', '--size', '16M']).code, 0)
      assert.equal(run(['volume', 'unmount', 'v']).code, 0)
      sh('mount', ['-o', 'remount,ro', host.mountpoint])
      const mounted = run(['volume', 'mount', 'v'])
      assert.equal(mounted.code, 5, `${mounted.stdout}${mounted.stderr}`)
      assert.match(mounted.stderr, /could only be attached read-only .*read-only: remount it read-write/)
      assert.deepEqual(leftovers(cbsRoot), [], 'the read-only loop device is detached again')
      const created = run(['volume', 'create', 'w', '--size', '16M'])
      assert.equal(created.code, 5)
      assert.match(created.stderr, /is on a read-only filesystem/)
      const report = run(['doctor'])
      assert.equal(report.code, 1)
      assert.match(report.stdout, new RegExp(`^error\\s+root\\s+${cbsRoot} is on a read-only filesystem`, 'm'))
      sh('mount', ['-o', 'remount,rw', host.mountpoint])
      assert.equal(run(['volume', 'mount', 'v']).code, 0)
      assert.equal(run(['volume', 'rm', 'v']).code, 0)
    } finally {
      spawnSync('mount', ['-o', 'remount,rw', host.mountpoint])
      removeRoot(cbsRoot)
      host.remove()
    }
  })
})
