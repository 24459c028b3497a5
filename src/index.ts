/**
 * The bundle's entry: every command, for oclif's "explicit" command discovery, and `run` for
 * bin/run.js. One bundle loads in a fraction of the time of hundreds of separate modules.
 */
import {execute, type Interfaces} from '@oclif/core'
import {fileURLToPath} from 'node:url'
import pjson from '../package.json' with {type: 'json'}
import {AutocompleteCreate, AutocompleteIndex, AutocompleteScript} from './autocomplete.js'
import CsiServe from './commands/csi/serve.js'
import Doctor from './commands/doctor.js'
import PluginInstall from './commands/plugin/install.js'
import PluginServe from './commands/plugin/serve.js'
import SystemInstallUnit from './commands/system/install-unit.js'
import VolumeAttach from './commands/volume/attach.js'
import VolumeCreate from './commands/volume/create.js'
import VolumeDetach from './commands/volume/detach.js'
import VolumeExport from './commands/volume/export.js'
import VolumeImport from './commands/volume/import.js'
import VolumeInspect from './commands/volume/inspect.js'
import VolumeLs from './commands/volume/ls.js'
import VolumeMount from './commands/volume/mount.js'
import VolumePrune from './commands/volume/prune.js'
import VolumeResize from './commands/volume/resize.js'
import VolumeRm from './commands/volume/rm.js'
import VolumeSnapshotCreate from './commands/volume/snapshot/create.js'
import VolumeSnapshotLs from './commands/volume/snapshot/ls.js'
import VolumeSnapshotRestore from './commands/volume/snapshot/restore.js'
import VolumeSnapshotRm from './commands/volume/snapshot/rm.js'
import VolumeUnmount from './commands/volume/unmount.js'

export {commandNotFound} from './hooks/command-not-found.js'

export const COMMANDS = {
  autocomplete: AutocompleteIndex,
  'autocomplete:create': AutocompleteCreate,
  'autocomplete:script': AutocompleteScript,
  'csi:serve': CsiServe,
  doctor: Doctor,
  'plugin:install': PluginInstall,
  'plugin:serve': PluginServe,
  'system:install-unit': SystemInstallUnit,
  'volume:attach': VolumeAttach,
  'volume:create': VolumeCreate,
  'volume:detach': VolumeDetach,
  'volume:export': VolumeExport,
  'volume:import': VolumeImport,
  'volume:inspect': VolumeInspect,
  'volume:ls': VolumeLs,
  'volume:mount': VolumeMount,
  'volume:prune': VolumePrune,
  'volume:resize': VolumeResize,
  'volume:rm': VolumeRm,
  'volume:snapshot:create': VolumeSnapshotCreate,
  'volume:snapshot:ls': VolumeSnapshotLs,
  'volume:snapshot:restore': VolumeSnapshotRestore,
  'volume:snapshot:rm': VolumeSnapshotRm,
  'volume:unmount': VolumeUnmount,
}

export async function run(): Promise<void> {
  // Told where cbs is, and that it has no user plugins, oclif looks for neither on the disk.
  const root = fileURLToPath(new URL('..', import.meta.url))
  await execute({loadOptions: {root, pjson: pjson as unknown as Interfaces.PJSON, userPlugins: false}})
}
