import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {DoctorReport} from '../../src/lib/doctor/doctor.js'
import type {Volume} from '../../src/lib/volumes/volume.js'
import {detachLoop, fillFilesystem, fingerprint, runAndKill, smallHostFilesystem, writeData} from '../support/faults.js'
import {cbs, json, jsonOne, leftovers, makeRoot, removeRoot, requireHost, sh} from '../support/integration.js'

const MiB = 1024 ** 2

/**
 * Fault injection: cbs is killed with SIGKILL at each step of each command that changes the
 * system (CBS_TEST_PAUSE_AT, see src/lib/common/checkpoint.ts) and after a sweep of delays; then
 * `cbs doctor --fix` must leave a host that `cbs doctor` calls healthy, where no volume that
 * existed before lost a byte.
 */
describe('integration: crash safety (kill -9 at every step, then doctor --fix)', function () {
  this.timeout(300_000)
  let root: string
  /** Volumes that must come through everything untouched, and their data. */
  let bystanders: Record<string, Record<string, string>>
  const counts = {kills: 0, recovered: 0}

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'mkfs.xfs', 'resize2fs', 'xfs_growfs', 'e2fsck', 'chattr', 'fsfreeze'])
    root = makeRoot()
    bystanders = {}
    for (const [name, fs, size] of [
      ['keep-ext4', 'ext4', '16M'],
      ['keep-xfs', 'xfs', '300M'],
    ]) {
      const volume = create(name, size, fs)
      writeData(volume.mountpoint)
      bystanders[name] = fingerprint(volume.mountpoint)
    }
  })
  after(() => {
    console.log(`      ${counts.kills} kills, ${counts.recovered} operations finished or rolled back by doctor --fix`)
    if (!root) return
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  function create(name: string, size: string, fs = 'ext4'): Volume {
    const result = cbs(root, ['volume', 'create', name, '--size', size, '--fs', fs, '--json'])
    assert.equal(result.code, 0, result.stdout + result.stderr)
    return jsonOne<Volume>(result)
  }

  const volumes = () => json<Volume[]>(cbs(root, ['volume', 'ls', '--json']))

  /** doctor --fix, then doctor: healthy; the bystanders mounted with every byte. */
  function assertRecovers(what: string): void {
    const fixed = cbs(root, ['doctor', '--fix', '--json'])
    const report = json<DoctorReport>(fixed)
    counts.recovered += report.repaired.filter((line) => /^(finished|rolled back)/.test(line)).length
    const check = cbs(root, ['doctor'])
    assert.equal(check.code, 0, `${what}: not healthy after doctor --fix:\n${report.repaired.join('\n')}\n${check.stdout}${check.stderr}`)
    for (const [name, sums] of Object.entries(bystanders)) {
      const volume = volumes().find((each) => each.name === name)
      assert.equal(volume?.status, 'mounted', `${what}: ${name}`)
      assert.deepEqual(fingerprint(volume.mountpoint), sums, `${what}: ${name} lost data`)
    }
  }

  async function kill(args: string[], step: string): Promise<void> {
    const killed = await runAndKill(root, args, {step})
    assert.equal(killed.pausedAt, step, `never reached ${step} (exit ${killed.code}): ${killed.stderr}`)
    counts.kills++
  }

  const remove = (name: string) => assert.equal(cbs(root, ['volume', 'rm', '--force', '--recursive', name]).code, 0)

  for (const step of ['create:image', 'create:attach', 'create:format', 'create:mountpoint', 'create:mount', 'create:done']) {
    it(`volume create killed at ${step}`, async () => {
      await kill(['volume', 'create', 'victim', '--size', '16M'], step)
      assertRecovers(step)
      const victim = volumes().find((volume) => volume.name === 'victim')
      // Only a create that had mounted is kept; any earlier one is rolled back without a trace.
      if (step === 'create:done') assert.equal(victim?.status, 'mounted')
      else assert.equal(victim, undefined)
      remove('victim')
    })
  }

  for (const step of ['remove:unmount', 'remove:discard']) {
    it(`volume rm killed at ${step}`, async () => {
      writeData(create('victim', '16M').mountpoint)
      await kill(['volume', 'rm', 'victim'], step)
      assertRecovers(step)
      assert.equal(volumes().find((volume) => volume.name === 'victim'), undefined, 'a remove is finished')
      assert.equal(readdirSync(join(root, 'images')).includes('victim.img'), false)
    })
  }

  for (const [fs, from, to, steps] of [
    ['ext4', '32M', '48M', ['resize:grow-image', 'resize:set-capacity', 'resize:grow-filesystem', 'resize:restore-mount', 'resize:done']],
    ['xfs', '300M', '400M', ['resize:grow-image', 'resize:set-capacity', 'resize:grow-filesystem', 'resize:done']],
  ] as const) {
    for (const step of steps) {
      it(`volume resize (${fs}) killed at ${step}`, async () => {
        const volume = create('victim', from, fs)
        writeData(volume.mountpoint)
        const sums = fingerprint(volume.mountpoint)
        await kill(['volume', 'resize', 'victim', '--size', to], step)
        assertRecovers(step)
        const after = volumes().find((each) => each.name === 'victim')!
        assert.equal(after.status, 'mounted')
        // Before the filesystem grows a resize is rolled back; from then on it is finished.
        const finished = ['resize:grow-filesystem', 'resize:restore-mount', 'resize:done'].includes(step)
        assert.equal(after.sizeBytes, Number.parseInt(finished ? to : from, 10) * MiB)
        assert.deepEqual(fingerprint(after.mountpoint), sums, 'the resized volume lost data')
        remove('victim')
      })
    }
  }

  for (const step of ['snapshot:copy', 'snapshot:frozen', 'snapshot:move', 'snapshot:done']) {
    it(`volume snapshot create killed at ${step}: the volume is thawed, the snapshot rolled back`, async () => {
      const volume = create('victim', '32M')
      writeData(volume.mountpoint)
      const sums = fingerprint(volume.mountpoint)
      await kill(['volume', 'snapshot', 'create', 'victim', 's1'], step)
      // Frozen, this write would hang: the guardian process thawed it when cbs died.
      const write = spawnSync('sh', ['-c', `echo after > ${volume.mountpoint}/after && sync -f ${volume.mountpoint}/after`], {timeout: 20_000})
      assert.equal(write.status, 0, `${step}: the volume stayed frozen`)
      assertRecovers(step)
      assert.equal(cbs(root, ['volume', 'snapshot', 'ls', 'victim', '-q']).stdout, '')
      const dir = join(root, 'snapshots', 'victim')
      assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], [], 'no snapshot file is left')
      const {after: _, ...kept} = fingerprint(volume.mountpoint)
      assert.deepEqual(kept, sums)
      remove('victim')
    })
  }

  it('kill -9 after a sweep of delays, mid-step (programs cbs started run on): create, rm, resize', async () => {
    // Delays spread over how long each command takes here, measured first.
    const fractions = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    const timed = (run: () => void) => {
      const start = Date.now()
      run()
      return Date.now() - start
    }
    const createMs = timed(() => create('victim', '32M'))
    const resizeMs = timed(() => assert.equal(cbs(root, ['volume', 'resize', 'victim', '--size', '48M']).code, 0))
    const rmMs = timed(() => remove('victim'))
    const sweep = async (what: string, durationMs: number, args: string[], before: () => void, after: () => void) => {
      for (const fraction of fractions) {
        before()
        const delayMs = Math.round(durationMs * fraction)
        await runAndKill(root, args, {delayMs})
        counts.kills++
        assertRecovers(`${what} killed after ${delayMs}ms`)
        after()
      }
    }
    await sweep('create', createMs, ['volume', 'create', 'victim', '--size', '32M'], () => {}, () => remove('victim'))
    await sweep('rm', rmMs, ['volume', 'rm', 'victim'], () => create('victim', '32M'), () => remove('victim'))
    let sums: Record<string, string> = {}
    await sweep(
      'resize',
      resizeMs,
      ['volume', 'resize', 'victim', '--size', '48M'],
      () => {
        const volume = create('victim', '32M')
        writeData(volume.mountpoint)
        sums = fingerprint(volume.mountpoint)
      },
      () => {
        assert.deepEqual(fingerprint(`${root}/mounts/victim`), sums, 'the resized volume lost data')
        remove('victim')
      },
    )
  })
})

describe('integration: reboot, full host disk, corrupted state', function () {
  this.timeout(120_000)
  let root: string

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'chattr', 'blkid'])
  })
  beforeEach(() => {
    root = makeRoot()
  })
  afterEach(() => {
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  const create = (name: string, size = '16M') => {
    const result = cbs(root, ['volume', 'create', name, '--size', size, '--json'])
    assert.equal(result.code, 0, result.stderr)
    return jsonOne<Volume>(result)
  }

  it('a simulated reboot (every mount and loop device gone behind cbs\'s back): mount --all brings back every byte', () => {
    const volumes = ['a', 'b', 'c'].map((name) => create(name))
    const sums = volumes.map((volume) => {
      writeData(volume.mountpoint)
      return fingerprint(volume.mountpoint)
    })
    for (const volume of volumes) sh('umount', [volume.mountpoint])
    for (const volume of volumes) detachLoop(volume.device!)
    // Volumes meant to be mounted that are down are what a reboot without the boot unit leaves.
    const before = cbs(root, ['doctor'])
    assert.equal(before.code, 1, before.stdout)
    for (const name of ['a', 'b', 'c']) assert.match(before.stdout, new RegExp(`volume "${name}" is meant to be mounted but is not\\n\\s+fix: cbs volume mount ${name} `))
    const mounted = cbs(root, ['volume', 'mount', '--all'])
    assert.equal(mounted.code, 0, mounted.stderr)
    volumes.forEach((volume, index) => assert.deepEqual(fingerprint(volume.mountpoint), sums[index]))
    assert.equal(cbs(root, ['doctor']).code, 0)
  })

  it('a full host disk during create fails cleanly (exit 5), leaves nothing behind, and keeps the other volumes', () => {
    const host = smallHostFilesystem(`${root}/host`, 64)
    const cbsRoot = `${host.mountpoint}/cbs`
    try {
      const run = (args: string[]) => cbs(cbsRoot, args)
      const keep = jsonOne<Volume>(run(['volume', 'create', 'keep', '--size', '8M', '--json']))
      writeData(keep.mountpoint, 2, 64 * 1024)
      const sums = fingerprint(keep.mountpoint)
      // Fill the host filesystem to the last block.
      fillFilesystem(`${host.mountpoint}/filler`)
      const full = run(['volume', 'create', 'new', '--size', '32M'])
      assert.equal(full.code, 5, `${full.stdout}${full.stderr}`)
      assert.match(full.stderr, /^cbs: .*(no space left|ENOSPC)/i)
      assert.deepEqual(json<Volume[]>(run(['volume', 'ls', '--json'])).map((volume) => volume.name), ['keep'])
      assert.deepEqual(readdirSync(`${cbsRoot}/images`), ['keep.img'])
      assert.deepEqual(fingerprint(keep.mountpoint), sums)
      const report = run(['doctor'])
      assert.equal(report.code, 1, 'a full host is a fault')
      assert.match(report.stdout, /^error\s+space\s+/m)
      sh('rm', [`${host.mountpoint}/filler`, `${host.mountpoint}/filler.tail`])
      assert.equal(run(['doctor']).code, 0, run(['doctor']).stdout)
      assert.equal(run(['volume', 'create', 'new', '--size', '32M']).code, 0)
      assert.equal(run(['volume', 'rm', 'keep', 'new']).code, 0)
    } finally {
      removeRoot(cbsRoot)
      host.remove()
    }
  })

  it('a corrupted state file: every command refuses (exit 5); doctor --fix keeps it aside and records the volumes again', () => {
    const volumes = ['a', 'b'].map((name) => create(name))
    const sums = volumes.map((volume) => {
      writeData(volume.mountpoint)
      return fingerprint(volume.mountpoint)
    })
    const state = join(root, 'state.json')
    writeFileSync(state, readFileSync(state, 'utf8').slice(0, 40))
    assert.equal(cbs(root, ['volume', 'ls']).code, 5)
    const report = cbs(root, ['doctor'])
    assert.equal(report.code, 1)
    assert.match(report.stdout, /^error\s+state\s+\S+state\.json is not valid JSON/m)
    const fixed = cbs(root, ['doctor', '--fix'])
    assert.equal(fixed.code, 0, fixed.stdout)
    assert.match(fixed.stdout, /recorded 2 volume\(s\) again from their images: a, b/)
    assert.equal(readdirSync(root).filter((name) => name.startsWith('state.json.corrupt-')).length, 1)
    const listed = json<Volume[]>(cbs(root, ['volume', 'ls', '--json']))
    assert.deepEqual(listed.map((volume) => [volume.name, volume.fs, volume.status, volume.sizeBytes]), [
      ['a', 'ext4', 'mounted', 16 * MiB],
      ['b', 'ext4', 'mounted', 16 * MiB],
    ])
    volumes.forEach((volume, index) => assert.deepEqual(fingerprint(volume.mountpoint), sums[index]))
  })
})
