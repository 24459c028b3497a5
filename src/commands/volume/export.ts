import {Args, Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {invalid} from '../../lib/common/errors.js'
import {exportVolume} from '../../lib/streams/export-volume.js'
import type {Volume} from '../../lib/volumes/volume.js'

export default class VolumeExport extends CbsCommand {
  static override summary = 'Write a volume or snapshot as a stream, full or incremental, to a file or a pipe.'
  static override description =
    'The cbs stream (documented in docs/stream-format.md) carries the volume\'s name, filesystem, size, labels and snapshot id, then only the ranges of its image that hold data, each with a sha256, and a checksum of the whole: a 100G volume holding 1G sends about 1G. --since VOLUME@BASE sends only what changed since BASE (on xfs or btrfs hosts, found from the extents the snapshots share, without reading them). A volume is exported through a snapshot taken for it (frozen only for the copy) and removed after. --format tar writes the files instead, as `podman volume import` takes them. Writes to -o FILE, or to stdout when it is not a terminal.'
  static override examples = [
    {description: 'To another host', command: '<%= config.bin %> <%= command.id %> db@mon | ssh other sudo cbs volume import db'},
    {description: 'Then only what changed since', command: '<%= config.bin %> <%= command.id %> db@tue --since db@mon | ssh other sudo cbs volume import db'},
    {description: 'Compressed, to a file', command: '<%= config.bin %> <%= command.id %> db@mon | zstd > db-mon.cbs.zst'},
    {description: 'The files, for podman', command: '<%= config.bin %> <%= command.id %> db --format tar -o db.tar && podman volume import pgdata db.tar'},
  ]
  static override args = {
    source: Args.string({description: 'VOLUME@SNAPSHOT, or a VOLUME (exported through a temporary snapshot)', required: true}),
  }
  static override flags = {
    output: Flags.string({char: 'o', summary: 'Write to FILE instead of stdout.', helpValue: 'FILE'}),
    since: Flags.string({summary: 'Send only what changed since this snapshot of the same volume (cbs format only).', helpValue: 'VOLUME@BASE'}),
    format: Flags.string({summary: 'cbs: the block stream (full or incremental). tar: the files.', options: ['cbs', 'tar'], default: 'cbs'}),
  }

  async run(): Promise<Volume[]> {
    const {args, flags} = await this.parse(VolumeExport)
    if (!flags.output && process.stdout.isTTY) throw invalid('stdout is a terminal', 'pipe the stream into a command or a file, or pass -o FILE')
    if (!flags.output && this.jsonEnabled()) throw invalid('--json needs -o FILE', 'stdout carries the stream')
    const exported = await exportVolume(this.context(flags), {source: args.source, since: flags.since, format: flags.format as 'cbs' | 'tar', output: flags.output})
    if (flags.output) this.log(`${exported.snapshot} → ${flags.output}`)
    return [exported.volume]
  }
}
