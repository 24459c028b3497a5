import {Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {invalid} from '../../lib/common/errors.js'
import type {Volume} from '../../lib/volumes/volume.js'
import {pruneVolumes} from '../../lib/volumes/prune.js'

export default class VolumePrune extends CbsCommand {
  static override summary = 'Remove the volumes nothing uses: unmounted, unattached and without snapshots.'
  static override description = [
    'As `docker volume prune`: it lists the volumes about to go and asks for confirmation (y/N) on a terminal; -f (--force) does not ask. Without a terminal and without --force it refuses (exit 2) rather than guess: a script says --force.',
    '--all removes every volume that is not in use instead: mounted ones and attached ones that no process or container uses, with their snapshots. Volumes in use, in error or being worked on are always kept.',
  ].join('\n\n')
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    {description: 'In a script', command: '<%= config.bin %> <%= command.id %> --force'},
    {description: 'Every volume that is not in use, and its snapshots', command: '<%= config.bin %> <%= command.id %> --all --force'},
  ]
  static override flags = {
    all: Flags.boolean({char: 'a', summary: 'Remove every volume not in use (mounted or attached, snapshots too), not only unmounted ones.'}),
    force: Flags.boolean({char: 'f', summary: 'Do not ask for confirmation.'}),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<Volume[]> {
    const {flags} = await this.parse(VolumePrune)
    const ask = !flags.force && !flags['dry-run']
    if (ask && !process.stdin.isTTY) throw invalid('volume prune cannot ask for confirmation without a terminal', 'pass --force (-f) to prune without asking')
    const confirmation = async (volumes: Volume[]) => {
      const {confirm} = await import('../../ui/confirm.js')
      const names = volumes.map((volume) => volume.name).join(', ')
      return confirm(`WARNING! This will remove ${volumes.length === 1 ? '1 volume' : `${volumes.length} volumes`}${flags.all ? ' and their snapshots' : ''}: ${names}.\nAre you sure you want to continue?`)
    }
    const removed = await pruneVolumes(this.context(flags), {all: flags.all, confirm: ask ? confirmation : undefined})
    if (!flags['dry-run']) for (const volume of removed) this.log(volume.name)
    return removed
  }
}
