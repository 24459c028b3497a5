import assert from 'node:assert/strict'
import {formatCommand} from '../../../src/lib/system/exec.js'
import {mkfsCommand, mountArgs, parseFilesystem} from '../../../src/lib/images/filesystems.js'
import {matchesAll, parseFilter} from '../../../src/lib/input/filters.js'
import {SNAPSHOT_FILTERS, type Snapshot} from '../../../src/lib/snapshots/snapshot.js'
import {parseLabels} from '../../../src/lib/input/labels.js'
import {attachArgs, attachedLoopNames, parseLoopBacking} from '../../../src/lib/system/loops.js'
import {isPropagatedCopy, parseMountinfo} from '../../../src/lib/system/mountinfo.js'
import {validateName} from '../../../src/lib/input/names.js'
import {validateContainerTarget} from '../../../src/lib/input/container-paths.js'
import {parseMountedInto} from '../../../src/lib/runtimes/mount-into.js'
import {formatSize, parseSize} from '../../../src/lib/input/sizes.js'
import {type Volume, VOLUME_FILTERS} from '../../../src/lib/volumes/volume.js'
import {exitCodeOfSync} from '../../support/exit-codes.js'

describe('sizes', () => {
  for (const [text, bytes] of [
    ['1G', 1024 ** 3],
    ['10g', 10 * 1024 ** 3],
    ['512M', 512 * 1024 ** 2],
    ['1.5T', 1.5 * 1024 ** 4],
    ['4096', 4096],
    ['64KiB', 64 * 1024],
    ['2GB', 2 * 1024 ** 3],
  ] as const) {
    it(`parses ${text}`, () => assert.equal(parseSize(text), bytes))
  }
  for (const text of ['0', '-1G', 'ten', '', '1P', '1 G G', '0.0000001K', '99999999999T']) {
    it(`refuses "${text}" with exit 2`, () => assert.equal(exitCodeOfSync(() => parseSize(text)), 2))
  }
  it('formats like ls -h', () => {
    assert.equal(formatSize(10 * 1024 ** 3), '10G')
    assert.equal(formatSize(1.5 * 1024 ** 3), '1.5G')
    assert.equal(formatSize(24 * 1024), '24K')
    assert.equal(formatSize(100), '100B')
  })
})

describe('names', () => {
  for (const name of ['db', 'a', 'My_vol.1-x', 'x'.repeat(63)]) it(`accepts ${name.slice(0, 20)}`, () => assert.equal(validateName(name), name))
  for (const name of ['', '.hidden', '-x', 'a/b', '..', 'a b', 'x;rm -rf /', '$(id)', 'x'.repeat(64), 'ü', 'a\nb']) {
    it(`refuses ${JSON.stringify(name)} with exit 2`, () => assert.equal(exitCodeOfSync(() => validateName(name)), 2))
  }
})

describe('container targets (attach --container --target)', () => {
  for (const [target, path] of [
    ['/data', '/data'],
    ['/var/lib/data/', '/var/lib/data'],
    ['/with space/x', '/with space/x'],
    ['/.hidden/..data', '/.hidden/..data'],
  ]) {
    it(`accepts ${target}`, () => assert.equal(validateContainerTarget(target), path))
  }
  for (const target of ['', 'data', './data', '/', '//', '/../../..', '/..', '/data/..', '/a/./b', '/a//b', '//data', '/data//', '/da\tta', '/data\u007f', `/${'x'.repeat(4096)}`]) {
    it(`refuses ${JSON.stringify(target).slice(0, 40)} (exit 2, one line saying what is valid)`, () => {
      assert.equal(exitCodeOfSync(() => validateContainerTarget(target)), 2)
      assert.throws(() => validateContainerTarget(target), (error: Error) => !error.message.includes('\n') && /absolute path inside the container other than "\/"/.test(error.message))
    })
  }
})

describe('cbs-mount-into answers', () => {
  it('reads "MOUNT_ID PATH", a path ending in a space included', () => {
    assert.deepEqual(parseMountedInto('677 /data'), {id: 677, path: '/data'})
    assert.deepEqual(parseMountedInto('677 /with space /x \n'), {id: 677, path: '/with space /x '})
  })
  it('refuses anything else', () => {
    for (const answer of ['', '677', '677 data', 'x /data', '677 /a\n/b']) assert.equal(parseMountedInto(answer), undefined, answer)
  })
})

describe('mountinfo', () => {
  const text = [
    '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard',
    '40 22 7:0 / /var/lib/cbs/mounts/db rw,relatime shared:20 - ext4 /dev/loop0 rw,discard',
    '41 22 7:1 / /tmp/with\\040space rw,relatime - xfs /dev/loop1 rw',
    '42 22 0:50 / /a rw master:3 shared:4 - overlay overlay rw,lowerdir=/x',
  ].join('\n')
  it('reads id, device, root, mountpoint, type and source, with optional fields of any count', () => {
    const entries = parseMountinfo(text)
    assert.equal(entries.length, 4)
    assert.deepEqual(entries[1], {id: 40, device: '7:0', root: '/', mountpoint: '/var/lib/cbs/mounts/db', options: 'rw,relatime', fstype: 'ext4', source: '/dev/loop0', propagation: ['shared:20']})
    assert.equal(entries[3].fstype, 'overlay')
    assert.deepEqual(entries[3].propagation, ['master:3', 'shared:4'])
  })
  it('unescapes octal escapes', () => assert.equal(parseMountinfo(text)[2].mountpoint, '/tmp/with space'))
  it('tells a copy that propagation made in another namespace (gone with our unmount) from a container\'s bind of the same filesystem', () => {
    const [ours] = parseMountinfo('61 27 0:45 / /var/lib/cbs/mounts/ci rw shared:12 - overlay overlay rw')
    const [service, peer, bind, slaveBind, other] = parseMountinfo(
      [
        '90 80 0:45 / /var/lib/cbs/mounts/ci rw master:12 - overlay overlay rw', // a systemd service's slave namespace
        '91 80 0:45 / /var/lib/cbs/mounts/ci rw shared:12 - overlay overlay rw', // a peer namespace
        '92 80 0:45 / /data rw - overlay overlay rw', // docker's bind (rprivate)
        '93 80 0:45 / /data rw master:12 - overlay overlay rw', // a bind with :rslave
        '94 80 0:45 / /var/lib/cbs/mounts/ci rw master:7 - overlay overlay rw', // a slave of some other group
      ].join('\n'),
    )
    assert.deepEqual([service, peer, bind, slaveBind, other].map((entry) => isPropagatedCopy(entry, ours)), [true, true, false, false, false])
    const [privateOurs] = parseMountinfo('61 27 0:45 / /var/lib/cbs/mounts/ci rw - overlay overlay rw')
    assert.equal(isPropagatedCopy(service, privateOurs), false, 'a private mount of ours propagates nowhere')
  })
})

describe('loop devices', () => {
  it('reads a backing file', () => assert.deepEqual(parseLoopBacking('loop3', '/r/images/db.img\n'), {device: '/dev/loop3', backingFile: '/r/images/db.img'}))
  it('marks deleted files', () =>
    assert.deepEqual(parseLoopBacking('loop3', '/r/images/db.img (deleted)\n'), {device: '/dev/loop3', backingFile: '/r/images/db.img', deleted: true}))
  it('lists the attached devices from /proc/partitions (a detached one has no size)', () => {
    const partitions = 'major minor  #blocks  name\n\n 254        0  268435456 vda\n   7        0    1048576 loop0\n   7        3          0 loop3\n   7       12       8192 loop12\n'
    assert.deepEqual(attachedLoopNames(partitions), ['loop0', 'loop12'])
  })
  it('attaches atomically, without overlap, with direct I/O', () =>
    assert.deepEqual(attachArgs('/f.img'), ['--find', '--show', '--nooverlap', '--direct-io=on', '/f.img']))
})

describe('filesystems', () => {
  it('formats ext4 without zeroing or discarding', () => {
    const [file, args] = mkfsCommand('ext4', '/dev/loop0')
    assert.equal(file, 'mkfs.ext4')
    assert.match(args.join(' '), /nodiscard,lazy_itable_init=1,lazy_journal_init=1,assume_storage_prezeroed=1/)
  })
  it('mounts with discard', () => assert.deepEqual(mountArgs('/dev/loop0', '/m'), ['-o', 'discard', '/dev/loop0', '/m']))
  it('refuses unknown filesystems with exit 2', () => assert.equal(exitCodeOfSync(() => parseFilesystem('zfs')), 2))
})

describe('labels and filters', () => {
  it('parses labels, keeping "=" in values', () => assert.deepEqual(parseLabels(['env=prod', 'x=a=b']), {env: 'prod', x: 'a=b'}))
  it('refuses a label without "="', () => assert.equal(exitCodeOfSync(() => parseLabels(['env'])), 2))
  const parse = (text: string) => parseFilter(text, VOLUME_FILTERS)
  it('refuses unknown filter keys', () => assert.equal(exitCodeOfSync(() => parse('size=1G')), 2))
  it('refuses values that can never match: an unknown status, fs or type, an empty value (exit 2, naming the valid ones)', () => {
    for (const text of ['status=up', 'fs=zfs', 'type=lvm', 'name=']) assert.equal(exitCodeOfSync(() => parse(text)), 2, text)
    assert.throws(() => parse('status=up'), /use status=VALUE with VALUE one of mounted, unmounted, error/)
    assert.equal(exitCodeOfSync(() => parseFilter('status=mounted', SNAPSHOT_FILTERS)), 2)
    assert.equal(exitCodeOfSync(() => parseFilter('type=loop', SNAPSHOT_FILTERS)), 2)
  })
  it('refuses control characters in label values and filters (exit 2), saying what is valid', () => {
    for (const text of ['x=a\nAttached: docker: volume FAKE', 'x=\u001B[2J', 'x=a\tb', 'x=\u009B31m']) {
      assert.equal(exitCodeOfSync(() => parseLabels([text])), 2, JSON.stringify(text))
      assert.equal(exitCodeOfSync(() => parse(`label=${text}`)), 2, JSON.stringify(text))
    }
    assert.throws(() => parseLabels(['x=a\nb']), {message: /^invalid label "x=a\\nb": it contains control characters: a value may hold any printable text, but no newline, tab, escape or other control character$/})
    assert.deepEqual(parseLabels(['x=ünïcode ok, spaces too']), {x: 'ünïcode ok, spaces too'})
  })
  const volume = {name: 'web-db', type: 'loop', fs: 'xfs', status: 'mounted', labels: {env: 'prod'}} as unknown as Volume
  const matches = (...texts: string[]) => matchesAll(volume, texts.map(parse), VOLUME_FILTERS)
  it('matches label=K and label=K=V', () => {
    assert.ok(matches('label=env'))
    assert.ok(matches('label=env=prod'))
    assert.ok(!matches('label=env=dev'))
    assert.ok(!matches('label=team'))
  })
  it('name= matches part of the name, as in docker', () => {
    assert.ok(matches('name=db'))
    assert.ok(matches('name=web-db'))
    assert.ok(!matches('name=cache'))
  })
  it('ANDs keys and ORs values of one key', () => {
    assert.ok(matches('status=unmounted', 'status=mounted', 'fs=xfs'))
    assert.ok(!matches('status=mounted', 'fs=ext4'))
  })
  it('snapshots: name= part of VOLUME@SNAPSHOT, volume= exactly, label=, status=', () => {
    const snapshot = {name: 'web-db@nightly', volume: 'web-db', status: 'ready', fs: 'ext4', labels: {env: 'prod', ticket: 'DB-42'}} as unknown as Snapshot
    const snap = (...texts: string[]) => matchesAll(snapshot, texts.map((text) => parseFilter(text, SNAPSHOT_FILTERS)), SNAPSHOT_FILTERS)
    assert.ok(snap('name=night'))
    assert.ok(snap('volume=web-db', 'label=ticket=DB-42', 'status=ready'))
    assert.ok(!snap('volume=web'))
    assert.ok(!snap('status=incomplete'))
  })
})

describe('formatCommand', () => {
  it('quotes only what needs it', () => assert.equal(formatCommand('mount', ['-o', 'discard', "/a b/it's"]), `mount -o discard '/a b/it'\\''s'`))
})
