import {Args, Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {removeVolumes} from '../../lib/volumes/remove.js'
import type {Volume} from '../../lib/volumes/volume.js'

export default class VolumeRm extends CbsCommand {
  static override summary = 'Remove volumes: unmount, detach, delete the image and the record.'
  static override aliases = ['volume:remove']
  static override description =
    'A volume in use (open files, a container) is refused with exit 4 and left as it was; so is one that a container of a runtime it is attached to still uses, running or stopped, with or without --force. A volume with snapshots is refused too, unless -r (--recursive, as in `zfs destroy -r`) removes them with it. -f (--force, as in `docker volume rm -f`) only means that names that do not exist are no error. Removing a volume removes its runtime registrations too (`cbs volume attach`).'
  static override strict = false
  static override examples = [
    '<%= config.bin %> <%= command.id %> db',
    {description: 'No error for names that do not exist (for scripts)', command: '<%= config.bin %> <%= command.id %> --force db cache'},
    {description: 'The volume and its snapshots', command: '<%= config.bin %> <%= command.id %> --recursive db'},
  ]
  static override args = {name: Args.string({description: 'Volume names', required: true})}
  static override flags = {
    force: Flags.boolean({char: 'f', summary: 'Do not fail on names that do not exist.'}),
    recursive: Flags.boolean({char: 'r', summary: "Remove the volumes' snapshots too."}),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<Volume[]> {
    const {argv, flags} = await this.parse(VolumeRm)
    const removed = await removeVolumes(this.context(flags), argv as string[], {force: flags.force, recursive: flags.recursive})
    if (!flags['dry-run']) for (const volume of removed) this.log(volume.name)
    return removed
  }
}
