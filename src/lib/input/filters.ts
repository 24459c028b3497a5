import {invalid} from '../common/errors.js'
import {CONTROL_CHARACTERS} from './labels.js'

/**
 * `--filter KEY=VALUE`, as in `docker volume ls --filter`: `name=` matches part of the name (as
 * docker does), `label=K` or `label=K=V` a label, and every other key one of a closed list of
 * values, checked when parsed: a value that can never match is a typing error (exit 2), not an
 * empty listing.
 */
export interface Filter {
  key: string
  value: string
}

/** What each key of a listing's filter matches: part of the value, all of it, a label, or one of these values. */
export type FilterKeys = Record<string, 'substring' | 'exact' | 'label' | readonly string[]>

/** What a listing's objects offer to filters. */
export interface Filterable {
  labels: Record<string, string>
}

export function parseFilter(text: string, keys: FilterKeys): Filter {
  const at = text.indexOf('=')
  const key = text.slice(0, at)
  const value = text.slice(at + 1)
  const kinds = Object.keys(keys)
  if (CONTROL_CHARACTERS.test(text)) throw invalid(`invalid filter ${JSON.stringify(text)}: it contains control characters`, 'filter on printable text only')
  if (at < 1 || !Object.hasOwn(keys, key)) {
    throw invalid(`invalid filter "${text}"`, `use KEY=VALUE with KEY one of ${kinds.join(', ')} (e.g. label=env=prod, status=mounted)`)
  }
  const allowed = keys[key]
  if (Array.isArray(allowed) && !allowed.includes(value)) {
    throw invalid(`invalid filter "${text}": no ${key} is "${value}"`, `use ${key}=VALUE with VALUE one of ${allowed.join(', ')}`)
  }
  if (value === '') throw invalid(`invalid filter "${text}": the value is empty`, `e.g. ${key === 'label' ? 'label=env=prod' : `${key}=VALUE`}`)
  return {key, value}
}

/** label=K matches what has label K; label=K=V what has K set to V. */
function matchesFilter(item: Filterable, filter: Filter, keys: FilterKeys): boolean {
  const kind = keys[filter.key]
  if (kind === 'label') {
    const [key, ...rest] = filter.value.split('=')
    return Object.hasOwn(item.labels, key) && (rest.length === 0 || item.labels[key] === rest.join('='))
  }
  const value = (item as unknown as Record<string, unknown>)[filter.key]
  if (kind === 'substring') return String(value).includes(filter.value)
  return value === filter.value
}

/** Every filter must hold (filters of one key are alternatives, as in docker). */
export function matchesAll(item: Filterable, filters: Filter[], keys: FilterKeys): boolean {
  const used = new Set(filters.map((filter) => filter.key))
  return [...used].every((key) => filters.some((filter) => filter.key === key && matchesFilter(item, filter, keys)))
}
