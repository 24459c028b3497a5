import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import type {Snapshot} from '../../src/lib/snapshots/snapshot.js'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {cbs, json, leftovers, makeRoot, REPO, removeRoot, requireHost} from '../support/integration.js'
import {SSHD, startSshd, type TestSshd} from '../support/sshd.js'
import {fileSums, writeFiles} from '../support/streams.js'

const BIN = join(REPO, 'bin', 'run.js')

describe('integration: volume export | ssh | volume import, through a real sshd on 127.0.0.1', function () {
  this.timeout(300_000)
  let a: string
  let b: string
  let sshd: TestSshd | undefined

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'chattr', 'ssh', 'ssh-keygen', 'zstd'])
    if (!existsSync(SSHD)) {
      if (process.env.CI === 'true') throw new Error(`${SSHD} is missing under CI: install openssh-server (npm run setup does, and .ci/run runs it)`)
      console.log(`      SKIPPED (${SSHD} is missing: apt-get install openssh-server)`)
      this.skip()
    }
  })
  beforeEach(async () => {
    a = makeRoot()
    b = makeRoot()
    sshd = await startSshd()
  })
  afterEach(async () => {
    await sshd?.stop()
    for (const root of [a, b]) removeRoot(root)
    for (const root of [a, b]) assert.deepEqual(leftovers(root), [])
  })

  /** A shell pipeline run locally; the remote side runs cbs under CBS_ROOT=b. */
  const run = (script: string) => {
    const result = spawnSync('bash', ['-o', 'pipefail', '-c', script], {encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}})
    assert.equal(result.status, 0, `${script}\n${result.stderr}`)
    return result.stdout
  }
  const local = (args: string) => `CBS_ROOT='${a}' '${process.execPath}' '${BIN}' ${args}`
  const remote = (args: string) => `${sshd!.ssh.join(' ')} "CBS_ROOT='${b}' '${process.execPath}' '${BIN}' ${args}"`

  it('sends a full stream, then an incremental one through zstd, to the other side; files and snapshot ids match', () => {
    const source = json<Volume[]>(cbs(a, ['volume', 'create', 'db', '--size', '128M', '--label', 'team=db', '--json']))[0]
    writeFiles(source.mountpoint, 12)
    assert.equal(cbs(a, ['volume', 'snapshot', 'create', 'db', 'mon']).code, 0)
    run(`${local('volume export db@mon')} | ${remote('volume import db')}`)
    const target = json<Volume[]>(cbs(b, ['volume', 'inspect', 'db', '--json']))[0]
    assert.deepEqual(target.labels, {team: 'db'})
    assert.deepEqual(fileSums(target.mountpoint), fileSums(source.mountpoint))

    writeFiles(source.mountpoint, 2, 'tue')
    assert.equal(cbs(a, ['volume', 'snapshot', 'create', 'db', 'tue']).code, 0)
    run(`${local('volume export db@tue --since db@mon')} | zstd -q | ${sshd!.ssh.join(' ')} "zstd -dq | CBS_ROOT='${b}' '${process.execPath}' '${BIN}' volume import db"`)
    assert.deepEqual(fileSums(target.mountpoint), fileSums(source.mountpoint))
    const ids = (root: string) => json<Snapshot[]>(cbs(root, ['volume', 'snapshot', 'ls', 'db', '--json'])).map((snapshot) => `${snapshot.name} ${snapshot.id}`)
    assert.deepEqual(ids(b), ids(a))

    // and back the other way: pulled over ssh into a new volume here
    run(`${remote('volume export db@tue')} | ${local('volume import db-back')}`)
    assert.deepEqual(fileSums(join(a, 'mounts', 'db-back')), fileSums(source.mountpoint))
  })

  it('a failure on the far side fails the pipeline and leaves it nothing (an existing NAME)', () => {
    assert.equal(cbs(a, ['volume', 'create', 'db', '--size', '32M']).code, 0)
    assert.equal(cbs(b, ['volume', 'create', 'db', '--size', '16M']).code, 0)
    const result = spawnSync('bash', ['-o', 'pipefail', '-c', `${local('volume export db')} | ${remote('volume import db')}`], {encoding: 'utf8'})
    assert.notEqual(result.status, 0)
    assert.match(result.stderr, /cbs: volume "db" already exists/)
    assert.deepEqual(json<Snapshot[]>(cbs(a, ['volume', 'snapshot', 'ls', '--json'])), [], 'the export removed its snapshot')
    assert.equal(json<Volume[]>(cbs(b, ['volume', 'inspect', 'db', '--json']))[0].sizeBytes, 16 * 1024 ** 2)
  })
})
