import {Args} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {systemContext} from '../../lib/system/context.js'
import {inspectExisting} from '../../lib/volumes/list.js'
import type {Volume} from '../../lib/volumes/volume.js'

export default class VolumeInspect extends CbsCommand {
  static override summary = 'Show everything known about volumes.'
  static override description = 'Names that do not exist are named on stderr and make it exit 3, after the others are shown (as `docker volume inspect` does).'
  static override aliases = ['volume:show']
  static override strict = false
  static override examples = ['<%= config.bin %> <%= command.id %> db', '<%= config.bin %> <%= command.id %> db cache --json']
  static override args = {name: Args.string({description: 'Volume names', required: true})}

  async run(): Promise<Volume[]> {
    const {argv} = await this.parse(VolumeInspect)
    const {volumes, missing} = inspectExisting(systemContext(), argv as string[])
    if (missing && volumes.length === 0) throw missing
    if (!this.jsonEnabled()) {
      const [{volumeDetails}, {styleFor}] = await Promise.all([import('../../ui/volume-output.js'), import('../../ui/style.js')])
      this.log(volumes.map((volume) => volumeDetails(volume, styleFor())).join('\n\n'))
    }
    // As docker does: what exists is printed, and the names that do not make it fail.
    if (missing) {
      this.logToStderr(`${this.config.bin}: ${missing.message}`)
      process.exitCode = missing.exitCode
    }
    return volumes
  }
}
