import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {CommandFailed, SystemExecutor} from '../../../src/lib/system/exec.js'
import {REPO} from '../../support/integration.js'

/** The guardian behind Executor.hold, with harmless commands: `leave` touches a marker file. */
describe('Executor.hold (the guardian process)', function () {
  this.timeout(20_000)
  let dir: string
  let marker: string
  const exec = new SystemExecutor()
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cbs-guardian-'))
    marker = join(dir, 'left')
  })
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  async function eventually(check: () => boolean, ms = 5000): Promise<boolean> {
    for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(20)) if (check()) return true
    return check()
  }

  it('runs leave when released, once, and reports it was in time', async () => {
    const guard = await exec.hold(['true'], ['touch', marker], {boundMs: 10_000})
    assert.ok(!existsSync(marker))
    assert.equal(await guard.release(), true)
    assert.ok(existsSync(marker))
  })

  it('says how long enter took', async () => {
    const guard = await exec.hold(['sleep', '0.2'], ['touch', marker], {boundMs: 10_000})
    assert.ok(guard.enterMs >= 150 && guard.enterMs < 2000, `${guard.enterMs} ms`)
    await guard.release()
  })

  it('runs leave on its own when the bound passes; release then says so', async () => {
    const guard = await exec.hold(['true'], ['touch', marker], {boundMs: 300})
    assert.ok(await eventually(() => existsSync(marker)))
    assert.equal(await guard.release(), false)
  })

  it('runs leave at once when cbs is killed with SIGKILL', async () => {
    // A child process arms a hold and dies of SIGKILL: no handler of its own can run.
    const program = `
      import {SystemExecutor} from ${JSON.stringify(join(REPO, 'src/lib/system/exec.ts'))}
      await new SystemExecutor().hold(['true'], ['touch', ${JSON.stringify(marker)}], {boundMs: 60000})
      process.stdout.write('held\\n')
      await new Promise(() => setInterval(() => {}, 1000))`
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], {stdio: ['ignore', 'pipe', 'inherit']})
    await new Promise((resolve) => child.stdout.once('data', resolve))
    assert.ok(!existsSync(marker))
    child.kill('SIGKILL')
    assert.ok(await eventually(() => existsSync(marker), 3000), 'leave ran after SIGKILL, long before the bound')
  })

  it('throws when enter fails, and never runs leave', async () => {
    await assert.rejects(exec.hold(['false'], ['touch', marker], {boundMs: 200}), (error) => error instanceof CommandFailed && error.file === 'false')
    await sleep(400)
    assert.ok(!existsSync(marker))
  })

  it('reports a missing enter program as not installed', async () => {
    await assert.rejects(exec.hold(['cbs-no-such-program'], ['touch', marker], {boundMs: 200}), (error) => error instanceof CommandFailed && error.notInstalled)
  })

  it('fails the release when leave fails', async () => {
    const guard = await exec.hold(['true'], ['false'], {boundMs: 10_000})
    await assert.rejects(guard.release(), (error) => error instanceof CommandFailed && error.file === 'false')
  })
})
