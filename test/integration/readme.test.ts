import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {cbs, leftovers, makeRoot, REPO, removeRoot, requireHost} from '../support/integration.js'

/**
 * The README's examples are real runs: every ```console block after a
 * `<!-- checked by test/integration/readme.test.ts -->` marker is run here, command by command,
 * in a fresh CBS_ROOT (the marker may name commands to run first: `before: cbs ...; cbs ...`),
 * and each command's output must have the README's shape: the same lines, the same words, with
 * sizes, numbers, times, ids and loop devices left out. JSON outputs only need to be JSON of the
 * same kind (array or object): their fields are the schemas' business. Commands piped into other
 * programs are not run.
 */

const MARKER = /^<!-- checked by test\/integration\/readme\.test\.ts(?:; before: (.*))? -->$/
const README_ROOT = '/var/lib/cbs'

interface Step {
  command: string
  expected: string[]
}

interface Block {
  line: number
  before: string[]
  steps: Step[]
}

function checkedBlocks(text: string): Block[] {
  const lines = text.split('\n')
  const blocks: Block[] = []
  for (const [index, line] of lines.entries()) {
    const marker = MARKER.exec(line)
    if (!marker) continue
    assert.equal(lines[index + 1], '```console', `README line ${index + 2}: a checked block is a console block`)
    const block: Block = {line: index + 1, before: marker[1]?.split(';').map((each) => each.trim()) ?? [], steps: []}
    for (const text of lines.slice(index + 2, lines.indexOf('```', index + 2))) {
      if (text.startsWith('$ ')) block.steps.push({command: text.slice(2), expected: []})
      else block.steps.at(-1)!.expected.push(text)
    }
    blocks.push(block)
  }
  return blocks
}

/** Words of a command line, quotes removed (the README's commands need nothing more of a shell). */
function words(command: string): string[] {
  const found = command.replace(/\s+#\s.*$/, '').match(/'[^']*'|"[^"]*"|\S+/g) ?? []
  return found.map((word) => word.replace(/^'(.*)'$|^"(.*)"$/, '$1$2'))
}

/** What a line of output says, without what changes from run to run. */
function shape(line: string): string {
  return line
    .replace(/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?Z?/g, '<time>')
    .replace(/\d{8}T\d{6}Z/g, '<stamp>')
    .replace(/\/dev\/loop\d+/g, '/dev/loop<n>')
    .replace(/\b[0-9a-f]{12,64}\b/g, '<id>')
    .replace(/\b\d+(\.\d+)?[KMGT]?B?\b/g, '<n>')
    .replace(/\s+/g, ' ')
    .trim()
}

const jsonKind = (text: string) => {
  try {
    const value: unknown = JSON.parse(text)
    return Array.isArray(value) ? 'array' : typeof value
  } catch {
    return 'not JSON'
  }
}

describe('integration: the README examples are what cbs prints', function () {
  this.timeout(300_000)
  const blocks = checkedBlocks(readFileSync(join(REPO, 'README.md'), 'utf8'))
  let root: string

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'mkfs.xfs', 'chattr'])
  })
  beforeEach(() => {
    root = makeRoot()
  })
  afterEach(() => {
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  it('finds the checked blocks', () => assert.ok(blocks.length >= 4, `only ${blocks.length} checked blocks`))

  for (const block of blocks) {
    it(`README line ${block.line}: ${block.steps.map((step) => words(step.command).slice(1, 4).join(' ')).join('; ').slice(0, 100)}`, () => {
      // Names the README shows that cbs makes up (snapshot names from the time): the real ones.
      const renamed = new Map<string, string>()
      const run = (command: string) => {
        const argv = words(command).map((word) => [...renamed].reduce((each, [from, to]) => each.replaceAll(from, to), word.replaceAll(README_ROOT, root)))
        const args = argv[0] === 'sudo' ? argv.slice(1) : argv
        assert.equal(args[0], 'cbs', `README line ${block.line}: a checked command runs cbs: ${command}`)
        return cbs(root, args.slice(1))
      }
      for (const command of block.before) assert.equal(run(command).code, 0, command)
      for (const step of block.steps) {
        if (/\s\|\s/.test(step.command)) continue
        const result = run(step.command)
        const output = `${result.stdout}${result.stderr}`.replaceAll(root, README_ROOT).replace(/\n$/, '')
        const expected = step.expected.join('\n')
        for (const [index, stamp] of (expected.match(/\d{8}T\d{6}Z/g) ?? []).entries()) {
          const actual = output.match(/\d{8}T\d{6}Z/g)?.[index]
          if (actual) renamed.set(stamp, actual)
        }
        // CBS_README_PRINT=1: print what cbs says, to update the README from a real run.
        if (process.env.CBS_README_PRINT) {
          console.log(`$ ${step.command}\n${output}`)
          continue
        }
        if (words(step.command).includes('--json')) {
          assert.equal(jsonKind(output), jsonKind(expected), `$ ${step.command}`)
          continue
        }
        assert.deepEqual((output === '' ? [] : output.split('\n')).map(shape), step.expected.map(shape), `$ ${step.command}`)
      }
    })
  }
})
