import assert from 'node:assert/strict'
import {chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {layoutOf} from '../../../src/lib/store/layout.js'
import {FileLock, strayLockFiles} from '../../../src/lib/store/lock.js'
import {resolveRoot, unsafeFolder} from '../../../src/lib/store/root.js'
import {Store} from '../../../src/lib/store/store.js'
import {exitCodeOf, exitCodeOfSync} from '../../support/exit-codes.js'

const folder = (path: string, uid: number, mode: number) => ({path, uid, mode: 0o040000 | mode})

describe('root folder safety (sshd StrictModes)', () => {
  const cases: Array<[string, ReturnType<typeof folder>[], string | undefined]> = [
    ['a 0700 root folder in /tmp (sticky, root-owned)', [folder('/tmp/r', 0, 0o700), folder('/tmp', 0, 0o1777), folder('/', 0, 0o755)], undefined],
    ['a 0755 root under /var/lib', [folder('/var/lib/cbs', 0, 0o755), folder('/var/lib', 0, 0o755), folder('/var', 0, 0o755), folder('/', 0, 0o755)], undefined],
    ['a root owned by nobody', [folder('/tmp/r', 65_534, 0o700), folder('/tmp', 0, 0o1777)], '/tmp/r'],
    ['a root writable by others', [folder('/tmp/r', 0, 0o777), folder('/tmp', 0, 0o1777)], '/tmp/r'],
    ['a sticky world-writable root (the root itself is never let off)', [folder('/tmp/r', 0, 0o1777), folder('/tmp', 0, 0o1777)], '/tmp/r'],
    ['a group-writable parent', [folder('/srv/x/r', 0, 0o700), folder('/srv/x', 0, 0o775), folder('/srv', 0, 0o755)], '/srv/x'],
    ['a parent owned by another user', [folder('/home/u/r', 0, 0o700), folder('/home/u', 1000, 0o755)], '/home/u'],
    ['a sticky world-writable parent owned by another user', [folder('/scratch/r', 0, 0o700), folder('/scratch', 1000, 0o1777)], '/scratch'],
  ]
  for (const [what, chain, unsafe] of cases) {
    it(`${unsafe ? 'refuses' : 'accepts'} ${what}`, () => {
      assert.equal(unsafeFolder(chain, 0)?.path, unsafe)
    })
  }
})

describe('store under a hostile root', () => {
  let base: string
  let root: string
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'cbs-root-'))
    root = join(base, 'root')
    mkdirSync(root, {mode: 0o700})
  })
  afterEach(() => rmSync(base, {recursive: true, force: true}))

  it('refuses (exit 5) a root others can write to, naming the folder and the fix', async () => {
    chmodSync(root, 0o777)
    const store = new Store(layoutOf(root))
    assert.equal(exitCodeOfSync(() => store.read()), 5)
    await assert.rejects(store.update(() => {}), new RegExp(`${root} is writable by group and others .*chmod 0700 ${root}`))
    assert.deepEqual(readdirSync(root), [], 'nothing written')
  })

  it('refuses (exit 5) a root owned by another user', async function () {
    if (process.geteuid?.() !== 0) {
      if (process.env.CI === 'true') throw new Error('chown needs root: CI runs as root')
      console.log('      SKIPPED (chown needs root)')
      return this.skip()
    }
    chownSync(root, 65_534, 65_534)
    assert.equal(await exitCodeOf(new Store(layoutOf(root)).update(() => {})), 5)
  })

  it('judges the root again once it exists: one someone else made first is refused', async () => {
    const later = join(base, 'later')
    const store = new Store(layoutOf(later))
    assert.deepEqual(store.read().volumes, {}, 'no root yet: an empty state')
    mkdirSync(later, {mode: 0o777})
    chmodSync(later, 0o777)
    assert.equal(await exitCodeOf(store.update(() => {})), 5)
    assert.deepEqual(readdirSync(later), [])
  })

  it('never writes through links planted where the lock or its drafts go', async () => {
    const victim = join(base, 'victim')
    writeFileSync(victim, 'precious')
    for (const name of ['state.lock', `state.lock.${process.pid}`, `state.lock.stale.${process.pid}`, `state.reserve`]) symlinkSync(victim, join(root, name))
    // The planted state.lock names no live owner: it is taken over (moved aside), not written through.
    const release = await new FileLock(join(root, 'state.lock'), 1000).acquire()
    release()
    assert.equal(readFileSync(victim, 'utf8'), 'precious')
  })

  it('refuses (exit 5) a state file that is a symbolic link, and writes nothing through it', async () => {
    const victim = join(base, 'victim')
    writeFileSync(victim, '{"schemaVersion":1,"volumes":{}}')
    symlinkSync(victim, join(root, 'state.json'))
    const store = new Store(layoutOf(root))
    assert.equal(exitCodeOfSync(() => store.read()), 5)
    assert.equal(await exitCodeOf(store.update(() => {})), 5)
    assert.equal(readFileSync(victim, 'utf8'), '{"schemaVersion":1,"volumes":{}}')
    assert.ok(lstatSync(join(root, 'state.json')).isSymbolicLink())
  })
})

describe('the lock needs no space', () => {
  let root: string
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'cbs-lock-'))
  })
  afterEach(() => rmSync(root, {recursive: true, force: true}))

  it('is a link naming its owner: no file is written, and nothing is left after release', async () => {
    const lock = join(root, 'state.lock')
    const release = await new FileLock(lock).acquire()
    assert.ok(lstatSync(lock).isSymbolicLink())
    assert.deepEqual(readdirSync(root), ['state.lock'])
    release()
    assert.deepEqual(readdirSync(root), [])
  })

  it('keeps a space reserve beside the state once it has written it', async () => {
    await new Store(layoutOf(root)).update(() => {})
    assert.deepEqual(readdirSync(root).sort(), ['state.json', 'state.reserve'])
    assert.equal(lstatSync(join(root, 'state.reserve')).size, 1024 ** 2)
    truncateSync(join(root, 'state.reserve'), 4096) // what a full disk left of it
    await new Store(layoutOf(root)).update(() => {})
    assert.equal(lstatSync(join(root, 'state.reserve')).size, 1024 ** 2, 'filled up again')
  })

  it('tells the lock debris of older versions from everything else', () => {
    const names = ['state.lock', 'state.lock.123', 'state.lock.stale.45', 'state.json', 'state.reserve', 'lowers.lock.9', 'state.lock.x']
    assert.deepEqual(strayLockFiles(names, join(root, 'state.lock')), ['state.lock.123', 'state.lock.stale.45'])
    assert.deepEqual(strayLockFiles(names, join(root, 'lowers.lock')), ['lowers.lock.9'])
  })
})

describe('resolveRoot', () => {
  let base: string
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'cbs-real-'))
  })
  afterEach(() => rmSync(base, {recursive: true, force: true}))

  it('resolves a symbolic link to the real folder, once, keeping a tail that does not exist yet', () => {
    mkdirSync(join(base, 'real'))
    symlinkSync(join(base, 'real'), join(base, 'link'))
    assert.equal(resolveRoot(join(base, 'link')), join(base, 'real'))
    assert.equal(resolveRoot(join(base, 'link', 'new', 'cbs')), join(base, 'real', 'new', 'cbs'))
    assert.ok(!existsSync(join(base, 'real', 'new')))
  })
})
