import type {Context} from '../system/context.js'
import {invalid} from '../common/errors.js'
import type {Exported} from './export.js'
import type {Sink} from './writer.js'

export async function exportTar(_ctx: Context, _source: string, _sink: Sink): Promise<Exported> {
  throw invalid('--format tar is not done yet')
}

export async function importTar(_ctx: Context, _request: unknown): Promise<never> {
  throw invalid('--format tar is not done yet')
}
