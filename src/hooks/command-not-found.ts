import type {Hook} from '@oclif/core'
import {ExitCode} from '../lib/common/errors.js'
import {unknownCommandMessage} from '../ui/usage-error.js'

/**
 * oclif's `command_not_found` hook: `cbs volume bogus` is a usage error like any other, one line
 * naming the commands there are, exit 2, and with --json the `{"error": ...}` document.
 */
export const commandNotFound: Hook<'command_not_found'> = async function ({argv = [], config, id}) {
  // Aliases (ls and list) work, but the list of what there is names each command once.
  const aliases = new Set(config.commands.flatMap((command) => command.aliases))
  const commands = config.commands.filter((command) => !command.hidden && !aliases.has(command.id)).map((command) => command.id)
  const message = unknownCommandMessage(id, commands, config.topics.map((topic) => topic.name), config.bin)
  // oclif takes `cbs --json` for a command "--json".
  const words = [id, ...argv]
  const end = words.indexOf('--')
  if ((end < 0 ? words : words.slice(0, end)).includes('--json')) {
    process.stdout.write(`${JSON.stringify({error: {message, exitCode: ExitCode.invalid}}, null, 2)}\n`)
  } else {
    process.stderr.write(`${config.bin}: ${message}\n`)
  }
  this.exit(ExitCode.invalid)
}
