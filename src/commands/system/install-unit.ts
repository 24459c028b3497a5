import {Flags} from '@oclif/core'
import {realpathSync} from 'node:fs'
import {join} from 'node:path'
import {CbsCommand} from '../../base-command.js'
import {rootFromEnvironment} from '../../lib/store/layout.js'
import {DEFAULT_UNIT_DIR, type InstalledUnit, installUnit, UNIT_NAME, unitText} from '../../lib/system/systemd-unit.js'

export default class SystemInstallUnit extends CbsCommand {
  static override summary = `Install a systemd unit (${UNIT_NAME}) that mounts every volume at boot, before docker.`
  static override description = `The unit runs \`cbs volume mount --all\` at boot, before docker.service, containerd and podman start, and \`cbs volume unmount --all\` at shutdown; it also finishes what a crash left half done. It is written to $CBS_SYSTEMD_DIR (default ${DEFAULT_UNIT_DIR}) and enabled with links in its *.wants/ folders, as \`systemctl enable\` does; a running systemd is told to reload.`
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    {description: 'Only show the unit', command: '<%= config.bin %> <%= command.id %> --print'},
  ]
  static override flags = {
    print: Flags.boolean({summary: 'Write the unit to stdout and install nothing.'}),
    dir: Flags.string({summary: 'Folder to install the unit into.', env: 'CBS_SYSTEMD_DIR', default: DEFAULT_UNIT_DIR, helpValue: 'DIR'}),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<InstalledUnit | {text: string}> {
    const {flags} = await this.parse(SystemInstallUnit)
    const options = {node: process.execPath, script: realpathSync(join(this.config.root, 'bin', 'run.js')), root: rootFromEnvironment()}
    if (flags.print) {
      const text = unitText(options)
      if (!this.jsonEnabled()) process.stdout.write(text)
      return {text}
    }
    const installed = await installUnit(this.context(flags), flags.dir, options)
    if (!flags['dry-run'] && !this.jsonEnabled()) this.log(installed.unit)
    return installed
  }
}
