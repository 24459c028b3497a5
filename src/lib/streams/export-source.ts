import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {invalid, noSuchVolume} from '../common/errors.js'
import {validateName} from '../input/names.js'
import {recoverInterrupted} from '../recovery/recovery.js'
import {createSnapshot} from '../snapshots/create.js'
import {removeSnapshot} from '../snapshots/remove.js'
import {defaultSnapshotName, findSnapshot, parseSnapshotRef, type SnapshotRef} from '../snapshots/snapshot.js'

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

/**
 * Runs `read` on the source's snapshot. A temporary one is taken first (frozen only for the
 * copy) and removed after `read` ends, fails or is interrupted, `cleanUp` (what `read` left
 * mounted) before it; after a SIGKILL the next cbs command removes it (recovery.ts).
 */
export async function readingSnapshot<T>(ctx: Context, {ref, temporary}: ExportSource, read: () => Promise<T>, cleanUp?: () => Promise<void>): Promise<T> {
  if (temporary) await createSnapshot(ctx, {volume: ref.volume, snapshot: ref.snapshot, temporary: true})
  try {
    return await read()
  } finally {
    // An interruption not delivered yet is delivered after: it must not stop the clean-up.
    let pending: unknown
    await ctx.exec.throwIfInterrupted().catch((error) => (pending = error))
    await cleanUp?.()
    if (temporary) await removeSnapshot(ctx, ref)
    if (pending) throw pending // eslint-disable-line no-unsafe-finally
  }
}
