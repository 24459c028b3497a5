import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {cbs, json, leftovers, makeRoot, REPO, removeRoot, requireHost} from '../support/integration.js'
import {cleanRuntime, must, requireRuntime} from '../support/runtimes.js'
import {fileSums, writeFiles} from '../support/streams.js'

describe('integration: volume export / import --format tar, against the real podman', function () {
  this.timeout(300_000)
  let root: string
  let files: string
  let podmanVolumes: string[]

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'chattr', 'tar'])
    requireRuntime.call(this, 'podman')
  })
  beforeEach(() => {
    root = makeRoot()
    files = makeRoot()
    podmanVolumes = []
  })
  afterEach(() => {
    cleanRuntime('podman', root, podmanVolumes)
    removeRoot(root)
    removeRoot(files)
    assert.deepEqual(leftovers(root), [])
  })

  const podmanVolume = (suffix: string) => {
    const name = `cbs-tar-${root.split('-').at(-1)}-${suffix}`.toLowerCase()
    podmanVolumes.push(name)
    return name
  }

  it('a cbs volume exported as a tar is what `podman volume import` takes: same files, owners and modes', () => {
    const volume = json<Volume[]>(cbs(root, ['volume', 'create', 'db', '--size', '64M', '--json']))[0]
    writeFiles(volume.mountpoint, 3)
    mkdirSync(join(volume.mountpoint, 'conf'))
    writeFileSync(join(volume.mountpoint, 'conf', 'app.ini'), 'port=5432\n', {mode: 0o640})
    spawnSync('chown', ['999:998', join(volume.mountpoint, 'conf', 'app.ini')])
    const tar = join(files, 'db.tar')
    assert.equal(cbs(root, ['volume', 'export', 'db', '--format', 'tar', '-o', tar]).code, 0)
    const target = podmanVolume('in')
    must('podman', ['volume', 'create', target])
    must('podman', ['volume', 'import', target, tar])
    const mountpoint = must('podman', ['volume', 'inspect', target, '--format', '{{.Mountpoint}}']).trim()
    assert.deepEqual(fileSums(mountpoint), fileSums(volume.mountpoint))
    const stat = spawnSync('stat', ['-c', '%u:%g %a', join(mountpoint, 'conf', 'app.ini')], {encoding: 'utf8'}).stdout.trim()
    assert.equal(stat, '999:998 640')
    // and no temporary snapshot is left
    assert.deepEqual(json(cbs(root, ['volume', 'snapshot', 'ls', '--json'])), [])
  })

  it('`podman volume export` piped into `cbs volume import --format tar --size` makes a mounted volume of the same files', () => {
    const source = podmanVolume('out')
    must('podman', ['volume', 'create', source])
    const mountpoint = must('podman', ['volume', 'inspect', source, '--format', '{{.Mountpoint}}']).trim()
    writeFiles(mountpoint, 2)
    writeFileSync(join(mountpoint, 'hello'), 'from podman')
    const script = `podman volume export ${source} | CBS_ROOT='${root}' node ${REPO}/bin/run.js volume import web --format tar --size 32M --json`
    const piped = spawnSync('bash', ['-o', 'pipefail', '-c', script], {encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}})
    assert.equal(piped.status, 0, piped.stderr)
    const [volume] = JSON.parse(piped.stdout) as Volume[]
    assert.equal(volume.status, 'mounted')
    assert.deepEqual(fileSums(volume.mountpoint), fileSums(mountpoint))
    assert.equal(readFileSync(join(volume.mountpoint, 'hello'), 'utf8'), 'from podman')
  })

  it('refuses a tar without --size (exit 2), and a damaged tar or one too large leaves no volume', () => {
    const tar = join(files, 'bad.tar')
    writeFileSync(tar, 'this is not a tar archive at all'.repeat(40))
    const noSize = cbs(root, ['volume', 'import', 'x', '--format', 'tar', '-i', tar])
    assert.equal(noSize.code, 2)
    assert.match(noSize.stderr, /^cbs: --format tar needs --size/)
    const damaged = cbs(root, ['volume', 'import', 'x', '--format', 'tar', '--size', '16M', '-i', tar])
    assert.equal(damaged.code, 2, damaged.stderr)
    assert.match(damaged.stderr, /^cbs: tar failed: [^\n]*\n$/)
    const big = json<Volume[]>(cbs(root, ['volume', 'create', 'big', '--size', '64M', '--json']))[0]
    writeFiles(big.mountpoint, 24)
    const bigTar = join(files, 'big.tar')
    assert.equal(cbs(root, ['volume', 'export', 'big', '--format', 'tar', '-o', bigTar]).code, 0)
    const tooSmall = cbs(root, ['volume', 'import', 'x', '--format', 'tar', '--size', '8M', '-i', bigTar])
    assert.equal(tooSmall.code, 5, tooSmall.stderr)
    assert.match(tooSmall.stderr, /^cbs: tar ran out of space/)
    assert.deepEqual(json<Volume[]>(cbs(root, ['volume', 'ls', '--json'])).map((volume) => volume.name), ['big'])
    assert.equal(cbs(root, ['doctor']).code, 0, cbs(root, ['doctor']).stdout)
  })
})
