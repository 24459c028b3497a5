#!/usr/bin/env node
// Generate roff man pages (section 1) from an oclif 4 manifest.
//
// Usage: node scripts/man.js [manifest] [outdir] [--check]
//
//   manifest  path to oclif.manifest.json (default: ./oclif.manifest.json)
//   outdir    where the pages go          (default: ./man)
//   --check   write nothing; exit 1 and list the pages that differ, are
//             missing or are extra when outdir is out of date
//
// Output is deterministic: the same manifest (and package.json, which is read
// from next to the manifest for the package description and topic
// descriptions) always gives byte-identical pages. No dates are written; the
// manifest version goes into .TH instead.
//
// Pure Node, no dependencies. The rendering core is exported so that tests can
// call it; the command-line part only runs when this file is executed directly.

import {existsSync, readdirSync, readFileSync, realpathSync, unlinkSync, writeFileSync, mkdirSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

/** Exit codes shared by every cbs command, documented on every page. */
export const EXIT_CODES = Object.freeze([
  [0, 'Success.'],
  [1, 'Unexpected error.'],
  [2, 'Invalid input or usage.'],
  [3, 'Not found.'],
  [4, 'Conflict: the object already exists, is busy or is in use.'],
  [5, 'Environment: not running as root, or a required kernel feature or tool is missing.'],
])

/** Environment variables documented in cbs(1). */
export const ENVIRONMENT = Object.freeze([
  [
    'CBS_ROOT',
    'Directory where cbs keeps its state, backing files and mountpoints. Defaults to /var/lib/cbs.',
  ],
  ['CBS_RUNTIME', 'Container runtime to integrate with: docker, nerdctl or podman.'],
  ['NO_COLOR', 'When set to a non-empty value, disables colored output.'],
])

const DEFAULTS = Object.freeze({
  bin: 'cbs',
  plugin: 'cbs',
  description: 'container block storage',
  topics: {},
})

function withDefaults(options = {}) {
  return {...DEFAULTS, ...options, topics: options.topics ?? {}}
}

// Code-point order, independent of the locale (localeCompare is not).
const byString = (a, b) => (a < b ? -1 : a > b ? 1 : 0)

// ---------------------------------------------------------------------------
// roff escaping

/**
 * Escape characters that are special to roff anywhere in a line: the
 * backslash, control characters and (for an ASCII-only page) everything
 * outside printable ASCII, which becomes a \[uXXXX] glyph.
 */
function escapeChars(s) {
  let out = ''
  for (const ch of String(s)) {
    const cp = ch.codePointAt(0)
    if (ch === '\\') out += '\\e'
    else if (ch === '\t') out += ' '
    else if (cp < 0x20 || cp === 0x7f) out += ''
    else if (cp > 0x7e) {
      if (cp >= 0x80 && cp <= 0x9f) continue // C1 controls
      out += `\\[u${cp.toString(16).toUpperCase().padStart(4, '0')}]`
    } else out += ch
  }
  return out
}

/**
 * Escape literal text that the reader may copy into a shell (commands, option
 * names, values): besides escapeChars, hyphens become \- (minus, not a
 * typographic hyphen) and quotes/carets/tildes get their ASCII glyphs.
 */
export function escapeCode(s) {
  return escapeChars(s)
    .replace(/-/g, '\\-')
    .replace(/'/g, '\\(aq')
    .replace(/`/g, '\\(ga')
    .replace(/\^/g, '\\(ha')
    .replace(/~/g, '\\(ti')
}

/**
 * Escape running prose. Hyphens in ordinary words stay hyphens, but
 * option-like tokens (--size, -f) get \- so that they can be copied, and
 * `backquoted` spans are set in bold as code.
 */
export function escapeText(s) {
  const parts = String(s).split(/(`[^`\n]+`)/)
  return parts
    .map((part, i) => {
      if (i % 2 === 1) return `\\%\\fB${escapeCode(part.slice(1, -1))}\\fR`
      return escapeChars(part).replace(
        /(^|[\s([{"'=,/|])(--?[A-Za-z0-9][\w.-]*)/g,
        (_m, pre, tok) => pre + tok.replace(/-/g, '\\-'),
      )
    })
    .join('')
}

/** Protect a line from being read as a request (leading "." or "'"). */
function safeLine(line) {
  return /^[.']/.test(line) ? `\\&${line}` : line
}

/** Quote a macro argument. */
function macroArg(escaped) {
  return `"${escaped.replace(/"/g, '\\(dq')}"`
}

// ---------------------------------------------------------------------------
// Text helpers

/** Replace the oclif/EJS placeholders that appear in help text. */
export function substitute(text, id, options = {}) {
  const {bin} = withDefaults(options)
  const vars = {
    'config.bin': bin,
    'config.dirname': bin,
    'config.name': bin,
    'command.id': id === undefined ? '' : commandName(id),
  }
  if (options.version !== undefined) vars['config.version'] = String(options.version)
  return String(text ?? '').replace(/<%[=-]?\s*([\w.]+)\s*-?%>/g, (m, key) =>
    Object.hasOwn(vars, key) ? vars[key] : m,
  )
}

/** "volume:create" -> "volume create" (topic separator is a space). */
export function commandName(id) {
  return String(id).split(':').join(' ')
}

/** "volume:create" -> "cbs-volume-create" (page name, without section). */
export function pageName(id, options = {}) {
  const {bin} = withDefaults(options)
  return `${bin}-${String(id).split(':').join('-')}`
}

/** "volume:create" -> "cbs-volume-create.1" */
export function pageFile(id, options = {}) {
  return `${pageName(id, options)}.1`
}

function oneLine(s) {
  return String(s ?? '')
    .replace(/\s+/g, ' ')
    .trim()
}

/** Split a command's help text into a one-line summary and the long description. */
function splitDescription(cmd) {
  const description = String(cmd.description ?? '').replace(/\r\n?/g, '\n').trim()
  if (cmd.summary) return {summary: oneLine(cmd.summary), body: description}
  const [first, ...rest] = description.split('\n')
  return {summary: oneLine(first), body: rest.join('\n').trim()}
}

/**
 * Render free text (already placeholder-substituted) as roff paragraphs.
 * Blank lines separate paragraphs; other line breaks are kept (.br), as in
 * oclif's help; runs of indented lines are kept verbatim (.nf); a paragraph
 * of "- item" / "* item" lines becomes a bullet list.
 * Returns lines; the first paragraph is not preceded by .PP (the caller
 * decides what starts the block, e.g. .SH, .TP or .IP).
 */
function paragraphs(text, {para = '.PP'} = {}) {
  const blocks = String(text ?? '')
    .replace(/\r\n?/g, '\n')
    .split(/\n[ \t]*\n/)
    .map((b) => b.replace(/^\n+|\s+$/g, ''))
    .filter((b) => b.trim() !== '')
  const out = []
  blocks.forEach((block, i) => {
    if (i > 0) out.push(para)
    const lines = block.split('\n')
    if (lines.every((l) => /^[-*] /.test(l))) {
      // Bullet list.
      lines.forEach((l, j) => {
        if (j > 0) out.push('.br')
        out.push(`\\(bu ${escapeText(l.slice(2).trim())}`)
      })
      return
    }
    // Runs of indented lines are verbatim; other runs are filled prose.
    const runs = []
    for (const l of lines) {
      const verbatim = /^[ \t]/.test(l)
      if (runs.length && runs.at(-1).verbatim === verbatim) runs.at(-1).lines.push(l)
      else runs.push({verbatim, lines: [l]})
    }
    for (const run of runs) {
      if (!run.verbatim) {
        // Keep the author's line breaks, as oclif's help does.
        run.lines.forEach((l, j) => {
          if (j > 0) out.push('.br')
          out.push(safeLine(escapeText(l.trim())))
        })
        continue
      }
      // Inside a .TP/.IP body the paragraph indent already applies; at
      // section level the block is indented with .RS.
      const expanded = run.lines.map(expandTabs)
      const indent = Math.min(...expanded.filter((l) => l.trim()).map((l) => l.match(/^ */)[0].length))
      const verbatim = expanded.map((l) => safeLine(escapeCode(l.slice(indent).trimEnd())))
      if (para === '.PP') out.push('.RS 4', '.nf', ...verbatim, '.fi', '.RE')
      else out.push('.nf', ...verbatim, '.fi')
    }
  })
  return out
}

function expandTabs(line) {
  let out = ''
  for (const ch of line) {
    if (ch === '\t') out += ' '.repeat(8 - (out.length % 8))
    else out += ch
  }
  return out
}

function sentence(s) {
  const t = oneLine(s)
  if (!t) return t
  return /[.!?:]$/.test(t) ? t : `${t}.`
}

function formatValue(v) {
  if (Array.isArray(v)) return v.map(String).join(', ')
  if (v !== null && typeof v === 'object') return JSON.stringify(v)
  return String(v)
}

// ---------------------------------------------------------------------------
// Manifest helpers

/** Ids of the commands that get a page: non-hidden commands of the plugin, sorted. */
export function commandIds(manifest, options = {}) {
  const {plugin} = withDefaults(options)
  return Object.entries(manifest?.commands ?? {})
    .filter(([, cmd]) => cmd && !cmd.hidden && (cmd.pluginName ?? plugin) === plugin)
    .map(([key, cmd]) => cmd.id ?? key)
    .sort(byString)
}

function getCommand(manifest, id) {
  const cmds = manifest?.commands ?? {}
  const cmd = cmds[id] ?? Object.values(cmds).find((c) => c?.id === id)
  if (!cmd) throw new Error(`command not found in manifest: ${id}`)
  return cmd
}

function visibleFlags(cmd) {
  return Object.entries(cmd.flags ?? {})
    .filter(([, f]) => f && !f.hidden)
    .map(([key, f]) => ({...f, name: f.name ?? key}))
}

function visibleArgs(cmd) {
  const args = cmd.args ?? {}
  const list = Array.isArray(args) ? args : Object.entries(args).map(([key, a]) => ({...a, name: a?.name ?? key}))
  return list.filter((a) => a && !a.hidden)
}

function argLabel(arg, cmd) {
  const variadic = arg.multiple || cmd.strict === false ? '...' : ''
  return `${String(arg.name).toUpperCase()}${variadic}`
}

function flagValueName(flag) {
  if (flag.helpValue) return [].concat(flag.helpValue).join(' ')
  return String(flag.name).toUpperCase()
}

function longName(flag) {
  return flag.type === 'boolean' && flag.allowNo ? `--[no-]${flag.name}` : `--${flag.name}`
}

// ---------------------------------------------------------------------------
// Page sections

function th(title, options, manifest) {
  const source = manifest?.version ? `${options.bin} ${manifest.version}` : options.bin
  return `.TH ${macroArg(escapeCode(title.toUpperCase()))} "1" "" ${macroArg(escapeText(source))} ${macroArg(
    escapeText(`${options.bin} manual`),
  )}`
}

function synopsis(cmd, id, options) {
  // .SY/.YS (groff_man(7), also supported by mandoc): hanging indent, no
  // hyphenation or adjustment; \  keeps a flag and its value together.
  const parts = []
  for (const arg of visibleArgs(cmd)) {
    const label = `\\fI${escapeCode(argLabel(arg, cmd))}\\fR`
    parts.push(arg.required ? label : `[${label}]`)
  }
  for (const flag of visibleFlags(cmd)) {
    let s = `\\fB${escapeCode(longName(flag))}\\fR`
    if (flag.type === 'option') s += `\\ \\fI${escapeCode(flagValueName(flag))}\\fR`
    s = flag.required ? s : `[${s}]`
    if (flag.multiple) s += '...'
    parts.push(s)
  }
  const name = `${options.bin} ${commandName(id)}`
  const lines = ['.SH SYNOPSIS']
  if (cmd.usage && [].concat(cmd.usage).length) {
    // Custom oclif usage strings, e.g. "<%= command.id %> NAME [--size SIZE]".
    for (const u of [].concat(cmd.usage)) {
      let rest = substitute(u, id, options).trim()
      for (const prefix of [`${options.bin} `, `${commandName(id)}`, id]) {
        if (rest.startsWith(prefix)) rest = rest.slice(prefix.length).trim()
      }
      lines.push(`.SY ${macroArg(escapeCode(name))}`)
      if (rest) lines.push(safeLine(escapeCode(rest)))
    }
    lines.push('.YS')
    return lines
  }
  return [...lines, `.SY ${macroArg(escapeCode(name))}`, ...parts, '.YS']
}

function flagTag(flag) {
  const names = []
  if (flag.char) names.push(`-${flag.char}`)
  for (const c of flag.charAliases ?? []) names.push(`-${c}`)
  names.push(longName(flag))
  for (const a of flag.aliases ?? []) names.push(a.length === 1 ? `-${a}` : `--${a}`)
  let tag = names.map((n) => `\\fB${escapeCode(n)}\\fR`).join(', ')
  if (flag.type === 'option') tag += ` \\fI${escapeCode(flagValueName(flag))}\\fR`
  return tag
}

function flagEntry(flag, id, options) {
  const lines = ['.TP', safeLine(flagTag(flag))]
  const sub = (t) => substitute(t, id, options)
  const head = flag.summary || flag.description || ''
  const paras = []
  if (head) paras.push(sub(head))
  if (flag.summary && flag.description && oneLine(flag.description) !== oneLine(flag.summary)) {
    paras.push(sub(flag.description))
  }
  const facts = []
  if (flag.required) facts.push('Required')
  if (flag.multiple) facts.push('May be given more than once')
  if (flag.options?.length) facts.push(`Allowed values: ${flag.options.map((o) => `\`${o}\``).join(', ')}`)
  const hasDefault =
    flag.default !== undefined &&
    flag.default !== null &&
    flag.default !== '' &&
    !(Array.isArray(flag.default) && flag.default.length === 0) &&
    !(flag.type === 'boolean' && flag.default === false)
  if (hasDefault) facts.push(`Default: \`${formatValue(flag.default)}\``)
  if (flag.env) facts.push(`Environment variable: \`${flag.env}\``)
  const rel = (list) => [].concat(list ?? []).map((n) => `\`--${n}\``).join(', ')
  if (flag.exclusive?.length) facts.push(`Cannot be used with ${rel(flag.exclusive)}`)
  if (flag.dependsOn?.length) facts.push(`Requires ${rel(flag.dependsOn)}`)
  if (flag.deprecated) facts.push('Deprecated')
  // One fact a line (.br), like a small definition list.
  if (facts.length) paras.push(facts.join('\n'))
  if (paras.length === 0) paras.push('')
  paras.forEach((p, i) => {
    if (i > 0) lines.push('.IP')
    lines.push(...paragraphs(p, {para: '.IP'}))
  })
  return lines
}

function optionsSection(cmd, id, options) {
  const flags = visibleFlags(cmd)
  const main = flags.filter((f) => !f.helpGroup)
  const groups = new Map()
  for (const f of flags.filter((f) => f.helpGroup)) {
    if (!groups.has(f.helpGroup)) groups.set(f.helpGroup, [])
    groups.get(f.helpGroup).push(f)
  }
  const out = ['.SH OPTIONS']
  for (const f of main) out.push(...flagEntry(f, id, options))
  if (!flags.some((f) => f.name === 'help')) {
    out.push('.TP', '\\fB\\-\\-help\\fR', 'Show help for this command and exit.')
  }
  for (const [group, list] of groups) {
    out.push(`.SS ${macroArg(escapeText(`${group.toUpperCase()} OPTIONS`))}`)
    for (const f of list) out.push(...flagEntry(f, id, options))
  }
  return out
}

function argumentsSection(cmd, id, options) {
  const args = visibleArgs(cmd)
  if (args.length === 0) return []
  const out = ['.SH ARGUMENTS']
  for (const arg of args) {
    out.push('.TP', `\\fI${escapeCode(argLabel(arg, cmd))}\\fR`)
    const facts = []
    if (arg.required) facts.push('Required')
    if (arg.options?.length) facts.push(`Allowed values: ${arg.options.map((o) => `\`${o}\``).join(', ')}`)
    if (arg.default !== undefined && arg.default !== null && arg.default !== '') {
      facts.push(`Default: \`${formatValue(arg.default)}\``)
    }
    const paras = [arg.description ? substitute(arg.description, id, options) : '', facts.join('\n')].filter(Boolean)
    if (paras.length === 0) paras.push('')
    paras.forEach((p, i) => {
      if (i > 0) out.push('.IP')
      out.push(...paragraphs(p, {para: '.IP'}))
    })
  }
  return out
}

function isCommandLine(line, bin) {
  return line.startsWith(`${bin} `) || line === bin || line.startsWith(`$ ${bin} `) || line === `$ ${bin}`
}

function formatCommandLine(line, bin) {
  if (line.startsWith('$ ')) return line
  if (line === bin || line.startsWith(`${bin} `)) return `$ ${line}`
  return line
}

/** Normalise oclif examples into [{description?, commands: [line]}]. */
export function parseExamples(examples, id, options = {}) {
  const {bin} = withDefaults(options)
  return [].concat(examples ?? []).flatMap((ex) => {
    if (ex === null || ex === undefined) return []
    if (typeof ex === 'string') {
      const lines = substitute(ex, id, options)
        .replace(/\r\n?/g, '\n')
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
      if (lines.length === 0) return []
      if (lines.length >= 2 && !isCommandLine(lines[0], bin) && lines.slice(1).every((l) => isCommandLine(l, bin))) {
        return [{description: lines[0], commands: lines.slice(1).map((l) => formatCommandLine(l, bin))}]
      }
      return [{commands: lines.map((l) => formatCommandLine(l, bin))}]
    }
    const commands = substitute(ex.command ?? '', id, options)
      .replace(/\r\n?/g, '\n')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => formatCommandLine(l, bin))
    const description = ex.description ? substitute(ex.description, id, options).trim() : undefined
    return [{description, commands}]
  })
}

function examplesSection(cmd, id, options) {
  const examples = parseExamples(cmd.examples ?? cmd.example, id, options)
  if (examples.length === 0) return []
  const out = ['.SH EXAMPLES']
  examples.forEach((ex, i) => {
    if (ex.description) {
      if (i > 0) out.push('.PP')
      out.push(...paragraphs(ex.description))
    }
    if (ex.commands.length) {
      if (i > 0 || ex.description) out.push('.PP')
      out.push('.RS 4', '.nf', ...ex.commands.map((c) => safeLine(escapeCode(c))), '.fi', '.RE')
    }
  })
  return out
}

function exitStatusSection() {
  const out = ['.SH EXIT STATUS']
  for (const [code, text] of EXIT_CODES) out.push('.TP', `\\fB${code}\\fR`, escapeText(text))
  return out
}

function seeAlso(refs) {
  const out = ['.SH SEE ALSO']
  refs.forEach((ref, i) => {
    out.push(`.BR \\%${escapeCode(ref)} (1)${i < refs.length - 1 ? ',' : ''}`)
  })
  return out
}

function finish(lines) {
  return `${lines.join('\n')}\n`
}

function header(name) {
  return [`.\\" ${name}.1 - generated by scripts/man.js from oclif.manifest.json; do not edit.`]
}

// ---------------------------------------------------------------------------
// Public renderers

/** Render the page of one command (id as in the manifest, e.g. "volume:create"). */
export function renderPage(manifest, id, options = {}) {
  const opts = withDefaults({version: manifest?.version, ...options})
  const cmd = getCommand(manifest, id)
  id = cmd.id ?? id
  const name = pageName(id, opts)
  const sub = (t) => substitute(t, id, opts)
  const {summary, body} = splitDescription({summary: sub(cmd.summary), description: sub(cmd.description)})

  const lines = [...header(name), th(name, opts, manifest)]
  lines.push('.SH NAME', `${escapeCode(name)} \\- ${escapeText(summary || `${opts.bin} ${commandName(id)}`)}`)
  lines.push(...synopsis(cmd, id, opts))

  lines.push('.SH DESCRIPTION')
  const desc = body || sentence(summary) || `The ${opts.bin} ${commandName(id)} command.`
  lines.push(...paragraphs(desc))
  if (cmd.state === 'deprecated' || cmd.deprecationOptions) {
    const to = cmd.deprecationOptions?.to
    lines.push('.PP', escapeText(`This command is deprecated${to ? `; use \`${opts.bin} ${commandName(to)}\` instead` : ''}.`))
  } else if (cmd.state === 'beta') {
    lines.push('.PP', escapeText('This command is in beta and may change.'))
  }
  const aliases = (cmd.aliases ?? []).filter((a) => !(cmd.hiddenAliases ?? []).includes(a))
  if (aliases.length) {
    lines.push(
      '.PP',
      `${aliases.length === 1 ? 'Alias' : 'Aliases'}: ${aliases
        .map((a) => `\\fB${escapeCode(`${opts.bin} ${commandName(a)}`)}\\fR`)
        .join(', ')}.`,
    )
  }

  lines.push(...argumentsSection(cmd, id, opts))
  lines.push(...optionsSection(cmd, id, opts))
  lines.push(...examplesSection(cmd, id, opts))
  lines.push(...exitStatusSection())

  const topic = id.includes(':') ? id.slice(0, id.lastIndexOf(':') + 1) : null
  const siblings = topic
    ? commandIds(manifest, opts).filter(
        (other) => other !== id && other.startsWith(topic) && !other.slice(topic.length).includes(':'),
      )
    : []
  lines.push(...seeAlso([opts.bin, ...siblings.map((s) => pageName(s, opts))]))
  return finish(lines)
}

/** Render cbs.1: overview, command list, environment, exit status. */
export function renderIndex(manifest, options = {}) {
  const opts = withDefaults({version: manifest?.version, ...options})
  const ids = commandIds(manifest, opts)
  const {bin} = opts
  const lines = [...header(bin), th(bin, opts, manifest)]
  lines.push('.SH NAME', `${escapeCode(bin)} \\- ${escapeText(oneLine(opts.description))}`)
  lines.push(
    '.SH SYNOPSIS',
    `.SY ${macroArg(escapeCode(bin))}`,
    '\\fICOMMAND\\fR',
    '[\\fIARGUMENTS\\fR]',
    '[\\fIOPTIONS\\fR]',
    `.SY ${macroArg(escapeCode(bin))}`,
    '[\\fICOMMAND\\fR]',
    '\\fB\\-\\-help\\fR',
    `.SY ${macroArg(escapeCode(bin))}`,
    '\\fB\\-\\-version\\fR',
    '.YS',
  )
  lines.push('.SH DESCRIPTION')
  lines.push(...paragraphs(sentence(opts.description.charAt(0).toUpperCase() + opts.description.slice(1))))
  lines.push(
    '.PP',
    escapeText(`Commands are grouped in topics; the words of a command are separated by spaces, as in \`${bin} ${commandName(ids.find((i) => i.includes(':')) ?? ids[0] ?? 'COMMAND')}\`.`),
    escapeText(`Each command has its own manual page, named after the command with hyphens, and \`${bin} COMMAND --help\` prints a short summary.`),
  )

  lines.push('.SH COMMANDS')
  const groups = new Map()
  for (const id of ids) {
    const topic = id.includes(':') ? id.split(':')[0] : ''
    if (!groups.has(topic)) groups.set(topic, [])
    groups.get(topic).push(id)
  }
  const topics = [...groups.keys()].sort(byString) // '' (top-level commands) first
  for (const topic of topics) {
    if (topic) {
      lines.push(`.SS ${macroArg(escapeCode(`${bin} ${topic}`))}`)
      const desc = opts.topics?.[topic]?.description
      if (desc) lines.push(...paragraphs(sentence(substitute(desc, topic, opts))))
    }
    for (const id of groups.get(topic)) {
      const cmd = getCommand(manifest, id)
      const {summary} = splitDescription({
        summary: substitute(cmd.summary, id, opts),
        description: substitute(cmd.description, id, opts),
      })
      lines.push('.TP', `\\fB${escapeCode(`${bin} ${commandName(id)}`)}\\fR`)
      const see = `See \\%\\fB${escapeCode(pageName(id, opts))}\\fR(1).`
      lines.push(summary ? `${escapeText(sentence(summary))} ${see}` : see)
    }
  }
  if (ids.length === 0) lines.push(escapeText('No commands.'))

  lines.push('.SH ENVIRONMENT')
  for (const [name, text] of ENVIRONMENT) lines.push('.TP', `\\fB${escapeCode(name)}\\fR`, escapeText(text))
  lines.push(...exitStatusSection())
  lines.push(...seeAlso(ids.map((id) => pageName(id, opts))))
  if (ids.length === 0) lines.pop() // no pages to refer to: drop the dangling .SH
  return finish(lines)
}

/** All pages: Map of file name -> roff text, cbs.1 first then commands by id. */
export function renderAll(manifest, options = {}) {
  const opts = withDefaults(options)
  const files = new Map()
  files.set(`${opts.bin}.1`, renderIndex(manifest, opts))
  for (const id of commandIds(manifest, opts)) files.set(pageFile(id, opts), renderPage(manifest, id, opts))
  return files
}

// ---------------------------------------------------------------------------
// Files

/** Whether a file name in the output directory is one of ours. */
function isManaged(name, bin) {
  return name === `${bin}.1` || (name.startsWith(`${bin}-`) && name.endsWith('.1'))
}

/**
 * Compare rendered files with a directory. Returns {differ, missing, extra}
 * (sorted file names); extra lists generated-looking pages (cbs.1, cbs-*.1)
 * that the manifest no longer produces. Other files are ignored.
 */
export function compareDir(files, dir, options = {}) {
  const {bin} = withDefaults(options)
  const differ = []
  const missing = []
  for (const [name, text] of files) {
    const path = join(dir, name)
    if (!existsSync(path)) missing.push(name)
    else if (readFileSync(path, 'utf8') !== text) differ.push(name)
  }
  const extra = existsSync(dir)
    ? readdirSync(dir, {withFileTypes: true})
        .filter((e) => e.isFile() && isManaged(e.name, bin) && !files.has(e.name))
        .map((e) => e.name)
    : []
  return {differ: differ.sort(byString), missing: missing.sort(byString), extra: extra.sort(byString)}
}

/** Write rendered files into dir (only those that changed) and remove stale pages. */
export function writeDir(files, dir, options = {}) {
  const result = compareDir(files, dir, options)
  mkdirSync(dir, {recursive: true})
  for (const name of [...result.missing, ...result.differ]) writeFileSync(join(dir, name), files.get(name))
  for (const name of result.extra) unlinkSync(join(dir, name))
  return result
}

/** Options derived from the package.json next to the manifest, if any. */
export function packageOptions(manifestPath) {
  const pkgPath = join(dirname(resolve(manifestPath)), 'package.json')
  if (!existsSync(pkgPath)) return {}
  try {
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'))
    const opts = {}
    if (pkg.oclif?.bin) opts.bin = pkg.oclif.bin
    if (pkg.name) opts.plugin = pkg.name
    if (pkg.description) opts.description = pkg.description
    if (pkg.oclif?.topics) opts.topics = pkg.oclif.topics
    return opts
  } catch {
    return {}
  }
}

const USAGE = `Usage: node scripts/man.js [manifest] [outdir] [--check]

Generate roff man pages from an oclif manifest.

  manifest  oclif manifest (default: ./oclif.manifest.json)
  outdir    output directory (default: ./man)
  --check   do not write; exit 1 and list pages that differ, are missing
            or are extra if outdir is out of date`

/** Command-line entry point. Returns the exit code. */
export function main(argv = process.argv.slice(2), {stdout = process.stdout, stderr = process.stderr} = {}) {
  const positional = []
  let check = false
  for (const arg of argv) {
    if (arg === '--check') check = true
    else if (arg === '-h' || arg === '--help') {
      stdout.write(`${USAGE}\n`)
      return 0
    } else if (arg.startsWith('-') && arg !== '-') {
      stderr.write(`man.js: unknown option ${arg}\n${USAGE}\n`)
      return 2
    } else positional.push(arg)
  }
  if (positional.length > 2) {
    stderr.write(`man.js: too many arguments\n${USAGE}\n`)
    return 2
  }
  const manifestPath = positional[0] ?? 'oclif.manifest.json'
  const outDir = positional[1] ?? 'man'

  let manifest
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8'))
  } catch (error) {
    stderr.write(`man.js: cannot read manifest ${manifestPath}: ${error.message}\n`)
    return 2
  }
  const options = packageOptions(manifestPath)
  const files = renderAll(manifest, options)

  for (const [name, text] of files) {
    const left = text.match(/<%[^%]*%>/g)
    if (left) stderr.write(`man.js: warning: ${name}: unknown placeholder ${[...new Set(left)].join(', ')}\n`)
  }

  if (check) {
    const {differ, missing, extra} = compareDir(files, outDir, options)
    if (differ.length + missing.length + extra.length === 0) {
      stdout.write(`${outDir}: ${files.size} pages up to date\n`)
      return 0
    }
    for (const name of differ) stdout.write(`differs: ${join(outDir, name)}\n`)
    for (const name of missing) stdout.write(`missing: ${join(outDir, name)}\n`)
    for (const name of extra) stdout.write(`extra: ${join(outDir, name)}\n`)
    stderr.write(`man.js: ${outDir} is out of date; run: node scripts/man.js ${manifestPath} ${outDir}\n`)
    return 1
  }

  const {differ, missing, extra} = writeDir(files, outDir, options)
  stdout.write(
    `${outDir}: ${files.size} pages (${missing.length} new, ${differ.length} updated, ${extra.length} removed)\n`,
  )
  return 0
}

function isMain() {
  if (!process.argv[1]) return false
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href ||
      fileURLToPath(import.meta.url) === realpathSync(process.argv[1])
  } catch {
    return false
  }
}

if (isMain()) process.exitCode = main()
