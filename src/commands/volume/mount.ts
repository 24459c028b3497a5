import {Args, Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import type {Volume} from '../../lib/volumes/volume.js'
import {mountVolumes, selectionOf} from '../../lib/volumes/mount.js'

export default class VolumeMount extends CbsCommand {
  static override summary = 'Attach and mount volumes; nothing happens to those already mounted.'
  static override description =
    'After a reboot the loop devices and mounts are gone while the images stay: `cbs volume mount --all` brings back every volume meant to be mounted, that is all but those unmounted by name with `cbs volume unmount NAME`. Mounting a volume by name makes it meant to be mounted again.'
  static override strict = false
  static override examples = ['<%= config.bin %> <%= command.id %> db', {description: 'Bring everything back after a reboot', command: '<%= config.bin %> <%= command.id %> --all'}]
  static override args = {name: Args.string({description: 'Volume names'})}
  static override flags = {
    all: Flags.boolean({char: 'a', summary: 'Mount every volume meant to be mounted.'}),
    'accept-lowers': Flags.boolean({
      summary: 'Take host folder lowers that were replaced on purpose as they are now, and record them.',
      description: 'Every mount checks that a folder lower is still the folder checked at create (device and inode) and refuses one that changed (exit 4). With this flag a replaced folder is accepted, if it passes the checks of create.',
    }),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<Volume[]> {
    const {argv, flags} = await this.parse(VolumeMount)
    const volumes = await mountVolumes(this.context(flags), selectionOf(flags.all, argv as string[], 'mount'), {acceptLowers: flags['accept-lowers']})
    if (!flags['dry-run']) for (const volume of volumes) this.log(volume.name)
    return volumes
  }
}
