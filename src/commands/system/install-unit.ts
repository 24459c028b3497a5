import {Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {bootCommand, DEFAULT_PLUGIN_SOCKET, DEFAULT_UNIT_DIR, describeBootCommand, type InstallReport, installUnits, pluginUnits, UNIT_NAME, unitOptions, volumesUnit} from '../../lib/system/systemd-unit.js'
import {printable} from '../../ui/printable.js'

export default class SystemInstallUnit extends CbsCommand {
  static override summary = `Install the systemd units: ${UNIT_NAME} mounts the volumes at boot, before docker; cbs-plugin serves docker and podman.`
  static override description = `${UNIT_NAME} runs \`cbs volume mount --all\` at boot, before docker.service, containerd and podman start, and \`cbs volume unmount --all\` at shutdown (which keeps each volume's "meant to be mounted" record); it also finishes what a crash left half done. cbs-plugin.service runs \`cbs plugin serve\` on ${DEFAULT_PLUGIN_SOCKET}, with cbs-plugin.socket holding that socket from early boot. They are written to $CBS_SYSTEMD_DIR (default ${DEFAULT_UNIT_DIR}) and enabled with links in their *.wants/ folders, as \`systemctl enable\` does; a running systemd is told to reload. They run node and the bin/run.js of the cbs that installs them, by absolute path (boot has no PATH worth trusting), and it says which on stderr: a checkout linked with \`npm link\` works, as long as it stays where it is, and built.`
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    {description: 'Only show the units', command: '<%= config.bin %> <%= command.id %> --print'},
  ]
  static override flags = {
    print: Flags.boolean({summary: 'Write the units to stdout and install nothing.'}),
    dir: Flags.string({summary: 'Folder to install the units into.', env: 'CBS_SYSTEMD_DIR', default: DEFAULT_UNIT_DIR, helpValue: 'DIR'}),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<InstallReport> {
    const {flags} = await this.parse(SystemInstallUnit)
    const options = unitOptions(this.config.root)
    const files = [volumesUnit(options), ...pluginUnits(options, DEFAULT_PLUGIN_SOCKET)]
    const about = {command: bootCommand(options), text: files.map((file) => file.text).join('\n')}
    if (flags.print) {
      if (!this.jsonEnabled()) process.stdout.write(about.text)
      return {units: [], reloaded: false, ...about}
    }
    const installed = await installUnits(this.context(flags), flags.dir, files)
    if (!flags['dry-run'] && !this.jsonEnabled()) {
      for (const {unit} of installed.units) this.log(printable(unit))
      this.logToStderr(describeBootCommand(options))
    }
    return {...installed, ...about}
  }
}

