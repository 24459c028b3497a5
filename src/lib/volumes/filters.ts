import {invalid} from '../common/errors.js'
import {CONTROL_CHARACTERS} from '../input/labels.js'
import type {Volume} from './volume.js'

/** `--filter KEY=VALUE`, as in `docker volume ls --filter`. */
export interface Filter {
  key: 'name' | 'label' | 'status' | 'fs' | 'type'
  value: string
}

const KEYS = ['name', 'label', 'status', 'fs', 'type'] as const

export function parseFilter(text: string): Filter {
  const at = text.indexOf('=')
  const key = text.slice(0, at)
  if (CONTROL_CHARACTERS.test(text)) throw invalid(`invalid filter ${JSON.stringify(text)}: it contains control characters`, 'filter on printable text only')
  if (at < 1 || !(KEYS as readonly string[]).includes(key)) {
    throw invalid(`invalid filter "${text}"`, `use KEY=VALUE with KEY one of ${KEYS.join(', ')} (e.g. label=env=prod, status=mounted)`)
  }
  return {key: key as Filter['key'], value: text.slice(at + 1)}
}

/** label=K matches a volume that has label K; label=K=V one whose K is V. */
export function matchesFilter(volume: Volume, filter: Filter): boolean {
  switch (filter.key) {
    case 'label': {
      const [key, ...rest] = filter.value.split('=')
      return key in volume.labels && (rest.length === 0 || volume.labels[key] === rest.join('='))
    }
    case 'name':
      return volume.name === filter.value
    default:
      return volume[filter.key] === filter.value
  }
}

/** Every filter must hold (filters of one key are alternatives, as in docker). */
export function matchesAll(volume: Volume, filters: Filter[]): boolean {
  const keys = new Set(filters.map((filter) => filter.key))
  return [...keys].every((key) => filters.some((filter) => filter.key === key && matchesFilter(volume, filter)))
}
