import {Args, Flags} from '@oclif/core'
import {CbsCommand} from '../../../base-command.js'
import {parseLabels} from '../../../lib/input/labels.js'
import {type CreatedSnapshot, createSnapshot} from '../../../lib/snapshots/create.js'

export default class VolumeSnapshotCreate extends CbsCommand {
  static override summary = 'Take a crash-consistent snapshot of a volume, mounted and in use or not.'
  static override description =
    'A mounted volume is frozen (fsfreeze) only for the moment of the copy, and always thawed again: when the copy fails, when cbs is interrupted, and even when it is killed. On xfs or btrfs under $CBS_ROOT the copy is a reflink (milliseconds, no extra space); elsewhere it is a sparse copy of the allocated blocks. Snapshots are stored read-only. Prints VOLUME@SNAPSHOT.'
  static override examples = [
    {description: 'Name it after the UTC time, e.g. db@20261125T231800Z', command: '<%= config.bin %> <%= command.id %> db'},
    {description: 'Before a migration', command: '<%= config.bin %> <%= command.id %> db before-migration --label ticket=DB-42'},
    {description: 'The same, named as in ZFS', command: '<%= config.bin %> <%= command.id %> db@before-migration --label ticket=DB-42'},
  ]
  static override args = {
    volume: Args.string({description: 'Volume name, or VOLUME@SNAPSHOT (as zfs snapshot takes it)', required: true}),
    snapshot: Args.string({description: 'Snapshot name (same rule as volume names); default: the UTC time'}),
  }
  static override flags = {
    label: Flags.string({char: 'l', summary: 'Set a label KEY=VALUE (repeatable).', multiple: true, multipleNonGreedy: true, helpValue: 'KEY=VALUE'}),
    'freeze-timeout': Flags.integer({
      summary: 'Fail rather than keep the volume frozen longer than this many seconds (default: 10 for a reflink, more for a copy, by size).',
      min: 1,
      helpValue: 'SECONDS',
    }),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<CreatedSnapshot[]> {
    const {args, flags} = await this.parse(VolumeSnapshotCreate)
    const snapshot = await createSnapshot(this.context(flags), {
      volume: args.volume,
      snapshot: args.snapshot,
      labels: parseLabels(flags.label),
      maxFreezeMs: flags['freeze-timeout'] === undefined ? undefined : flags['freeze-timeout'] * 1000,
    })
    if (!flags['dry-run']) this.log(snapshot.name)
    return [snapshot]
  }
}
