import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

// @ts-ignore -- plain ESM JavaScript without type declarations
import * as man from '../../../scripts/man.js'

const {
  commandIds,
  compareDir,
  escapeCode,
  escapeText,
  pageFile,
  parseExamples,
  renderAll,
  renderIndex,
  renderPage,
  substitute,
  writeDir,
} = man as any

const here = dirname(fileURLToPath(import.meta.url))
const script = resolve(here, '../../../scripts/man.js')

function fixture(): any {
  return {
    version: '1.2.3',
    commands: {
      'volume:create': {
        id: 'volume:create',
        summary: 'Create a volume.',
        description:
          'Creates a loop-backed volume under C:\\temp\\x (a \\fB literal).\n' +
          '.dot at line start\n' +
          "'apostrophe at line start\n\n" +
          'Run `<%= config.bin %> volume list` afterwards; pass --dry-run to preview. Größe in GiB.\n\n' +
          'Layout:\n  $CBS_ROOT/volumes/NAME.img\n  .hidden-looking line',
        examples: [
          '<%= config.bin %> <%= command.id %> data --size 10G',
          'Create an XFS volume\n$ <%= config.bin %> <%= command.id %> db --size 20G --fs xfs',
          {
            description: 'Label with quotes and a backslash',
            command: "<%= config.bin %> <%= command.id %> logs --label 'team=a b' --label x\\y",
          },
        ],
        args: {name: {name: 'name', description: 'Volume name.', required: true}},
        flags: {
          size: {
            name: 'size',
            char: 's',
            type: 'option',
            summary: 'Size of the backing file.',
            description: 'Accepts K, M, G and T suffixes.',
            required: true,
            multiple: false,
            helpValue: 'SIZE',
          },
          fs: {
            name: 'fs',
            type: 'option',
            summary: 'File system.',
            default: 'ext4',
            options: ['ext4', 'xfs'],
            multiple: false,
          },
          label: {name: 'label', char: 'l', type: 'option', description: 'Add a label.', multiple: true},
          'dry-run': {name: 'dry-run', type: 'boolean', description: 'Only show what would be done.', allowNo: false},
          mount: {name: 'mount', type: 'boolean', description: 'Mount it.', allowNo: true, default: true},
          secret: {name: 'secret', type: 'boolean', hidden: true, description: 'SECRET-FLAG'},
          json: {name: 'json', type: 'boolean', description: 'Format output as json.', helpGroup: 'GLOBAL'},
        },
        aliases: ['volume:new'],
        hidden: false,
        pluginName: 'cbs',
      },
      'volume:list': {
        id: 'volume:list',
        description: 'List volumes\nShows every volume with its size.',
        examples: ['$ <%= config.bin %> <%= command.id %> --json'],
        args: {},
        flags: {},
        aliases: [],
        pluginName: 'cbs',
      },
      doctor: {id: 'doctor', summary: 'Check the host.', args: {}, flags: {}, pluginName: 'cbs'},
      'internal:debug': {id: 'internal:debug', summary: 'HIDDEN-COMMAND', hidden: true, pluginName: 'cbs'},
      autocomplete: {
        id: 'autocomplete',
        description: 'Display autocomplete installation instructions.',
        pluginName: '@oclif/plugin-autocomplete',
        args: {},
        flags: {},
      },
    },
  }
}

function section(page: string, name: string): string {
  const start = page.indexOf(`\n.SH ${name}\n`)
  assert.notEqual(start, -1, `section ${name} missing`)
  const end = page.indexOf('\n.SH ', start + 1)
  // from the .SH line up to and including the newline before the next .SH
  return page.slice(start + 1, end === -1 ? undefined : end + 1)
}

const hasCommand = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0
/** Skips visibly where the tool is missing; under CI=true (npm run setup, which .ci/run runs, installs man-db and groff-base) that fails. */
function requireCommand(this: Mocha.Context, cmd: string): void {
  if (hasCommand(cmd)) return
  if (process.env.CI === 'true') throw new Error(`${cmd} is missing under CI: install it (npm run setup, which .ci/run runs, installs man-db and groff-base)`)
  console.log(`      SKIPPED (${cmd} is missing)`)
  this.skip()
}

describe('scripts/man.js', () => {
  describe('roff escaping', () => {
    it('escapes backslashes and non-ASCII characters', () => {
      assert.equal(escapeText('a\\b'), 'a\\eb')
      assert.equal(escapeText('Größe'), 'Gr\\[u00F6]\\[u00DF]e')
      assert.equal(escapeText('x \u2014 y'), 'x \\[u2014] y')
    })

    it('turns hyphens of option names into \\- but leaves ordinary hyphens', () => {
      assert.equal(escapeText('a loop-backed volume, see --dry-run or -f'), 'a loop-backed volume, see \\-\\-dry\\-run or \\-f')
      assert.equal(escapeCode("--label 'a b' ~/x ^y"), "\\-\\-label \\(aqa b\\(aq \\(ti/x \\(hay")
    })

    it('protects lines starting with a dot or an apostrophe', () => {
      const page = renderPage(fixture(), 'volume:create')
      assert.ok(page.includes('\n\\&.dot at line start\n'))
      assert.ok(page.includes("\n\\&'apostrophe at line start\n"))
      assert.ok(page.includes('\n\\&.hidden\\-looking line\n'))
      assert.ok(page.includes('C:\\etemp\\ex (a \\efB literal)'))
      // every line that starts with "." or "'" is one of the requests we emit
      const known = new Set(['\\"', 'TH', 'SH', 'SS', 'PP', 'TP', 'IP', 'RS', 'RE', 'nf', 'fi', 'br', 'BR', 'SY', 'YS'])
      for (const [name, text] of renderAll(fixture())) {
        for (const line of text.split('\n')) {
          if (/^['.]/.test(line)) {
            const request = line.startsWith('.\\"') ? '\\"' : line.slice(1).split(/\s/)[0]
            assert.ok(line.startsWith('.') && known.has(request), `${name}: unexpected request line ${JSON.stringify(line)}`)
          }
        }
      }
    })

    it('quotes .TH arguments and writes no date', () => {
      const page = renderPage(fixture(), 'volume:create')
      assert.ok(page.includes('\n.TH "CBS\\-VOLUME\\-CREATE" "1" "" "cbs 1.2.3" "cbs manual"\n'))
      assert.ok(renderIndex(fixture()).includes('\n.TH "CBS" "1" "" "cbs 1.2.3" "cbs manual"\n'))
    })
  })

  describe('placeholders', () => {
    it('substitutes config.bin and command.id (topic separator is a space)', () => {
      assert.equal(substitute('<%= config.bin %> <%= command.id %> x', 'volume:create'), 'cbs volume create x')
      assert.equal(substitute('<%=config.bin%> <%- command.id -%>', 'a:b:c'), 'cbs a b c')
      assert.equal(substitute('<%= unknown.thing %>', 'x'), '<%= unknown.thing %>')
    })

    it('renders string and object examples with $ prompts', () => {
      assert.deepEqual(parseExamples(fixture().commands['volume:create'].examples, 'volume:create'), [
        {commands: ['$ cbs volume create data --size 10G']},
        {description: 'Create an XFS volume', commands: ['$ cbs volume create db --size 20G --fs xfs']},
        {
          description: 'Label with quotes and a backslash',
          commands: ["$ cbs volume create logs --label 'team=a b' --label x\\y"],
        },
      ])
      const examples = section(renderPage(fixture(), 'volume:create'), 'EXAMPLES')
      assert.ok(examples.includes('\n$ cbs volume create data \\-\\-size 10G\n'))
      assert.ok(examples.includes("\\-\\-label \\(aqteam=a b\\(aq \\-\\-label x\\ey\n"))
      for (const text of renderAll(fixture()).values()) assert.ok(!text.includes('<%'), 'placeholder left')
      assert.ok(renderPage(fixture(), 'volume:create').includes('\\%\\fBcbs volume list\\fR afterwards'))
    })
  })

  describe('page selection', () => {
    it('skips hidden commands and commands of other plugins', () => {
      assert.deepEqual(commandIds(fixture()), ['doctor', 'volume:create', 'volume:list'])
      const files = renderAll(fixture())
      assert.deepEqual(
        [...files.keys()],
        ['cbs.1', 'cbs-doctor.1', 'cbs-volume-create.1', 'cbs-volume-list.1'],
      )
      assert.equal(pageFile('volume:create'), 'cbs-volume-create.1')
      const all = [...files.values()].join('\n')
      assert.ok(!all.includes('HIDDEN\\-COMMAND') && !all.includes('HIDDEN-COMMAND'))
      assert.ok(!all.includes('autocomplete'))
      assert.ok(!all.includes('SECRET') && !all.includes('secret'), 'hidden flag shown')
    })

    it('throws for an unknown command id', () => {
      assert.throws(() => renderPage(fixture(), 'volume:nope'), /not found/)
    })
  })

  describe('content', () => {
    it('builds NAME and SYNOPSIS from args and flags', () => {
      const page = renderPage(fixture(), 'volume:create')
      assert.ok(section(page, 'NAME').includes('\ncbs\\-volume\\-create \\- Create a volume.\n'))
      const synopsis = section(page, 'SYNOPSIS')
      assert.equal(
        synopsis,
        [
          '.SH SYNOPSIS',
          '.SY "cbs volume create"',
          '\\fINAME\\fR',
          '\\fB\\-\\-size\\fR\\ \\fISIZE\\fR',
          '[\\fB\\-\\-fs\\fR\\ \\fIFS\\fR]',
          '[\\fB\\-\\-label\\fR\\ \\fILABEL\\fR]...',
          '[\\fB\\-\\-dry\\-run\\fR]',
          '[\\fB\\-\\-[no\\-]mount\\fR]',
          '[\\fB\\-\\-json\\fR]',
          '.YS',
          '',
        ].join('\n'),
      )
    })

    it('documents each flag with names, value, summary, description, default and options', () => {
      const options = section(renderPage(fixture(), 'volume:create'), 'OPTIONS')
      assert.ok(options.includes('.TP\n\\fB\\-s\\fR, \\fB\\-\\-size\\fR \\fISIZE\\fR\nSize of the backing file.\n.IP\nAccepts K'))
      assert.ok(options.includes('\n.IP\nAllowed values: \\%\\fBext4\\fR, \\%\\fBxfs\\fR\n.br\nDefault: \\%\\fBext4\\fR\n'))
      assert.ok(options.includes('\\fB\\-l\\fR, \\fB\\-\\-label\\fR \\fILABEL\\fR'))
      assert.ok(options.includes('May be given more than once'))
      assert.ok(options.includes('Accepts K, M, G and T suffixes.\n.IP\nRequired\n'))
      assert.ok(options.includes('\\fB\\-\\-[no\\-]mount\\fR\nMount it.'))
      assert.ok(options.includes('.SS "GLOBAL OPTIONS"\n.TP\n\\fB\\-\\-json\\fR'))
      assert.ok(options.includes('\\fB\\-\\-help\\fR'))
    })

    it('uses the first description line as summary when there is no summary', () => {
      const page = renderPage(fixture(), 'volume:list')
      assert.ok(page.includes('\ncbs\\-volume\\-list \\- List volumes\n'))
      assert.ok(section(page, 'DESCRIPTION').includes('\nShows every volume with its size.\n'))
    })

    it('has EXIT STATUS on every page and ENVIRONMENT in cbs.1', () => {
      for (const [name, text] of renderAll(fixture())) {
        const exit = section(text, 'EXIT STATUS')
        for (const code of [0, 1, 2, 3, 4, 5]) assert.ok(exit.includes(`.TP\n\\fB${code}\\fR\n`), `${name}: exit ${code}`)
        assert.ok(exit.includes('Conflict'), name)
        assert.ok(exit.includes('not running as root'), name)
        if (name !== 'cbs.1') assert.ok(!text.includes('.SH ENVIRONMENT'), name)
      }
      const index = renderIndex(fixture())
      const env = section(index, 'ENVIRONMENT')
      for (const v of ['CBS_ROOT', 'CBS_RUNTIME', 'NO_COLOR']) assert.ok(env.includes(`\\fB${v}\\fR`), v)
      assert.ok(env.includes('/var/lib/cbs'))
      assert.ok(env.includes('docker, nerdctl or podman'))
    })

    it('lists all commands with summaries in cbs.1 and links pages in SEE ALSO', () => {
      const index = renderIndex(fixture())
      const commands = section(index, 'COMMANDS')
      assert.ok(commands.includes('.TP\n\\fBcbs volume create\\fR\nCreate a volume. See \\%\\fBcbs\\-volume\\-create\\fR(1).'))
      assert.ok(commands.includes('.TP\n\\fBcbs volume list\\fR\nList volumes. See'))
      assert.ok(commands.includes('.TP\n\\fBcbs doctor\\fR\nCheck the host.'))
      assert.equal(
        section(index, 'SEE ALSO'),
        '.SH SEE ALSO\n.BR \\%cbs\\-doctor (1),\n.BR \\%cbs\\-volume\\-create (1),\n.BR \\%cbs\\-volume\\-list (1)\n',
      )
      assert.equal(
        section(renderPage(fixture(), 'volume:create'), 'SEE ALSO'),
        '.SH SEE ALSO\n.BR \\%cbs (1),\n.BR \\%cbs\\-volume\\-list (1)\n',
      )
    })
  })

  describe('determinism', () => {
    it('renders byte-identical pages for the same input, whatever the command order', () => {
      const a = renderAll(fixture())
      const b = renderAll(fixture())
      assert.deepEqual([...a.entries()], [...b.entries()])
      const reversed = fixture()
      reversed.commands = Object.fromEntries(Object.entries(reversed.commands).reverse())
      assert.deepEqual([...renderAll(reversed).entries()], [...a.entries()])
      const all = [...a.values()].join('')
      assert.ok(!all.includes(String(new Date().getFullYear())), 'page contains the current year')
    })

    it('compareDir/writeDir report differing, missing and extra pages', () => {
      const dir = mkdtempSync(join(tmpdir(), 'cbs-man-'))
      try {
        const files = renderAll(fixture())
        assert.deepEqual(compareDir(files, dir), {differ: [], missing: [...files.keys()].sort(), extra: []})
        writeDir(files, dir)
        assert.deepEqual(compareDir(files, dir), {differ: [], missing: [], extra: []})
        writeFileSync(join(dir, 'cbs.1'), 'stale\n')
        writeFileSync(join(dir, 'cbs-gone.1'), 'stale\n')
        writeFileSync(join(dir, 'README'), 'not a page\n')
        rmSync(join(dir, 'cbs-doctor.1'))
        assert.deepEqual(compareDir(files, dir), {differ: ['cbs.1'], missing: ['cbs-doctor.1'], extra: ['cbs-gone.1']})
        writeDir(files, dir)
        assert.deepEqual(compareDir(files, dir), {differ: [], missing: [], extra: []})
        assert.deepEqual(readdirSync(dir).sort(), ['README', ...files.keys()].sort())
      } finally {
        rmSync(dir, {recursive: true, force: true})
      }
    })
  })

  describe('command line', () => {
    let dir: string
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'cbs-man-cli-'))
      writeFileSync(join(dir, 'oclif.manifest.json'), JSON.stringify(fixture()))
    })
    afterEach(() => rmSync(dir, {recursive: true, force: true}))

    const run = (...args: string[]) => spawnSync(process.execPath, [script, ...args], {cwd: dir, encoding: 'utf8'})

    it('writes pages with default paths and --check passes afterwards', () => {
      const gen = run()
      assert.equal(gen.status, 0, gen.stderr)
      const out = join(dir, 'man')
      assert.deepEqual(readdirSync(out).sort(), ['cbs-doctor.1', 'cbs-volume-create.1', 'cbs-volume-list.1', 'cbs.1'])
      assert.equal(readFileSync(join(out, 'cbs-volume-create.1'), 'utf8'), renderPage(fixture(), 'volume:create'))
      const check = run('--check')
      assert.equal(check.status, 0, check.stdout + check.stderr)
    })

    it('--check exits 1, lists stale files and writes nothing', () => {
      assert.equal(run('oclif.manifest.json', 'pages').status, 0)
      writeFileSync(join(dir, 'pages', 'cbs-volume-list.1'), 'old\n')
      rmSync(join(dir, 'pages', 'cbs-doctor.1'))
      writeFileSync(join(dir, 'pages', 'cbs-removed.1'), 'old\n')
      const check = run('oclif.manifest.json', 'pages', '--check')
      assert.equal(check.status, 1)
      assert.match(check.stdout, /differs: pages\/cbs-volume-list\.1/)
      assert.match(check.stdout, /missing: pages\/cbs-doctor\.1/)
      assert.match(check.stdout, /extra: pages\/cbs-removed\.1/)
      assert.equal(readFileSync(join(dir, 'pages', 'cbs-volume-list.1'), 'utf8'), 'old\n')
    })

    it('fails with exit 2 on a missing manifest or an unknown option', () => {
      assert.equal(run('nope.json').status, 2)
      assert.equal(run('--bogus').status, 2)
    })
  })

  describe('rendering with man', () => {
    let dir: string
    before(function () {
      requireCommand.call(this, 'man')
      dir = mkdtempSync(join(tmpdir(), 'cbs-man-render-'))
      writeDir(renderAll(fixture()), dir)
    })
    after(() => dir && rmSync(dir, {recursive: true, force: true}))

    const env = {...process.env, MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8'}

    it('man -l renders every page without warnings', () => {
      for (const name of renderAll(fixture()).keys()) {
        const r = spawnSync('man', ['--warnings=w', '-l', join(dir, name)], {env, encoding: 'utf8'})
        assert.equal(r.status, 0, `${name}: ${r.stderr}`)
        assert.equal(r.stderr, '', `${name}: warnings`)
        assert.ok(r.stdout.includes('EXIT STATUS'), name)
      }
    })

    it('groff -ww reports no warnings', function () {
      requireCommand.call(this, 'groff')
      for (const name of renderAll(fixture()).keys()) {
        const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', join(dir, name)], {encoding: 'utf8'})
        assert.equal(r.status, 0, name)
        assert.equal(r.stderr, '', `${name}: ${r.stderr}`)
      }
    })

    it('shows the literal text a user would type', () => {
      const r = spawnSync('man', ['-l', join(dir, 'cbs-volume-create.1')], {env, encoding: 'utf8'})
      const text = r.stdout
      assert.match(text, /^CBS-VOLUME-CREATE\(1\) +cbs manual +CBS-VOLUME-CREATE\(1\)$/m)
      assert.ok(text.includes('cbs-volume-create - Create a volume.'))
      assert.ok(text.includes('$ cbs volume create data --size 10G'))
      assert.ok(text.includes("$ cbs volume create logs --label 'team=a b' --label x\\y"))
      assert.ok(text.includes('C:\\temp\\x (a \\fB literal)'))
      assert.ok(text.includes('.dot at line start'))
      assert.ok(text.includes('Größe'))
      assert.match(text, /-s, --size SIZE/)
      assert.match(text, /cbs 1\.2\.3 +CBS-VOLUME-CREATE\(1\)/)
    })
  })
})
