import {Args} from '@oclif/core'
import {CbsCommand} from '../../../base-command.js'
import {systemContext} from '../../../lib/system/context.js'
import type {Snapshot} from '../../../lib/snapshots/snapshot.js'
import {listSnapshots} from '../../../lib/snapshots/list.js'

export default class VolumeSnapshotLs extends CbsCommand {
  static override summary = "List snapshots: every volume's, or one volume's."
  static override aliases = ['volume:snapshot:list']
  static override description =
    'STATUS is ready for a complete snapshot; creating or removing while a cbs process works on it; incomplete when that process was killed (never a usable snapshot: the next volume create, rm, mount, unmount, resize, snapshot create or restore, doctor --fix or snapshot rm clears it); error when its image is missing. ALLOCATED counts blocks shared with the volume by reflink in full.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> db --json']
  static override args = {volume: Args.string({description: 'Volume name'})}

  async run(): Promise<Snapshot[]> {
    const {args} = await this.parse(VolumeSnapshotLs)
    const snapshots = listSnapshots(systemContext(), args.volume)
    if (!this.jsonEnabled()) {
      const {snapshotTable} = await import('../../../ui/snapshot-output.js')
      this.log(snapshotTable(snapshots))
    }
    return snapshots
  }
}
