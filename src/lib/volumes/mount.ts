import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {invalid, noSuchVolume} from '../common/errors.js'
import {HostView} from '../system/host-view.js'
import {stackDepth} from '../union/lowers.js'
import {validateName} from '../input/names.js'
import {compareOrdinal} from '../common/ordinal.js'
import {silentProgress} from '../common/progress.js'
import {recoverInterrupted} from '../recovery/recovery.js'
import type {State, VolumeRecord} from '../store/state.js'
import {describePlanned, describeVolume, type Volume} from './volume.js'
import {explainBusy} from '../runtimes/attach.js'
import {bringDown, bringUp} from './lifecycle.js'

/** Which volumes a mount or unmount is about: the names given, or every volume with --all. */
export type Selection = {all: true} | {names: string[]}

/** `--all` or names, never both: `cbs volume mount --all db` would otherwise quietly ignore db. */
export function selectionOf(all: boolean | undefined, names: string[], verb: 'mount' | 'unmount'): Selection {
  if (all && names.length > 0) throw invalid(`--all takes no volume names (${names.join(' ')})`, `type \`cbs volume ${verb} --all\` or \`cbs volume ${verb} ${names.join(' ')}\``)
  return all ? {all: true} : {names}
}

/**
 * Volumes whose snapshots union volumes stack are mounted before those union volumes. `--all`
 * (the boot unit) brings back the volumes meant to be mounted; a volume named is mounted and
 * meant to be from then on. `acceptLowers`: host folder lowers replaced on purpose are taken as
 * they are now.
 */
export async function mountVolumes(ctx: Context, selection: Selection, options: {acceptLowers?: boolean} = {}): Promise<Volume[]> {
  return forEachSelected(ctx, selection, 'mounted', async (record, view) => {
    if ('all' in selection && record.meantToBeMounted === false) return 'skipped'
    await bringUp(ctx, record, view, options)
    if ('names' in selection) await recordMeantToBeMounted(ctx, record.name, true)
  })
}

/**
 * Union volumes are unmounted before the volumes whose snapshots they stack. A volume named
 * stays down, even across a reboot; `--all` (the boot unit at shutdown) keeps every record as it
 * was, so that `mount --all` brings back the same volumes.
 */
export async function unmountVolumes(ctx: Context, selection: Selection): Promise<Volume[]> {
  return forEachSelected(ctx, selection, 'unmounted', async (record, view) => {
    await bringDown(ctx, record, view).catch((error) => explainBusy(ctx, record, error))
    if ('names' in selection) await recordMeantToBeMounted(ctx, record.name, false)
  })
}

/** What `mount --all` will do with the volume after a reboot. */
async function recordMeantToBeMounted(ctx: Context, name: string, meant: boolean): Promise<void> {
  await ctx.store.update((state) => {
    const record = state.volumes[name]
    if (record) record.meantToBeMounted = meant
  })
}

async function forEachSelected(
  ctx: Context,
  selection: Selection,
  /** mounted: lower layers first; unmounted: union volumes first. */
  goal: 'mounted' | 'unmounted',
  step: (record: VolumeRecord, view: HostView) => Promise<'skipped' | void>,
): Promise<Volume[]> {
  select(ctx, selection) // bad names and unknown volumes are refused before recovery touches anything
  // After a crash or a reboot: first finish or roll back what was left half done.
  await recoverInterrupted(ctx)
  const state = ctx.store.read()
  const records = select(ctx, selection, state)
  const depth = (record: VolumeRecord) => stackDepth(state, record.name) * (goal === 'mounted' ? 1 : -1)
  const progress = ctx.progress ?? silentProgress
  const skipped = new Set<string>()
  try {
    for (const [index, record] of records.toSorted((a, b) => depth(a) - depth(b)).entries()) {
      progress.update(index + 1, records.length, record.name)
      if ((await step(record, HostView.read(ctx.host))) === 'skipped') skipped.add(record.name)
    }
  } finally {
    progress.finish()
  }
  const view = HostView.read(ctx.host)
  return records.map((record) => (ctx.exec.dryRun && !skipped.has(record.name) ? describePlanned(ctx, record, view, goal) : describeVolume(ctx, record, view)))
}

/** The selected records, from `state` when the caller has read it already. */
function select(ctx: Context, selection: Selection, state?: State): VolumeRecord[] {
  if ('names' in selection && selection.names.length === 0) throw invalid('name at least one volume, or pass --all')
  if ('names' in selection) for (const name of selection.names) validateName(name)
  requireRoot(ctx.host)
  const {volumes} = state ?? ctx.store.read()
  if ('all' in selection) return Object.values(volumes).filter((record) => !record.pending).sort((a, b) => compareOrdinal(a.name, b.name))
  const missing = selection.names.filter((name) => !volumes[name])
  if (missing.length > 0) throw noSuchVolume(missing)
  return selection.names.map((name) => volumes[name])
}
