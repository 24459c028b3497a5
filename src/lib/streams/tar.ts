import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {environment, invalid, noSuchVolume} from '../common/errors.js'
import {CommandFailed, lastLine} from '../system/exec.js'
import {format, ensureDirectory, attach, createImage, removeImage, releaseMount} from '../images/loop-volume.js'
import {MIN_SIZE, parseFilesystem, readOnlyMountArgs, mountArgs} from '../images/filesystems.js'
import {formatSize} from '../input/sizes.js'
import {validateName} from '../input/names.js'
import {recoverInterrupted} from '../recovery/recovery.js'
import {createSnapshot} from '../snapshots/create.js'
import {removeSnapshot} from '../snapshots/remove.js'
import {defaultSnapshotName, findSnapshot, formatSnapshotRef, type SnapshotRef} from '../snapshots/snapshot.js'
import {partialPath} from '../store/layout.js'
import {HostView} from '../system/host-view.js'
import {Undo} from '../common/undo.js'
import {describeVolume, type Volume} from '../volumes/volume.js'
import {type Exported, parseSource} from './export.js'
import {adoptImage, whileImporting} from './import.js'

/**
 * `--format tar`: the files of a volume, as `podman volume export` writes them and `podman
 * volume import` reads them (plain tar, paths relative to the volume's root, numeric owners).
 * No incremental streams and no checksums: what tar offers, for everything else.
 */

const tarOptions = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--exclude=./lost+found']

/** Writes the files of a snapshot (or of a volume, through a temporary one) as a tar to `output`, or stdout. */
export async function exportTar(ctx: Context, source: string, output?: string): Promise<Exported> {
  const {volume, snapshot: named} = parseSource(source)
  requireRoot(ctx.host)
  await recoverInterrupted(ctx)
  const record = ctx.store.read().volumes[volume]
  if (!record) throw noSuchVolume(volume)
  if (record.type !== 'loop') throw invalid(`volume "${volume}" is a ${record.type} volume`, 'export one of its snapshots')
  if (named) findSnapshot(ctx, {volume, snapshot: named})
  const ref: SnapshotRef = {volume, snapshot: named ?? `export-${defaultSnapshotName()}-${process.pid}`}
  if (!named) await createSnapshot(ctx, {volume, snapshot: ref.snapshot, temporary: true})
  const dir = ctx.layout.exportMount(formatSnapshotRef(ref))
  let stopped: unknown
  try {
    await ensureDirectory(ctx, ctx.layout.exportsDir)
    await ensureDirectory(ctx, dir)
    const device = await attach(ctx, ctx.layout.snapshotImage(volume, ref.snapshot), undefined, {readOnly: true})
    await ctx.exec.run('mount', readOnlyMountArgs(record.fs, device, dir), {mutates: true}).catch(async (error) => {
      await ctx.exec.run('losetup', ['--detach', device], {mutates: true})
      throw error
    })
    await runTar(ctx, ['--create', '--file', output ?? '-', '--directory', dir, ...tarOptions, '.'], {passStdout: !output})
  } finally {
    await ctx.exec.throwIfInterrupted().catch((error) => (stopped = error))
    await releaseMount(ctx, dir)
    if (!named) await removeSnapshot(ctx, ref)
  }
  if (stopped) throw stopped
  const written = output ? (ctx.host.fileInfo(output)?.sizeBytes ?? 0) : 0
  return {volume: describeVolume(ctx, ctx.store.read().volumes[volume], HostView.read(ctx.host)), snapshot: formatSnapshotRef(ref), streamBytes: written, dataBytes: written}
}

export interface TarImportRequest {
  name: string
  sizeBytes?: number
  fs?: string
  /** A file; default: stdin. */
  input?: string
}

/**
 * Makes a volume of --size from a tar: a partial image, formatted and mounted aside, filled by
 * tar, then adopted as a full import is. A tar that fails half way leaves nothing.
 */
export async function importTar(ctx: Context, request: TarImportRequest): Promise<Volume> {
  const name = validateName(request.name)
  if (request.sizeBytes === undefined) throw invalid('--format tar needs --size', 'a tar does not say how large the volume should be, e.g. --size 10G')
  const fs = parseFilesystem(request.fs ?? 'ext4')
  if (request.sizeBytes < MIN_SIZE[fs]) throw invalid(`size ${formatSize(request.sizeBytes)} is below the ${fs} minimum of ${formatSize(MIN_SIZE[fs])}`)
  requireRoot(ctx.host)
  await recoverInterrupted(ctx)
  const partial = partialPath(ctx.layout.image(name))
  const dir = ctx.layout.importMount(name)
  await whileImporting(ctx, name, async (importing, undo) => {
    await createImage(ctx, partial, request.sizeBytes!, new Undo())
    undo.push(`remove ${partial}`, () => removeImage(ctx, partial))
    const device = await attach(ctx, partial)
    undo.push(`detach ${device}`, () => ctx.exec.run('losetup', ['--detach', device], {mutates: true}).catch(() => {}))
    await format(ctx, fs, device)
    await ensureDirectory(ctx, ctx.layout.importsDir)
    await ensureDirectory(ctx, dir)
    undo.push(`release ${dir}`, () => releaseMount(ctx, dir))
    await ctx.exec.run('mount', mountArgs(device, dir), {mutates: true})
    await runTar(ctx, ['--extract', '--file', request.input ?? '-', '--directory', dir, ...tarOptions], {passStdin: request.input === undefined})
    await releaseMount(ctx, dir)
    await adoptImage(ctx, {name, type: 'loop', fs, sizeBytes: request.sizeBytes!, labels: {}, createdAt: new Date().toISOString()}, importing, undo, null)
  })
  return describeVolume(ctx, ctx.store.read().volumes[name], HostView.read(ctx.host))
}

async function runTar(ctx: Context, args: string[], pass: {passStdin?: boolean; passStdout?: boolean}): Promise<void> {
  try {
    await ctx.exec.run('tar', args, {mutates: true, abortable: true, ...pass})
  } catch (error) {
    if (!(error instanceof CommandFailed) || error.notInstalled) throw error
    if (/No space left/i.test(error.stderr)) throw environment(`tar ran out of space: ${lastLine(error.stderr)}`, 'import with a larger --size, or free space on the host')
    throw invalid(`tar failed: ${lastLine(error.stderr) || `exit status ${error.exitCode}`}`, 'give it a tar archive (such as `podman volume export` writes)')
  }
}
