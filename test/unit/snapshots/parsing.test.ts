import assert from 'node:assert/strict'
import {CbsError} from '../../../src/lib/common/errors.js'
import {mkfsCommand} from '../../../src/lib/images/filesystems.js'
import {partialPath} from '../../../src/lib/store/layout.js'
import {mapsUseDevice, splitDevice} from '../../../src/lib/system/devices.js'
import {defaultSnapshotName, formatSnapshotRef, parseSnapshotRef} from '../../../src/lib/snapshots/snapshot.js'
import {maxFreezeMsFor} from '../../../src/lib/snapshots/create.js'

function exitCodeOf(run: () => unknown): number {
  try {
    run()
  } catch (error) {
    assert.ok(error instanceof CbsError)
    return error.exitCode
  }
  return assert.fail('did not fail')
}

describe('snapshot references', () => {
  it('parses VOLUME@SNAPSHOT', () => assert.deepEqual(parseSnapshotRef('db@before-migration'), {volume: 'db', snapshot: 'before-migration'}))
  it('formats them back', () => assert.equal(formatSnapshotRef({volume: 'db', snapshot: 's1'}), 'db@s1'))
  for (const bad of ['db', '@s', 'db@', 'db@s@t', 'a/b@s', 'db@../x', 'db@.s', `db@${'x'.repeat(64)}`]) {
    it(`refuses "${bad}" with exit 2`, () => assert.equal(exitCodeOf(() => parseSnapshotRef(bad)), 2))
  }
  it('names a snapshot after the UTC time by default', () => assert.equal(defaultSnapshotName(new Date('2026-11-25T23:18:00.123Z')), '20261125T231800Z'))
  it('writes partial images to a hidden name next to the image', () => assert.equal(partialPath('/r/snapshots/db/s1.img'), '/r/snapshots/db/.s1.img.partial'))
})

describe('snapshot bounds and process lookup', () => {
  it('bounds a freeze: 10 s for a reflink, more for a bigger copy', () => {
    assert.equal(maxFreezeMsFor('reflink', 1024 ** 4), 10_000)
    assert.equal(maxFreezeMsFor('copy', 0), 30_000)
    assert.equal(maxFreezeMsFor('copy', 1024 ** 3), 30_000 + 52_000)
  })
  it('splits device numbers as glibc encodes them', () => {
    assert.deepEqual(splitDevice(0x0701), {major: 7, minor: 1})
    assert.deepEqual(splitDevice(0x100700), {major: 7, minor: 256})
  })
  it('finds mappings of files on a device in /proc/PID/maps', () => {
    const maps = '7f00-7f10 r-xp 00000000 07:01 1234 /mnt/db/lib.so\n7f10-7f20 rw-p 00000000 00:00 0 \n'
    assert.equal(mapsUseDevice(maps, 0x0701), true)
    assert.equal(mapsUseDevice(maps, 0x0702), false)
  })
})

describe('filesystems for snapshots', () => {
  it('formats with 4 KiB blocks and sectors, so a reflinked image still mounts', () => {
    assert.match(mkfsCommand('ext4', '/dev/loop0')[1].join(' '), /-b 4096/)
    assert.match(mkfsCommand('xfs', '/dev/loop0')[1].join(' '), /-s size=4096/)
  })
})
