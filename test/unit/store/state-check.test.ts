import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileName, layoutOf} from '../../../src/lib/store/layout.js'
import {soundVolumes, stateProblem} from '../../../src/lib/store/state-check.js'
import {CorruptState, Store} from '../../../src/lib/store/store.js'

/** A state holding every kind of record: loop and union volumes, snapshots, intents, attachments. */
const GOOD = {
  schemaVersion: 2,
  volumes: {
    db: {
      name: 'db',
      type: 'loop',
      fs: 'ext4',
      sizeBytes: 16777216,
      labels: {env: 'prod', 'example.com/team': 'a = b'},
      createdAt: '2026-11-28T05:00:00.000Z',
      snapshots: {
        seed: {name: 'seed', id: '3f1c7f0e-8a4b-4c1e-9d2a-0b6f5e4d3c2b', volume: 'db', fs: 'ext4', sizeBytes: 16777216, method: 'copy', labels: {}, createdAt: '', pending: {operation: 'snapshot', pid: 7, startedAt: ''}},
        tue: {name: 'tue', id: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', volume: 'db', fs: 'ext4', sizeBytes: 16777216, method: 'reflink', labels: {}, createdAt: '', receivedFingerprint: 'ab12'},
      },
      attachments: [{runtime: 'docker', name: 'db', containers: ['3f2a1b4c5d6e'], live: [{container: 'a'.repeat(64), name: 'web', target: '/data'}]}],
      pending: {operation: 'resize', pid: 42, startTime: '123', startedAt: '', committed: true, sizeBytes: 2, fromBytes: 1, wasMounted: false, error: 'busy'},
    },
    ci: {
      name: 'ci',
      type: 'overlay',
      fs: 'ext4',
      sizeBytes: 1,
      labels: {},
      createdAt: '',
      lowers: [{type: 'snapshot', volume: 'db', snapshot: 'seed'}, {type: 'directory', path: '/srv/theme', identity: '2049:131073'}],
      meantToBeMounted: false,
      attachments: [{runtime: 'nerdctl', name: null, containers: []}],
    },
  },
  imports: {web: {operation: 'import', pid: 9, startedAt: ''}},
}

/** GOOD with one change made by `edit`. */
function bad(edit: (state: any) => void): any {
  const state = structuredClone(GOOD) as any
  edit(state)
  return state
}

describe('state check (pure)', () => {
  it('takes a state holding every kind of record, and ignores fields it does not know', () => {
    assert.equal(stateProblem(GOOD), undefined)
    assert.equal(stateProblem(bad((state) => (state.volumes.db.comment = 'x'))), undefined)
  })

  it('names where the state is wrong and how', () => {
    const cases: Array<[string, (state: any) => void]> = [
      ['volumes: null is not an object', (state) => (state.volumes = null)],
      ['schemaVersion: 3 is not one of 2', (state) => (state.schemaVersion = 3)],
      ['volumes.db.snapshots.seed.id: "x" is not a UUID', (state) => (state.volumes.db.snapshots.seed.id = 'x')],
      ['imports.../x: "../x" does not follow the name rule', (state) => (state.imports['../x'] = state.imports.web)],
      ['imports.web.operation: "create" is not one of import', (state) => (state.imports.web.operation = 'create')],
      ['volumes.../../elsewhere/x: "../../elsewhere/x" does not follow the name rule', (state) => (state.volumes['../../elsewhere/x'] = state.volumes.db)],
      ['volumes.db.name: "../../elsewhere/x" does not follow the name rule', (state) => (state.volumes.db.name = '../../elsewhere/x')],
      ['volumes.db.name: "ci" is not its key "db"', (state) => (state.volumes.db.name = 'ci')],
      ['volumes.db.type: "zfs" is not one of loop, overlay, aufs', (state) => (state.volumes.db.type = 'zfs')],
      ['volumes.db.fs: missing is not one of ext4, xfs, btrfs', (state) => delete state.volumes.db.fs],
      ['volumes.db.sizeBytes: "16M" is not a whole number of bytes', (state) => (state.volumes.db.sizeBytes = '16M')],
      ['volumes.db.sizeBytes: -1 is not a whole number of bytes', (state) => (state.volumes.db.sizeBytes = -1)],
      ['volumes.db.labels.env: 1 is not a string', (state) => (state.volumes.db.labels.env = 1)],
      ['volumes.db.labels.-x: "-x" is not a label key', (state) => (state.volumes.db.labels['-x'] = '')],
      ['volumes.db.pending.operation: "format" is not one of create, remove, restore, resize, receive', (state) => (state.volumes.db.pending.operation = 'format')],
      ['volumes.db.pending.pid: 0 is not a process id', (state) => (state.volumes.db.pending.pid = 0)],
      ['volumes.db.pending.committed: "yes" is not true or false', (state) => (state.volumes.db.pending.committed = 'yes')],
      ['volumes.db.snapshots.seed.pending.operation: "resize" is not one of snapshot, remove, export', (state) => (state.volumes.db.snapshots.seed.pending.operation = 'resize')],
      ['volumes.db.snapshots.seed.volume: "ci" is not "db"', (state) => (state.volumes.db.snapshots.seed.volume = 'ci')],
      ['volumes.db.snapshots.seed.name: "x" is not its key "seed"', (state) => (state.volumes.db.snapshots.seed.name = 'x')],
      ['volumes.db.snapshots...: ".." does not follow the name rule', (state) => (state.volumes.db.snapshots['..'] = state.volumes.db.snapshots.seed)],
      ['volumes.db.snapshots.seed.method: "dd" is not one of reflink, copy', (state) => (state.volumes.db.snapshots.seed.method = 'dd')],
      ['volumes.db.attachments.0.runtime: "lxc" is not one of docker, nerdctl, podman', (state) => (state.volumes.db.attachments[0].runtime = 'lxc')],
      ['volumes.db.attachments.0.containers.0: "--privileged" is not a container id', (state) => (state.volumes.db.attachments[0].containers[0] = '--privileged')],
      ['volumes.db.attachments.0.live.0.target: "data" is not an absolute, normalised path', (state) => (state.volumes.db.attachments[0].live[0].target = 'data')],
      ['volumes.db.lowers: a loop volume has no lower layers', (state) => (state.volumes.db.lowers = [])],
      ['volumes.ci.lowers: a union volume needs at least one', (state) => (state.volumes.ci.lowers = [])],
      ['volumes.ci.lowers.1.path: "/srv/../etc" is not an absolute, normalised path', (state) => (state.volumes.ci.lowers[1].path = '/srv/../etc')],
      ['volumes.ci.lowers.0.snapshot: "a/b" does not follow the name rule', (state) => (state.volumes.ci.lowers[0].snapshot = 'a/b')],
      ['volumes.ci.lowers.0.type: "nfs" is not one of snapshot, directory', (state) => (state.volumes.ci.lowers[0].type = 'nfs')],
      ['volumes.ci.attachments: {} is not a list', (state) => (state.volumes.ci.attachments = {})],
      ['volumes.ci.meantToBeMounted: "no" is not true or false', (state) => (state.volumes.ci.meantToBeMounted = 'no')],
      ['volumes.ci.lowers.1.identity: "x" is not DEVICE:INODE', (state) => (state.volumes.ci.lowers[1].identity = 'x')],
    ]
    for (const [problem, edit] of cases) assert.equal(stateProblem(bad(edit)), problem)
  })
})

describe('sound records of a damaged state (pure)', () => {
  it('keeps each volume record that is sound on its own, and says what is wrong with the others', () => {
    const damaged = bad((state) => (state.volumes.x = {...state.volumes.db, name: '../../elsewhere/x'}))
    assert.deepEqual(soundVolumes(damaged), {sound: GOOD.volumes, dropped: ['volumes.x.name: "../../elsewhere/x" does not follow the name rule']})
    assert.deepEqual(soundVolumes({volumes: null}), {sound: {}, dropped: []})
    assert.deepEqual(soundVolumes('not an object'), {sound: {}, dropped: []})
    assert.deepEqual(soundVolumes({schemaVersion: 99, volumes: GOOD.volumes}), {sound: {}, dropped: []})
  })
})

describe('store: a state file of the wrong shape', () => {
  let root: string
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'cbs-state-'))
  })
  afterEach(() => rmSync(root, {recursive: true, force: true}))

  const damaged = (error: unknown) => error instanceof CorruptState && error.exitCode === 5

  for (const text of ['{"volumes":null}', 'null', '[]', '"x"', '{"schemaVersion":"1","volumes":{}}', JSON.stringify(bad((state) => (state.volumes.db.name = '../../elsewhere/x')))]) {
    it(`is refused like one that is not JSON (exit 5), and never overwritten: ${text.slice(0, 40)}`, async () => {
      const layout = layoutOf(root)
      writeFileSync(layout.stateFile, text)
      const store = new Store(layout)
      assert.throws(() => store.read(), damaged)
      await assert.rejects(store.update((state) => (state.volumes = {})), damaged)
      assert.equal(readFileSync(layout.stateFile, 'utf8'), text)
    })
  }

  it('names the file and the problem', () => {
    const layout = layoutOf(root)
    writeFileSync(layout.stateFile, '{"volumes":null}')
    assert.throws(() => new Store(layout).read(), {message: `state file ${layout.stateFile} is damaged (volumes: null is not an object): run \`cbs doctor --fix\` to rebuild it (it keeps the file aside), or restore it from a backup; cbs will not overwrite it`})
  })

  it('reads a file of version 1 without volumes as empty, and a good one as it is', () => {
    const layout = layoutOf(root)
    writeFileSync(layout.stateFile, '{}')
    assert.deepEqual(new Store(layout).read(), {schemaVersion: 2, volumes: {}})
    writeFileSync(layout.stateFile, JSON.stringify(GOOD))
    assert.deepEqual(new Store(layout).read(), GOOD)
  })
})

describe('layout', () => {
  it('refuses, never joins, a name that would lead out of its folder (exit 2)', () => {
    const layout = layoutOf('/r')
    assert.equal(layout.image('db'), '/r/images/db.img')
    assert.equal(layout.lowerMount('db@seed'), '/r/lowers/db@seed')
    const refused = (error: unknown) => (error as {exitCode?: number}).exitCode === 2
    for (const name of ['..', '.', '', '../../elsewhere/x', 'a/b', 'a\0b']) {
      assert.throws(() => fileName(name), refused, name)
      assert.throws(() => layout.image(name), refused, name)
      assert.throws(() => layout.mountpoint(name), refused, name)
      assert.throws(() => layout.upperMount(name), refused, name)
      assert.throws(() => layout.lowerMount(name), refused, name)
      assert.throws(() => layout.snapshotDir(name), refused, name)
      assert.throws(() => layout.snapshotImage('db', name), refused, name)
      assert.throws(() => layout.snapshotImage(name, 'seed'), refused, name)
    }
  })
})

describe('store: never writes what it would refuse to read', () => {
  it('refuses a change that would damage the state, and keeps the file as it was', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cbs-state-'))
    try {
      const store = new Store(layoutOf(root))
      await store.update((state) => (state.volumes = structuredClone(GOOD.volumes) as never))
      const before = readFileSync(layoutOf(root).stateFile, 'utf8')
      await assert.rejects(
        store.update((state) => state.volumes.db.attachments![0].containers.push('not an id')),
        /^Error: cbs would have written a damaged state \(volumes\.db\.attachments\.0\.containers\.1: "not an id" is not a container id\); nothing was written$/,
      )
      assert.equal(readFileSync(layoutOf(root).stateFile, 'utf8'), before)
    } finally {
      rmSync(root, {recursive: true, force: true})
    }
  })
})
