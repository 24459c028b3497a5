import assert from 'node:assert/strict'
import {CommandFailed, SystemExecutor} from '../../../src/lib/system/exec.js'
import {conflict} from '../../../src/lib/common/errors.js'

/** The executor with real, harmless programs: what callers get back and what they are told on failure. */
describe('SystemExecutor.run', function () {
  this.timeout(10_000)
  const exec = new SystemExecutor()
  const sh = (script: string) => ['sh', ['-c', script]] as const

  it('returns what the program printed, less one final newline, in the C locale', async () => {
    const {stdout, stderr} = await exec.run(...sh('printf "a\\nb\\n"; printf "warn\\n" >&2; printf "%s" "$LC_ALL" >&2'))
    assert.equal(stdout, 'a\nb')
    assert.equal(stderr, 'warn\nC')
  })

  it('passes arguments as they are, never through a shell', async () => {
    const {stdout} = await exec.run('printf', ['%s|', 'a b', '$(id)', '; rm -rf /'])
    assert.equal(stdout, 'a b|$(id)|; rm -rf /|')
  })

  it('a non-zero exit: CommandFailed with the exit status and the last line of stderr', async () => {
    const failure = await exec.run(...sh('echo first >&2; echo "no space left" >&2; exit 3')).catch((error: unknown) => error)
    assert.ok(failure instanceof CommandFailed)
    assert.equal(failure.exitCode, 3)
    assert.equal(failure.notInstalled, false)
    assert.equal(failure.message, `sh -c 'echo first >&2; echo "no space left" >&2; exit 3': no space left`)
  })

  it('a missing program: notInstalled', async () => {
    const failure = await exec.run('cbs-no-such-program', ['x']).catch((error: unknown) => error)
    assert.ok(failure instanceof CommandFailed)
    assert.equal(failure.notInstalled, true)
    assert.match(failure.message, /cbs-no-such-program: command not found$/)
  })

  it('a program that does not end in time is stopped, and is not taken for missing', async () => {
    const started = Date.now()
    const failure = await exec.run('sleep', ['10'], {timeoutMs: 200}).catch((error: unknown) => error)
    assert.ok(Date.now() - started < 5000)
    assert.ok(failure instanceof CommandFailed)
    assert.equal(failure.notInstalled, false)
    assert.match(failure.message, /timed out after 0.2 s$/)
  })

  it('a program killed by a signal: said so, and not taken for missing', async () => {
    const failure = await exec.run(...sh('kill -KILL $$')).catch((error: unknown) => error)
    assert.ok(failure instanceof CommandFailed)
    assert.equal(failure.notInstalled, false)
    assert.match(failure.message, /killed by SIGKILL$/)
  })

  it('a program that can be stopped by a signal is stopped at its timeout too', async () => {
    const failure = await exec.run('sleep', ['10'], {timeoutMs: 200, signal: new AbortController().signal}).catch((error: unknown) => error)
    assert.ok(failure instanceof CommandFailed)
    assert.match(failure.message, /timed out after 0.2 s$/)
  })

  it('an aborted signal stops the program and throws its reason', async () => {
    const aborter = new AbortController()
    setTimeout(() => aborter.abort(conflict('stop', 'now')), 100)
    await assert.rejects(exec.run('sleep', ['10'], {signal: aborter.signal}), /^CbsError: stop/)
  })

  it('an interruption stops an abortable program and is thrown instead of its failure', async () => {
    const interrupted = new SystemExecutor()
    setTimeout(() => interrupted.interrupt(conflict('interrupted by SIGINT', 'undone')), 100)
    await assert.rejects(interrupted.run('sleep', ['10'], {abortable: true, mutates: true}), /interrupted by SIGINT/)
  })

  it('--dry-run prints a changing command instead of running it; --verbose prints what runs', async () => {
    const lines: string[] = []
    const dryRun = new SystemExecutor({dryRun: true, log: (line) => lines.push(line)})
    assert.deepEqual(await dryRun.run('rm', ['/nonexistent file'], {mutates: true, dryRunStdout: '/dev/loop9'}), {stdout: '/dev/loop9', stderr: ''})
    const verbose = new SystemExecutor({verbose: true, log: (line) => lines.push(line)})
    await verbose.run('true', [])
    assert.deepEqual(lines, [`rm '/nonexistent file'`, '+ true'])
  })
})
