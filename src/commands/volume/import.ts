import {isatty} from 'node:tty'
import {Args, Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {invalid} from '../../lib/common/errors.js'
import {FILESYSTEMS} from '../../lib/images/filesystems.js'
import {parseSize} from '../../lib/input/sizes.js'
import {importVolume} from '../../lib/streams/import-volume.js'
import type {Volume} from '../../lib/volumes/volume.js'

export default class VolumeImport extends CbsCommand {
  static override summary = 'Make a volume from a stream that `cbs volume export` wrote, or bring one up to date from an incremental stream.'
  static override description =
    'Every record\'s checksum and the stream\'s own are checked before anything is renamed into place: a damaged, truncated or interrupted stream leaves no volume behind, and an incremental one leaves its target as it was. The new volume is mounted, keeps the labels in the stream and has the snapshot it was exported from, under the same name and id, so that the next incremental stream can follow. An incremental stream needs a target that has its base snapshot and has not changed since (--force discards those changes, as `zfs recv -F`). --format tar --size SIZE makes a volume of the files in a tar, such as `podman volume export` writes. Reads -i FILE, or stdin.'
  static override examples = [
    {description: 'From another host', command: 'ssh other sudo cbs volume export db@mon | <%= config.bin %> <%= command.id %> db'},
    {description: 'From a compressed file', command: 'zstd -dc db-mon.cbs.zst | <%= config.bin %> <%= command.id %> db'},
    {description: 'From podman', command: 'podman volume export pgdata | <%= config.bin %> <%= command.id %> pgdata --format tar --size 10G'},
  ]
  static override args = {
    name: Args.string({description: 'Volume name: the new volume, or the one an incremental stream updates', required: true}),
  }
  static override flags = {
    input: Flags.string({char: 'i', summary: 'Read from FILE instead of stdin.', helpValue: 'FILE'}),
    format: Flags.string({summary: 'cbs: a stream of `cbs volume export`. tar: files.', options: ['cbs', 'tar'], default: 'cbs'}),
    size: Flags.string({char: 's', summary: '--format tar: the size of the new volume, e.g. 10G.', helpValue: 'SIZE'}),
    fs: Flags.string({summary: '--format tar: the filesystem of the new volume (default ext4).', options: [...FILESYSTEMS]}),
    force: Flags.boolean({summary: 'Incremental streams: discard what changed on the volume since the base snapshot.'}),
  }

  async run(): Promise<Volume[]> {
    const {args, flags} = await this.parse(VolumeImport)
    if (!flags.input && isatty(0)) throw invalid('stdin is a terminal', 'pipe a stream in, or pass -i FILE')
    const volume = await importVolume(this.context(flags), {
      name: args.name,
      input: flags.input,
      format: flags.format as 'cbs' | 'tar',
      sizeBytes: flags.size === undefined ? undefined : parseSize(flags.size),
      fs: flags.fs,
      force: flags.force,
    })
    this.log(volume.name)
    return [volume]
  }
}
