import {Command, Flags} from '@oclif/core'
import type {Input, ParserOutput} from '@oclif/core/parser'
import {type Context, systemContext} from './lib/system/context.js'
import {CbsError, interrupted, invalid} from './lib/common/errors.js'
import {describeFailure} from './lib/system/failure.js'
import {printable} from './ui/printable.js'
import {ttyProgress} from './ui/tty-progress.js'
import {type CommandShape, usageMessage} from './ui/usage-error.js'

/**
 * What every cbs command shares: --json (oclif), --verbose, the system context and one mapping
 * from errors to a single stderr line (or a JSON object on stdout) and a stable exit code.
 */
export abstract class CbsCommand extends Command {
  static override enableJsonFlag = true
  static override baseFlags = {
    verbose: Flags.boolean({summary: 'Print each system command cbs runs, to stderr.', helpGroup: 'GLOBAL'}),
  }

  /** For commands that change something. */
  static dryRunFlag = Flags.boolean({summary: 'Print the system commands that would run, and change nothing.'})

  protected context(flags: {verbose?: boolean; 'dry-run'?: boolean}): Context {
    const dryRun = flags['dry-run'] ?? false
    // Dry-run lines are the output, unless stdout is reserved for the JSON document.
    // Command lines carry paths and names: printable, like all human output.
    // (oclif's logToStderr is silent under --json: `--dry-run --json` would show no plan at all.)
    const log = dryRun && !this.jsonEnabled() ? (line: string) => this.log(printable(line)) : (line: string) => this.toStderr(printable(line))
    // Progress only for a person watching, and never mixed into --verbose or --dry-run lines.
    const progress = flags.verbose || dryRun ? undefined : ttyProgress()
    const ctx = systemContext({verbose: flags.verbose, dryRun, log, progress})
    // Ctrl-C or SIGTERM stops a change at its next step and undoes what was done. Later signals
    // (conf's file writer re-raises the first one) must not cut the undo short.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => ctx.exec.interrupt(interrupted(signal)))
    return ctx
  }

  /** A line on stderr, with --json too: stdout alone is kept for the one document. */
  protected toStderr(line: string): void {
    process.stderr.write(`${line}\n`)
  }

  /** Whatever oclif's parser rejects (a flag without its value included) is a usage error, exit 2. */
  // oclif's own signature: its FlagOutput and ArgOutput are such records.
  protected override async parse<F extends Record<string, any>, B extends Record<string, any>, A extends Record<string, any>>(
    options?: Input<F, B, A>,
    argv?: string[],
  ): Promise<ParserOutput<F, B, A>> {
    try {
      return await super.parse(options, argv)
    } catch (error) {
      if (!(error instanceof Error) || error instanceof CbsError || (error as {oclif?: {exit?: number}}).oclif?.exit === 0) throw error
      const {args, baseFlags, flags, examples, enableJsonFlag} = this.ctor
      const json = enableJsonFlag ? {json: {type: 'boolean'}} : {}
      const shape = {id: this.id ?? '', args, flags: {...flags, ...baseFlags, ...json}, examples} as CommandShape
      throw invalid(usageMessage(error, shape, this.config.bin))
    }
  }

  protected override async catch(error: Error & {oclif?: {exit?: number}}): Promise<void> {
    if (error.oclif?.exit === 0) return
    const {exitCode, message} = describeFailure(error)
    if (this.jsonEnabled()) this.logJson({error: {message, exitCode}})
    else this.logToStderr(`${this.config.bin}: ${printable(message)}`)
    this.exit(exitCode)
  }
}
