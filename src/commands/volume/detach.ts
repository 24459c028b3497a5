import {Args, Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {detachFromContainer} from '../../lib/runtimes/live-attach.js'
import {RUNTIMES} from '../../lib/runtimes/runtimes.js'
import {detachVolume} from '../../lib/runtimes/attach.js'
import {inspectVolumes} from '../../lib/volumes/list.js'
import type {Volume} from '../../lib/volumes/volume.js'

export default class VolumeDetach extends CbsCommand {
  static override summary = 'Remove what `cbs volume attach` registered with container runtimes; the data stays.'
  static override description = 'Refused with exit 4 while a container that exists (running or stopped) uses the volume; the message names the containers.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> db',
    '<%= config.bin %> <%= command.id %> db --runtime podman',
    {description: 'Unmount it from a running container (after attach --container)', command: '<%= config.bin %> <%= command.id %> db --container web'},
  ]
  static override args = {name: Args.string({description: 'Volume name', required: true})}
  static override flags = {
    runtime: Flags.string({char: 'r', summary: 'Detach from this runtime only (default: every runtime it is attached to).', options: [...RUNTIMES]}),
    container: Flags.string({char: 'c', summary: 'Only unmount it from this container (see attach --container).', helpValue: 'NAME_OR_ID'}),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<Volume[]> {
    const {args, flags} = await this.parse(VolumeDetach)
    const request = {name: args.name, runtime: flags.runtime}
    const ctx = this.context(flags)
    const result = flags.container === undefined ? await detachVolume(ctx, request) : await detachFromContainer(ctx, {...request, container: flags.container})
    if (!flags['dry-run']) for (const runtime of result.detached) this.log(runtime)
    return inspectVolumes(ctx, [result.volume])
  }
}
