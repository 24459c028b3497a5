import {renameSync} from 'node:fs'
import {join} from 'node:path'
import type {Context} from '../system/context.js'
import {CommandFailed} from '../system/exec.js'
import {FILESYSTEMS, type Filesystem} from '../images/filesystems.js'
import {isName} from '../input/names.js'
import type {VolumeRecord} from '../store/state.js'

/**
 * Repairs a state file that is not valid JSON, or not a state cbs wrote (state-check.ts): moves
 * it aside (it is kept, never deleted) and * records again each volume whose image is in images/, with its filesystem as blkid reads it.
 * Labels and creation times are lost. Returns what it did, one line each.
 */
export async function rebuildState(ctx: Context): Promise<string[]> {
  const {layout} = ctx
  const records: VolumeRecord[] = []
  const skipped: string[] = []
  for (const file of ctx.host.listDirectory(layout.imagesDir).filter((name) => name.endsWith('.img'))) {
    const name = file.slice(0, -'.img'.length)
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
    for (const record of records) state.volumes[record.name] = record
  })
  const done = [
    `moved the damaged state file to ${aside}`,
    `recorded ${records.length} volume(s) again from their images: ${records.map((record) => record.name).join(', ') || 'none'} (labels are lost)`,
  ]
  if (skipped.length > 0) done.push(`left ${skipped.join(', ')} in images/: no ext4, xfs or btrfs filesystem found (doctor reports them)`)
  return done
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
