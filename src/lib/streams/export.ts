import {constants} from 'node:fs'
import type {Context} from '../system/context.js'
import {environment, invalid, isKind} from '../common/errors.js'
import {silentProgress} from '../common/progress.js'
import {formatSize} from '../input/sizes.js'
import {planCopy} from '../images/image-copy.js'
import {findSnapshot, formatSnapshotRef, parseSnapshotRef} from '../snapshots/snapshot.js'
import type {CopyMethod, SnapshotRecord} from '../store/state.js'
import {HostView} from '../system/host-view.js'
import {describeVolume, type Volume} from '../volumes/volume.js'
import {changesByContent, changesByExtents, type Changes} from './diff.js'
import {DirectFile} from './direct-io.js'
import {exportSource, parseSource, readingSnapshot} from './export-source.js'
import {allocatedRanges} from './extents.js'
import {orInterrupted} from './interruptible.js'
import {readAhead, readsOf} from './reads.js'
import {StreamedCopy} from './streamed-copy.js'
import type {StreamHeader} from './format.js'
import {type Sink, StreamWriter} from './writer.js'

export interface ExportRequest {
  /** VOLUME@SNAPSHOT, or a VOLUME (exported through a snapshot taken for it and removed after). */
  source: string
  /** VOLUME@BASE: an incremental stream of what changed since BASE. */
  since?: string
}

export interface Exported {
  volume: Volume
  /** The snapshot streamed (a temporary one for a volume). */
  snapshot: string
  streamBytes: number
  dataBytes: number
}

/**
 * Writes a volume or snapshot as a cbs stream (format.ts) to `sink`: only the ranges of its
 * image that hold data or, with `since`, only those that changed since BASE. A volume is
 * exported through a snapshot taken for it (export-source.ts); on a host without reflinks, that
 * snapshot is a copy, streamed as it is made (streamed-copy.ts).
 */
export async function exportStream(ctx: Context, request: ExportRequest, sink: Sink): Promise<Exported> {
  const parsed = parseSource(request.source)
  const base = request.since === undefined ? undefined : parseSnapshotRef(request.since)
  if (base && base.volume !== parsed.volume) throw invalid(`--since ${formatSnapshotRef(base)} is not a snapshot of "${parsed.volume}"`, `name one of its snapshots, e.g. ${parsed.volume}@BASE`)
  const source = await exportSource(ctx, parsed, 'export its files with --format tar, or export the snapshots of its lower layers')
  const baseRecord = base && findSnapshot(ctx, base).record
  const {ref} = source
  const copy = source.temporary ? planTemporaryCopy(ctx, ref.volume) : undefined
  const streamed = copy === 'copy' && !baseRecord ? new StreamedCopy() : undefined
  const read = async () => {
    await streamed?.started() // the snapshot's record is written
    const state = ctx.store.read()
    const record = state.volumes[ref.volume].snapshots![ref.snapshot]
    if (baseRecord && baseRecord.id === record.id) throw invalid(`--since ${formatSnapshotRef(base!)} is the snapshot being exported`, 'name an older one')
    const header: StreamHeader = {
      source: ref.volume,
      fs: record.fs,
      sizeBytes: record.sizeBytes,
      labels: state.volumes[ref.volume].labels,
      snapshot: source.temporary ? null : {name: record.name, id: record.id, createdAt: record.createdAt},
      base: baseRecord ? {name: baseRecord.name, id: baseRecord.id} : null,
      createdAt: new Date().toISOString(),
    }
    const label = `${formatSnapshotRef(ref)}${base ? ` since ${base.snapshot}` : ''}`
    // A write waits for the reader of the stream, or an interruption, or the streamed copy's failure.
    const waitFor = <T>(writing: Promise<T>) => orInterrupted(ctx, streamed ? Promise.race([writing, streamed.stopped]) : writing)
    const writer = await waitFor(StreamWriter.start(sink, header))
    let dataBytes: number
    if (streamed) dataBytes = await writePieces(ctx, writer, streamed.pieces(), {total: streamed.total, label, waitFor})
    else {
      const image = ctx.layout.snapshotImage(ref.volume, ref.snapshot)
      const changes = baseRecord ? await changesSince(ctx, baseRecord, record) : {data: await allocatedRanges(ctx, image, record.sizeBytes), zeros: []}
      const total = changes.data.reduce((sum, range) => sum + range.length, 0)
      dataBytes = await writePieces(ctx, writer, piecesOf(image, changes, source.temporary && record.method === 'copy'), {total, label, waitFor})
    }
    await waitFor(writer.end())
    return {volume: describeVolume(ctx, ctx.store.read().volumes[ref.volume], HostView.read(ctx.host)), snapshot: formatSnapshotRef(ref), streamBytes: writer.written, dataBytes}
  }
  return readingSnapshot(ctx, source, read, {streamed})
}

/**
 * How the temporary snapshot of a volume is made. A host too full for a copy is a common
 * reason to move a volume away, and the snapshots it already has export without one: the
 * refusal says so.
 */
function planTemporaryCopy(ctx: Context, volume: string): CopyMethod {
  try {
    return planCopy(ctx, ctx.layout.image(volume))
  } catch (error) {
    if (!isKind(error, 'environment')) throw error
    throw environment(error.reason, `free some space, or export a snapshot it has (${volume}@SNAPSHOT; \`cbs volume snapshot ls ${volume}\`), which needs no copy`)
  }
}

/**
 * Reflinked snapshots share the extents they have in common: the extent maps tell what changed.
 * Otherwise the images are compared.
 */
async function changesSince(ctx: Context, base: SnapshotRecord, source: SnapshotRecord): Promise<Changes> {
  const baseImage = ctx.layout.snapshotImage(base.volume, base.name)
  const sourceImage = ctx.layout.snapshotImage(source.volume, source.name)
  const shared = base.method === 'reflink' && source.method === 'reflink'
  return (shared ? changesByExtents : changesByContent)(ctx, baseImage, sourceImage, source.sizeBytes)
}

/** A range of the image in the stream's order: its bytes, or zeros (a range that became a hole since BASE). */
type Piece = {offset: number; bytes: Buffer} | {offset: number; zeros: number}

/** Writes the pieces as records, each write through `waitFor`; returns the data bytes sent. */
async function writePieces(ctx: Context, writer: StreamWriter, pieces: AsyncIterable<Piece>, {total, label, waitFor}: {total: number; label: string; waitFor: (writing: Promise<void>) => Promise<void>}): Promise<number> {
  const progress = ctx.progress ?? silentProgress
  let done = 0
  try {
    for await (const piece of pieces) {
      await ctx.exec.throwIfInterrupted()
      if ('zeros' in piece) {
        await waitFor(writer.zeros(piece.offset, piece.zeros))
        continue
      }
      await waitFor(writer.data(piece.offset, piece.bytes))
      done += piece.bytes.length
      progress.update(Math.floor((done / (total || 1)) * 100), 100, `exporting ${label}: ${formatSize(done)} of ${formatSize(total)}`)
    }
  } finally {
    progress.finish()
  }
  return done
}

/**
 * The changes of a snapshot's image, in the order of their offsets, each data range read from
 * it. The image is read around the page cache (direct-io.ts: 2.4 s against 2.8 s for `export |
 * import` of 1 GiB not in memory), unless `cached`: a copy this export just made, whose data is
 * still there, not yet on disk.
 */
async function* piecesOf(image: string, changes: Changes, cached: boolean): AsyncGenerator<Piece> {
  const records = [...changes.data.map((range) => ({...range, zeros: false})), ...changes.zeros.map((range) => ({...range, zeros: true}))]
  records.sort((a, b) => a.offset - b.offset)
  const file = await DirectFile.open(image, constants.O_RDONLY, {direct: !cached})
  const reads = readAhead(file, [...readsOf(records.filter((record) => !record.zeros))])
  try {
    for (const record of records) {
      if (record.zeros) yield {offset: record.offset, zeros: record.length}
      else for (const read of readsOf([record])) yield {offset: read.offset, bytes: (await reads.next()).value!}
    }
  } finally {
    await reads.return(undefined)
    await file.close()
  }
}
