import {Args, Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {FILESYSTEMS, type Filesystem} from '../../lib/images/filesystems.js'
import {parseLabels} from '../../lib/input/labels.js'
import {parseSize} from '../../lib/input/sizes.js'
import {VOLUME_TYPES, type VolumeType} from '../../lib/store/state.js'
import {createVolume} from '../../lib/volumes/create.js'
import type {Volume} from '../../lib/volumes/volume.js'

export default class VolumeCreate extends CbsCommand {
  static override summary = 'Create a volume: a sparse image on a loop device, formatted and mounted.'
  static override description =
    'The image file and the mountpoint live under $CBS_ROOT. Sizes use powers of 1024 (K, M, G, T) or plain bytes; the image stays sparse, so only written data takes space on the host. A union volume (--type overlay) stacks read-only --lower layers, snapshots or host folders, under a writable upper layer: a volume of --size and --fs (ext4 by default) that takes every change, so writes can never exceed it. A live volume cannot be a lower layer (it must not change under the mount): snapshot it first. --from VOLUME@SNAPSHOT makes an independent copy of a snapshot (a reflink where the host can) with a filesystem UUID of its own, grown to a larger --size.'
  static override examples = [
    {description: 'A 10 GiB ext4 volume', command: '<%= config.bin %> <%= command.id %> db --size 10G'},
    {description: 'An xfs volume with labels', command: '<%= config.bin %> <%= command.id %> cache --fs xfs --size 2G --label env=ci --label team=web'},
    {
      description: 'A writable copy of a seeded snapshot, limited to 2 GiB of changes',
      command: '<%= config.bin %> <%= command.id %> ci-42 --type overlay --lower db@seed --size 2G',
    },
    {description: 'Two host folders, the first on top', command: '<%= config.bin %> <%= command.id %> site --type overlay --lower /srv/theme --lower /srv/base'},
    {description: 'A clone of a snapshot, grown to 20 GiB', command: '<%= config.bin %> <%= command.id %> db-copy --from db@before-migration --size 20G'},
    {description: 'Succeed if the same volume already exists (for scripts)', command: '<%= config.bin %> <%= command.id %> db --size 10G --if-not-exists'},
  ]
  static override args = {
    name: Args.string({description: 'Volume name: letters, digits, "_", "." and "-", up to 63', required: true}),
  }
  static override flags = {
    size: Flags.string({char: 's', summary: 'Size of the volume, e.g. 512M, 10G, 1T.', default: '1G', helpValue: 'SIZE'}),
    fs: Flags.string({summary: 'Filesystem to format the volume with.', options: [...FILESYSTEMS], default: 'ext4'}),
    label: Flags.string({char: 'l', summary: 'Set a label KEY=VALUE (repeatable).', multiple: true, multipleNonGreedy: true, helpValue: 'KEY=VALUE'}),
    type: Flags.string({
      char: 't',
      summary: 'loop: a plain volume. overlay, aufs: a union volume of --lower layers under a writable upper layer of --size.',
      options: [...VOLUME_TYPES],
      default: 'loop',
    }),
    lower: Flags.string({
      summary: 'A read-only lower layer of a union volume: VOLUME@SNAPSHOT or an absolute folder (repeatable, the first on top).',
      multiple: true,
      multipleNonGreedy: true,
      helpValue: 'SOURCE',
    }),
    from: Flags.string({
      summary: 'Make the volume a copy of a snapshot: VOLUME@SNAPSHOT. Its size (or a larger --size), filesystem, type and lowers are the snapshot\'s.',
      helpValue: 'VOLUME@SNAPSHOT',
    }),
    'if-not-exists': Flags.boolean({summary: 'Exit 0 when a volume of this name, size and filesystem already exists.'}),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<Volume[]> {
    const {args, flags, metadata} = await this.parse(VolumeCreate)
    // With --from, what is not given comes from the snapshot, not from the defaults.
    const given = <T>(flag: string, value: T) => (metadata.flags[flag]?.setFromDefault ? undefined : value)
    const volume = await createVolume(this.context(flags), {
      name: args.name,
      sizeBytes: given('size', parseSize(flags.size)),
      fs: given('fs', flags.fs as Filesystem),
      labels: parseLabels(flags.label),
      type: given('type', flags.type as VolumeType),
      lowers: flags.lower,
      ifNotExists: flags['if-not-exists'],
      from: flags.from,
    })
    if (!flags['dry-run']) this.log(volume.name)
    return [volume]
  }
}
