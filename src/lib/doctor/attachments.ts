import type {Context} from '../system/context.js'
import {DOCTOR_FIX, type Finding} from './drift.js'
import type {State, VolumeRecord} from '../store/state.js'
import {findStaleAttachments} from '../runtimes/attachment-view.js'

/**
 * Attachment records that no runtime confirms: a named volume removed with `docker volume rm`,
 * containers removed with `docker rm`, live mounts whose container stopped. Runtimes that do not
 * answer are said so, and their records left alone: a stopped daemon is no proof of anything.
 */

const withAttachments = (state: State): VolumeRecord[] => Object.values(state.volumes).filter((record) => record.attachments?.length)

export async function attachmentFindings(ctx: Context, state: State): Promise<Finding[]> {
  const records = withAttachments(state)
  if (records.length === 0) return []
  const {stale, unanswered} = await findStaleAttachments(ctx, records)
  return [
    ...stale.map(
      (each): Finding => ({
        check: 'volumes',
        severity: 'warning',
        message: `volume "${each.volume}" records an attachment to ${each.runtime} that ${each.runtime} no longer has (${each.gone.join(', ')})`,
        fix: `${DOCTOR_FIX} (forgets it)`,
      }),
    ),
    ...unanswered.map((problem): Finding => ({check: 'volumes', severity: 'info', message: `${problem}: its attachment records cannot be checked`})),
  ]
}

/** `doctor --fix`: drops what no runtime confirms, under the lock, only from records unchanged since they were checked. */
export async function dropStaleAttachments(ctx: Context): Promise<string[]> {
  const records = withAttachments(ctx.store.read())
  if (records.length === 0) return []
  const {stale} = await findStaleAttachments(ctx, records)
  if (stale.length === 0) return []
  const checked = new Map(records.map((record) => [record.name, JSON.stringify(record.attachments)]))
  const done: string[] = []
  await ctx.store.update((state) => {
    const unchanged = new Set(records.filter((record) => JSON.stringify(state.volumes[record.name]?.attachments) === checked.get(record.name)).map((record) => record.name))
    for (const each of stale.filter((stale) => unchanged.has(stale.volume))) {
      const record = state.volumes[each.volume]
      record.attachments = record.attachments!.flatMap((attachment) => (attachment.runtime !== each.runtime ? [attachment] : each.keep ? [each.keep] : []))
      done.push(`forgot what ${each.runtime} no longer has of volume "${each.volume}" (${each.gone.join(', ')})`)
    }
  })
  return done
}
