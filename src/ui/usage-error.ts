/**
 * Usage errors (what oclif's parser rejects, and unknown commands) as one line that says what is
 * wrong and what to type instead, exit 2. oclif's own messages span lines ("The following error
 * occurred:\n  ...\nSee more help with --help"); the errors it throws carry the arguments and
 * flags at fault, and the command's metadata has the rest.
 */

/** What of a command a usage message needs: oclif's static metadata, or the manifest's. */
export interface CommandShape {
  id: string
  args?: Record<string, {description?: string; required?: boolean}>
  flags?: Record<string, {char?: string; type?: string; required?: boolean; dependsOn?: string[]; helpValue?: string; hidden?: boolean}>
  examples?: Array<string | {command: string; description?: string}>
}

interface ParseFailure {
  message: string
  /** RequiredArgsError: the arguments missing (definitions); UnexpectedArgsError: the extra words. */
  args?: Array<string | {name?: string; description?: string}>
  /** NonExistentFlagsError: the flags it does not know. */
  flags?: string[]
  /** Flag validation errors (required, dependsOn): what was parsed. */
  parse?: {output?: {flags?: Record<string, unknown>}}
}

/** The one line for an error thrown while parsing `argv` for `command`. */
export function usageMessage(error: ParseFailure, command: CommandShape, bin = 'cbs'): string {
  const usage = commandLine(bin, command.id)
  const args = error.args ?? []
  if (args.length > 0 && typeof args[0] !== 'string') {
    const missing = (args as Array<{name?: string; description?: string}>).map((arg) => lowerFirst(arg.description ?? arg.name ?? 'an argument'))
    return `missing ${missing.join(', ')}: ${exampleFor(command, [], bin) ?? `see ${usage} --help`}`
  }
  if (args.length > 0) return `unexpected argument${args.length === 1 ? '' : 's'} ${args.join(' ')}: ${exampleFor(command, [], bin) ?? `see ${usage} --help`}`
  if (error.flags && error.flags.length > 0) {
    return `${usage} has no flag ${error.flags.join(', ')}: its flags are ${flagNames(command).join(', ')}`
  }
  const given = error.parse?.output?.flags
  const problems = given ? [...missingFlags(command, given), ...missingDependencies(command, given)] : []
  const what = problems.length > 0 ? problems.join('; ') : oneLine(error.message)
  const example = exampleFor(command, mentionedFlags(what), bin)
  return `${what}: ${example ?? `see ${usage} --help`}`
}

/** `cbs volume bogus`: what is there instead, from the commands oclif knows. */
export function unknownCommandMessage(id: string, commandIds: string[], topics: string[], bin = 'cbs'): string {
  const words = id.split(':')
  // oclif takes `cbs volume ls a` (ls takes no arguments) for a command "volume:ls:a".
  const command = commandIds.find((each) => id.startsWith(`${each}:`))
  if (command) {
    const extra = words.slice(command.split(':').length)
    return `unexpected argument${extra.length === 1 ? '' : 's'} ${extra.join(' ')}: ${commandLine(bin, command)} takes none (see ${commandLine(bin, command)} --help)`
  }
  // The longest known topic the words start with ("volume", "volume:snapshot"), or none.
  let depth = words.length - 1
  while (depth > 0 && !topics.includes(words.slice(0, depth).join(':'))) depth--
  const topic = words.slice(0, depth).join(':')
  const under = [...new Set([...commandIds, ...topics].filter((each) => (topic ? each.startsWith(`${topic}:`) : true)).map((each) => each.split(':')[depth]))]
  under.sort()
  const typed = commandLine(bin, words.slice(0, depth + 1).join(':'))
  // `cbs --json`: a flag where the command goes.
  if (words[depth].startsWith('-')) return `${words[depth]} is not a command: ${topic ? `the ${topic.replaceAll(':', ' ')} commands are` : 'the commands are'} ${under.join(', ')} (see ${commandLine(bin, topic)} --help)`
  return `unknown command "${typed}": ${topic ? `the ${topic.replaceAll(':', ' ')} commands are` : 'the commands are'} ${under.join(', ')} (see ${commandLine(bin, topic)} --help)`
}

const commandLine = (bin: string, id: string) => [bin, ...id.split(':').filter(Boolean)].join(' ')

const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1)

// eslint-disable-next-line no-control-regex
const ANSI = /\u001B\[[0-9;]*m/g

/** oclif's text on one line: no colours, no "The following error occurred:" nor "See more help". */
export function oneLine(text: string): string {
  const lines = text
    .replaceAll(ANSI, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !/^See more help with --help$/.test(line) && !/^The following errors? occurred:$/.test(line))
  // oclif's wording of the most common ones, in cbs's ("what is wrong"); anything else stays as oclif put it.
  const joined = lines
    .join(' ')
    .replace(/^Flag (--\S+) expects a value$/, '$1 needs a value')
    .replace(/^Flag (--\S+) expects one of these values: (.*)$/, '$1 needs a value, one of $2')
    .replace(/^Expected (--[^=\s]+)=(.*) to be one of: (.*)$/, '$1 must be one of $3, not "$2"')
    .replace(/^Parsing (--\S+) (.)/, (_, flag: string, first: string) => `${flag}: ${first.toLowerCase()}`)
  return lowerFirst(joined)
}

const flagWithValue = (name: string, flag?: {type?: string; helpValue?: string}) => (flag?.type === 'boolean' ? `--${name}` : `--${name} ${flag?.helpValue ?? 'VALUE'}`)

function missingFlags(command: CommandShape, given: Record<string, unknown>): string[] {
  return Object.entries(command.flags ?? {})
    .filter(([name, flag]) => flag.required && given[name] === undefined)
    .map(([name, flag]) => `missing ${flagWithValue(name, flag)}`)
}

function missingDependencies(command: CommandShape, given: Record<string, unknown>): string[] {
  const flags = command.flags ?? {}
  return Object.entries(flags).flatMap(([name, flag]) => {
    if (!flag.dependsOn || given[name] === undefined) return []
    const lacking = flag.dependsOn.filter((other) => given[other] === undefined)
    return lacking.length > 0 ? [`--${name} needs ${lacking.map((other) => flagWithValue(other, flags[other])).join(' and ')}`] : []
  })
}

const mentionedFlags = (text: string) => [...text.matchAll(/--([a-z][a-z-]*)/g)].map((match) => match[1])

function flagNames(command: CommandShape): string[] {
  return Object.entries(command.flags ?? {})
    .filter(([, flag]) => !flag.hidden)
    .map(([name]) => `--${name}`)
}

/** The first of the command's examples that uses all these flags (or any example), as typed. */
export function exampleFor(command: CommandShape, flags: string[], bin = 'cbs'): string | undefined {
  const commands = (command.examples ?? []).map((example) => (typeof example === 'string' ? example : example.command))
  const typed = commands.map((text) => text.replaceAll('<%= config.bin %>', bin).replaceAll('<%= command.id %>', command.id.replaceAll(':', ' ')))
  const fitting = typed.find((text) => flags.every((flag) => new RegExp(`--${flag}\\b`).test(text)))
  const example = fitting ?? (flags.length === 0 ? typed[0] : undefined)
  return example === undefined ? undefined : `e.g. ${example}`
}
