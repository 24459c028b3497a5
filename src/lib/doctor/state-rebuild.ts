import {readFileSync, renameSync} from 'node:fs'
import {join} from 'node:path'
import type {Context} from '../system/context.js'
import {CommandFailed} from '../system/exec.js'
import {FILESYSTEMS, type Filesystem} from '../images/filesystems.js'
import {isName} from '../input/names.js'
import {soundVolumes} from '../store/state-check.js'
import type {VolumeRecord} from '../store/state.js'

/**
 * Repairs a state file that is not valid JSON, or not a state cbs wrote (state-check.ts): moves
 * it aside (it is kept, never deleted), keeps each of its volume records that is sound on its
 * own (a union volume stays one, with its lowers, labels and snapshots), and records again as a
 * loop volume each other image in images/, with its filesystem as blkid reads it (labels and
 * creation times are lost). Returns what it did, one line each.
 */
export async function rebuildState(ctx: Context): Promise<string[]> {
  const {layout} = ctx
  const {sound, dropped} = soundVolumes(parsed(readFileSync(layout.stateFile, 'utf8')))
  const records: VolumeRecord[] = []
  const skipped: string[] = []
  for (const file of ctx.host.listDirectory(layout.imagesDir).filter((name) => name.endsWith('.img'))) {
    const name = file.slice(0, -'.img'.length)
    if (sound[name]) continue
    const path = join(layout.imagesDir, file)
    const fs = await filesystemOf(ctx, path)
    const sizeBytes = ctx.host.fileInfo(path)?.sizeBytes
    if (!fs || !sizeBytes || !isName(name)) {
      skipped.push(file)
      continue
    }
    records.push({name, type: 'loop', fs, sizeBytes, labels: {}, createdAt: new Date().toISOString()})
  }
  const aside = `${layout.stateFile}.corrupt-${new Date().toISOString().replaceAll(':', '')}`
  await ctx.exec.change(['mv', layout.stateFile, aside], () => renameSync(layout.stateFile, aside))
  await ctx.store.update((state) => {
    Object.assign(state.volumes, sound)
    for (const record of records) state.volumes[record.name] = record
  })
  const kept = Object.keys(sound)
  const done = [`moved the damaged state file to ${aside}`]
  if (kept.length > 0) done.push(`kept the ${kept.length} sound volume record(s) in it: ${kept.join(', ')}`)
  for (const problem of dropped) done.push(`left out a record that is not sound: ${problem}`)
  done.push(`recorded ${records.length} volume(s) again from their images: ${records.map((record) => record.name).join(', ') || 'none'} (labels are lost)`)
  if (skipped.length > 0) done.push(`left ${skipped.join(', ')} in images/: no ext4, xfs or btrfs filesystem found (doctor reports them)`)
  return done
}

/** The file's JSON, or undefined when it is not JSON. */
function parsed(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

async function filesystemOf(ctx: Context, image: string): Promise<Filesystem | undefined> {
  try {
    const {stdout} = await ctx.exec.run('blkid', ['-p', '-o', 'value', '-s', 'TYPE', image])
    const type = stdout.trim()
    return (FILESYSTEMS as readonly string[]).includes(type) ? (type as Filesystem) : undefined
  } catch (error) {
    if (error instanceof CommandFailed && !error.notInstalled) return undefined // exit 2: nothing found
    throw error
  }
}
