import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {layoutOf} from '../../../src/lib/store/layout.js'
import {FileLock} from '../../../src/lib/store/lock.js'
import {Store} from '../../../src/lib/store/store.js'

describe('store', () => {
  let root: string
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'cbs-store-'))
  })
  afterEach(() => rmSync(root, {recursive: true, force: true}))

  it('reads an empty state when there is no file yet', () => {
    assert.deepEqual(new Store(layoutOf(root)).read(), {schemaVersion: 2, volumes: {}})
  })

  it('round-trips changes through conf', async () => {
    const store = new Store(layoutOf(root))
    await store.update((state) => {
      state.volumes.db = {name: 'db', type: 'loop', fs: 'ext4', sizeBytes: 1, labels: {}, createdAt: 'now'}
    })
    assert.equal(new Store(layoutOf(root)).read().volumes.db.fs, 'ext4')
  })

  it('serialises 20 concurrent updates without losing one', async () => {
    const store = new Store(layoutOf(root))
    await Promise.all(
      Array.from({length: 20}, (_, index) =>
        store.update((state) => {
          state.volumes[`v${index}`] = {name: `v${index}`, type: 'loop', fs: 'ext4', sizeBytes: 1, labels: {}, createdAt: 'now'}
        }),
      ),
    )
    assert.equal(Object.keys(store.read().volumes).length, 20)
  })

  it('one process (the plugin server and its requests): 200 concurrent read-modify-writes through several stores lose none', async () => {
    const stores = Array.from({length: 4}, () => new Store(layoutOf(root)))
    const bump = (state: {volumes: Record<string, any>}) => {
      const counter = (state.volumes.counter ??= {name: 'counter', type: 'loop', fs: 'ext4', sizeBytes: 0, labels: {}, createdAt: 'now'})
      counter.sizeBytes += 1
    }
    await Promise.all(Array.from({length: 200}, (_, index) => stores[index % stores.length].update(bump)))
    assert.equal(new Store(layoutOf(root)).read().volumes.counter.sizeBytes, 200)
  })
})

describe('lock', () => {
  let root: string
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'cbs-lock-'))
  })
  afterEach(() => rmSync(root, {recursive: true, force: true}))

  it('takes over a lock whose owner was killed', async () => {
    const child = spawn('sleep', ['10'])
    const deadPid = child.pid!
    child.kill('SIGKILL')
    await new Promise((resolve) => child.on('exit', resolve))
    writeFileSync(join(root, 'l'), `${deadPid} 12345`)
    const release = await new FileLock(join(root, 'l'), 1000).acquire()
    release()
    assert.ok(!existsSync(join(root, 'l')))
  })

  it('excludes holders in the same process too: a holder that awaits keeps the others out', async () => {
    const lock = join(root, 'l')
    let inside = 0
    let most = 0
    await Promise.all(
      Array.from({length: 20}, async () => {
        const release = await new FileLock(lock).acquire()
        inside += 1
        most = Math.max(most, inside)
        await new Promise((resolve) => setImmediate(resolve))
        inside -= 1
        release()
      }),
    )
    assert.equal(most, 1)
    assert.ok(!existsSync(lock))
  })

  it('waits for a live owner and gives up with exit 4', async () => {
    const release = await new FileLock(join(root, 'l')).acquire()
    await assert.rejects(new FileLock(join(root, 'l'), 100).acquire(), (error: Error & {exitCode?: number}) => error.exitCode === 4)
    release()
  })

  it('lets callers within one process hold it one at a time, in order, while they await', async () => {
    const lock = join(root, 'l')
    const events: string[] = []
    await Promise.all(
      [0, 1, 2, 3].map(async (index) => {
        const release = await new FileLock(lock).acquire()
        events.push(`in ${index}`)
        await new Promise((resolve) => setTimeout(resolve, 5))
        events.push(`out ${index}`)
        release()
      }),
    )
    assert.deepEqual(events, ['in 0', 'out 0', 'in 1', 'out 1', 'in 2', 'out 2', 'in 3', 'out 3'])
    assert.ok(!existsSync(lock))
  })

  it('frees its place in the queue when it gives up', async () => {
    const lock = join(root, 'l')
    const release = await new FileLock(lock).acquire()
    await assert.rejects(new FileLock(lock, 20).acquire(), (error: Error & {exitCode?: number}) => error.exitCode === 4)
    release()
    const again = await new FileLock(lock, 1000).acquire()
    again()
  })
})
