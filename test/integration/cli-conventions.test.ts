import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, realpathSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {cbs, json, leftovers, makeRoot, removeRoot, REPO, requireHost} from '../support/integration.js'

/** Usage errors, aliases and the rest of the command surface, as a user types them. */
describe('integration: command-line conventions', function () {
  this.timeout(120_000)
  let root: string

  before(function () {
    requireHost.call(this)
  })
  beforeEach(() => {
    root = makeRoot()
  })
  afterEach(() => {
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  // Each: one line on stderr saying what is wrong and what to type instead, nothing on stdout, exit 2.
  const USAGE_ERRORS: Array<[string, RegExp]> = [
    ['volume create x --size', /^--size needs a value: e\.g\. cbs volume create db --size 10G$/],
    ['volume ls --filter', /^--filter needs a value: e\.g\. cbs volume ls -q --filter status=mounted$/],
    ['volume attach db --runtime', /^--runtime needs a value, one of docker, nerdctl, podman: e\.g\. cbs volume attach db --runtime docker$/],
    ['volume attach db --container web', /^--container needs --target PATH: e\.g\. cbs volume attach db --container web --target \/data$/],
    ['volume resize db', /^missing --size SIZE: e\.g\. cbs volume resize db --size 20G$/],
    ['volume resize', /^missing volume name: e\.g\. cbs volume resize db --size 20G$/],
    ['volume create x --fs zfs', /^--fs must be one of ext4, xfs, btrfs, not "zfs": e\.g\. cbs volume create /],
    ['volume ls --bogus', /^cbs volume ls has no flag --bogus: its flags are --quiet, --filter, --format, --verbose, --json$/],
    ['volume ls a', /^unexpected argument a: cbs volume ls takes none \(see cbs volume ls --help\)$/],
    ['volume bogus db', /^unknown command "cbs volume bogus": the volume commands are attach, create, detach, export, import, inspect, ls, mount, prune, resize, rm, snapshot, unmount \(see cbs volume --help\)$/],
    ['volume snapshot bogus', /^unknown command "cbs volume snapshot bogus": the volume snapshot commands are create, ls, restore, rm \(see cbs volume snapshot --help\)$/],
    ['--bogus', /^--bogus is not a command: the commands are autocomplete, csi, doctor, plugin, system, volume \(see cbs --help\)$/],
    ['volume mount --all db', /^--all takes no volume names \(db\): type `cbs volume mount --all` or `cbs volume mount db`$/],
    ['volume unmount -a db', /^--all takes no volume names \(db\): type `cbs volume unmount --all` or `cbs volume unmount db`$/],
    ['volume snapshot create db s --freeze-timeout x', /^--freeze-timeout: expected an integer but received: x: see cbs volume snapshot create --help$/],
  ]
  for (const [line, message] of USAGE_ERRORS) {
    it(`cbs ${line}: exit 2, one line`, () => {
      const result = cbs(root, line.split(' '))
      assert.equal(result.code, 2, result.stderr)
      assert.equal(result.stdout, '')
      assert.match(result.stderr, /^cbs: [^\n]+\n$/)
      assert.match(result.stderr.slice('cbs: '.length, -1), message)
      const asJson = cbs(root, [...line.split(' '), '--json'])
      assert.equal(asJson.code, 2)
      assert.deepEqual(json(asJson), {error: {message: result.stderr.slice('cbs: '.length, -1), exitCode: 2}})
    })
  }

  it('aliases: list, show, umount, remove (and snapshot list, remove) are ls, inspect, unmount, rm', () => {
    assert.equal(cbs(root, ['volume', 'create', 'a', '--size', '16M']).code, 0)
    assert.equal(cbs(root, ['volume', 'snapshot', 'create', 'a', 's']).code, 0)
    assert.equal(cbs(root, ['volume', 'list', '-q']).stdout, 'a\n')
    assert.equal(json(cbs(root, ['volume', 'show', 'a', '--json']))[0].name, 'a')
    assert.equal(json(cbs(root, ['volume', 'umount', 'a', '--json']))[0].status, 'unmounted')
    assert.equal(json(cbs(root, ['volume', 'snapshot', 'list', '--json']))[0].name, 'a@s')
    assert.equal(cbs(root, ['volume', 'snapshot', 'remove', 'a@s']).stdout, 'a@s\n')
    const removed = cbs(root, ['volume', 'remove', 'a'])
    assert.equal(removed.code, 0, removed.stderr)
    assert.equal(removed.stdout, 'a\n')
  })

  it('inspect a nope prints a, then exits 3 naming nope (as docker does)', () => {
    assert.equal(cbs(root, ['volume', 'create', 'a', '--size', '16M']).code, 0)
    const text = cbs(root, ['volume', 'inspect', 'a', 'nope'])
    assert.equal(text.code, 3)
    assert.match(text.stdout, /^Name:\s+a$/m)
    assert.equal(text.stderr, 'cbs: no such volume: nope: see `cbs volume ls`\n')
    const asJson = cbs(root, ['volume', 'inspect', 'a', 'nope', '--json'])
    assert.equal(asJson.code, 3)
    assert.deepEqual(json(asJson).map((volume: {name: string}) => volume.name), ['a'])
    assert.equal(asJson.stderr, 'cbs: no such volume: nope: see `cbs volume ls`\n', 'with --json too, stderr names nope')
    assert.equal(cbs(root, ['volume', 'rm', 'a']).code, 0)
  })

  it('the volume snapshot topic describes all its commands, aliases only on their own pages', () => {
    const help = cbs(root, ['volume', 'snapshot', '--help'])
    assert.match(help.stdout, /^Take, list, restore and remove snapshots/)
    for (const command of ['create', 'ls', 'restore', 'rm']) assert.match(help.stdout, new RegExp(`^  volume snapshot ${command} `, 'm'))
    assert.doesNotMatch(help.stdout, /volume snapshot (list|remove)/)
    assert.match(cbs(root, ['volume', 'ls', '--help']).stdout, /^ALIASES\n {2}\$ cbs volume list$/m)
  })

  it('npm install -g links the man pages, so the boot unit\'s Documentation=man:cbs-volume-mount(1) resolves', () => {
    const prefix = mkdtempSync('/tmp/cbs-npm-prefix-')
    try {
      const installed = spawnSync('npm', ['install', '--global', '--prefix', prefix, REPO, '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], {encoding: 'utf8'})
      assert.equal(installed.status, 0, installed.stderr)
      const page = join(prefix, 'share', 'man', 'man1', 'cbs-volume-mount.1')
      assert.ok(existsSync(page), `${page} is linked`)
      assert.equal(realpathSync(page), join(REPO, 'man', 'cbs-volume-mount.1'))
      assert.match(readFileSync(join(REPO, 'src', 'lib', 'system', 'systemd-unit.ts'), 'utf8'), /Documentation=man:cbs-volume-mount\(1\)/)
    } finally {
      // The global install of a folder is a link to it: removing the prefix leaves the checkout alone.
      rmSync(prefix, {recursive: true, force: true})
    }
  })
})
