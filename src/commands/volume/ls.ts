import {Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {systemContext} from '../../lib/system/context.js'
import {parseFilter} from '../../lib/volumes/filters.js'
import {listVolumes} from '../../lib/volumes/list.js'
import type {Volume} from '../../lib/volumes/volume.js'

export default class VolumeLs extends CbsCommand {
  static override summary = 'List volumes, with their status as the system reports it now.'
  static override aliases = ['volume:list']
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    {description: 'Names of mounted volumes only', command: '<%= config.bin %> <%= command.id %> -q --filter status=mounted'},
    {description: 'Volumes labelled env=prod', command: '<%= config.bin %> <%= command.id %> --filter label=env=prod'},
  ]
  static override flags = {
    quiet: Flags.boolean({char: 'q', summary: 'Print volume names only, one a line.'}),
    filter: Flags.string({
      char: 'f',
      summary: 'Show only volumes that match: label=KEY[=VALUE], status=mounted|unmounted|error, fs=FS, type=TYPE, name=NAME (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
      helpValue: 'KEY=VALUE',
    }),
  }

  async run(): Promise<Volume[]> {
    const {flags} = await this.parse(VolumeLs)
    const volumes = listVolumes(systemContext(), (flags.filter ?? []).map(parseFilter))
    if (flags.quiet) {
      for (const volume of volumes) this.log(volume.name)
    } else if (!this.jsonEnabled()) {
      const [{volumeTable}, {styleFor}] = await Promise.all([import('../../ui/volume-output.js'), import('../../ui/style.js')])
      this.log(volumeTable(volumes, styleFor()))
    }
    return volumes
  }
}
