import {Args} from '@oclif/core'
import {CbsCommand} from '../../../base-command.js'
import {removeSnapshots} from '../../../lib/snapshots/remove.js'
import type {Snapshot} from '../../../lib/snapshots/snapshot.js'

export default class VolumeSnapshotRm extends CbsCommand {
  static override summary = 'Remove snapshots.'
  static override aliases = ['volume:snapshot:remove']
  static override description = 'Every name is checked first: unknown ones fail with exit 3, and a snapshot something depends on (a union volume using it as a lower layer) with exit 4, before anything is removed.'
  static override strict = false
  static override examples = ['<%= config.bin %> <%= command.id %> db@before-migration', '<%= config.bin %> <%= command.id %> db@a db@b']
  static override args = {snapshot: Args.string({description: 'Snapshots, as VOLUME@SNAPSHOT', required: true})}
  static override flags = {'dry-run': CbsCommand.dryRunFlag}

  async run(): Promise<Snapshot[]> {
    const {argv, flags} = await this.parse(VolumeSnapshotRm)
    const removed = await removeSnapshots(this.context(flags), argv as string[])
    if (!flags['dry-run']) for (const snapshot of removed) this.log(snapshot.name)
    return removed
  }
}
