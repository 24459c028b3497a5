import assert from 'node:assert/strict'
import {withVolumePlugin} from '../../../src/lib/runtimes/containers-conf.js'
import {parseDriverOptions} from '../../../src/servers/plugin/driver-options.js'
import {parseBody, ProtocolError} from '../../../src/servers/plugin/http-server.js'

describe('plugin: driver options (pure)', () => {
  it('maps -o options onto the CLI\'s flags: sizes, filesystems, labels and lowers separated by commas', () => {
    assert.deepEqual(parseDriverOptions('db', {size: '2G', fs: 'xfs', label: 'env=ci, team=web', type: 'overlay', lower: 'a@s1,/srv/base', from: 'a@s1'}), {
      name: 'db',
      sizeBytes: 2 * 1024 ** 3,
      fs: 'xfs',
      labels: {env: 'ci', team: 'web'},
      type: 'overlay',
      lowers: ['a@s1', '/srv/base'],
      from: 'a@s1',
    })
    assert.deepEqual(parseDriverOptions('db', undefined), {name: 'db'})
    assert.deepEqual(parseDriverOptions('db', null), {name: 'db'})
  })

  it('refuses an unknown option, a bad value and a non-string with the CLI\'s one-line messages', () => {
    const message = (opts: unknown) => {
      try {
        parseDriverOptions('db', opts)
      } catch (error) {
        return (error as Error).message
      }
      return 'accepted'
    }
    assert.match(message({colour: 'red'}), /^unknown option "colour": cbs takes -o size=, -o fs=, -o label=, -o type=, -o lower=, -o from=$/)
    assert.equal(message({size: '12Q'}), 'invalid size "12Q": use a number with an optional unit K, M, G or T, e.g. 10G')
    assert.equal(message({fs: 'zfs'}), 'Expected --fs=zfs to be one of: ext4, xfs, btrfs')
    assert.match(message({label: 'noequals'}), /^invalid label "noequals"/)
    assert.equal(message({size: 5}), 'option "size" must be a string')
    assert.equal(message(['size']), 'Opts must be a JSON object of strings')
  })
})

describe('plugin: request bodies (pure)', () => {
  it('takes an object, or nothing (Activate, List); refuses other JSON and non-JSON with 400', () => {
    assert.deepEqual(parseBody(''), {})
    assert.deepEqual(parseBody('null'), {})
    assert.deepEqual(parseBody('{"Name":"db"}'), {Name: 'db'})
    for (const text of ['{', '[]', '"db"', '42']) assert.throws(() => parseBody(text), (error: ProtocolError) => error.status === 400)
  })
})

describe('plugin: podman\'s containers.conf (pure)', () => {
  it('adds the [engine.volume_plugins] table, or the entry to it, or replaces the entry; the rest stays', () => {
    const base = '[containers]\nnetns = "none"\n\n[engine]\ncgroup_manager = "cgroupfs"\n'
    assert.equal(withVolumePlugin(base, 'cbs', '/run/docker/plugins/cbs.sock'), `${base}\n[engine.volume_plugins]\ncbs = "/run/docker/plugins/cbs.sock"\n`)
    const other = `${base}\n[engine.volume_plugins]\nother = "/run/other.sock"\n\n[machine]\ncpus = 1\n`
    assert.equal(withVolumePlugin(other, 'cbs', '/s'), `${base}\n[engine.volume_plugins]\ncbs = "/s"\nother = "/run/other.sock"\n\n[machine]\ncpus = 1\n`)
    const twice = withVolumePlugin(withVolumePlugin(other, 'cbs', '/s'), 'cbs', '/t')
    assert.equal(twice, `${base}\n[engine.volume_plugins]\ncbs = "/t"\nother = "/run/other.sock"\n\n[machine]\ncpus = 1\n`)
    assert.equal(withVolumePlugin('', 'cbs', '/s'), '[engine.volume_plugins]\ncbs = "/s"\n')
    assert.throws(() => withVolumePlugin('[engine]\nvolume_plugins = {x = "/y"}\n', 'cbs', '/s'), /sets volume_plugins inline: add cbs = "\/s" to it by hand/)
  })
})
