import type {Context} from '../system/context.js'
import {requireRoot} from '../system/context.js'
import {environment, invalid} from '../common/errors.js'
import {CommandFailed, lastLine} from '../system/exec.js'
import {format, ensureDirectory, attach, createImage, removeImage, releaseMount} from '../images/loop-volume.js'
import {MIN_SIZE, parseFilesystem, readOnlyMountArgs, mountArgs} from '../images/filesystems.js'
import {formatSize} from '../input/sizes.js'
import {validateName} from '../input/names.js'
import {recoverInterrupted} from '../recovery/recovery.js'
import {formatSnapshotRef} from '../snapshots/snapshot.js'
import {partialPath} from '../store/layout.js'
import {HostView} from '../system/host-view.js'
import {Undo} from '../common/undo.js'
import {describeVolume, type Volume} from '../volumes/volume.js'
import type {Exported} from './export.js'
import {exportSource, parseSource, readingSnapshot} from './export-source.js'
import {adoptImage, whileImporting} from './import.js'

/**
 * `--format tar`: the files of a volume, as `podman volume export` writes them and `podman
 * volume import` reads them (plain tar, paths relative to the volume's root, numeric owners).
 * No incremental streams and no checksums: what tar offers, for everything else.
 */

const tarOptions = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--exclude=./lost+found']

/** Writes the files of a snapshot (or of a volume, through a temporary one) as a tar to `output`, or stdout. */
export async function exportTar(ctx: Context, sourceText: string, output?: string): Promise<Exported> {
  const source = await exportSource(ctx, parseSource(sourceText), 'export one of its snapshots')
  const {ref} = source
  const dir = ctx.layout.exportMount(formatSnapshotRef(ref))
  await readingSnapshot(
    ctx,
    source,
    async () => {
      await ensureDirectory(ctx, ctx.layout.exportsDir)
      await ensureDirectory(ctx, dir)
      const device = await attach(ctx, ctx.layout.snapshotImage(ref.volume, ref.snapshot), undefined, {readOnly: true})
      await ctx.exec.run('mount', readOnlyMountArgs(ctx.store.read().volumes[ref.volume].fs, device, dir), {mutates: true}).catch(async (error) => {
        await ctx.exec.run('losetup', ['--detach', device], {mutates: true})
        throw error
      })
      await runTar(ctx, ['--create', '--file', output ?? '-', '--directory', dir, ...tarOptions, '.'], {passStdout: !output})
    },
    {cleanUp: () => releaseMount(ctx, dir)},
  )
  const written = output ? (ctx.host.fileInfo(output)?.sizeBytes ?? 0) : 0
  return {volume: describeVolume(ctx, ctx.store.read().volumes[ref.volume], HostView.read(ctx.host)), snapshot: formatSnapshotRef(ref), streamBytes: written, dataBytes: written}
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
