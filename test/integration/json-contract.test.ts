import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {cbs, cbsAsync, json, leftovers, makeRoot, removeRoot, REPO, requireHost} from '../support/integration.js'
import {cleanRuntime, IMAGE, must, requireRuntime} from '../support/runtimes.js'
import {loadSchemas, schemaFile} from '../support/schemas.js'

/**
 * The JSON contract (README "JSON output"): real runs of every command against a temporary
 * CBS_ROOT, each output checked against the command's schema in schemas/. A change to an output
 * fails here until its schema changes with it, so that the change shows in review.
 */
describe('integration: every --json output matches its schema in schemas/', function () {
  this.timeout(300_000)
  const {files, validatorFor} = loadSchemas()
  const checked = new Set<string>()
  let root: string
  let name: string

  /** `cbs COMMAND ARGS --json`: the exit code, then the document against the command's schema (error.json on failure). */
  function run(command: string[], args: string[] = [], options: {code?: number | number[]; env?: NodeJS.ProcessEnv} = {}): any {
    const result = cbs(root, [...command, '--json', ...args], {env: options.env})
    const codes = [options.code ?? 0].flat()
    assert.ok(codes.includes(result.code), `cbs ${[...command, ...args].join(' ')}: exit ${result.code}\n${result.stdout}${result.stderr}`)
    const file = result.code === 0 || command[0] === 'doctor' ? schemaFile(command) : 'error.json'
    const output = json(result)
    const validate = validatorFor(file)
    assert.ok(validate(output), `cbs ${[...command, ...args].join(' ')} against ${file}: ${JSON.stringify(validate.errors, null, 2)}\n${result.stdout}`)
    checked.add(file)
    return output
  }

  before(function () {
    requireHost.call(this, ['losetup', 'mkfs.ext4', 'chattr'])
    requireRuntime.call(this, 'docker')
    root = makeRoot()
    name = `cbsjson-${randomBytes(4).toString('hex')}`
  })
  after(() => {
    if (!root) return
    cleanRuntime('docker', root, [name])
    removeRoot(root)
    assert.deepEqual(leftovers(root), [])
  })

  it('volume and snapshot commands print arrays of the objects they acted on', () => {
    const [created] = run(['volume', 'create'], [name, '--size', '32M', '--label', 'env=ci'])
    assert.equal(created.image, join(root, 'images', `${name}.img`))
    const [seed] = run(['volume', 'snapshot', 'create'], [name, 'seed'])
    assert.equal(seed.name, `${name}@seed`)
    assert.equal(typeof seed.frozenMs, 'number')
    const [union] = run(['volume', 'create'], ['u1', '--type', 'overlay', '--lower', `${name}@seed`, '--size', '16M'])
    assert.equal(union.lowers[0].image, seed.image, 'one name, image, for the image file everywhere')
    assert.deepEqual(run(['volume', 'ls']).map((volume: {name: string}) => volume.name), [name, 'u1'])
    assert.deepEqual(run(['volume', 'inspect'], [name])[0].snapshots.map((snapshot: {name: string}) => snapshot.name), [`${name}@seed`])
    assert.equal(run(['volume', 'unmount'], ['u1'])[0].status, 'unmounted')
    assert.equal(run(['volume', 'mount'], ['u1'])[0].status, 'mounted')
    assert.equal(run(['volume', 'resize'], [name, '--size', '48M'])[0].sizeBytes, 48 * 1024 ** 2)
    run(['volume', 'snapshot', 'create'], [name, 's2'])
    assert.equal(run(['volume', 'snapshot', 'ls'], [name]).length, 2)
    assert.equal(run(['volume', 'snapshot', 'restore'], [`${name}@s2`])[0].name, name)
    assert.deepEqual(run(['volume', 'snapshot', 'rm'], [`${name}@s2`]).map((snapshot: {status: string}) => snapshot.status), ['removed'])
  })

  it('--dry-run --json prints the objects as the plan would leave them, and changes nothing', () => {
    const MiB = 1024 ** 2
    const [planned] = run(['volume', 'create'], ['planned', '--size', '16M', '--dry-run'])
    assert.deepEqual([planned.name, planned.status, planned.device, planned.sizeBytes], ['planned', 'mounted', null, 16 * MiB])
    assert.deepEqual(run(['volume', 'unmount'], [name, '--dry-run']).map((volume: {status: string; device: null}) => [volume.status, volume.device]), [['unmounted', null]])
    assert.equal(run(['volume', 'resize'], [name, '--size', '64M', '--dry-run'])[0].sizeBytes, 64 * MiB)
    assert.equal(run(['volume', 'snapshot', 'create'], [name, 'planned', '--dry-run'])[0].status, 'ready')
    assert.deepEqual(
      run(['volume', 'ls']).map((volume: {name: string; status: string; sizeBytes: number}) => [volume.name, volume.status, volume.sizeBytes]),
      [[name, 'mounted', 48 * MiB], ['u1', 'mounted', 16 * MiB]],
    )
    assert.equal(run(['volume', 'snapshot', 'ls'], [name]).length, 1)
  })

  it('attach and detach print the volume with what is attached; attach --target adds the container it started', () => {
    const [attached] = run(['volume', 'attach'], [name, '--runtime', 'docker'])
    assert.equal(attached.container, null)
    assert.deepEqual(attached.attachments.map((each: {runtime: string}) => each.runtime), ['docker'])
    const [started] = run(['volume', 'attach'], [name, '--runtime', 'docker', '--target', '/data', '--', '--network', 'none', '--label', `cbs.test=${root}`, '-d', IMAGE, 'sleep', '600'])
    assert.match(started.container, /^[0-9a-f]{64}$/)
    const [live] = run(['volume', 'attach'], [name, '--runtime', 'docker', '--container', started.container, '--target', '/live'])
    assert.equal(live.container, started.container)
    assert.deepEqual(live.attachments[0].live.map((each: {target: string}) => each.target), ['/live'])
    // No live mount left: the record keeps only the named volume (an empty list is left out).
    assert.deepEqual(run(['volume', 'detach'], [name, '--container', started.container])[0].attachments[0].live ?? [], [])
    must('docker', ['rm', '--force', started.container])
    assert.equal(run(['volume', 'detach'], [name])[0].name, name)
  })

  it('rm prints the volumes as they were, status removed', () => {
    assert.deepEqual(
      run(['volume', 'rm'], ['u1']).map((volume: {name: string; status: string; device: null}) => [volume.name, volume.status, volume.device]),
      [['u1', 'removed', null]],
    )
    run(['volume', 'snapshot', 'rm'], [`${name}@seed`])
    assert.deepEqual(run(['volume', 'rm'], [name])[0].snapshots, [])
  })

  it('export and import print the volume they acted on', () => {
    run(['volume', 'create'], ['e1', '--size', '16M'])
    run(['volume', 'snapshot', 'create'], ['e1', 'mon'])
    const stream = join(root, 'e1.cbs')
    assert.equal(run(['volume', 'export'], ['e1@mon', '-o', stream])[0].name, 'e1')
    assert.equal(run(['volume', 'import'], ['e2', '-i', stream])[0].status, 'mounted')
    run(['volume', 'rm'], ['-r', 'e1', 'e2'])
  })

  it('prune prints the volumes it removed, as they were', () => {
    run(['volume', 'create'], ['p1', '--size', '16M'])
    run(['volume', 'unmount'], ['p1'])
    assert.deepEqual(run(['volume', 'prune'], ['--force']).map((volume: {name: string; status: string}) => [volume.name, volume.status]), [['p1', 'removed']])
  })

  it('doctor prints its report; system install-unit and plugin install the units and the cbs they run', () => {
    run(['doctor'], [], {code: [0, 1]})
    assert.deepEqual(run(['system', 'install-unit'], ['--print']).units, [])
    const installed = run(['system', 'install-unit'], [], {env: {CBS_SYSTEMD_DIR: join(root, 'systemd')}})
    assert.equal(installed.units[0].unit, join(root, 'systemd', 'cbs-volumes.service'))
    assert.equal(installed.command, `${process.execPath} ${join(REPO, 'bin', 'run.js')}`)
    const plugin = ['--dir', join(root, 'systemd'), '--containers-conf', join(root, 'containers.conf'), '--socket', join(root, 'plugin.sock')]
    assert.deepEqual(run(['plugin', 'install'], ['--print', ...plugin]).units, [])
    assert.equal(run(['plugin', 'install'], plugin).containersConf, join(root, 'containers.conf'))
  })

  /** A server run with --json, stopped by SIGTERM once its socket is there: its output against its schema. */
  async function runServer(command: string[], args: string[], socket: string): Promise<void> {
    const result = await cbsAsync(root, [...command, '--json', ...args], {
      onSpawn(child) {
        const waitForSocket = setInterval(() => {
          if (!existsSync(socket)) return
          clearInterval(waitForSocket)
          child.kill('SIGTERM')
        }, 50)
      },
    })
    assert.equal(result.code, 0, result.stderr)
    const validate = validatorFor(schemaFile(command))
    assert.ok(validate(json(result)), JSON.stringify(validate.errors))
    checked.add(schemaFile(command))
  }

  it('plugin serve prints the socket it served once stopped', async () => {
    const socket = join(root, 'serve.sock')
    await runServer(['plugin', 'serve'], ['--socket', socket], socket)
  })

  it('csi serve prints the server it was once stopped', async () => {
    const socket = join(root, 'csi.sock')
    await runServer(['csi', 'serve'], ['--endpoint', `unix://${socket}`, '--node-id', 'node-1'], socket)
  })

  it('errors, usage errors and unknown commands included, are {"error": ...} with the exit code', () => {
    assert.equal(run(['volume', 'inspect'], ['nope'], {code: 3}).error.exitCode, 3)
    assert.equal(run(['volume', 'create'], ['x', '--size'], {code: 2}).error.message, '--size needs a value: e.g. cbs volume create db --size 10G')
    assert.match(run(['volume', 'resize'], ['db'], {code: 2}).error.message, /^missing --size SIZE: e\.g\. cbs volume resize db --size 20G$/)
    assert.match(run(['volume', 'bogus'], [], {code: 2}).error.message, /^unknown command "cbs volume bogus": the volume commands are attach, create, /)
  })

  it('every command that has --json has a schema, and every schema was checked above', () => {
    const manifest = JSON.parse(readFileSync(join(REPO, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {id: string; pluginName?: string}>}
    const ours = Object.keys(manifest.commands).filter((id) => !id.startsWith('autocomplete'))
    const shared = ['volume.json', 'snapshot.json']
    assert.deepEqual(
      files.filter((file) => !shared.includes(file)),
      [...ours.map((id) => schemaFile(id.split(':'))), 'error.json'].sort(),
    )
    assert.deepEqual([...checked].sort(), files.filter((file) => !shared.includes(file)))
  })
})
