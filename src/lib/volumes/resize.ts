import {checkpoint} from '../common/checkpoint.js'
import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {environment, invalid, isKind, noSuchVolume} from '../common/errors.js'
import {MIN_GROWN_SIZE} from '../images/filesystems.js'
import {missingImage} from '../images/loop-volume.js'
import {HostView} from '../system/host-view.js'
import {finishIntent, intent, pendingConflict} from '../store/intent.js'
import {validateName} from '../input/names.js'
import {recoverInterrupted} from '../recovery/recovery.js'
import {formatSize} from '../input/sizes.js'
import type {VolumeRecord} from '../store/state.js'
import type {Volume} from './volume.js'
import {describeConfirmed} from './list.js'
import {type GrowPlan, growVolume, restoreMountState, rollBackGrow} from './grow.js'
import {isUp} from './lifecycle.js'

/**
 * Grows a volume to `sizeBytes` (see growVolume for how). Shrinking is refused (exit 2), and so
 * is a growth the host has no free space for (exit 5). A failure before the filesystem changed
 * is rolled back; after that point the resize is finished, if need be by the next cbs command.
 */
export async function resizeVolume(ctx: Context, name: string, sizeBytes: number): Promise<Volume> {
  validateName(name)
  requireRoot(ctx.host)
  await recoverInterrupted(ctx)
  const record = ctx.store.read().volumes[name]
  if (!record) throw noSuchVolume(name)
  const plan = planGrowth(ctx, record, sizeBytes)
  if (!plan) return describeConfirmed(ctx, record)

  const mine = intent('resize', {...plan})
  await ctx.store.update((state) => {
    const current = state.volumes[name]
    if (!current) throw noSuchVolume(name)
    if (current.pending) throw pendingConflict(name, current.pending)
    current.pending = mine
  })
  let committed = false
  const commit = async () => {
    await ctx.store.update((state) => {
      state.volumes[name].pending!.committed = true
    })
    committed = true
  }
  try {
    await growVolume(ctx, record, plan, commit)
  } catch (error) {
    if (!committed) {
      await rollBackGrow(ctx, record, plan).catch(() => {})
      await finishIntent(ctx, name, mine)
      throw error
    }
    // Past the point of no return an interruption finishes the resize; another failure leaves
    // it recorded, for the next cbs command to finish.
    if (!isKind(error, 'interrupted')) {
      await restoreMountState(ctx, record, plan.wasMounted).catch(() => {})
      throw error
    }
    await growVolume(ctx, record, plan, async () => {})
  }
  await checkpoint('resize:done')
  await finishIntent(ctx, name, mine, sizeBytes)
  const resized = await describeConfirmed(ctx, {...record, sizeBytes})
  // Under --dry-run the image keeps its size: report the planned one.
  return ctx.exec.dryRun ? {...resized, sizeBytes, ...(resized.upper && {upper: {...resized.upper, sizeBytes}})} : resized
}

/** What the resize is to do; undefined when the volume already has that size. */
function planGrowth(ctx: Context, record: VolumeRecord, sizeBytes: number): GrowPlan | undefined {
  const image = ctx.layout.image(record.name)
  if (record.pending) throw pendingConflict(record.name, record.pending)
  const file = ctx.host.fileInfo(image)
  if (!file) throw missingImage(image, record.name)
  if (sizeBytes < file.sizeBytes) {
    throw invalid(`volume "${record.name}" is ${formatSize(file.sizeBytes)}: shrinking is not supported`, `give a size of at least ${formatSize(file.sizeBytes)}`)
  }
  if (sizeBytes === file.sizeBytes) return undefined
  const minimum = MIN_GROWN_SIZE[record.fs] ?? 0
  if (sizeBytes < minimum) throw invalid(`${record.fs} cannot be grown to less than ${formatSize(minimum)}`, `give a size of at least ${formatSize(minimum)}`)
  const growth = sizeBytes - file.sizeBytes
  const host = ctx.host.fsUsage(ctx.layout.imagesDir)
  if (growth > host.availableBytes) {
    throw environment(
      `growing volume "${record.name}" by ${formatSize(growth)} needs that much free space on the host under ${ctx.layout.root}, which has ${formatSize(host.availableBytes)}`,
      'free some space or choose a smaller --size',
    )
  }
  return {sizeBytes, fromBytes: file.sizeBytes, wasMounted: isUp(ctx, record, HostView.read(ctx.host))}
}

