import {Args, Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {inspectExisting} from '../../lib/volumes/list.js'
import {type Volume, VOLUME_FIELDS} from '../../lib/volumes/volume.js'
import {parseTemplate, renderTemplate} from '../../ui/go-template.js'

export default class VolumeInspect extends CbsCommand {
  static override summary = 'Show everything known about volumes.'
  static override description =
    'Names that do not exist are named on stderr and make it exit 3, after the others are shown (as `docker volume inspect` does). Attachments are what the container runtimes confirm now. --format prints each volume with a Go template, as `docker volume inspect --format` does: {{.Mountpoint}}, {{json .Labels}}, {{.Upper.Mountpoint}}; the fields are the keys of the --json objects, in any case.'
  static override aliases = ['volume:show']
  static override strict = false
  static override examples = [
    '<%= config.bin %> <%= command.id %> db',
    '<%= config.bin %> <%= command.id %> db cache --json',
    {description: 'The mountpoint only', command: `<%= config.bin %> <%= command.id %> db --format '{{.Mountpoint}}'`},
  ]
  static override args = {name: Args.string({description: 'Volume names', required: true})}
  static override flags = {
    format: Flags.string({summary: 'Print each volume with a Go template, e.g. \'{{.Mountpoint}}\' or \'{{json .Labels}}\'.', helpValue: 'TEMPLATE'}),
  }

  async run(): Promise<Volume[]> {
    const {argv, flags} = await this.parse(VolumeInspect)
    // A typing error in the template shows before any work.
    const template = flags.format === undefined ? undefined : parseTemplate(flags.format, VOLUME_FIELDS)
    const {volumes, missing} = await inspectExisting(this.context(flags), argv as string[])
    if (missing && volumes.length === 0) throw missing
    if (!this.jsonEnabled() && template) this.log(renderTemplate(template, volumes))
    else if (!this.jsonEnabled()) {
      const [{volumeDetails}, {styleFor}] = await Promise.all([import('../../ui/volume-output.js'), import('../../ui/style.js')])
      this.log(volumes.map((volume) => volumeDetails(volume, styleFor())).join('\n\n'))
    }
    // As docker does: what exists is printed, and the names that do not make it fail.
    if (missing) {
      this.toStderr(`${this.config.bin}: ${missing.message}`)
      process.exitCode = missing.exitCode
    }
    return volumes
  }
}
