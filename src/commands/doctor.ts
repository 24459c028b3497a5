import {Flags} from '@oclif/core'
import {CbsCommand} from '../base-command.js'
import {type DoctorReport, runDoctor} from '../lib/doctor/doctor.js'

export default class Doctor extends CbsCommand {
  static override summary = 'Check the host and the volumes; with --fix, repair what is safe.'
  static override description = [
    'Checks root, the kernel features (loop, ext4, xfs, btrfs, overlay, aufs, fsfreeze), the programs cbs runs and their versions, the state file, the free space under $CBS_ROOT, host folder lowers the next mount of their union volume would refuse, and the drift between the store and the system: operations a killed cbs left half done, loop devices, mounts, images and mountpoints under $CBS_ROOT that no volume knows, and volumes whose image is missing. Each finding has a severity (ok, info, warning, error) and the command that fixes it. Exits 0 when healthy (nothing at warning or error), 1 otherwise.',
    '--fix first finishes or rolls back the operations left half done, unmounts and detaches what no volume knows, removes stray empty mountpoints, and rebuilds a damaged state file (not JSON, or not of the shape cbs writes): it keeps the records in it that are sound, records the other images in images/ again, and keeps the bad file aside. It never deletes an image: one that no volume knows is moved to $CBS_ROOT/lost+found/ and reported.',
  ].join('\n\n')
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    {description: 'Repair, then check again', command: '<%= config.bin %> <%= command.id %> --fix'},
    {description: 'For monitoring: findings as JSON, exit 1 when unhealthy', command: '<%= config.bin %> <%= command.id %> --json'},
  ]
  static override flags = {
    fix: Flags.boolean({summary: 'Repair what is safe first, then report.'}),
    'dry-run': CbsCommand.dryRunFlag,
  }

  async run(): Promise<DoctorReport> {
    const {flags} = await this.parse(Doctor)
    const report = await runDoctor(this.context(flags), {fix: flags.fix})
    if (!this.jsonEnabled()) {
      const [{doctorText}, {styleFor}] = await Promise.all([import('../ui/doctor-output.js'), import('../ui/style.js')])
      this.log(doctorText(report, styleFor()))
    }
    if (!report.healthy) process.exitCode = 1
    return report
  }
}
