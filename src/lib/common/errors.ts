/** Exit codes are part of cbs's contract with scripts: documented in the README and man pages. */
export const ExitCode = {
  ok: 0,
  unexpected: 1,
  invalid: 2,
  notFound: 3,
  conflict: 4,
  environment: 5,
  /** 128 + SIGINT, as shells report a command stopped by Ctrl-C. */
  interrupted: 130,
} as const

export type ErrorKind = Exclude<keyof typeof ExitCode, 'ok'>

/**
 * The one error the core throws on purpose. Its message is a single line saying what failed and
 * what to do; the command layer maps `kind` to the exit code.
 */
export class CbsError extends Error {
  constructor(
    readonly kind: ErrorKind,
    /** What failed: the message without the hint. */
    readonly reason: string,
    readonly hint?: string,
  ) {
    super(hint ? `${reason}: ${hint}` : reason)
    this.name = 'CbsError'
  }

  get exitCode(): number {
    return ExitCode[this.kind]
  }
}

/** Whether an error is cbs's own error of that kind (e.g. a conflict to explain, an interruption). */
export const isKind = (error: unknown, kind: ErrorKind): error is CbsError => error instanceof CbsError && error.kind === kind

export const invalid = (message: string, hint?: string) => new CbsError('invalid', message, hint)
export const notFound = (message: string, hint?: string) => new CbsError('notFound', message, hint)
/** The one wording for volumes that do not exist (exit 3), wherever a name is looked up. */
export const noSuchVolume = (names: string | string[]) => notFound(`no such volume: ${[names].flat().join(', ')}`, 'see `cbs volume ls`')
export const conflict = (message: string, hint?: string) => new CbsError('conflict', message, hint)
export const environment = (message: string, hint?: string) => new CbsError('environment', message, hint)
export const interrupted = (signal: string) => new CbsError('interrupted', `interrupted by ${signal}`, 'what was done so far has been undone')
