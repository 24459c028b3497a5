import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {layoutOf} from '../../../src/lib/store/layout.js'
import {SCHEMA_VERSION} from '../../../src/lib/store/state.js'
import {Store} from '../../../src/lib/store/store.js'

// A state file as cbs 0.1 (schema 1) wrote it: snapshots without ids.
const V1 = {
  schemaVersion: 1,
  volumes: {
    db: {
      name: 'db', type: 'loop', fs: 'ext4', sizeBytes: 1073741824, labels: {}, createdAt: '2026-11-25T23:00:00.000Z',
      snapshots: {
        mon: {name: 'mon', volume: 'db', fs: 'ext4', sizeBytes: 1073741824, method: 'copy', labels: {}, createdAt: '2026-11-25T23:10:00.000Z'},
        tue: {name: 'tue', volume: 'db', fs: 'ext4', sizeBytes: 1073741824, method: 'copy', labels: {}, createdAt: '2026-11-26T23:10:00.000Z'},
      },
    },
    web: {name: 'web', type: 'loop', fs: 'xfs', sizeBytes: 1073741824, labels: {}, createdAt: '2026-11-25T23:00:00.000Z'},
  },
}

describe('state schema 1 -> 2', () => {
  let root: string
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'cbs-migrate-'))))
  afterEach(() => rmSync(root, {recursive: true, force: true}))

  it('gives every existing snapshot a unique UUID, kept once saved', async () => {
    assert.equal(SCHEMA_VERSION, 2)
    writeFileSync(join(root, 'state.json'), JSON.stringify(V1))
    const store = new Store(layoutOf(root))
    const read = store.read()
    assert.equal(read.schemaVersion, 2)
    const ids = Object.values(read.volumes.db.snapshots!).map((snapshot) => snapshot.id)
    for (const id of ids) assert.match(id, /^[0-9a-f-]{36}$/)
    assert.notEqual(ids[0], ids[1])
    await store.update(() => {})
    const saved = JSON.parse(readFileSync(join(root, 'state.json'), 'utf8'))
    assert.equal(saved.schemaVersion, 2)
    assert.deepEqual(Object.values(saved.volumes.db.snapshots).map((snapshot: any) => snapshot.id), Object.values(store.read().volumes.db.snapshots!).map((snapshot) => snapshot.id))
    assert.deepEqual(store.read().volumes.web, V1.volumes.web)
  })
})
