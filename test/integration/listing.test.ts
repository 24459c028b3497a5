import assert from 'node:assert/strict'
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {join} from 'node:path'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {cbs, json, leftovers, makeRoot, REPO, removeRoot, requireHost} from '../support/integration.js'

/** cbs under a pseudo-terminal (util-linux `script`), answering `answer` to its question. */
function cbsOnTerminal(root: string, args: string[], answer: string) {
  const command = [process.execPath, join(REPO, 'bin', 'run.js'), ...args].map((word) => `'${word}'`).join(' ')
  const result = spawnSync('script', ['-qec', command, '/dev/null'], {input: `${answer}\n`, encoding: 'utf8', env: {...process.env, CBS_ROOT: root, NO_COLOR: '1'}})
  return {code: result.status ?? 1, output: result.stdout}
}

describe('integration: prune, --format, filters, busy messages', function () {
  this.timeout(120_000)
  let root: string
  let holder: ChildProcess | undefined

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'chattr', 'script'])
  })
  beforeEach(() => {
    root = makeRoot()
  })
  afterEach(() => {
    if (holder?.pid) process.kill(holder.pid, 'SIGKILL')
    holder = undefined
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  const create = (name: string, ...args: string[]) => {
    const created = cbs(root, ['volume', 'create', name, '--size', '16M', ...args])
    assert.equal(created.code, 0, created.stderr)
  }
  /** A process with its working folder in the volume: the volume is busy while it lives. */
  const hold = (name: string) => {
    holder = spawn('sleep', ['600'], {cwd: join(root, 'mounts', name), stdio: 'ignore'})
    return holder.pid!
  }
  const names = (args: string[]) => cbs(root, args).stdout.split('\n').filter(Boolean)

  it('volume prune: refuses without a terminal or -f (exit 2), asks y/N on one, removes only unmounted, unattached volumes without snapshots', () => {
    for (const name of ['idle', 'kept', 'snapped', 'live']) create(name)
    for (const name of ['idle', 'kept', 'snapped']) assert.equal(cbs(root, ['volume', 'unmount', name]).code, 0)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'snapped', 's']).code, 0)

    const refused = cbs(root, ['volume', 'prune'])
    assert.equal(refused.code, 2)
    assert.equal(refused.stderr, 'cbs: volume prune cannot ask for confirmation without a terminal: pass --force (-f) to prune without asking\n')

    const no = cbsOnTerminal(root, ['volume', 'prune'], 'n')
    assert.equal(no.code, 0)
    assert.match(no.output, /This will remove 2 volumes: idle, kept\.\r?\nAre you sure you want to continue\? \[y\/N\]/)
    assert.deepEqual(names(['volume', 'ls', '-q']), ['idle', 'kept', 'live', 'snapped'])
    const yes = cbsOnTerminal(root, ['volume', 'prune'], 'y')
    assert.equal(yes.code, 0)
    assert.match(yes.output, /^idle\r?\nkept\r?$/m)
    assert.deepEqual(names(['volume', 'ls', '-q']), ['live', 'snapped'])

    // --all: every volume not in use, snapshots too; one in use stays, and is no error.
    const pid = hold('live')
    create('spare')
    const all = cbs(root, ['volume', 'prune', '--all', '--force', '--json'])
    assert.equal(all.code, 0, all.stderr)
    // As rm prints them: as they were, status removed, with the snapshots removed along.
    assert.deepEqual(
      json<Volume[]>(all).map((volume) => [volume.name, volume.status, (volume.snapshots ?? []).map((snapshot) => snapshot.name)]),
      [['snapped', 'removed', ['snapped@s']], ['spare', 'removed', []]],
    )
    assert.deepEqual(names(['volume', 'ls', '-q']), ['live'])
    assert.deepEqual(names(['volume', 'snapshot', 'ls', '-q']), [])

    // Busy: the message names the process, like fuser -v.
    const busy = cbs(root, ['volume', 'rm', 'live'])
    assert.equal(busy.code, 4)
    assert.match(busy.stderr, new RegExp(`^cbs: volume "live" is busy: files on \\S+ are in use by process ${pid} \\(sleep\\): stop them and try again\\n$`))
    process.kill(pid, 'SIGKILL')
    holder = undefined
  })

  it('ls and inspect --format: docker fields, json, table; an unknown field is exit 2 naming the valid ones', () => {
    create('db', '--label', 'env=prod')
    create('cache', '--label', 'tier=2')
    assert.equal(cbs(root, ['volume', 'ls', '--format', '{{.Name}}:{{.Fs}}:{{.Labels}}']).stdout, 'cache:ext4:tier=2\ndb:ext4:env=prod\n')
    const table = cbs(root, ['volume', 'ls', '--format', 'table {{.Name}}\\t{{.Status}}\\t{{.Mountpoint}}']).stdout.split('\n')
    assert.match(table[0], /^NAME {4}STATUS {4}MOUNTPOINT$/)
    assert.match(table[1], new RegExp(`^cache   mounted   ${root}/mounts/cache$`))
    assert.deepEqual(JSON.parse(cbs(root, ['volume', 'ls', '--format', '{{json .}}']).stdout.split('\n')[1]).labels, {env: 'prod'})
    assert.equal(cbs(root, ['volume', 'inspect', 'db', '--format', '{{.Mountpoint}}']).stdout, `${root}/mounts/db\n`)
    assert.equal(cbs(root, ['volume', 'inspect', 'db', 'cache', '--format', '{{json .Labels}}']).stdout, '{"env":"prod"}\n{"tier":"2"}\n')
    for (const args of [['volume', 'ls', '--format', '{{.Driver}}'], ['volume', 'inspect', 'db', '--format', '{{.Driver}}']]) {
      const wrong = cbs(root, args)
      assert.equal(wrong.code, 2)
      assert.match(wrong.stderr, /^cbs: --format "\{\{\.Driver\}\}": unknown field \.Driver: use one of \.Name, \.Type, \.Fs, .*\.Mountpoint/)
    }
  })

  it('filters: name= matches part of a name; an unknown status or fs is exit 2; snapshots hold the labels of their volume, and snapshot ls has -q and --filter', () => {
    create('web-db', '--label', 'team=web')
    create('cache')
    assert.deepEqual(names(['volume', 'ls', '-q', '--filter', 'name=db']), ['web-db'])
    for (const filter of ['status=up', 'fs=zfs', 'type=lvm']) {
      const wrong = cbs(root, ['volume', 'ls', '--filter', filter])
      assert.equal(wrong.code, 2, filter)
      assert.match(wrong.stderr, /use \w+=VALUE with VALUE one of /)
    }
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'web-db', 'nightly', '--label', 'ticket=DB-42']).code, 0)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'cache', 'nightly']).code, 0)
    assert.deepEqual(names(['volume', 'snapshot', 'ls', '-q']), ['cache@nightly', 'web-db@nightly'])
    assert.deepEqual(names(['volume', 'snapshot', 'ls', '-q', '--filter', 'label=team=web']), ['web-db@nightly'])
    assert.deepEqual(names(['volume', 'snapshot', 'ls', '-q', '--filter', 'label=ticket', '--filter', 'status=ready']), ['web-db@nightly'])
    assert.deepEqual(names(['volume', 'snapshot', 'ls', '-q', '--filter', 'name=night', '--filter', 'volume=cache']), ['cache@nightly'])
    assert.equal(cbs(root, ['volume', 'snapshot', 'ls', '--filter', 'status=mounted']).code, 2)
    assert.equal(cbs(root, ['volume', 'snapshot', 'ls', '--format', '{{.Name}} {{.Labels}}', 'web-db']).stdout, 'web-db@nightly team=web,ticket=DB-42\n')
    assert.equal(cbs(root, ['volume', 'rm', '-r', '-f', 'web-db', 'cache', 'nope']).code, 0)
  })
})
