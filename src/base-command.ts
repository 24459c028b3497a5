import {Command, Flags} from '@oclif/core'
import {type Context, systemContext} from './lib/system/context.js'
import {ExitCode, interrupted} from './lib/common/errors.js'
import {describeFailure} from './lib/system/failure.js'
import {printable} from './ui/printable.js'
import {ttyProgress} from './ui/tty-progress.js'

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
    const log = dryRun && !this.jsonEnabled() ? (line: string) => this.log(printable(line)) : (line: string) => this.logToStderr(printable(line))
    // Progress only for a person watching, and never mixed into --verbose or --dry-run lines.
    const progress = flags.verbose || dryRun ? undefined : ttyProgress()
    const ctx = systemContext({verbose: flags.verbose, dryRun, log, progress})
    // Ctrl-C or SIGTERM stops a change at its next step and undoes what was done. Later signals
    // (conf's file writer re-raises the first one) must not cut the undo short.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => ctx.exec.interrupt(interrupted(signal)))
    return ctx
  }

  protected override async catch(error: Error & {parse?: unknown; oclif?: {exit?: number}}): Promise<void> {
    const {exitCode, message} =
      error.parse !== undefined ? {exitCode: ExitCode.invalid, message: usageMessage(error.message)} : describeFailure(error)
    if (error.oclif?.exit === 0) return
    if (this.jsonEnabled()) this.logJson({error: {message, exitCode}})
    else this.logToStderr(`cbs: ${printable(message)}`)
    this.exit(exitCode)
  }
}

/** oclif's usage errors span lines ("Missing 1 required arg:\nname  Volume name\n..."): keep the gist. */
function usageMessage(text: string): string {
  const [first, second = ''] = text.split('\n')
  const subject = first.endsWith(':') ? ` ${second.trim().split(/\s+/)[0]}` : ''
  return `${first}${subject} (see --help)`
}
