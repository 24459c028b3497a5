/**
 * The only module that starts processes. Everything cbs does to the host goes through an
 * Executor so that it can be logged (--verbose), shown without running (--dry-run) and
 * replaced by a scripted fake in unit tests.
 */

import {fileURLToPath} from 'node:url'
import type {Options, Result} from 'execa'

export interface RunOptions {
  /** The command changes the host: under --dry-run it is printed, not run. */
  mutates?: boolean
  /** What a mutating command answers under --dry-run (e.g. a placeholder device name). */
  dryRunStdout?: string
  timeoutMs?: number
  /** The program talks to the user directly (stdin, stdout, stderr inherited; nothing captured). */
  interactive?: boolean
  /**
   * An interruption stops the program at once (SIGTERM) instead of letting it finish: for long
   * copies whose partial result the undo removes anyway. run() then throws the interruption.
   */
  abortable?: boolean
  /** Aborting it stops the program (SIGTERM); run() then throws the signal's reason. */
  signal?: AbortSignal
  /** The program reads cbs's stdin, or writes cbs's stdout, directly (a stream such as a tar); stderr is still collected. */
  passStdin?: boolean
  passStdout?: boolean
}

export interface RunResult {
  stdout: string
  stderr: string
}

export interface Executor {
  readonly dryRun: boolean
  /**
   * Asks the operation under way to stop: the next change to the host throws `reason` instead
   * of running, so the operation's undo steps (which run normally afterwards) take it back.
   */
  interrupt(reason: Error): void
  /** Throws the interruption, if one was asked for, between steps of in-process work (a long copy loop). */
  throwIfInterrupted(): Promise<void>
  /** Aborted when an interruption is asked for: for in-process work that waits (on a pipe); then call throwIfInterrupted. */
  readonly interrupted: AbortSignal
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>
  /** An in-process change to the host (create a file, remove a folder), logged like a command. */
  change(argv: readonly string[], apply: () => Promise<void> | void): Promise<void>
  /**
   * Runs `enter` (e.g. fsfreeze --freeze) in a detached guardian process that runs `leave`
   * (fsfreeze --unfreeze) when released, when cbs dies for any reason (SIGKILL included), or
   * after `boundMs`, whichever comes first: a state that must not outlive cbs never does.
   * Throws CommandFailed when `enter` fails (then nothing is held).
   */
  hold(enter: readonly string[], leave: readonly string[], options: {boundMs: number}): Promise<Guard>
}

export interface Guard {
  /** How long `enter` took (for fsfreeze: writers already wait while it flushes). */
  readonly enterMs: number
  /** Runs `leave` and waits for it; false when the bound had passed first and it had already run. */
  release(): Promise<boolean>
}

/** A program that exited non-zero, could not start, or timed out. */
export class CommandFailed extends Error {
  constructor(
    readonly file: string,
    readonly args: readonly string[],
    readonly exitCode: number | undefined,
    readonly stderr: string,
    /** It ran but was stopped (timed out, killed by a signal): it is installed. */
    private readonly stopped = false,
  ) {
    const reason = lastLine(stderr) || (exitCode === undefined ? 'could not run' : `exit status ${exitCode}`)
    super(`${formatCommand(file, args)}: ${reason}`)
    this.name = 'CommandFailed'
  }

  /** The program is not installed (or could not be started at all). */
  get notInstalled(): boolean {
    return this.exitCode === undefined && !this.stopped
  }
}

/** The last line a program wrote (on stderr, usually the gist of its failure). */
export const lastLine = (text: string) => text.trim().split('\n').at(-1)?.trim() ?? ''

/** Shell-quoted for display only; nothing is ever run through a shell. */
export function formatCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`)).join(' ')
}

export interface SystemExecutorOptions {
  verbose?: boolean
  dryRun?: boolean
  /** Where --verbose and --dry-run lines go. */
  log?: (line: string) => void
}

/** An interruption, delivered once at the next change to the host; later requests are ignored. */
export class Interruption {
  private reason?: Error
  private requested = false
  private readonly aborter = new AbortController()
  /** Aborted at the first request: stops abortable programs. */
  readonly signal = this.aborter.signal

  request(reason: Error): void {
    if (this.requested) return
    this.requested = true
    this.reason = reason
    this.aborter.abort(reason)
  }

  /** Throws the reason once; undo steps that follow run normally. */
  deliver(): void {
    const {reason} = this
    this.reason = undefined
    if (reason) throw reason
  }
}

export class SystemExecutor implements Executor {
  readonly dryRun: boolean
  private readonly log: (line: string) => void
  private readonly interruption = new Interruption()

  constructor(private readonly options: SystemExecutorOptions = {}) {
    this.dryRun = options.dryRun ?? false
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`))
  }

  interrupt(reason: Error): void {
    this.interruption.request(reason)
  }

  async throwIfInterrupted(): Promise<void> {
    if (this.interruption.signal.aborted) await this.deliverInterruption()
  }

  get interrupted(): AbortSignal {
    return this.interruption.signal
  }

  /**
   * Before a change: throws the interruption if one was asked for. A signal that came while a
   * step ran reaches its handler through the event loop only: give the loop a turn first.
   */
  private async deliverInterruption(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve))
    this.interruption.deliver()
  }

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (options.mutates) await this.deliverInterruption()
    if (this.dryRun && options.mutates) {
      this.log(formatCommand(file, args))
      return {stdout: options.dryRunStdout ?? '', stderr: ''}
    }
    if (this.options.verbose) this.log(`+ ${formatCommand(file, args)}`)
    const signals = [options.abortable ? this.interruption.signal : undefined, options.signal].filter((signal) => signal !== undefined)
    const ended = await runProgram(file, args, options, signals.length > 0 ? AbortSignal.any(signals) : undefined)
    if (ended.exitCode === 0) return {stdout: ended.stdout, stderr: ended.stderr}
    // A program stopped by the interruption (or by the same Ctrl-C): report the interruption.
    await this.deliverInterruption()
    if (options.signal?.aborted) throw options.signal.reason
    if (ended.notStarted !== undefined) throw new CommandFailed(file, args, undefined, ended.notStarted)
    // An interactive program already told the user why it failed.
    const said = options.interactive ? '' : ended.stderr
    throw new CommandFailed(file, args, ended.exitCode, said || ended.why || '', ended.why !== undefined)
  }

  async change(argv: readonly string[], apply: () => Promise<void> | void): Promise<void> {
    await this.deliverInterruption()
    if (this.dryRun) {
      this.log(formatCommand(argv[0], argv.slice(1)))
      return
    }
    if (this.options.verbose) this.log(`+ ${formatCommand(argv[0], argv.slice(1))}`)
    await apply()
  }

  async hold(enter: readonly string[], leave: readonly string[], {boundMs}: {boundMs: number}): Promise<Guard> {
    await this.deliverInterruption()
    const show = (argv: readonly string[]) => formatCommand(argv[0], argv.slice(1))
    if (this.dryRun) {
      this.log(show(enter))
      return {enterMs: 0, release: async () => (this.log(show(leave)), true)}
    }
    if (this.options.verbose) this.log(`+ ${show(enter)}   (guarded: ${show(leave)} within ${Math.ceil(boundMs / 1000)}s, even if cbs is killed)`)
    const {execa} = await loadExeca()
    const guardian = execa('bash', [GUARDIAN, String(boundMs), String(enter.length), ...enter, ...leave], {
      detached: true,
      cleanup: false,
      reject: false,
      buffer: false,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'ignore',
    })
    guardian.stdin.on('error', () => {}) // EPIPE: the guardian already left on its own
    const reports = lines(guardian.stdout)
    const entered = parseReport(await reports.next())
    if (entered?.kind !== 'entered') {
      const failed = entered ?? {status: undefined, said: 'the guardian process did not start'}
      throw programFailed(enter[0], enter.slice(1), failed.status, failed.said)
    }
    // Until released, nothing here keeps cbs running: should cbs end without releasing, its
    // exit closes the guardian's stdin and the guardian runs `leave`.
    const pipes = [guardian.stdin, guardian.stdout] as unknown as Array<{ref(): void; unref(): void}> // net.Sockets
    guardian.unref()
    for (const pipe of pipes) pipe.unref()
    return {
      enterMs: entered.ms,
      release: async () => {
        if (this.options.verbose) this.log(`+ ${show(leave)}`)
        pipes[1].ref()
        guardian.stdin.end()
        const left = parseReport(await reports.next())
        if (left?.kind !== 'left') throw new CommandFailed(leave[0], leave.slice(1), undefined, 'the guardian process ended without a report')
        if (left.status !== 0) throw programFailed(leave[0], leave.slice(1), left.status, left.said)
        return left.why === 'released'
      },
    }
  }
}

/** Loaded on first use: a command that runs no program never pays for it. */
const loadExeca = () => import('execa')

/** src/lib/system/guardian.sh; the build puts it beside the bundle (dist/). */
const GUARDIAN = fileURLToPath(new URL('guardian.sh', import.meta.url))

type GuardianReport = {kind: 'entered'; ms: number} | {kind: 'failed'; status: number; said: string} | {kind: 'left'; why: string; status: number; said: string}

/** A line of guardian.sh: "entered MS", "failed STATUS STDERR" or "left WHY STATUS STDERR". */
function parseReport(line: string | undefined): GuardianReport | undefined {
  const [kind, first, second, ...rest] = line?.split(' ') ?? []
  if (kind === 'entered') return {kind, ms: Number(first)}
  if (kind === 'failed') return {kind, status: Number(first), said: [second, ...rest].join(' ').trim()}
  if (kind === 'left') return {kind, why: first, status: Number(second), said: rest.join(' ').trim()}
  return undefined
}

/** bash says 127 for a program it cannot find: that one is not installed. */
function programFailed(file: string, args: readonly string[], status: number | undefined, said: string): CommandFailed {
  if (status === 127 && said.endsWith('command not found')) return new CommandFailed(file, args, undefined, `${file}: command not found`)
  return new CommandFailed(file, args, status, said)
}

/** Reads a stream line by line; next() is undefined once it has ended. */
function lines(stream: NodeJS.ReadableStream): {next(): Promise<string | undefined>} {
  let buffer = ''
  let ended = false
  const waiting: Array<() => void> = []
  const wake = () => waiting.splice(0).forEach((resolve) => resolve())
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => ((buffer += chunk), wake()))
  stream.on('end', () => ((ended = true), wake()))
  stream.on('error', () => ((ended = true), wake()))
  return {
    async next() {
      for (;;) {
        const newline = buffer.indexOf('\n')
        if (newline >= 0) {
          const line = buffer.slice(0, newline)
          buffer = buffer.slice(newline + 1)
          return line
        }
        if (ended) return undefined
        await new Promise<void>((resolve) => waiting.push(resolve))
      }
    },
  }
}

interface Ended {
  stdout: string
  stderr: string
  /** undefined when it did not start or was stopped */
  exitCode?: number
  /** Why it could not start (e.g. "mkfs.xfs: command not found"). */
  notStarted?: string
  /** Why it was stopped: "timed out after 10 s", "killed by SIGKILL". */
  why?: string
}

/**
 * Runs a program with execa: no shell, the C locale, what it prints collected less one final
 * newline; `signal` stops it (SIGTERM). execa tells apart a program that could not start, one
 * that timed out and one killed by a signal: each gets its own words here.
 */
async function runProgram(file: string, args: readonly string[], options: RunOptions, signal: AbortSignal | undefined): Promise<Ended> {
  const {execa} = await loadExeca()
  const result: Result<Options> = await execa(file, args, {
    reject: false,
    env: {LC_ALL: 'C'},
    timeout: options.timeoutMs,
    cancelSignal: signal,
    // cbs handles SIGINT and SIGTERM itself (finish the step, then undo): execa's own handlers
    // would kill the program half way.
    cleanup: false,
    maxBuffer: MAX_OUTPUT,
    stdio: stdioOf(options),
  })
  const printed = {stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '')}
  if (result.timedOut) return {...printed, why: `timed out after ${options.timeoutMs! / 1000} s`}
  if (result.signal !== undefined) return {...printed, why: `killed by ${result.signal}`}
  if (result.exitCode === undefined) return {...printed, notStarted: result.code === 'ENOENT' ? `${file}: command not found` : (result.originalMessage ?? result.message ?? 'could not run')}
  return {...printed, exitCode: result.exitCode}
}

function stdioOf(options: RunOptions): 'inherit' | ['ignore' | 'inherit', 'pipe' | 'inherit', 'pipe'] {
  if (options.interactive) return 'inherit'
  return [options.passStdin ? 'inherit' : 'ignore', options.passStdout ? 'inherit' : 'pipe', 'pipe']
}

/** More than any program cbs runs prints (docker inspect of many containers included). */
const MAX_OUTPUT = 64 * 1024 ** 2
