import {Args, Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import type {Volume} from '../../lib/volumes/volume.js'
import {unmountVolumes, selectionOf} from '../../lib/volumes/mount.js'

export default class VolumeUnmount extends CbsCommand {
  static override summary = 'Unmount volumes and detach their loop devices; nothing happens to those not mounted.'
  static override aliases = ['volume:umount']
  static override description =
    'A volume in use (open files, a container) is refused with exit 4 and stays mounted. While unmounted, its mountpoint cannot be written to. A volume named stays down across reboots (`mount --all` leaves it be) until `cbs volume mount NAME`; --all is what a shutdown does: every volume goes down and keeps its record, so that `mount --all` brings back the same volumes.'
  static override strict = false
  static override examples = ['<%= config.bin %> <%= command.id %> db', '<%= config.bin %> <%= command.id %> --all']
  static override args = {name: Args.string({description: 'Volume names'})}
  static override flags = {
    all: Flags.boolean({char: 'a', summary: 'Unmount every volume, keeping whether each is meant to be mounted (for a shutdown).'}),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<Volume[]> {
    const {argv, flags} = await this.parse(VolumeUnmount)
    const volumes = await unmountVolumes(this.context(flags), selectionOf(flags.all, argv as string[], 'unmount'))
    if (!flags['dry-run']) for (const volume of volumes) this.log(volume.name)
    return volumes
  }
}
