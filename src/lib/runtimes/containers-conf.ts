import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname} from 'node:path'
import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {invalid} from '../common/errors.js'
import {validateName} from '../input/names.js'

/** Podman reads it (or the file CONTAINERS_CONF names) to find volume plugins. */
export const DEFAULT_CONTAINERS_CONF = '/etc/containers/containers.conf'

const TABLE = /^\s*\[\s*engine\.volume_plugins\s*\]\s*(#.*)?$/
const ANY_TABLE = /^\s*\[/

/** The TOML podman wants: `[engine.volume_plugins]` with NAME = "SOCKET". */
export function volumePluginEntry(name: string, socket: string): string {
  return `[engine.volume_plugins]\n${entryLine(name, socket)}\n`
}

const entryLine = (name: string, socket: string) => `${validateName(name, 'plugin name')} = ${JSON.stringify(socket)}`

/**
 * `text` (a containers.conf) with the plugin's entry in its `[engine.volume_plugins]` table:
 * an entry of that name is replaced, a missing table added at the end; the rest stays as it was.
 */
export function withVolumePlugin(text: string, name: string, socket: string): string {
  const lines = text.split('\n')
  const table = lines.findIndex((line) => TABLE.test(line))
  if (table < 0) {
    if (lines.some((line) => /^\s*volume_plugins\s*=/.test(line))) {
      throw invalid('containers.conf sets volume_plugins inline', `add ${entryLine(name, socket)} to it by hand`)
    }
    const separator = text === '' || text.endsWith('\n\n') ? '' : text.endsWith('\n') ? '\n' : '\n\n'
    return `${text}${separator}${volumePluginEntry(name, socket)}`
  }
  const end = lines.findIndex((line, index) => index > table && ANY_TABLE.test(line))
  const key = new RegExp(`^\\s*("?)${name.replaceAll('.', '\\.')}\\1\\s*=`)
  const last = end < 0 ? lines.length : end
  const existing = lines.findIndex((line, index) => index > table && index < last && key.test(line))
  if (existing >= 0) lines[existing] = entryLine(name, socket)
  else lines.splice(table + 1, 0, entryLine(name, socket))
  return lines.join('\n')
}

/** Adds (or updates) the plugin's entry in the file, creating it if need be. */
export async function registerVolumePlugin(ctx: Context, file: string, name: string, socket: string): Promise<void> {
  if (!file.startsWith('/')) throw invalid(`containers.conf must be an absolute path, not "${file}"`)
  requireRoot(ctx.host)
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  const updated = withVolumePlugin(text, name, socket)
  if (updated === text) return
  await ctx.exec.change(['tee', file], () => {
    mkdirSync(dirname(file), {recursive: true, mode: 0o755})
    writeFileSync(file, updated, {mode: 0o644})
  })
}
