import {Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {parseFilter} from '../../lib/input/filters.js'
import {listVolumes} from '../../lib/volumes/list.js'
import {type Volume, VOLUME_FIELDS, VOLUME_FILTERS} from '../../lib/volumes/volume.js'
import {checkFormat, listingText} from '../../ui/listing.js'

export default class VolumeLs extends CbsCommand {
  static override summary = 'List volumes, with their status as the system reports it now.'
  static override aliases = ['volume:list']
  static override description =
    'ATTACHED names the container runtimes that confirm an attachment now (the named volume, or a container cbs started, still exists there); a runtime that does not answer confirms nothing. --format takes the Go-template subset docker users type: {{.Name}}, {{.Mountpoint}}, {{json .}}, "table {{.Name}}\\t{{.Status}}"; the fields are the keys of the --json objects, in any case.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    {description: 'Names of mounted volumes only', command: '<%= config.bin %> <%= command.id %> -q --filter status=mounted'},
    {description: 'Volumes labelled env=prod', command: '<%= config.bin %> <%= command.id %> --filter label=env=prod'},
    {description: 'Name and mountpoint, tab-separated', command: `<%= config.bin %> <%= command.id %> --format '{{.Name}}\\t{{.Mountpoint}}'`},
  ]
  static override flags = {
    quiet: Flags.boolean({char: 'q', summary: 'Print volume names only, one a line.'}),
    filter: Flags.string({
      char: 'f',
      summary: 'Show only volumes that match: label=KEY[=VALUE], status=mounted|unmounted|error, fs=FS, type=TYPE, name=PART (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
      helpValue: 'KEY=VALUE',
    }),
    format: Flags.string({summary: 'Print each volume with a Go template, e.g. \'{{.Name}} {{.Status}}\' or \'table {{.Name}}\\t{{.Mountpoint}}\'.', helpValue: 'TEMPLATE'}),
  }

  async run(): Promise<Volume[]> {
    const {flags} = await this.parse(VolumeLs)
    const filters = (flags.filter ?? []).map((text) => parseFilter(text, VOLUME_FILTERS))
    const listing = {quiet: flags.quiet, format: flags.format, fields: VOLUME_FIELDS}
    checkFormat(listing)
    const volumes = await listVolumes(this.context(flags), filters)
    if (this.jsonEnabled() && !flags.quiet) return volumes
    const table = async () => {
      const [{volumeTable}, {styleFor}] = await Promise.all([import('../../ui/volume-output.js'), import('../../ui/style.js')])
      return volumeTable(volumes, styleFor())
    }
    const text = await listingText(volumes, {...listing, table})
    if (text !== undefined) this.log(text)
    return volumes
  }
}
