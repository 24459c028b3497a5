import type {Context} from '../system/context.js'
import {invalid, notFound} from '../common/errors.js'
import type {Volume} from '../volumes/volume.js'
import {type ImportRequest, importStream} from './import.js'
import {widenPipe} from './pipes.js'
import {fileChunks, stdinChunks} from './source.js'
import {importTar} from './tar.js'

export interface ImportVolumeRequest extends ImportRequest {
  /** A file; default: stdin. */
  input?: string
  format?: 'cbs' | 'tar'
}

/** `cbs volume import`: a cbs stream or a tar, from a file or stdin. */
export async function importVolume(ctx: Context, request: ImportVolumeRequest): Promise<Volume> {
  if (request.input !== undefined && !ctx.host.fileInfo(request.input)) throw notFound(`no such file: ${request.input}`)
  if (request.input === undefined) await widenPipe(ctx, 0)
  if (request.format === 'tar') {
    if (request.force) throw invalid('--force is for incremental cbs streams', 'a tar always makes a new volume')
    return importTar(ctx, request)
  }
  return importStream(ctx, request, request.input === undefined ? stdinChunks() : fileChunks(request.input))
}
