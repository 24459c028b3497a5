import {Args, Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {removeVolumes} from '../../lib/volumes/remove.js'
import type {Volume} from '../../lib/volumes/volume.js'

export default class VolumeRm extends CbsCommand {
  static override summary = 'Remove volumes: unmount, detach, delete the image and the record.'
  static override aliases = ['volume:remove']
  static override description =
    'A volume in use (open files, a container) is refused with exit 4 and left as it was; so is one that a container of a runtime it is attached to still uses, running or stopped, and one that has snapshots, unless --force. Removing a volume removes its runtime registrations too (`cbs volume attach`).'
  static override strict = false
  static override examples = ['<%= config.bin %> <%= command.id %> db', {description: 'No error for names that do not exist', command: '<%= config.bin %> <%= command.id %> --force db cache'}]
  static override args = {name: Args.string({description: 'Volume names', required: true})}
  static override flags = {
    force: Flags.boolean({char: 'f', summary: 'Do not fail on names that do not exist, and remove the volumes\' snapshots too.'}),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<Volume[]> {
    const {argv, flags} = await this.parse(VolumeRm)
    const removed = await removeVolumes(this.context(flags), argv as string[], {force: flags.force})
    if (!flags['dry-run']) for (const volume of removed) this.log(volume.name)
    return removed
  }
}
