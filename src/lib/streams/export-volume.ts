import {rm} from 'node:fs/promises'
import {Socket} from 'node:net'
import type {Context} from '../system/context.js'
import {invalid} from '../common/errors.js'
import {type Exported, exportStream} from './export.js'
import {orInterrupted} from './interruptible.js'
import {ownPipe, widenPipe} from './pipes.js'
import {descriptorSink, fileSink, streamSink} from './sinks.js'
import {exportTar} from './tar.js'

export interface ExportVolumeRequest {
  source: string
  since?: string
  format?: 'cbs' | 'tar'
  /** A file, written from its start and removed when the export fails; default: stdout. */
  output?: string
}

/** `cbs volume export`: a cbs stream or a tar, to a file or stdout. */
export async function exportVolume(ctx: Context, request: ExportVolumeRequest): Promise<Exported> {
  const tar = request.format === 'tar'
  if (tar && request.since) throw invalid('--since is for the cbs format', 'a tar holds all the files; leave out --since or --format tar')
  if (!request.output) await widenPipe(ctx, 1)
  if (tar) {
    return exportTar(ctx, request.source, request.output).catch(async (error) => {
      if (request.output) await rm(request.output, {force: true})
      throw error
    })
  }
  if (!request.output) {
    const pipe = ownPipe(1)
    const sink = pipe === undefined ? descriptorSink(1, 'stdout') : streamSink(new Socket({fd: pipe, readable: false, writable: true}))
    const exported = await exportStream(ctx, request, sink)
    await orInterrupted(ctx, sink.close())
    return exported
  }
  const sink = await fileSink(request.output)
  try {
    const exported = await exportStream(ctx, request, sink)
    await sink.close()
    return exported
  } catch (error) {
    await sink.discard()
    throw error
  }
}
