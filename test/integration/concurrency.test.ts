import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import {join} from 'node:path'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {cbs, cbsAsync, json, leftovers, makeRoot, REPO, removeRoot, requireHost, sh} from '../support/integration.js'

/** A small deterministic generator, so that a failing mix can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    return seed / 2 ** 31
  }
}

describe('integration: 200 concurrent mixed calls', function () {
  this.timeout(180_000)
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

  it('create, rm, snapshot and ls on 12 names at once: every call answers 0, 3 or 4, and the store matches the system', async () => {
    const next = random(6)
    const names = Array.from({length: 12}, (_, index) => `v${index}`)
    const calls = Array.from({length: 200}, () => {
      const name = names[Math.floor(next() * names.length)]
      const pick = next()
      if (pick < 0.4) return ['volume', 'create', name, '--size', '8M']
      if (pick < 0.55) return ['volume', 'rm', name]
      if (pick < 0.7) return ['volume', 'rm', '--force', '--recursive', name]
      if (pick < 0.85) return ['volume', 'snapshot', 'create', name, `s${Math.floor(next() * 3)}`]
      return ['volume', 'ls', '--json']
    })
    const start = Date.now()
    const results = await Promise.all(calls.map((args) => cbsAsync(root, args)))
    const seconds = (Date.now() - start) / 1000

    const tally: Record<string, number> = {}
    results.forEach((result, index) => {
      const key = `${calls[index].slice(1, 3).filter((word) => !/^v\d/.test(word)).join(' ')} exit ${result.code}`
      tally[key] = (tally[key] ?? 0) + 1
      // With --json the error is on stdout: show both, or a failure says nothing.
      const output = `${calls[index].join(' ')}: exit ${result.code}: stdout: ${result.stdout.trim()} stderr: ${result.stderr.trim()}`
      assert.ok([0, 3, 4].includes(result.code), output)
      if (calls[index][1] === 'ls') assert.equal(result.code, 0, output)
    })
    console.log(`      200 calls in ${seconds.toFixed(1)}s: ${JSON.stringify(tally)}`)

    // The store against the system: every volume mounted on its own device, nothing else left.
    const volumes = json<Volume[]>(cbs(root, ['volume', 'ls', '--json']))
    for (const volume of volumes) {
      assert.equal(volume.status, 'mounted', volume.name)
      assert.equal(sh('findmnt', ['-n', '-o', 'SOURCE', volume.mountpoint]).trim(), volume.device)
    }
    assert.equal(new Set(volumes.map((volume) => volume.device)).size, volumes.length)
    assert.deepEqual(readdirSync(join(root, 'images')).sort(), volumes.map((volume) => `${volume.name}.img`).sort())
    assert.deepEqual(readdirSync(join(root, 'mounts')).sort(), volumes.map((volume) => volume.name).sort())
    const loops = sh('losetup', ['-n', '-O', 'BACK-FILE', '-l']).split('\n').filter((line) => line.startsWith(`${root}/`))
    assert.equal(loops.length, volumes.length)
    const snapshots = json<Array<{name: string; status: string; image: string}>>(cbs(root, ['volume', 'snapshot', 'ls', '--json']))
    for (const snapshot of snapshots) assert.equal(snapshot.status, 'ready', snapshot.name)
    const files = volumes.flatMap((volume) => (existsSync(join(root, 'snapshots', volume.name)) ? readdirSync(join(root, 'snapshots', volume.name)).map((file) => join(root, 'snapshots', volume.name, file)) : []))
    assert.deepEqual(files.sort(), snapshots.map((snapshot) => snapshot.image).sort())
    console.log(`      ${volumes.length} volumes and ${snapshots.length} snapshots at the end, checked against the system`)
    const doctor = cbs(root, ['doctor'])
    assert.equal(doctor.code, 0, `${doctor.stdout}${doctor.stderr}`)
  })

  it('ls answers while another command removes a volume between its reads of the mounts and of the usage', async () => {
    assert.equal(cbs(root, ['volume', 'create', 'v', '--size', '8M']).code, 0)
    const pause = mkdtempSync('/tmp/cbs-it-pause-')
    try {
      const env = {NODE_OPTIONS: `--require ${join(REPO, 'test/support/pause-statfs.cjs')}`, CBS_PAUSE_UNDER: join(root, 'mounts'), CBS_PAUSE_DIR: pause}
      let done = false
      const listing = cbsAsync(root, ['volume', 'ls', '--json'], {env}).finally(() => (done = true))
      while (!existsSync(join(pause, 'waiting')) && !done) await sleep(20)
      const removed = cbs(root, ['volume', 'rm', 'v'])
      assert.equal(removed.code, 0, removed.stderr)
      writeFileSync(join(pause, 'go'), '')
      const result = await listing
      assert.equal(result.code, 0, `stdout: ${result.stdout} stderr: ${result.stderr}`)
      const [volume] = json<Volume[]>(result)
      assert.deepEqual([volume.name, volume.usedBytes], ['v', null], 'as the mounts were read, its usage unknown')
    } finally {
      writeFileSync(join(pause, 'go'), '')
      rmSync(pause, {recursive: true, force: true})
    }
  })
})
