import {Args, Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {invalid} from '../../lib/common/errors.js'
import {attachToContainer} from '../../lib/runtimes/live-attach.js'
import {RUNTIMES} from '../../lib/runtimes/runtimes.js'
import {attachVolume} from '../../lib/runtimes/attach.js'
import {inspectVolumes} from '../../lib/volumes/list.js'
import type {Volume} from '../../lib/volumes/volume.js'
import {printable} from '../../ui/printable.js'

export default class VolumeAttach extends CbsCommand {
  static override summary = 'Hand a volume to a container runtime (docker, nerdctl, podman), mounting it first if needed.'
  static override description = [
    'docker and podman get a named volume of the same name (local driver, bound to the mountpoint, labelled cbs.managed=true): `docker run -v NAME:/path` then writes into the size-limited volume. Removing that named volume never removes the data.',
    'nerdctl cannot create such a volume (nerdctl#694): cbs prints the --mount flag to pass instead; append ",target=PATH".',
    'With --target and the run arguments after "--", cbs runs `RUNTIME run --mount type=bind,source=MOUNTPOINT,target=PATH ARGS...` itself and records the container; like `docker run`, cbs then exits with the container\'s own exit status (and --json still carries the container id).',
    'With --container and --target, cbs mounts the volume into a container that already runs, without restarting it: it clones its own mount of the volume into the container\'s mount namespace (no device node), then checks the container\'s mountinfo. --target is an absolute path other than "/"; symlinks on it resolve inside the container, never into its /proc or /sys. `cbs volume detach --container` undoes it.',
    'The runtime is --runtime, else $CBS_RUNTIME, else the first of docker, nerdctl, podman whose daemon answers.',
  ].join('\n\n')
  static override strict = false
  static override examples = [
    {description: 'Then `docker run -v db:/var/lib/postgresql/data postgres`', command: '<%= config.bin %> <%= command.id %> db --runtime docker'},
    {description: 'nerdctl: use the printed flag', command: 'nerdctl run "$(<%= config.bin %> <%= command.id %> db --runtime nerdctl),target=/data" IMAGE'},
    {description: 'Start a container with the volume at /data', command: '<%= config.bin %> <%= command.id %> db --runtime podman --target /data -- -d --name web IMAGE'},
    {description: 'Mount it into a running container', command: '<%= config.bin %> <%= command.id %> db --container web --target /data'},
  ]
  static override args = {name: Args.string({description: 'Volume name', required: true})}
  static override flags = {
    runtime: Flags.string({char: 'r', summary: 'Container runtime (default: $CBS_RUNTIME, else the first that answers).', options: [...RUNTIMES]}),
    target: Flags.string({char: 't', summary: 'Run a container with the volume bound at this path; its run arguments follow "--".', helpValue: 'PATH'}),
    container: Flags.string({char: 'c', summary: 'Mount the volume at --target in this running container instead.', helpValue: 'NAME_OR_ID', dependsOn: ['target']}),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<Array<Volume & {container: string | null}>> {
    const {args, argv, flags} = await this.parse(VolumeAttach)
    const separator = this.argv.indexOf('--')
    const runArgs = separator < 0 ? [] : this.argv.slice(separator + 1)
    if (argv.length > 1 + runArgs.length) throw invalid(`unexpected arguments: ${argv.slice(1).join(' ')}`, 'put the run arguments after "--", with --target')
    const ctx = this.context(flags)
    if (flags.container !== undefined && runArgs.length > 0) throw invalid('--container takes no run arguments', 'drop everything after "--"')
    const result =
      flags.container === undefined
        ? await attachVolume(ctx, {name: args.name, runtime: flags.runtime, target: flags.target, runArgs, interactive: !this.jsonEnabled()})
        : await attachToContainer(ctx, {name: args.name, runtime: flags.runtime, container: flags.container, target: flags.target!})
    if (!flags['dry-run'] && result.container === null) this.log(printable(result.name ?? `--mount=${result.mount}`))
    // As `docker run`: the container's own exit status (the runtime has said why, or it is in runtimeError).
    if (result.exitStatus) {
      if (result.runtimeError && !this.jsonEnabled()) this.logToStderr(printable(result.runtimeError))
      process.exitCode = result.exitStatus
    }
    const run = result.exitStatus === undefined ? {} : {exitStatus: result.exitStatus, ...(result.runtimeError ? {runtimeError: result.runtimeError} : {})}
    return (await inspectVolumes(ctx, [result.volume])).map((volume) => ({...volume, container: result.container, ...run}))
  }
}
