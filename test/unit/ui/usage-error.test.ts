import assert from 'node:assert/strict'
import {exampleFor, oneLine, unknownCommandMessage, usageMessage} from '../../../src/ui/usage-error.js'

const resize = {
  id: 'volume:resize',
  args: {name: {description: 'Volume name', required: true}},
  flags: {size: {type: 'option', required: true, helpValue: 'SIZE'}, verbose: {type: 'boolean'}},
  examples: ['<%= config.bin %> <%= command.id %> db --size 20G', {description: 'dry', command: '<%= config.bin %> <%= command.id %> db --size 20G --dry-run'}],
}
const attach = {
  id: 'volume:attach',
  flags: {target: {type: 'option', helpValue: 'PATH'}, container: {type: 'option', dependsOn: ['target']}, runtime: {type: 'option'}},
  examples: ['<%= config.bin %> <%= command.id %> db --runtime docker', '<%= config.bin %> <%= command.id %> db --container web --target /data'],
}

describe('usage errors: one line, what is wrong and what to type', () => {
  it('oclif texts on one line, in cbs words, without its header and footer', () => {
    assert.equal(oneLine('Flag --size expects a value'), '--size needs a value')
    assert.equal(oneLine('Flag --runtime expects one of these values: docker, podman'), '--runtime needs a value, one of docker, podman')
    assert.equal(oneLine('Expected --fs=zfs to be one of: ext4, xfs\nSee more help with --help'), '--fs must be one of ext4, xfs, not "zfs"')
    assert.equal(oneLine('Parsing --freeze-timeout \n\tExpected an integer but received: x\nSee more help with --help'), '--freeze-timeout: expected an integer but received: x')
    assert.equal(oneLine('The following error occurred:\n  \u001B[2mSomething odd\u001B[22m\nSee more help with --help'), 'something odd')
  })

  it('a missing argument or flag, a flag missing the flag it needs: from what oclif parsed, with an example that has the flags', () => {
    assert.equal(usageMessage({message: 'Missing 1 required arg:\nname', args: [{name: 'name', description: 'Volume name'}]}, resize), 'missing volume name: e.g. cbs volume resize db --size 20G')
    assert.equal(usageMessage({message: 'The following error occurred:', parse: {output: {flags: {}}}}, resize), 'missing --size SIZE: e.g. cbs volume resize db --size 20G')
    assert.equal(
      usageMessage({message: 'The following error occurred:', parse: {output: {flags: {container: 'web'}}}}, attach),
      '--container needs --target PATH: e.g. cbs volume attach db --container web --target /data',
    )
  })

  it('unknown flags name the flags there are; extra arguments show an example', () => {
    assert.equal(usageMessage({message: 'Nonexistent flag: --bogus', flags: ['--bogus']}, resize), 'cbs volume resize has no flag --bogus: its flags are --size, --verbose')
    assert.equal(usageMessage({message: 'Unexpected argument: x', args: ['x']}, resize), 'unexpected argument x: e.g. cbs volume resize db --size 20G')
  })

  it('falls back on --help when no example fits', () => {
    assert.equal(exampleFor(resize, ['label']), undefined)
    assert.equal(usageMessage({message: 'Flag --label expects a value'}, resize), '--label needs a value: see cbs volume resize --help')
  })

  it('unknown commands name the commands of the topic typed, or the top level', () => {
    const ids = ['doctor', 'volume:ls', 'volume:rm', 'volume:snapshot:ls']
    const topics = ['volume', 'volume:snapshot']
    assert.equal(unknownCommandMessage('volume:remove:db', ids, topics), 'unknown command "cbs volume remove": the volume commands are ls, rm, snapshot (see cbs volume --help)')
    assert.equal(unknownCommandMessage('volume:snapshot:x', ids, topics), 'unknown command "cbs volume snapshot x": the volume snapshot commands are ls (see cbs volume snapshot --help)')
    assert.equal(unknownCommandMessage('bogus', ids, topics), 'unknown command "cbs bogus": the commands are doctor, volume (see cbs --help)')
    assert.equal(unknownCommandMessage('--json', ids, topics), '--json is not a command: the commands are doctor, volume (see cbs --help)')
    assert.equal(unknownCommandMessage('volume:ls:a:b', ids, topics), 'unexpected arguments a b: cbs volume ls takes none (see cbs volume ls --help)')
  })
})
