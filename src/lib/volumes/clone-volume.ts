import type {Context} from '../system/context.js'
import {validateName} from '../input/names.js'
import {createSnapshot} from '../snapshots/create.js'
import {removeSnapshots} from '../snapshots/remove.js'
import {formatSnapshotRef} from '../snapshots/snapshot.js'
import {type CreateRequest, createVolume} from './create.js'
import type {Volume} from './volume.js'

/** The snapshot a volume-to-volume clone goes through; the name tells what left it, if one is left. */
const cloneSnapshotName = (name: string) => `clone-of-${name}`.slice(0, 63)

/**
 * A new volume with the data of another (CSI volume content source): a snapshot of the source
 * (frozen while copied, when mounted), a clone of that snapshot, then the snapshot goes. A clone
 * owes nothing to its snapshot, so nothing ties the two volumes together afterwards.
 */
export async function cloneVolume(ctx: Context, source: string, request: Omit<CreateRequest, 'from'>): Promise<Volume> {
  validateName(source)
  const snapshot = cloneSnapshotName(validateName(request.name))
  const ref = formatSnapshotRef({volume: source, snapshot})
  // A snapshot left by an earlier attempt that died is reaped by recovery; one of a live attempt is refused.
  await createSnapshot(ctx, {volume: source, snapshot})
  try {
    return await createVolume(ctx, {...request, from: ref})
  } finally {
    await removeSnapshots(ctx, [ref])
  }
}
