import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {REPO} from '../../support/integration.js'

describe('man pages in man/', () => {
  it('match the commands (regenerate with `npm run build && npm run man`)', function () {
    if (!existsSync(`${REPO}/oclif.manifest.json`)) {
      // `npm test` builds first, so under CI=true a missing manifest is a broken build, not a reason to skip.
      if (process.env.CI === 'true') throw new Error('oclif.manifest.json is missing: npm run build')
      console.log('      SKIPPED (no oclif.manifest.json: npm run build)')
      this.skip()
    }
    const check = spawnSync(process.execPath, ['scripts/man.js', '--check'], {cwd: REPO, encoding: 'utf8'})
    assert.equal(check.status, 0, check.stdout + check.stderr)
  })
})
