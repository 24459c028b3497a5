import {basename, dirname, isAbsolute, join, normalize} from 'node:path'
import {invalid} from '../common/errors.js'

export const DEFAULT_ROOT = '/var/lib/cbs'

/** Where everything cbs owns lives, all under one root folder (mode 0700). */
export interface Layout {
  root: string
  stateFile: string
  lockFile: string
  /** Space held back for writing the state on a full host disk: see reserve.ts. */
  reserveFile: string
  imagesDir: string
  mountsDir: string
  snapshotsDir: string
  /** Where `cbs doctor --fix` puts image files that no volume knows, instead of deleting them. */
  lostFoundDir: string
  image(volume: string): string
  mountpoint(volume: string): string
  uppersDir: string
  /** Union volumes: where the upper volume (upper and work folders) is mounted. */
  upperMount(volume: string): string
  lowersDir: string
  /** Where a snapshot used as a lower layer is mounted read-only, shared by its union volumes. */
  lowerMount(ref: string): string
  lowersLockFile: string
  /** snapshots/VOLUME: the snapshots of one volume. */
  snapshotDir(volume: string): string
  snapshotImage(volume: string, snapshot: string): string
  exportsDir: string
  /** Where `volume export --format tar` mounts the snapshot it reads (read-only), for as long as it runs. */
  exportMount(ref: string): string
  importsDir: string
  /** Where `volume import --format tar` mounts the partial image it fills. */
  importMount(volume: string): string
}

export function layoutOf(root: string): Layout {
  return {
    root,
    stateFile: join(root, 'state.json'),
    lockFile: join(root, 'state.lock'),
    reserveFile: join(root, 'state.reserve'),
    imagesDir: join(root, 'images'),
    mountsDir: join(root, 'mounts'),
    snapshotsDir: join(root, 'snapshots'),
    lostFoundDir: join(root, 'lost+found'),
    image: (volume) => join(root, 'images', `${fileName(volume)}.img`),
    mountpoint: (volume) => join(root, 'mounts', fileName(volume)),
    uppersDir: join(root, 'uppers'),
    upperMount: (volume) => join(root, 'uppers', fileName(volume)),
    lowersDir: join(root, 'lowers'),
    lowerMount: (ref) => join(root, 'lowers', fileName(ref)),
    lowersLockFile: join(root, 'lowers.lock'),
    snapshotDir: (volume) => join(root, 'snapshots', fileName(volume)),
    snapshotImage: (volume, snapshot) => join(root, 'snapshots', fileName(volume), `${fileName(snapshot)}.img`),
    exportsDir: join(root, 'exports'),
    exportMount: (ref) => join(root, 'exports', fileName(ref)),
    importsDir: join(root, 'imports'),
    importMount: (volume) => join(root, 'imports', fileName(volume)),
  }
}

/**
 * A name as one file name in a folder under the root. Names are checked long before (names.ts,
 * state-check.ts); this is the last guard: a name that would lead elsewhere is refused, never joined.
 */
export function fileName(name: string): string {
  if (name === '' || name === '.' || name === '..' || /[/\0]/.test(name)) {
    throw invalid(`${JSON.stringify(name)} cannot name a file under the cbs root`, 'use a name of letters, digits, "_", "." or "-"')
  }
  return name
}

/**
 * Where an image is written before it is complete: `.NAME.img.partial` next to it. Names never
 * start with ".", so a partial file is never taken for an image; it is renamed into place once
 * it is whole.
 */
export function partialPath(file: string): string {
  return join(dirname(file), `.${basename(file)}.partial`)
}

export function rootFromEnvironment(env: NodeJS.ProcessEnv = process.env): string {
  const root = env.CBS_ROOT || DEFAULT_ROOT
  if (!isAbsolute(root)) throw invalid(`CBS_ROOT must be an absolute path, not "${root}"`)
  return normalize(root).replace(/(.)\/$/, '$1')
}
