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
}

export interface RunResult {
  stdout: string
  stderr: string
}

export interface Executor {
  readonly dryRun: boolean
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

export class SystemExecutor implements Executor {
  readonly dryRun: boolean
  private readonly log: (line: string) => void

  constructor(private readonly options: SystemExecutorOptions = {}) {
    this.dryRun = options.dryRun ?? false
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`))
  }

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
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
      stdin: options.input === undefined ? 'ignore' : undefined,
    })
    const stdout = String(result.stdout ?? '')
    const stderr = String(result.stderr ?? '')
    if (result.failed) {
      if (result.code === 'ENOENT') throw new CommandFailed(file, args, undefined, `${file}: command not found`)
      throw new CommandFailed(file, args, result.exitCode, stderr || String(result.message ?? ''))
    }
    return {stdout, stderr}
  }

  async change(argv: readonly string[], apply: () => Promise<void> | void): Promise<void> {
    if (this.dryRun) {
      this.log(formatCommand(argv[0], argv.slice(1)))
      return
    }
    if (this.options.verbose) this.log(`+ ${formatCommand(argv[0], argv.slice(1))}`)
    await apply()
  }
}
