import {Args} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {systemContext} from '../../lib/system/context.js'
import {inspectVolumes} from '../../lib/volumes/list.js'
import type {Volume} from '../../lib/volumes/volume.js'

export default class VolumeInspect extends CbsCommand {
  static override summary = 'Show everything known about volumes.'
  static override aliases = ['volume:show']
  static override strict = false
  static override examples = ['<%= config.bin %> <%= command.id %> db', '<%= config.bin %> <%= command.id %> db cache --json']
  static override args = {name: Args.string({description: 'Volume names', required: true})}

  async run(): Promise<Volume[]> {
    const {argv} = await this.parse(VolumeInspect)
    const volumes = inspectVolumes(systemContext(), argv as string[])
    if (!this.jsonEnabled()) {
      const [{volumeDetails}, {styleFor}] = await Promise.all([import('../../ui/volume-output.js'), import('../../ui/style.js')])
      this.log(volumes.map((volume) => volumeDetails(volume, styleFor())).join('\n\n'))
    }
    return volumes
  }
}
