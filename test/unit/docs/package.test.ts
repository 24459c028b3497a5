import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import * as bundle from '../../../src/index.js'
import {REPO} from '../../support/integration.js'

const pjson = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'))

describe('package.json: what npm installs', () => {
  it('lists every man page in "man", so that `npm install -g` links them into man1', () => {
    const pages = readdirSync(join(REPO, 'man')).filter((file) => file.endsWith('.1')).sort().map((file) => `./man/${file}`)
    assert.deepEqual(pjson.man, pages, 'run `npm run man`')
  })

  it('ships the JSON schemas', () => {
    assert.ok(pjson.files.includes('schemas'))
  })

  it('ships what runs: bin, dist (the bundle, guardian.sh, cbs-mount-into), proto (cbs csi serve loads csi.proto), man', () => {
    for (const folder of ['bin', 'dist', 'proto', 'man', 'oclif.manifest.json']) assert.ok(pjson.files.includes(folder), folder)
  })

  it('its hooks name functions the bundle exports', () => {
    for (const [event, hook] of Object.entries(pjson.oclif.hooks as Record<string, {target: string; identifier: string}>)) {
      assert.equal(hook.target, pjson.oclif.commands.target, event)
      assert.equal(typeof (bundle as Record<string, unknown>)[hook.identifier], 'function', event)
    }
  })

  it('aliases follow docker (ls/list, rm/remove, inspect/show) and util-linux (unmount/umount)', () => {
    const aliases = Object.fromEntries(Object.entries(bundle.COMMANDS).map(([id, command]) => [id, command.aliases ?? []]))
    assert.deepEqual(aliases['volume:ls'], ['volume:list'])
    assert.deepEqual(aliases['volume:rm'], ['volume:remove'])
    assert.deepEqual(aliases['volume:inspect'], ['volume:show'])
    assert.deepEqual(aliases['volume:unmount'], ['volume:umount'])
    assert.deepEqual(aliases['volume:snapshot:ls'], ['volume:snapshot:list'])
    assert.deepEqual(aliases['volume:snapshot:rm'], ['volume:snapshot:remove'])
  })

  it('has a topic description for every topic', () => {
    const topics = new Set(Object.keys(bundle.COMMANDS).flatMap((id) => id.split(':').slice(0, -1).map((_, index, words) => words.slice(0, index + 1).join(':'))))
    for (const topic of topics) if (topic !== 'autocomplete') assert.ok(pjson.oclif.topics[topic]?.description, topic)
  })
})
