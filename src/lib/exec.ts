/**
 * The only module that starts processes. Everything cbs does to the host goes through an
 * Executor so that it can be logged (--verbose), shown without running (--dry-run) and
 * replaced by a scripted fake in unit tests.
 */

export interface RunOptions {
  /** The command changes the host: under --dry-run it is printed, not run. */
  mutates?: boolean
  /** What a mutating command answers under --dry-run (e.g. a placeholder device name). */
  dryRunStdout?: string
  input?: string
  timeoutMs?: number
  /** The program talks to the user directly (stdin, stdout, stderr inherited; nothing captured). */
  interactive?: boolean
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
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>
  /** An in-process change to the host (create a file, remove a folder), logged like a command. */
  change(argv: readonly string[], apply: () => Promise<void> | void): Promise<void>
}

/** A program that exited non-zero, could not start, or timed out. */
export class CommandFailed extends Error {
  constructor(
    readonly file: string,
    readonly args: readonly string[],
    readonly exitCode: number | undefined,
    readonly stderr: string,
  ) {
    const reason = lastLine(stderr) || (exitCode === undefined ? 'could not run' : `exit status ${exitCode}`)
    super(`${formatCommand(file, args)}: ${reason}`)
    this.name = 'CommandFailed'
  }

  /** The program is not installed (or could not be started at all). */
  get notInstalled(): boolean {
    return this.exitCode === undefined
  }
}

const lastLine = (text: string) => text.trim().split('\n').at(-1)?.trim() ?? ''

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

  request(reason: Error): void {
    if (this.requested) return
    this.requested = true
    this.reason = reason
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

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (options.mutates) this.interruption.deliver()
    if (this.dryRun && options.mutates) {
      this.log(formatCommand(file, args))
      return {stdout: options.dryRunStdout ?? '', stderr: ''}
    }
    if (this.options.verbose) this.log(`+ ${formatCommand(file, args)}`)
    // Loaded on first use: commands that only read the host never pay for it.
    const {execa} = await import('execa')
    const result = await execa(file, args, {
      reject: false,
      input: options.input,
      timeout: options.timeoutMs,
      env: {LC_ALL: 'C'},
      // cbs handles SIGINT/SIGTERM itself (finish the step, then undo); execa's own handlers
      // would re-raise the signal and kill it half way.
      cleanup: false,
      stdin: options.interactive ? 'inherit' : options.input === undefined ? 'ignore' : undefined,
      ...(options.interactive ? {stdout: 'inherit', stderr: 'inherit'} : {}),
    })
    const stdout = String(result.stdout ?? '')
    const stderr = String(result.stderr ?? '')
    if (result.failed) {
      if (result.code === 'ENOENT') throw new CommandFailed(file, args, undefined, `${file}: command not found`)
      // An interactive program already told the user why; execa's message would repeat the command line.
      throw new CommandFailed(file, args, result.exitCode, options.interactive ? '' : stderr || String(result.message ?? ''))
    }
    return {stdout, stderr}
  }

  async change(argv: readonly string[], apply: () => Promise<void> | void): Promise<void> {
    this.interruption.deliver()
    if (this.dryRun) {
      this.log(formatCommand(argv[0], argv.slice(1)))
      return
    }
    if (this.options.verbose) this.log(`+ ${formatCommand(argv[0], argv.slice(1))}`)
    await apply()
  }
}
