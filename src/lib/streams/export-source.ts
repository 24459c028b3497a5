import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {invalid, noSuchVolume} from '../common/errors.js'
import {validateName} from '../input/names.js'
import {recoverInterrupted} from '../recovery/recovery.js'
import {createSnapshot, type SnapshotRequest} from '../snapshots/create.js'
import {removeSnapshot} from '../snapshots/remove.js'
import {defaultSnapshotName, findSnapshot, parseSnapshotRef, type SnapshotRef} from '../snapshots/snapshot.js'
import type {StreamedCopy} from './streamed-copy.js'

/** What `volume export` reads: a snapshot of a loop volume, the volume's own or one taken for the export. */
export interface ExportSource {
  ref: SnapshotRef
  /** Taken for this export (SOURCE named a volume), and removed after it. */
  temporary: boolean
}

/** VOLUME@SNAPSHOT or VOLUME, parsed (names checked). */
export function parseSource(source: string): {volume: string; snapshot?: string} {
  if (!source.includes('@')) return {volume: validateName(source)}
  const ref = parseSnapshotRef(source)
  return {volume: ref.volume, snapshot: ref.snapshot}
}

/**
 * SOURCE checked against the store (after recovering what a killed cbs left): a loop volume
 * (exit 3 when there is none of that name, 2 for a union volume, with `unionHint`), and its
 * snapshot when one is named (exit 3 when it does not exist).
 */
export async function exportSource(ctx: Context, source: {volume: string; snapshot?: string}, unionHint: string): Promise<ExportSource> {
  const {volume, snapshot} = source
  requireRoot(ctx.host)
  await recoverInterrupted(ctx)
  const record = ctx.store.read().volumes[volume]
  if (!record) throw noSuchVolume(volume)
  if (record.type !== 'loop') throw invalid(`volume "${volume}" is a ${record.type} volume`, unionHint)
  if (snapshot) findSnapshot(ctx, {volume, snapshot})
  return {ref: {volume, snapshot: snapshot ?? `export-${defaultSnapshotName()}-${process.pid}`}, temporary: !snapshot}
}

/** What readingSnapshot does besides reading. */
export interface ReadingOptions {
  /** Undoes what `read` left mounted. */
  cleanUp?: () => Promise<void>
  /** The temporary snapshot is streamed as it is copied (streamed-copy.ts): `read` runs during its copy. */
  streamed?: StreamedCopy
}

/**
 * Runs `read` on the source's snapshot. A temporary one is taken first (frozen only for the
 * copy), or while `read` runs when `streamed`, and removed after `read` ends, fails or is
 * interrupted, `cleanUp` before it; after a SIGKILL the next cbs command removes it (recovery.ts).
 */
export async function readingSnapshot<T>(ctx: Context, {ref, temporary}: ExportSource, read: () => Promise<T>, {cleanUp, streamed}: ReadingOptions = {}): Promise<T> {
  if (streamed && !temporary) throw new Error('only a snapshot taken for the export is streamed as it is copied')
  let taken = false
  const take = async () => {
    if (!temporary) return
    const copy: SnapshotRequest['copy'] = streamed && ((source, target, {sizeBytes, signal}) => streamed.copy(ctx, source, target, sizeBytes, signal))
    await createSnapshot(ctx, {volume: ref.volume, snapshot: ref.snapshot, temporary: true, copy})
    taken = true
  }
  try {
    if (!streamed) {
      await take()
      return await read()
    }
    // Either failing stops the other (StreamedCopy.fail); both have ended before the clean-up.
    const stopping = (error: unknown) => {
      streamed.fail(error)
      throw error
    }
    const [took, value] = await Promise.allSettled([take().then(() => streamed.end(), stopping), read().catch(stopping)])
    if (value.status === 'rejected') throw value.reason
    if (took.status === 'rejected') throw took.reason
    return value.value
  } finally {
    // An interruption not delivered yet is delivered after: it must not stop the clean-up.
    let pending: unknown
    await ctx.exec.throwIfInterrupted().catch((error) => (pending = error))
    await cleanUp?.()
    await streamed?.close()
    if (taken) await removeSnapshot(ctx, ref)
    if (pending) throw pending // eslint-disable-line no-unsafe-finally
  }
}
