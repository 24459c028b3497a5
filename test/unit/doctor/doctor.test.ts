import assert from 'node:assert/strict'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {runDoctor} from '../../../src/lib/doctor/doctor.js'
import {findDrift, type Observed} from '../../../src/lib/doctor/drift.js'
import {HostView} from '../../../src/lib/system/host-view.js'
import {kernelFeatures} from '../../../src/lib/system/kernel-features.js'
import {layoutOf} from '../../../src/lib/store/layout.js'
import {emptyState, type State, type VolumeRecord} from '../../../src/lib/store/state.js'
import {unitText} from '../../../src/lib/system/systemd-unit.js'
import {parseVersion, TOOLS} from '../../../src/lib/system/tools.js'
import type {Expectation} from '../../support/fake-executor.js'
import {FakeHost} from '../../support/fake-host.js'
import {unitContext, withScript} from '../../support/unit-context.js'

const layout = layoutOf('/r')
const volume = (name: string, extra: Partial<VolumeRecord> = {}): VolumeRecord => ({name, type: 'loop', fs: 'ext4', sizeBytes: 1, labels: {}, createdAt: '', ...extra})

function observe(host: FakeHost, state: State, dirs: Partial<Pick<Observed, 'images' | 'mountDirs' | 'lostFound'>> = {}): Observed {
  return {view: HostView.read(host), images: [], mountDirs: [], lostFound: [], snapshotImages: [], state, ...dirs}
}

describe('doctor: drift between the store and the system (pure)', () => {
  const alive = () => false
  const messages = (observed: Observed, isAbandoned: () => boolean = alive) =>
    findDrift(layout, observed, isAbandoned).map(({finding, repair}) => `${finding.severity}: ${finding.message}${repair ? ` [${repair.kind}]` : ''}`)

  it('finds nothing when every device, mount, image and mountpoint belongs to a volume', () => {
    const host = new FakeHost()
    host.loops = [{device: '/dev/loop1', backingFile: '/r/images/db.img'}]
    host.mounts = [
      {source: '/dev/vda', mountpoint: '/r'},
      {source: '/dev/loop1', mountpoint: '/r/mounts/db'},
      {source: 'tmpfs', mountpoint: '/r/mounts/db/inside'},
      {source: '/dev/loop9', mountpoint: '/elsewhere'},
    ]
    const state = {...emptyState(), volumes: {db: volume('db'), off: volume('off', {meantToBeMounted: false})}}
    assert.deepEqual(messages(observe(host, state, {images: ['db.img', 'off.img'], mountDirs: ['db', 'off']})), [])
  })

  it('warns about a volume meant to be mounted that is down (a reboot without the boot unit), naming the fix', () => {
    const host = new FakeHost()
    const state = {...emptyState(), volumes: {old: volume('old'), db: volume('db', {meantToBeMounted: true}), off: volume('off', {meantToBeMounted: false})}}
    const problems = findDrift(layoutOf('/r'), observe(host, state, {images: ['old.img', 'db.img', 'off.img'], mountDirs: ['old', 'db', 'off']}), () => false)
    assert.deepEqual(
      problems.map(({finding}) => `${finding.message} / ${finding.fix}`),
      ['old', 'db'].map((name) => `volume "${name}" is meant to be mounted but is not / cbs volume mount ${name} (every such volume: cbs volume mount --all; to keep it down: cbs volume unmount ${name})`),
    )
  })

  it('warns about a union volume meant to be mounted whose union is down, even while its upper volume is up', () => {
    const host = new FakeHost()
    host.loops = [{device: '/dev/loop1', backingFile: '/r/images/u.img'}]
    host.mounts = [{source: '/dev/loop1', mountpoint: '/r/uppers/u'}]
    const state = {...emptyState(), volumes: {u: volume('u', {type: 'overlay', lowers: [{type: 'directory', path: '/srv/a'}]})}}
    const problems = findDrift(layoutOf('/r'), observe(host, state, {images: ['u.img'], mountDirs: ['u']}), () => false)
    assert.deepEqual(
      problems.map(({finding}) => `${finding.severity}: ${finding.message}`),
      ['warning: volume "u" is meant to be mounted but is not'],
    )
    host.mounts.push({source: 'overlay', mountpoint: '/r/mounts/u', fstype: 'overlay'})
    assert.deepEqual(findDrift(layoutOf('/r'), observe(host, state, {images: ['u.img'], mountDirs: ['u']}), () => false), [])
  })

  it('knows every kind of volume and snapshot: loop, union over a snapshot or folders, clones, snapshots of union volumes', () => {
    const host = new FakeHost()
    const seed = {name: 'seed', id: '00000000-0000-4000-8000-000000000004', volume: 'db', fs: 'ext4' as const, sizeBytes: 1, method: 'copy' as const, labels: {}, createdAt: ''}
    const overSeed = [{type: 'snapshot' as const, volume: 'db', snapshot: 'seed'}]
    const state = {
      ...emptyState(),
      volumes: {
        db: volume('db', {snapshots: {seed}}),
        ci: volume('ci', {type: 'overlay', lowers: overSeed, snapshots: {s1: {...seed, name: 's1', volume: 'ci'}}}),
        site: volume('site', {type: 'overlay', lowers: [{type: 'directory', path: '/srv/theme'}]}),
        copy: volume('copy'),
        ci2: volume('ci2', {type: 'overlay', lowers: overSeed}),
        off: volume('off', {type: 'overlay', lowers: overSeed, meantToBeMounted: false}),
      },
    }
    host.loops = ['db', 'ci', 'site', 'copy', 'ci2'].map((name, index) => ({device: `/dev/loop${index}`, backingFile: `/r/images/${name}.img`}))
    host.loops.push({device: '/dev/loop9', backingFile: '/r/snapshots/db/seed.img'})
    host.mounts = [
      {source: '/dev/loop0', mountpoint: '/r/mounts/db'},
      {source: '/dev/loop3', mountpoint: '/r/mounts/copy'},
      {source: '/dev/loop9', mountpoint: '/r/lowers/db@seed'},
      ...['ci', 'site', 'ci2'].flatMap((name) => [
        {source: `/dev/loop${['db', 'ci', 'site', 'copy', 'ci2'].indexOf(name)}`, mountpoint: `/r/uppers/${name}`},
        {source: 'overlay', mountpoint: `/r/mounts/${name}`, fstype: 'overlay'},
      ]),
    ]
    const names = Object.keys(state.volumes)
    const observed = observe(host, state, {images: names.map((name) => `${name}.img`), mountDirs: names})
    assert.deepEqual(messages({...observed, snapshotImages: ['/r/snapshots/db/seed.img', '/r/snapshots/ci/s1.img']}), [])
    // A union volume's image is its upper layer: losing it is an error, as for a loop volume.
    assert.deepEqual(messages({...observed, images: names.filter((name) => name !== 'off').map((name) => `${name}.img`), snapshotImages: ['/r/snapshots/db/seed.img', '/r/snapshots/ci/s1.img']}), [
      'error: volume "off" has lost its backing file /r/images/off.img',
    ])
  })

  it('reports what no volume knows, with a repair for each', () => {
    const host = new FakeHost()
    host.loops = [
      {device: '/dev/loop1', backingFile: '/r/images/old.img'},
      {device: '/dev/loop2', backingFile: '/r/images/db.img'},
      {device: '/dev/loop3', backingFile: '/r/images/gone.img', deleted: true},
      {device: '/dev/loop4', backingFile: '/other/x.img'},
    ]
    host.mounts = [{source: '/dev/loop1', mountpoint: '/r/mounts/old'}]
    const state = {...emptyState(), volumes: {db: volume('db'), lost: volume('lost')}}
    assert.deepEqual(messages(observe(host, state, {images: ['db.img', 'old.img'], mountDirs: ['db', 'old', 'stray'], lostFound: ['lost.img']})), [
      'error: volume "lost" has lost its backing file /r/images/lost.img',
      'warning: /dev/loop1 is mounted on /r/mounts/old, which no volume knows [unmount]',
      'warning: /dev/loop1 is attached to /r/images/old.img, which no volume knows [detach]',
      'warning: volume "db" is attached to /dev/loop2 but not mounted [detach]',
      'error: /dev/loop3 still holds the data of /r/images/gone.img, which was deleted while attached [rescue]',
      'warning: /r/images/old.img belongs to no volume [lost+found]',
      'warning: /r/mounts/stray is the mountpoint of no volume [rmdir]',
      'info: /r/lost+found holds lost.img, moved there by cbs doctor --fix',
    ])
    const [lost] = findDrift(layout, observe(host, state, {images: ['db.img', 'old.img'], lostFound: ['lost.img']}), alive)
    assert.equal(lost.finding.fix, 'mv /r/lost+found/lost.img /r/images/lost.img')
  })

  it('a mount on a volume mountpoint from another device is not the volume', () => {
    const host = new FakeHost()
    host.loops = [{device: '/dev/loop1', backingFile: '/r/images/db.img'}]
    host.mounts = [{source: '/dev/loop1', mountpoint: '/r/mounts/db'}, {source: '/dev/sdb1', mountpoint: '/r/mounts/db'}]
    const state = {...emptyState(), volumes: {db: volume('db')}}
    assert.deepEqual(messages(observe(host, state, {images: ['db.img'], mountDirs: ['db']})), ['warning: /dev/sdb1 is mounted on /r/mounts/db, which no volume knows [unmount]'])
  })

  it('tells an operation under way from one left half done', () => {
    const pending = {operation: 'create' as const, pid: 42, startedAt: ''}
    const state = {...emptyState(), volumes: {db: volume('db', {pending})}}
    const observed = observe(new FakeHost(), state, {images: ['db.img']})
    assert.deepEqual(messages(observed, () => false), ['info: volume "db" is being created by process 42'])
    assert.deepEqual(messages(observed, () => true), ['error: the create of volume "db" was left half done by process 42, which is gone [recover]'])
    // Its image, device and mountpoint are its own, even before the create marked it done.
    assert.deepEqual(messages({...observed, mountDirs: ['db']}, () => false), ['info: volume "db" is being created by process 42'])
  })
})

describe('doctor: kernel, tools, unit file (pure)', () => {
  it('reads kernel features from /proc/filesystems and the module lists', () => {
    const features = kernelFeatures('nodev\tsysfs\n\text4\nnodev\toverlay\n', {
      release: '6.1.0-13-amd64',
      modules: 'btrfs 1634304 0 - Live 0x0\nkernel/fs/xfs/xfs.ko.xz: kernel/lib/libcrc32c.ko.xz\nkernel/drivers/block/loop.ko\n',
      loopControl: false,
    })
    assert.deepEqual(features, {loop: 'module', ext4: 'loaded', xfs: 'module', btrfs: 'module', overlay: 'loaded', aufs: 'missing', fsfreeze: 'loaded'})
    assert.equal(kernelFeatures('', {release: '2.6.18', modules: '', loopControl: true}).fsfreeze, 'missing')
  })

  it('reads versions the way each tool prints them', () => {
    assert.equal(parseVersion('losetup from util-linux 2.38.1'), '2.38.1')
    assert.equal(parseVersion('mke2fs 1.47.0 (5-Feb-2023)\n\tUsing EXT2FS Library version 1.47.0'), '1.47.0')
    assert.equal(parseVersion('mkfs.btrfs, part of btrfs-progs v6.2'), '6.2')
    assert.equal(parseVersion('Docker version 28.2.2, build e6534b4'), '28.2.2')
    assert.equal(parseVersion('Usage: chattr [-RVf] [-+=aAcCdDeijPsStTuFx] [-p project] [-v version] files...'), null)
  })

  it('writes a unit that mounts every volume before docker starts, and unmounts after it stops', () => {
    const text = unitText({node: '/usr/bin/node', script: '/opt/cbs/bin/run.js', root: '/var/lib/cbs'})
    for (const line of [
      'Before=docker.service containerd.service podman.service podman-restart.service',
      'RequiresMountsFor=/var/lib/cbs',
      'Type=oneshot',
      'RemainAfterExit=yes',
      'Environment=CBS_ROOT=/var/lib/cbs',
      'ExecStart=/usr/bin/node /opt/cbs/bin/run.js volume mount --all',
      'ExecStop=/usr/bin/node /opt/cbs/bin/run.js volume unmount --all',
      'WantedBy=multi-user.target docker.service',
    ]) {
      assert.ok(text.split('\n').includes(line), `missing ${line}:\n${text}`)
    }
  })
})

describe('doctor --fix (planned commands)', () => {
  const probes = (): Expectation[] => TOOLS.map(({name}) => ({command: new RegExp(`^${name.replace('.', '\\.')}( |$)`), stdout: `${name} 1.0`}))

  it('reports a folder lower that is not the one checked at create (its next mount is refused), with mount\'s fix', async () => {
    const ctx = unitContext()
    const lowers = mkdtempSync(join(tmpdir(), 'cbs-lowers-'))
    try {
      const [kept, swapped] = [join(lowers, 'kept'), join(lowers, 'swapped')]
      mkdirSync(kept)
      mkdirSync(swapped)
      const identity = (path: string) => `${statSync(path).dev}:${statSync(path).ino}`
      const lower = (path: string) => ({type: 'directory' as const, path, identity: identity(path)})
      await ctx.store.update((state) => {
        state.volumes.u = volume('u', {type: 'overlay', lowers: [lower(kept), lower(swapped)], meantToBeMounted: false})
      })
      mkdirSync(ctx.layout.imagesDir, {recursive: true})
      writeFileSync(ctx.layout.image('u'), '')
      assert.equal((await runDoctor(withScript(ctx, probes()))).healthy, true, 'both as checked')
      renameSync(swapped, `${swapped}.checked`) // kept, so that the new folder cannot reuse its inode
      mkdirSync(swapped)
      const report = await runDoctor(withScript(ctx, probes()))
      assert.equal(report.healthy, false)
      const found = report.findings.filter((finding) => /lower layer/.test(finding.message))
      assert.deepEqual(found.map((finding) => finding.severity), ['warning'])
      assert.match(found[0].message, new RegExp(`^lower layer ${swapped} of volume "u" is not the folder checked at create .*: its next mount will be refused$`))
      assert.match(found[0].fix!, /check it and run `cbs volume mount u --accept-lowers`$/)
      rmSync(swapped, {recursive: true})
      const missing = (await runDoctor(withScript(ctx, probes()))).findings.find((finding) => /lower layer/.test(finding.message))
      assert.match(`${missing?.message}: ${missing?.fix}`, /is missing: its next mount will be refused: put the folder back, or remove the volume$/)
    } finally {
      ctx.cleanup()
      rmSync(lowers, {recursive: true, force: true})
    }
  })

  it('repairs in order: unmount, then detach, then move the image to lost+found and remove the stray mountpoint', async () => {
    const ctx = unitContext()
    try {
      const {layout} = ctx
      mkdirSync(layout.imagesDir, {recursive: true})
      mkdirSync(`${layout.mountsDir}/old`, {recursive: true})
      writeFileSync(layout.image('old'), 'data')
      ctx.host.loops = [{device: '/dev/loop1', backingFile: layout.image('old')}]
      ctx.host.mounts = [{source: '/dev/loop1', mountpoint: `${layout.mountsDir}/old`}]
      const run = withScript(ctx, [
        {command: `umount ${layout.mountsDir}/old`, then: () => (ctx.host.mounts = [])},
        {command: 'losetup --detach /dev/loop1', then: () => (ctx.host.loops = [])},
        {command: `mkdir -p -m 0700 ${layout.lostFoundDir}`},
        {command: `mv ${layout.image('old')} ${layout.lostFoundDir}/old.img`},
        {command: `chattr -i ${layout.mountsDir}/old`},
        {command: `rmdir ${layout.mountsDir}/old`},
        ...probes(),
      ])
      const report = await runDoctor(run, {fix: true})
      run.exec.assertDone()
      assert.deepEqual(report.repaired, [
        `unmounted ${layout.mountsDir}/old`,
        'detached /dev/loop1',
        `moved ${layout.image('old')} to ${layout.lostFoundDir}/old.img`,
        `removed the empty mountpoint ${layout.mountsDir}/old`,
      ])
      assert.deepEqual(readdirSync(layout.lostFoundDir), ['old.img'], 'never deleted')
      assert.equal(report.healthy, true, JSON.stringify(report.findings, null, 1))
      assert.ok(report.findings.some((finding) => finding.severity === 'info' && /lost\+found holds old\.img/.test(finding.message)))
    } finally {
      ctx.cleanup()
    }
  })

  it('rebuilds an unreadable state file from the images, keeping the bad file', async () => {
    const ctx = unitContext()
    try {
      const {layout} = ctx
      mkdirSync(layout.imagesDir, {recursive: true})
      writeFileSync(layout.image('db'), Buffer.alloc(4096))
      writeFileSync(layout.image('junk'), Buffer.alloc(4096))
      writeFileSync(layout.stateFile, '{"schemaVersion": 1, "volu')
      ctx.host.loops = [{device: '/dev/loop1', backingFile: layout.image('db')}]
      ctx.host.mounts = [{source: '/dev/loop1', mountpoint: layout.mountpoint('db')}]
      const unhealthy = await runDoctor(withScript(ctx, probes()))
      assert.equal(unhealthy.healthy, false)
      assert.match(unhealthy.findings.find((finding) => finding.check === 'state')!.message, /is not valid JSON/)

      const run = withScript(ctx, [
        {command: `blkid -p -o value -s TYPE ${layout.image('db')}`, stdout: 'ext4\n'},
        {command: `blkid -p -o value -s TYPE ${layout.image('junk')}`, fails: '', exitCode: 2},
        {command: new RegExp(`^mv ${layout.stateFile} ${layout.stateFile}\\.corrupt-`)},
        {command: `mkdir -p -m 0700 ${layout.lostFoundDir}`},
        {command: `mv ${layout.image('junk')} ${layout.lostFoundDir}/junk.img`},
        ...probes(),
      ])
      const report = await runDoctor(run, {fix: true})
      run.exec.assertDone()
      assert.equal(report.repaired.length, 4)
      assert.match(report.repaired[1], /recorded 1 volume\(s\) again from their images: db \(labels are lost\)/)
      assert.deepEqual(Object.keys(ctx.store.read().volumes), ['db'])
      assert.equal(ctx.store.read().volumes.db.fs, 'ext4')
      assert.ok(readdirSync(layout.root).some((name) => name.startsWith('state.json.corrupt-')))
      assert.ok(existsSync(`${layout.lostFoundDir}/junk.img`))
    } finally {
      ctx.cleanup()
    }
  })
})
