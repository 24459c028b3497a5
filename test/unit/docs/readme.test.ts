import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {REPO} from '../../support/integration.js'

const readme = readFileSync(join(REPO, 'README.md'), 'utf8')
const folders = (path: string) => readdirSync(join(REPO, path), {withFileTypes: true}).filter((entry) => entry.isDirectory()).map((entry) => entry.name)

describe('README', () => {
  it('opens with the two commands: install and create a volume, and run the tests', () => {
    const first = readme.split('\n').slice(0, 12).join('\n')
    assert.match(first, /sudo npm run setup && sudo \.\/bin\/run\.js volume create \S+ --size \S+/)
    assert.match(first, /sudo npm run setup && sudo npm test/)
  })

  it('its layout names every folder of src/lib and of src', () => {
    const layout = readme.slice(readme.indexOf('- Layout:'))
    for (const folder of folders('src/lib')) assert.match(layout, new RegExp(`^  - \`${folder}/\`: `, 'm'), `src/lib/${folder}`)
    for (const folder of folders('src').filter((name) => name !== 'lib')) assert.ok(layout.includes(`\`src/${folder}\``), `src/${folder}`)
  })
})
