import assert from 'node:assert/strict'
import {CommandFailed, type Executor, formatCommand, type Guard, Interruption, type RunOptions, type RunResult} from '../../src/lib/system/exec.js'

/** One expected command and what it answers; a string is matched against the formatted line. */
export interface Expectation {
  command: string | RegExp
  stdout?: string
  /** Runs when the command does, e.g. to simulate a signal arriving meanwhile. */
  then?: () => void
  /** The command fails with this stderr (exit 1, or `exitCode`). */
  fails?: string
  exitCode?: number
  /** The program is not installed. */
  missing?: boolean
  /** For the `leave` command of a hold: the bound had passed before cbs released it. */
  boundPassed?: boolean
  /** For a change: what it does instead of the real in-process change (e.g. a reflink on ext4). */
  effect?: () => void
}

/**
 * Replays a script of commands in order (like Kubernetes' FakeExec{ExactOrder: true}): an
 * unexpected or out-of-order command fails the test. In-process changes (`change`) are
 * expected too, and applied for real: unit tests point the layout at a temporary folder.
 */
export class FakeExecutor implements Executor {
  readonly ran: string[] = []
  private readonly script: Expectation[]

  constructor(
    script: Expectation[],
    readonly dryRun = false,
  ) {
    this.script = [...script]
  }

  private readonly interruption = new Interruption()

  interrupt(reason: Error): void {
    this.interruption.request(reason)
  }

  async throwIfInterrupted(): Promise<void> {
    this.interruption.deliver()
  }

  get interrupted(): AbortSignal {
    return this.interruption.signal
  }

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (options.mutates) this.interruption.deliver()
    const line = formatCommand(file, args)
    if (this.dryRun && options.mutates) {
      this.ran.push(line)
      return {stdout: options.dryRunStdout ?? '', stderr: ''}
    }
    const expected = this.next(line)
    expected.then?.()
    if (options.abortable && this.interruption.signal.aborted) this.interruption.deliver()
    if (expected.missing) throw new CommandFailed(file, args, undefined, `${file}: command not found`)
    if (expected.fails !== undefined) throw new CommandFailed(file, args, expected.exitCode ?? 1, expected.fails)
    return {stdout: expected.stdout ?? '', stderr: ''}
  }

  async change(argv: readonly string[], apply: () => Promise<void> | void): Promise<void> {
    this.interruption.deliver()
    const line = formatCommand(argv[0], argv.slice(1))
    if (this.dryRun) {
      this.ran.push(line)
      return
    }
    const expected = this.next(line)
    expected.then?.()
    if (expected.fails !== undefined) throw new Error(expected.fails)
    await (expected.effect ?? apply)()
  }

  /** A hold is two expected commands: `enter` now, `leave` when released. */
  async hold(enter: readonly string[], leave: readonly string[]): Promise<Guard> {
    this.interruption.deliver()
    if (this.dryRun) {
      this.ran.push(formatCommand(enter[0], enter.slice(1)))
      return {enterMs: 0, release: async () => (this.ran.push(formatCommand(leave[0], leave.slice(1))), true)}
    }
    const entered = this.next(formatCommand(enter[0], enter.slice(1)))
    entered.then?.()
    if (entered.fails !== undefined) throw new CommandFailed(enter[0], enter.slice(1), 1, entered.fails)
    return {
      enterMs: 0,
      release: async () => {
        const left = this.next(formatCommand(leave[0], leave.slice(1)))
        if (left.fails !== undefined) throw new CommandFailed(leave[0], leave.slice(1), 1, left.fails)
        return !left.boundPassed
      },
    }
  }

  /** Every scripted command ran. */
  assertDone(): void {
    assert.deepEqual(this.script.map((step) => String(step.command)), [], 'scripted commands that never ran')
  }

  private next(line: string): Expectation {
    this.ran.push(line)
    const expected = this.script.shift()
    assert.ok(expected, `unexpected command: ${line}`)
    const matches = typeof expected.command === 'string' ? line === expected.command : expected.command.test(line)
    assert.ok(matches, `expected ${String(expected.command)}\n     got ${line}`)
    return expected
  }
}
