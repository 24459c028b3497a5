import assert from 'node:assert/strict'
import {chmodSync, existsSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runDoctor} from '../../../src/lib/doctor/doctor.js'
import {TOOLS} from '../../../src/lib/system/tools.js'
import type {Expectation} from '../../support/fake-executor.js'
import {type UnitContext, unitContext, withScript} from '../../support/unit-context.js'

const probes = (): Expectation[] => TOOLS.map(({name}) => ({command: new RegExp(`^${name.replace('.', '\\.')}( |$)`), stdout: `${name} 1.0`}))

describe('doctor: the root folder', () => {
  let ctx: UnitContext
  beforeEach(() => {
    ctx = unitContext()
  })
  afterEach(() => ctx.cleanup())

  it('reports a root others can write to, and repairs nothing in it', async () => {
    chmodSync(ctx.layout.root, 0o777)
    writeFileSync(join(ctx.layout.root, 'state.lock.999999999'), '')
    const run = withScript(ctx, probes())
    const report = await runDoctor(run, {fix: true})
    run.exec.assertDone()
    assert.equal(report.healthy, false)
    assert.deepEqual(report.repaired, [])
    const finding = report.findings.find((each) => each.check === 'root' && each.severity === 'error')
    assert.match(finding?.message ?? '', new RegExp(`${ctx.layout.root} is writable by group and others`))
    assert.match(finding?.fix ?? '', /chmod 0700/)
    assert.ok(existsSync(join(ctx.layout.root, 'state.lock.999999999')), 'left alone')
  })

  it('reports the lock debris of older versions, and --fix removes it (never a live process\'s)', async () => {
    const dead = join(ctx.layout.root, 'state.lock.999999999')
    const deadAside = join(ctx.layout.root, 'state.lock.stale.999999998')
    const live = join(ctx.layout.root, `state.lock.stale.${process.pid}`)
    for (const file of [dead, deadAside, live]) writeFileSync(file, '')
    const report = await runDoctor(withScript(ctx, probes()))
    assert.equal(report.healthy, false)
    assert.deepEqual(
      report.findings.filter((finding) => /stray lock/.test(finding.message)).map((finding) => finding.message),
      [`stray lock file ${dead}, left by an older cbs`, `stray lock file ${deadAside}, left by an older cbs`],
    )
    const run = withScript(ctx, [{command: `rm -f ${dead}`}, {command: `rm -f ${deadAside}`}, ...probes()])
    const fixed = await runDoctor(run, {fix: true})
    run.exec.assertDone()
    assert.equal(fixed.healthy, true, JSON.stringify(fixed.findings))
    assert.deepEqual([dead, deadAside, live].map((file) => existsSync(file)), [false, false, true])
  })
})
