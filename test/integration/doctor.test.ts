import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {DoctorReport} from '../../src/lib/doctor/doctor.js'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {fingerprint, writeData} from '../support/faults.js'
import {cbs, json, jsonOne, leftovers, makeRoot, removeRoot, requireHost, sh} from '../support/integration.js'

describe('integration: cbs doctor', function () {
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

  const create = (name: string) => jsonOne<Volume>(cbs(root, ['volume', 'create', name, '--size', '16M', '--json']))

  it('reports a healthy host: root, kernel features, tools with versions, state, space (exit 0)', () => {
    create('db')
    const result = cbs(root, ['doctor'])
    assert.equal(result.code, 0, result.stdout)
    assert.match(result.stdout, /^ok\s+root\s+running as root$/m)
    assert.match(result.stdout, new RegExp(`^ok\\s+root\\s+${root}: writable, and only root can change it or its parents$`, 'm'))
    assert.match(result.stdout, /^ok\s+kernel\s+loop, ext4, .*fsfreeze$/m)
    assert.match(result.stdout, /^ok\s+tools\s+losetup \d+\.\d+\S*, .*mkfs\.ext4 \d/m)
    assert.match(result.stdout, /^ok\s+state\s+\S+state\.json: 1 volume, schema 2$/m)
    assert.match(result.stdout, /^ok\s+space\s+\S+ free of \S+ on the host filesystem under /m)
    assert.match(result.stdout, /\nhealthy\n$/)
    const report = json<DoctorReport>(cbs(root, ['doctor', '--json']))
    assert.equal(report.healthy, true)
    assert.equal(report.kernel.loop !== 'missing', true)
    assert.ok(report.tools.some((tool) => tool.name === 'losetup' && tool.installed && /^\d+\.\d+/.test(tool.version ?? '')))
  })

  it('finds drift, and --fix repairs what is safe: nothing is deleted, an unknown image goes to lost+found', () => {
    const kept = create('kept')
    writeData(kept.mountpoint)
    const sums = fingerprint(kept.mountpoint)
    const half = create('half')
    // Behind cbs's back: an image no volume knows, attached and mounted under $CBS_ROOT; a stray
    // mountpoint; a volume left attached but unmounted.
    const stray = join(root, 'images', 'stray.img')
    sh('truncate', ['--size', '16M', stray])
    sh('mkfs.ext4', ['-q', stray])
    const device = sh('losetup', ['--find', '--show', stray]).trim()
    mkdirSync(join(root, 'mounts', 'stray'))
    sh('mount', [device, join(root, 'mounts', 'stray')])
    writeFileSync(join(root, 'mounts', 'stray', 'precious'), 'not cbs data, but data')
    mkdirSync(join(root, 'mounts', 'empty'))
    sh('umount', [half.mountpoint])

    const found = cbs(root, ['doctor'])
    assert.equal(found.code, 1, found.stdout)
    assert.match(found.stdout, new RegExp(`^warning\\s+volumes\\s+${device} is mounted on ${root}/mounts/stray, which no volume knows\\n\\s+fix: umount ${root}/mounts/stray$`, 'm'))
    assert.match(found.stdout, new RegExp(`^warning\\s+volumes\\s+${device} is attached to ${stray}, which no volume knows`, 'm'))
    assert.match(found.stdout, /^warning\s+volumes\s+volume "half" is attached to \S+ but not mounted/m)
    assert.match(found.stdout, /^warning\s+volumes\s+\S+stray\.img belongs to no volume/m)
    assert.match(found.stdout, /^warning\s+volumes\s+\S+mounts\/empty is the mountpoint of no volume/m)
    assert.match(found.stdout, /\nunhealthy: 5 warnings\n$/)

    // --fix detaches "half"; bringing it back up is left to its user, whom doctor tells how.
    const fixed = cbs(root, ['doctor', '--fix'])
    assert.equal(fixed.code, 1, fixed.stdout)
    assert.match(fixed.stdout, /^warning\s+volumes\s+volume "half" is meant to be mounted but is not\n\s+fix: cbs volume mount half /m)
    assert.match(fixed.stdout, /\nunhealthy: 1 warning\n$/)
    assert.match(fixed.stdout, new RegExp(`^  moved ${stray} to ${root}/lost\\+found/stray\\.img$`, 'm'))
    assert.match(fixed.stdout, /^info\s+volumes\s+\S+lost\+found holds stray\.img, moved there by cbs doctor --fix/m)
    assert.ok(!existsSync(stray))
    assert.equal(sh('debugfs', ['-R', 'cat /precious', join(root, 'lost+found', 'stray.img')]).trim(), 'not cbs data, but data')
    assert.deepEqual(fingerprint(kept.mountpoint), sums)
    assert.equal(json<Volume[]>(cbs(root, ['volume', 'inspect', 'half', '--json']))[0].status, 'unmounted')
  })

  it('knows every kind of volume and snapshot: doctor and doctor --fix find a healthy root and change nothing', () => {
    const folder = mkdtempSync('/tmp/cbs-it-lower-')
    try {
      writeFileSync(join(folder, 'theme'), 'lower folder data')
      const db = create('db')
      writeData(db.mountpoint)
      const ok = (...args: string[]) => assert.equal(cbs(root, args).code, 0, args.join(' '))
      ok('volume', 'snapshot', 'create', 'db', 'seed')
      ok('volume', 'create', 'ci', '--type', 'overlay', '--lower', 'db@seed', '--size', '16M')
      ok('volume', 'create', 'site', '--type', 'overlay', '--lower', folder, '--size', '16M')
      ok('volume', 'create', 'copy', '--from', 'db@seed')
      ok('volume', 'snapshot', 'create', 'ci', 's1')
      ok('volume', 'create', 'ci2', '--from', 'ci@s1')
      ok('volume', 'create', 'off', '--type', 'overlay', '--lower', 'db@seed', '--size', '16M')
      ok('volume', 'unmount', 'off')
      const sums = fingerprint(json<Volume[]>(cbs(root, ['volume', 'inspect', 'ci', '--json']))[0].mountpoint)
      const system = () => ({
        files: sh('find', [root, '-path', `${root}/mounts/*/*`, '-prune', '-o', '-print']).split('\n').sort(),
        state: readFileSync(join(root, 'state.json'), 'utf8'),
        mounts: leftovers(root).sort(),
        volumes: json<Volume[]>(cbs(root, ['volume', 'ls', '--json'])).map((volume) => `${volume.name} ${volume.type} ${volume.status}`),
      })
      const before = system()
      assert.deepEqual(before.volumes, ['ci overlay mounted', 'ci2 overlay mounted', 'copy loop mounted', 'db loop mounted', 'off overlay unmounted', 'site overlay mounted'])

      const checked = cbs(root, ['doctor'])
      assert.equal(checked.code, 0, checked.stdout)
      assert.doesNotMatch(checked.stdout, /^(warning|error)/m)
      const fixed = cbs(root, ['doctor', '--fix'])
      assert.equal(fixed.code, 0, fixed.stdout)
      assert.doesNotMatch(fixed.stdout, /Repaired:/)
      assert.match(fixed.stdout, /\nhealthy\n$/)
      assert.deepEqual(system(), before)
      assert.deepEqual(fingerprint(json<Volume[]>(cbs(root, ['volume', 'inspect', 'ci', '--json']))[0].mountpoint), sums)
    } finally {
      removeRoot(root)
      rmSync(folder, {recursive: true, force: true})
    }
  })

  it('a volume whose image is gone is an error doctor cannot fix: it says how to restore or forget it', () => {
    const volume = create('gone')
    sh('umount', [volume.mountpoint])
    sh('losetup', ['--detach', volume.device!])
    rmSync(volume.image)
    const fixed = cbs(root, ['doctor', '--fix'])
    assert.equal(fixed.code, 1)
    assert.match(fixed.stdout, /^error\s+volumes\s+volume "gone" has lost its backing file \S+gone\.img\n\s+fix: restore \S+ from a backup, or forget the volume: cbs volume rm gone$/m)
    assert.equal(cbs(root, ['volume', 'rm', 'gone']).code, 0)
    assert.equal(cbs(root, ['doctor']).code, 0)
  })

  it('a state file of the wrong shape stops every command (exit 5), is never acted on, and doctor --fix rebuilds it', () => {
    const db = jsonOne<Volume>(cbs(root, ['volume', 'create', 'db', '--size', '16M', '--label', 'env=prod', '--json']))
    writeData(db.mountpoint)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'db', 'seed']).code, 0)
    assert.equal(cbs(root, ['volume', 'create', 'ci', '--type', 'overlay', '--lower', 'db@seed', '--size', '16M']).code, 0)
    const sums = fingerprint(db.mountpoint)
    const stateFile = join(root, 'state.json')
    const good = JSON.parse(readFileSync(stateFile, 'utf8'))
    // A record that leads out of the root: rm must not delete elsewhere/x.img.
    const elsewhere = mkdtempSync('/tmp/cbs-it-elsewhere-')
    try {
      writeFileSync(join(elsewhere, 'x.img'), 'not cbs data')
      const hostile = {...good, volumes: {...good.volumes, x: {...good.volumes.db, name: `../../${elsewhere.slice(5)}/x`}}}
      for (const text of ['{"volumes":null}', JSON.stringify(hostile)]) {
        writeFileSync(stateFile, text)
        for (const args of [['volume', 'rm', 'x', '--force'], ['volume', 'ls'], ['volume', 'mount', '--all'], ['volume', 'create', 'new', '--size', '16M']]) {
          const result = cbs(root, args)
          assert.equal(result.code, 5, `${args.join(' ')}: ${result.stderr}`)
          assert.match(result.stderr, new RegExp(`^cbs: state file ${stateFile} is damaged \\(volumes[.:]`))
        }
        assert.equal(readFileSync(stateFile, 'utf8'), text, 'never overwritten')
        assert.ok(existsSync(join(elsewhere, 'x.img')))
        const checked = cbs(root, ['doctor'])
        assert.equal(checked.code, 1, checked.stdout + checked.stderr)
        assert.match(checked.stdout, /^error\s+state\s+\S+state\.json is damaged \(volumes.*\): every command refuses to run\n\s+fix: cbs doctor --fix/m)
      }
      const fixed = cbs(root, ['doctor', '--fix'])
      assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr)
      assert.match(fixed.stdout, /moved the damaged state file to \S+state\.json\.corrupt-\S+/)
      assert.match(fixed.stdout, /kept the 2 sound volume record\(s\) in it: db, ci/)
      assert.match(fixed.stdout, /left out a record that is not sound: volumes\.x\.name: /)
      assert.doesNotMatch(fixed.stdout, /^  (unmounted|detached)/m, 'the union volume and its lower stay up')
      assert.equal(readdirSync(root).filter((file) => file.startsWith('state.json.corrupt-')).length, 1)
      const volumes = json<Volume[]>(cbs(root, ['volume', 'ls', '--json']))
      assert.deepEqual(volumes.map((volume) => `${volume.name} ${volume.type} ${volume.status}`), ['ci overlay mounted', 'db loop mounted'])
      assert.deepEqual(volumes[1].labels, {env: 'prod'})
      assert.deepEqual(fingerprint(db.mountpoint), sums)
      assert.equal(readFileSync(join(elsewhere, 'x.img'), 'utf8'), 'not cbs data')
    } finally {
      rmSync(elsewhere, {recursive: true, force: true})
    }
  })

  it('doctor --fix whose recovery fails says unhealthy, and leaves the intent abandoned as it found it', () => {
    const db = create('db')
    const stateFile = join(root, 'state.json')
    const dead = spawnSync('true').pid!
    const left = {operation: 'remove', pid: dead, startTime: '1', startedAt: '2026-01-01T00:00:00.000Z'}
    const state = JSON.parse(readFileSync(stateFile, 'utf8'))
    state.volumes.db.pending = left
    writeFileSync(stateFile, JSON.stringify(state))
    // A shell whose working folder is in the volume: the remove cannot unmount it.
    const shell = spawn('sleep', ['600'], {cwd: db.mountpoint, stdio: 'ignore'})
    try {
      const fixed = cbs(root, ['doctor', '--fix'])
      assert.equal(fixed.code, 1, fixed.stdout)
      assert.match(fixed.stdout, /^  could not recover the remove of volume "db": /m)
      assert.match(fixed.stdout, new RegExp(`^error\\s+volumes\\s+the remove of volume "db" was left half done by process ${dead}, which is gone \\(the last attempt to recover it failed: `, 'm'))
      assert.match(fixed.stdout, /\nunhealthy: 1 error\n$/)
      const {pending} = JSON.parse(readFileSync(stateFile, 'utf8')).volumes.db
      assert.deepEqual({...pending, error: undefined}, {...left, error: undefined})
      assert.equal(cbs(root, ['doctor']).code, 1)
    } finally {
      shell.kill('SIGKILL')
    }
    spawnSync('sleep', ['0.2'])
    const retried = cbs(root, ['doctor', '--fix'])
    assert.equal(retried.code, 0, retried.stdout)
    assert.match(retried.stdout, /^  finished the remove of volume "db"$/m)
    assert.deepEqual(json<Volume[]>(cbs(root, ['volume', 'ls', '--json'])), [])
  })

  it('system install-unit: --print writes the unit; installing writes it and its WantedBy links under CBS_SYSTEMD_DIR', () => {
    const printed = cbs(root, ['system', 'install-unit', '--print'])
    assert.equal(printed.code, 0, printed.stderr)
    assert.match(printed.stdout, /^Before=docker\.service /m)
    assert.match(printed.stdout, new RegExp(`^ExecStart=${process.execPath} \\S+/bin/run\\.js volume mount --all$`, 'm'))
    assert.match(printed.stdout, new RegExp(`^Environment=CBS_ROOT=${root}$`, 'm'))
    const dir = join(root, 'systemd')
    const installed = cbs(root, ['system', 'install-unit'], {env: {CBS_SYSTEMD_DIR: dir}})
    assert.equal(installed.code, 0, installed.stderr)
    const units = ['cbs-volumes.service', 'cbs-plugin.service', 'cbs-plugin.socket']
    assert.equal(installed.stdout, units.map((unit) => `${dir}/${unit}\n`).join(''))
    // It says which cbs boot will run: here this checkout.
    assert.match(installed.stderr, new RegExp(`^at boot the units run ${process.execPath} \\S+/bin/run\\.js, the checkout at that path \\(a git clone, or what \`npm link\` points to\\): keep it there and built`))
    assert.equal(units.map((unit) => readFileSync(`${dir}/${unit}`, 'utf8')).join('\n'), printed.stdout)
    for (const target of ['multi-user.target', 'docker.service']) assert.equal(readlinkSync(`${dir}/${target}.wants/cbs-volumes.service`), `${dir}/cbs-volumes.service`)
    for (const target of ['multi-user.target', 'docker.service']) assert.equal(readlinkSync(`${dir}/${target}.wants/cbs-plugin.service`), `${dir}/cbs-plugin.service`)
    assert.equal(readlinkSync(`${dir}/sockets.target.wants/cbs-plugin.socket`), `${dir}/cbs-plugin.socket`)
    assert.match(printed.stdout, new RegExp(`^ExecStart=${process.execPath} \\S+/bin/run\\.js plugin serve --socket /run/docker/plugins/cbs\\.sock$`, 'm'))
    assert.match(printed.stdout, /^ListenStream=\/run\/docker\/plugins\/cbs\.sock\nSocketMode=0600$/m)
    assert.equal(cbs(root, ['system', 'install-unit', '--dir', 'relative']).code, 2)
  })
})
