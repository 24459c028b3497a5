import {Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {DEFAULT_CONTAINERS_CONF, registerVolumePlugin, volumePluginEntry} from '../../lib/runtimes/containers-conf.js'
import {bootCommand, DEFAULT_PLUGIN_SOCKET, DEFAULT_UNIT_DIR, describeBootCommand, type InstallReport, installUnits, pluginUnits, unitOptions} from '../../lib/system/systemd-unit.js'
import {printable} from '../../ui/printable.js'

export default class PluginInstall extends CbsCommand {
  static override summary = 'Set up the volume plugin: systemd units for `cbs plugin serve`, and podman\'s containers.conf entry.'
  static override description = `Writes cbs-plugin.service and cbs-plugin.socket to $CBS_SYSTEMD_DIR (default ${DEFAULT_UNIT_DIR}), enabled, ordered before docker and podman; and adds the plugin to the [engine.volume_plugins] table of podman's containers.conf (the rest of the file stays as it was). dockerd needs no entry: it finds the plugin by its socket's name under /run/docker/plugins.`
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    {description: 'Only show what would be written', command: '<%= config.bin %> <%= command.id %> --print'},
  ]
  static override flags = {
    print: Flags.boolean({summary: 'Write the containers.conf entry and the units to stdout and install nothing.'}),
    socket: Flags.string({summary: 'The socket the plugin listens on.', default: DEFAULT_PLUGIN_SOCKET, helpValue: 'PATH'}),
    name: Flags.string({summary: 'The driver name podman knows the plugin by.', default: 'cbs', helpValue: 'NAME'}),
    'containers-conf': Flags.string({summary: 'Podman\'s containers.conf to add the plugin to.', default: DEFAULT_CONTAINERS_CONF, helpValue: 'FILE'}),
    dir: Flags.string({summary: 'Folder to install the units into.', env: 'CBS_SYSTEMD_DIR', default: DEFAULT_UNIT_DIR, helpValue: 'DIR'}),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<InstallReport & {containersConf: string}> {
    const {flags} = await this.parse(PluginInstall)
    const options = unitOptions(this.config.root)
    const units = pluginUnits(options, flags.socket)
    const text = [`# ${flags['containers-conf']}\n${volumePluginEntry(flags.name, flags.socket)}`, ...units.map((unit) => `# ${flags.dir}/${unit.name}\n${unit.text}`)].join('\n')
    const about = {command: bootCommand(options), text, containersConf: flags['containers-conf']}
    if (flags.print) {
      if (!this.jsonEnabled()) process.stdout.write(text)
      return {units: [], reloaded: false, ...about}
    }
    const ctx = this.context(flags)
    await registerVolumePlugin(ctx, flags['containers-conf'], flags.name, flags.socket)
    const installed = await installUnits(ctx, flags.dir, units)
    if (!flags['dry-run'] && !this.jsonEnabled()) {
      for (const path of [flags['containers-conf'], ...installed.units.map(({unit}) => unit)]) this.log(printable(path))
      this.logToStderr(describeBootCommand(options))
    }
    return {...installed, ...about}
  }
}
