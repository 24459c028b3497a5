import assert from 'node:assert/strict'
import {parseProcFilesystems, readOnlyMountArgs} from '../../../src/lib/images/filesystems.js'
import {attachArgs} from '../../../src/lib/system/loops.js'
import {aufsOptions, escapeOverlayPath, overlayOptions, type UnionLayers, unionMountArgs} from '../../../src/lib/union/union-mount.js'
import {exitCodeOfSync} from '../../support/exit-codes.js'

const layers = (lowers: string[]): UnionLayers => ({lowers, upper: '/r/uppers/u/upper', work: '/r/uppers/u/work', xino: '/r/uppers/u/xino'})

describe('overlay mount options', () => {
  it('lists lowers top-most first, then upper and work, each ending in "/"', () =>
    assert.equal(overlayOptions(layers(['/srv/a', '/srv/b'])), 'lowerdir=/srv/a/:/srv/b/,upperdir=/r/uppers/u/upper/,workdir=/r/uppers/u/work/'))

  for (const [path, escaped] of [
    ['/srv/a:b', '/srv/a\\:b/'],
    ['/srv/c,d', '/srv/c\\,d/'],
    ['/srv/e,ro', '/srv/e\\,ro/'], // the "/" keeps mount(8) from reading "ro" as its own option
    ['/srv/one,two,three/x', '/srv/one\\,two\\,three/x/'],
    ['/srv/back\\slash', '/srv/back\\\\slash/'],
    ['/srv/sp ace/tab\t', '/srv/sp ace/tab\t/'],
    ['/', '/'],
  ] as const) {
    it(`escapes ${JSON.stringify(path)}`, () => assert.equal(escapeOverlayPath(path), escaped))
  }

  for (const path of ['/srv/x,loop=y', '/srv/a,b,comment=c/d', '/srv/x,x-gvfs-show', '/srv/x,X-mount.mkdir', '/srv/q"r']) {
    it(`refuses ${JSON.stringify(path)}, which mount(8) would split or unquote (exit 2)`, () =>
      assert.equal(exitCodeOfSync(() => overlayOptions(layers([path]))), 2))
  }

  it('accepts "=" where mount(8) cannot take it for an option of its own', () => assert.equal(escapeOverlayPath('/srv/a=b,c/d'), '/srv/a=b\\,c/d/'))

  it('refuses options longer than a page (exit 2)', () => {
    const lowers = Array.from({length: 40}, (_, index) => `/srv/${'x'.repeat(100)}${index}`)
    assert.equal(exitCodeOfSync(() => overlayOptions(layers(lowers))), 2)
    assert.ok(overlayOptions(layers(lowers.slice(0, 30))).length < 4096)
  })

  it('mounts with mount -t overlay', () =>
    assert.deepEqual(unionMountArgs('overlay', layers(['/l']), '/r/mounts/u'), [
      '-t',
      'overlay',
      '-o',
      'lowerdir=/l/,upperdir=/r/uppers/u/upper/,workdir=/r/uppers/u/work/',
      'overlay',
      '/r/mounts/u',
    ]))
})

describe('aufs mount options', () => {
  it('puts the upper branch rw first, lowers read-only with their whiteouts honoured, xino on the upper volume', () =>
    assert.equal(aufsOptions(layers(['/srv/a', '/srv/b'])), 'br=/r/uppers/u/upper=rw:/srv/a=ro+wh:/srv/b=ro+wh,xino=/r/uppers/u/xino'))

  for (const path of ['/srv/a:b', '/srv/c,d', '/srv/e=f']) {
    it(`refuses ${path}: aufs has no escapes (exit 2)`, () => assert.equal(exitCodeOfSync(() => aufsOptions(layers([path]))), 2))
  }

  it('mounts with mount -t aufs', () =>
    assert.deepEqual(unionMountArgs('aufs', layers(['/l']), '/r/mounts/u'), [
      '-t',
      'aufs',
      '-o',
      'br=/r/uppers/u/upper=rw:/l=ro+wh,xino=/r/uppers/u/xino',
      'none',
      '/r/mounts/u',
    ]))
})

describe('read-only snapshot mounts', () => {
  it('attaches the image read-only', () => assert.deepEqual(attachArgs('/s.img', {readOnly: true}), ['--find', '--show', '--nooverlap', '--read-only', '--direct-io=on', '/s.img']))
  it('mounts without replaying a journal', () => {
    assert.deepEqual(readOnlyMountArgs('ext4', '/dev/loop1', '/m'), ['-o', 'ro,noload', '/dev/loop1', '/m'])
    assert.deepEqual(readOnlyMountArgs('xfs', '/dev/loop1', '/m'), ['-o', 'ro,norecovery,nouuid', '/dev/loop1', '/m'])
    assert.deepEqual(readOnlyMountArgs('btrfs', '/dev/loop1', '/m'), ['-o', 'ro,rescue=nologreplay', '/dev/loop1', '/m'])
  })
  it('reads /proc/filesystems', () => assert.deepEqual(parseProcFilesystems('nodev\tsysfs\n\text4\nnodev\toverlay\n'), ['sysfs', 'ext4', 'overlay']))
})
