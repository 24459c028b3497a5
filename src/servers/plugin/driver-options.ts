import {invalid} from '../../lib/common/errors.js'
import {FILESYSTEMS, type Filesystem} from '../../lib/images/filesystems.js'
import {parseLabels} from '../../lib/input/labels.js'
import {parseSize} from '../../lib/input/sizes.js'
import {VOLUME_TYPES, type VolumeType} from '../../lib/store/state.js'
import type {CreateRequest} from '../../lib/volumes/create.js'

/**
 * `docker volume create -d cbs -o KEY=VALUE` options, as the CLI's flags of the same names:
 * checked by the same parsers, refused with the same messages. A map holds one value a key, so
 * `label` and `lower` take several values separated by commas.
 */
const DRIVER_OPTIONS = ['size', 'fs', 'label', 'type', 'lower', 'from'] as const

export function parseDriverOptions(name: string, opts: unknown): CreateRequest {
  if (opts === undefined || opts === null) return {name}
  if (typeof opts !== 'object' || Array.isArray(opts)) throw invalid('Opts must be a JSON object of strings')
  const request: CreateRequest = {name}
  for (const [key, value] of Object.entries(opts)) {
    if (!(DRIVER_OPTIONS as readonly string[]).includes(key)) {
      throw invalid(`unknown option "${key}"`, `cbs takes ${DRIVER_OPTIONS.map((option) => `-o ${option}=`).join(', ')}`)
    }
    if (typeof value !== 'string') throw invalid(`option "${key}" must be a string`)
    apply(request, key as (typeof DRIVER_OPTIONS)[number], value)
  }
  return request
}

function apply(request: CreateRequest, key: (typeof DRIVER_OPTIONS)[number], value: string): void {
  switch (key) {
    case 'size':
      request.sizeBytes = parseSize(value)
      break
    case 'fs':
      request.fs = oneOf(value, FILESYSTEMS, 'fs') as Filesystem
      break
    case 'type':
      request.type = oneOf(value, VOLUME_TYPES, 'type') as VolumeType
      break
    case 'label':
      request.labels = parseLabels(list(value))
      break
    case 'lower':
      request.lowers = list(value)
      break
    case 'from':
      request.from = value
      break
  }
}

const list = (value: string) => value.split(',').map((item) => item.trim()).filter(Boolean)

/** The CLI's flags with fixed choices say the same (oclif's wording). */
function oneOf(value: string, options: readonly string[], key: string): string {
  if (!options.includes(value)) throw invalid(`Expected --${key}=${value} to be one of: ${options.join(', ')}`)
  return value
}
