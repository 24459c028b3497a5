import {Args, Flags} from '@oclif/core'
import {CbsCommand} from '../../../base-command.js'
import {systemContext} from '../../../lib/system/context.js'
import {parseFilter} from '../../../lib/input/filters.js'
import {type Snapshot, SNAPSHOT_FIELDS, SNAPSHOT_FILTERS} from '../../../lib/snapshots/snapshot.js'
import {listSnapshots} from '../../../lib/snapshots/list.js'
import {checkFormat, listingText} from '../../../ui/listing.js'

export default class VolumeSnapshotLs extends CbsCommand {
  static override summary = "List snapshots: every volume's, or one volume's."
  static override aliases = ['volume:snapshot:list']
  static override description = [
    'STATUS is ready for a complete snapshot; creating or removing while a cbs process works on it; incomplete when that process was killed (never a usable snapshot: the next volume create, rm, mount, unmount, resize, snapshot create or restore, doctor --fix or snapshot rm clears it); error when its image is missing. ALLOCATED counts blocks shared with the volume by reflink in full.',
    "A snapshot's labels are the volume's labels when it was taken, with its own --label on top (as a ZFS snapshot holds its dataset's user properties). --format takes the same Go templates as `volume ls --format`.",
  ].join('\n\n')
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> db --json',
    {description: 'Names of the snapshots labelled ticket=DB-42', command: '<%= config.bin %> <%= command.id %> -q --filter label=ticket=DB-42'},
  ]
  static override args = {volume: Args.string({description: 'Volume name'})}
  static override flags = {
    quiet: Flags.boolean({char: 'q', summary: 'Print snapshot names (VOLUME@SNAPSHOT) only, one a line.'}),
    filter: Flags.string({
      char: 'f',
      summary: 'Show only snapshots that match: name=PART, volume=NAME, label=KEY[=VALUE], status=ready|creating|removing|incomplete|error, fs=FS (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
      helpValue: 'KEY=VALUE',
    }),
    format: Flags.string({summary: 'Print each snapshot with a Go template, e.g. \'{{.Name}} {{.CreatedAt}}\'.', helpValue: 'TEMPLATE'}),
  }

  async run(): Promise<Snapshot[]> {
    const {args, flags} = await this.parse(VolumeSnapshotLs)
    const filters = (flags.filter ?? []).map((text) => parseFilter(text, SNAPSHOT_FILTERS))
    const listing = {quiet: flags.quiet, format: flags.format, fields: SNAPSHOT_FIELDS}
    checkFormat(listing)
    const snapshots = listSnapshots(systemContext(), args.volume, filters)
    if (this.jsonEnabled() && !flags.quiet) return snapshots
    const table = async () => (await import('../../../ui/snapshot-output.js')).snapshotTable(snapshots)
    const text = await listingText(snapshots, {...listing, table})
    if (text !== undefined) this.log(text)
    return snapshots
  }
}
