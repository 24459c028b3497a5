import {Args, Flags} from '@oclif/core'
import {CbsCommand} from '../../../base-command.js'
import {restoreSnapshot} from '../../../lib/snapshots/restore.js'
import type {Volume} from '../../../lib/volumes/volume.js'

export default class VolumeSnapshotRestore extends CbsCommand {
  static override summary = 'Roll a volume back to a snapshot; the snapshot and the later ones stay.'
  static override description =
    'The volume is unmounted, its image replaced by a copy of the snapshot (a reflink where the host can), and mounted again if it was. A busy volume (open files, a container) is refused with exit 4 and left as it was, unless --force.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> db@before-migration',
    {description: 'Stop the processes using it first', command: '<%= config.bin %> <%= command.id %> db@before-migration --force'},
  ]
  static override args = {snapshot: Args.string({description: 'The snapshot, as VOLUME@SNAPSHOT', required: true})}
  static override flags = {
    force: Flags.boolean({
      char: 'f',
      summary: 'Stop the processes on this host that use the volume (SIGTERM, SIGKILL after 10 s) rather than refuse. Never a lazy unmount.',
    }),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<Volume[]> {
    const {args, flags} = await this.parse(VolumeSnapshotRestore)
    const volume = await restoreSnapshot(this.context(flags), {snapshot: args.snapshot, force: flags.force})
    if (!flags['dry-run']) this.log(volume.name)
    return [volume]
  }
}
