import {Args, Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {parseSize} from '../../lib/input/sizes.js'
import type {Volume} from '../../lib/volumes/volume.js'
import {resizeVolume} from '../../lib/volumes/resize.js'

export default class VolumeResize extends CbsCommand {
  static override summary = 'Grow a volume: its image, its loop device, then its filesystem.'
  static override description =
    'xfs and btrfs grow while mounted and in use. ext4 grows while mounted where cbs has CAP_SYS_RESOURCE; elsewhere it is unmounted, checked (e2fsck -f), grown (resize2fs) and mounted again, and a volume in use is refused (exit 4) with nothing changed. A union volume grows its upper layer. Shrinking is refused (exit 2), and so is growing by more than the host has free (exit 5).'
  static override examples = [
    '<%= config.bin %> <%= command.id %> db --size 20G',
    {description: 'The commands it would run', command: '<%= config.bin %> <%= command.id %> db --size 20G --dry-run'},
  ]
  static override args = {name: Args.string({description: 'Volume name', required: true})}
  static override flags = {
    size: Flags.string({char: 's', summary: 'The new size, larger than the current one, e.g. 20G.', required: true, helpValue: 'SIZE'}),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<Volume[]> {
    const {args, flags} = await this.parse(VolumeResize)
    const volume = await resizeVolume(this.context(flags), args.name, parseSize(flags.size))
    if (!flags['dry-run']) this.log(volume.name)
    return [volume]
  }
}
