import {invalid} from '../lib/common/errors.js'
import {printable} from './printable.js'

/**
 * `--format`: the part of Go's text/template that docker users type, over cbs's JSON objects.
 *
 *   {{.Name}}            a field: the JSON key, matched regardless of case (docker's .Name is name,
 *                        .Mountpoint is mountpoint, .SizeBytes is sizeBytes); .Labels.env goes down
 *   {{.}}  {{json .X}}   the whole object, or a field, as JSON on one line
 *   {{upper .X}} {{lower .X}}
 *   table ...            a header row (the field names in capitals), then columns aligned on tabs
 *   \t  \n               a tab, a newline (as typed in a shell, inside single quotes)
 *
 * A field prints as text: strings as they are (control characters escaped, as in all human output;
 * json prints them as JSON escapes), null as nothing, a list as "a,b", an object of
 * plain values as "k=v,k2=v2" (docker prints labels so), anything deeper as JSON. A field that
 * is not a key of the objects is a typing error (exit 2) naming the valid ones, even when there
 * is nothing to print.
 */

type Node = {text: string} | {fn: Fn; path: string[]}
type Fn = 'print' | 'json' | 'upper' | 'lower'
const FUNCTIONS: readonly Fn[] = ['json', 'upper', 'lower']

export interface Template {
  table: boolean
  nodes: Node[]
}

export function parseTemplate(source: string, fields: readonly string[]): Template {
  let text = source.replaceAll('\\t', '\t').replaceAll('\\n', '\n')
  const table = /^table(\s|$)/.test(text)
  if (table) text = text.replace(/^table\s?/, '')
  const nodes: Node[] = []
  let at = 0
  for (const match of text.matchAll(/\{\{-?\s*(.*?)\s*-?\}\}/g)) {
    if (match.index > at) nodes.push({text: text.slice(at, match.index)})
    nodes.push(parseAction(match[1], fields, source))
    at = match.index + match[0].length
  }
  if (at < text.length) nodes.push({text: text.slice(at)})
  if (nodes.some((node) => 'text' in node && /\{\{|\}\}/.test(node.text))) throw invalid(`--format "${source}" has an unclosed "{{"`, 'write fields as {{.Name}}')
  return {table, nodes}
}

function parseAction(action: string, fields: readonly string[], source: string): Node {
  const words = action.split(/\s+/).filter(Boolean)
  const [fn, argument] = words.length === 1 ? ['print', words[0]] : words
  if (words.length > 2 || !(fn === 'print' || FUNCTIONS.includes(fn as Fn))) {
    throw invalid(`--format "${source}": cannot read "{{${action}}}"`, `use {{.Field}}, {{json .}} or {{${FUNCTIONS.join('|')} .Field}}`)
  }
  if (argument === undefined || !argument.startsWith('.')) throw invalid(`--format "${source}": "{{${action}}}" names no field`, 'fields start with a dot, e.g. {{.Name}}')
  const path = argument === '.' ? [] : argument.slice(1).split('.')
  if (path.length > 0) {
    const field = fields.find((each) => each.toLowerCase() === path[0].toLowerCase())
    if (!field) throw invalid(`--format "${source}": unknown field .${path[0]}`, `use one of ${fields.map((each) => `.${capitalise(each)}`).join(', ')}`)
    path[0] = field
  }
  return {fn: fn as Fn, path}
}

const capitalise = (word: string) => word.charAt(0).toUpperCase() + word.slice(1)

/** A key of an object: exactly (label keys are anyone's), else regardless of case. */
function lookup(value: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object') return undefined
  const object = value as Record<string, unknown>
  if (Object.hasOwn(object, key)) return object[key]
  const found = Object.keys(object).find((each) => each.toLowerCase() === key.toLowerCase())
  return found === undefined ? undefined : object[found]
}

const isPlain = (value: unknown) => value === null || typeof value !== 'object'

function asText(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (typeof value !== 'object') return String(value)
  if (Array.isArray(value)) return value.every(isPlain) ? value.map(asText).join(',') : JSON.stringify(value)
  const entries = Object.entries(value)
  return entries.every(([, each]) => isPlain(each)) ? entries.map(([key, each]) => `${key}=${asText(each)}`).join(',') : JSON.stringify(value)
}

function evaluate(node: Node, item: unknown): string {
  if ('text' in node) return node.text
  const value = node.path.reduce(lookup, item)
  switch (node.fn) {
    case 'json':
      return JSON.stringify(value ?? null)
    case 'upper':
      return printable(asText(value).toUpperCase())
    case 'lower':
      return printable(asText(value).toLowerCase())
    default:
      return node.path.length === 0 ? JSON.stringify(item) : printable(asText(value))
  }
}

/** "sizeBytes" → "SIZE BYTES", the whole object → "JSON". */
function headerOf(node: Node): string {
  if ('text' in node) return node.text
  if (node.path.length === 0) return 'JSON'
  return node.path.map((part) => part.replaceAll(/([a-z0-9])([A-Z])/g, '$1 $2')).join(' ').toUpperCase()
}

/** One line (or more, with \n) per object; under `table`, a header and columns padded as docker's tabwriter does. */
export function renderTemplate(template: Template, items: readonly unknown[]): string {
  const lines = items.map((item) => template.nodes.map((node) => evaluate(node, item)).join(''))
  if (!template.table) return lines.join('\n')
  const rows = [template.nodes.map(headerOf).join(''), ...lines].flatMap((line) => line.split('\n')).map((line) => line.split('\t'))
  const widths: number[] = []
  for (const row of rows) for (const [column, cell] of row.entries()) widths[column] = Math.max(widths[column] ?? 0, cell.length)
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] + 3))).join('').trimEnd()).join('\n')
}
