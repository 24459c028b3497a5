import {basename, join} from 'node:path'
import type {HostView} from '../system/host-view.js'
import type {MountEntry} from '../system/mountinfo.js'
import {type Layout, partialPath} from '../store/layout.js'
import type {PendingOperation, State, VolumeRecord} from '../store/state.js'
import {formatSnapshotRef} from '../snapshots/snapshot.js'

export type Severity = 'ok' | 'info' | 'warning' | 'error'

/** One thing `cbs doctor` found; anything at warning or above makes the host unhealthy. */
export interface Finding {
  check: 'root' | 'kernel' | 'tools' | 'state' | 'space' | 'volumes'
  severity: Severity
  message: string
  /** The command that fixes it (`cbs doctor --fix` for what doctor repairs itself). */
  fix?: string
}

/** What `cbs doctor --fix` does about a finding; each is checked again for safety when applied. */
export type Repair =
  | {kind: 'rebuild-state'}
  | {kind: 'recover'}
  | {kind: 'unmount'; path: string}
  /** Copies the data of a deleted image out of its loop device into lost+found, then detaches. */
  | {kind: 'rescue'; device: string; file: string}
  | {kind: 'detach'; device: string}
  | {kind: 'lost+found'; file: string}
  | {kind: 'rmdir'; dir: string}
  /** Lock debris an older cbs left under the root (see strayLockFiles). */
  | {kind: 'remove-lock'; file: string}

export interface Problem {
  finding: Finding
  repair?: Repair
}

/** What doctor read of the system, folders first and the state last (see findDrift). */
export interface Observed {
  view: HostView
  /** Names in images/, mounts/ and lost+found/; paths of the snapshot images there are. */
  images: string[]
  snapshotImages: string[]
  mountDirs: string[]
  lostFound: string[]
  state: State
}

export const DOCTOR_FIX = 'cbs doctor --fix'

/**
 * Differences between the store and the system: operations left half done, volumes whose image
 * is gone, and loop devices, mounts, images and mountpoints under $CBS_ROOT that no volume
 * knows. The folders and the system must be read before the state: a volume's record is written
 * before its first file, device or mount, so nothing found then is taken for an orphan wrongly.
 */
export function findDrift(layout: Layout, observed: Observed, isAbandoned: (pending: PendingOperation<string>) => boolean): Problem[] {
  const {view, state} = observed
  const records = Object.values(state.volumes)
  // Every volume has an image at images/NAME.img: a loop volume's filesystem, a union volume's upper layer.
  const byImage = new Map(records.map((record) => [layout.image(record.name), record]))
  const under = (path: string) => path.startsWith(`${layout.root}/`)
  const problems: Problem[] = []
  const report = (severity: Severity, message: string, fix?: string, repair?: Repair) => problems.push({finding: {check: 'volumes', severity, message, fix}, repair})

  for (const record of records.filter((each) => each.pending)) {
    const {operation, pid, error} = record.pending!
    if (isAbandoned(record.pending!)) {
      const last = error ? ` (the last attempt to recover it failed: ${error})` : ''
      report('error', `the ${operation} of volume "${record.name}" was left half done by process ${pid}, which is gone${last}`, DOCTOR_FIX, {kind: 'recover'})
    } else report('info', `volume "${record.name}" is being ${operation}d by process ${pid}`)
  }

  for (const [name, pending] of Object.entries(state.imports ?? {})) {
    if (isAbandoned(pending)) report('error', `the import of volume "${name}" was left half done by process ${pending.pid}, which is gone`, DOCTOR_FIX, {kind: 'recover'})
    else report('info', `volume "${name}" is being imported by process ${pending.pid}`)
  }

  for (const record of records) {
    for (const snapshot of Object.values(record.snapshots ?? {})) {
      const ref = formatSnapshotRef({volume: record.name, snapshot: snapshot.name})
      const image = layout.snapshotImage(record.name, snapshot.name)
      if (snapshot.pending && isAbandoned(snapshot.pending)) {
        const what = {remove: 'removal', snapshot: 'creation', export: 'export'}[snapshot.pending.operation]
        report('error', `the ${what} of snapshot ${ref} was left half done by process ${snapshot.pending.pid}, which is gone`, DOCTOR_FIX, {kind: 'recover'})
      } else if (!snapshot.pending && !observed.snapshotImages.includes(image)) {
        report('error', `snapshot ${ref} has lost its image ${image}`, `forget it: cbs volume snapshot rm ${ref}`)
      }
    }
  }

  for (const record of records.filter((each) => !each.pending)) {
    if (observed.images.includes(basename(layout.image(record.name)))) continue
    const moved = observed.lostFound.find((file) => file.startsWith(basename(layout.image(record.name))))
    const fix = moved
      ? `mv ${join(layout.lostFoundDir, moved)} ${layout.image(record.name)}`
      : `restore ${layout.image(record.name)} from a backup, or forget the volume: cbs volume rm ${record.name}`
    report('error', `volume "${record.name}" has lost its backing file ${layout.image(record.name)}`, fix)
  }

  // After a reboot without the boot unit, every volume is down and nothing else looks wrong.
  for (const record of records.filter((each) => !each.pending && each.meantToBeMounted !== false)) {
    const image = layout.image(record.name)
    // A loop volume attached but not mounted is reported below; a union volume is up only with its union.
    const up = view.mountAt(layout.mountpoint(record.name)) || (record.type === 'loop' && view.deviceOf(image))
    if (up || !observed.images.includes(basename(image))) continue
    report('warning', `volume "${record.name}" is meant to be mounted but is not`, `cbs volume mount ${record.name} (every such volume: cbs volume mount --all; to keep it down: cbs volume unmount ${record.name})`)
  }

  for (const mount of view.mounts) {
    if (!under(mount.mountpoint) || isKnownMount(layout, view, records, mount)) continue
    report('warning', `${mount.source} is mounted on ${mount.mountpoint}, which no volume knows`, `umount ${mount.mountpoint}`, {kind: 'unmount', path: mount.mountpoint})
  }

  const snapshotImages = new Set(records.flatMap((record) => Object.keys(record.snapshots ?? {}).map((snapshot) => layout.snapshotImage(record.name, snapshot))))
  for (const loop of view.loops.filter((each) => under(each.backingFile))) {
    const record = byImage.get(loop.backingFile)
    const detach = `losetup --detach ${loop.device}`
    const unused = view.mountsOf(loop.device).length === 0
    if (snapshotImages.has(loop.backingFile)) {
      if (unused) report('warning', `snapshot image ${loop.backingFile} is attached to ${loop.device} but not mounted`, detach, {kind: 'detach', device: loop.device})
    } else if (!record) report('warning', `${loop.device} is attached to ${loop.backingFile}, which no volume knows`, detach, {kind: 'detach', device: loop.device})
    else if (!record.pending && unused) {
      report('warning', `volume "${record.name}" is attached to ${loop.device} but not mounted`, `cbs volume mount ${record.name} (or ${detach})`, {kind: 'detach', device: loop.device})
    }
  }
  for (const loop of view.deletedLoops.filter((each) => under(each.backingFile))) {
    const copy = join(layout.lostFoundDir, basename(loop.backingFile))
    report('error', `${loop.device} still holds the data of ${loop.backingFile}, which was deleted while attached`, `cp --sparse=always ${loop.device} ${copy} && losetup --detach ${loop.device}`, {
      kind: 'rescue',
      device: loop.device,
      file: loop.backingFile,
    })
  }

  // A clone, a restore or an import copies into the partial file next to the image, then renames it.
  const partials = new Set([...byImage.keys(), ...Object.keys(state.imports ?? {}).map(layout.image)].map(partialPath))
  for (const file of observed.images.map((name) => join(layout.imagesDir, name))) {
    if (byImage.has(file) || partials.has(file)) continue
    report('warning', `${file} belongs to no volume`, `${DOCTOR_FIX} (moves it to ${layout.lostFoundDir}/)`, {kind: 'lost+found', file})
  }

  for (const dir of observed.mountDirs.map((name) => join(layout.mountsDir, name))) {
    if (records.some((record) => layout.mountpoint(record.name) === dir) || view.mountAt(dir)) continue
    report('warning', `${dir} is the mountpoint of no volume`, `chattr -i ${dir} && rmdir ${dir}`, {kind: 'rmdir', dir})
  }

  if (observed.lostFound.length > 0) {
    report('info', `${layout.lostFoundDir} holds ${observed.lostFound.join(', ')}, moved there by ${DOCTOR_FIX}`, 'look at them, then delete them once sure')
  }
  return problems
}

/**
 * A volume's own mount (a union volume: the union, and its upper volume under uppers/), a
 * snapshot mounted read-only under lowers/ for union volumes, or anything mounted inside a
 * volume (that is its user's business).
 */
function isKnownMount(layout: Layout, view: HostView, records: VolumeRecord[], mount: MountEntry): boolean {
  const from = (image: string) => mount.source === view.deviceOf(image)
  return records.some((record) => {
    const dir = layout.mountpoint(record.name)
    if (mount.mountpoint.startsWith(`${dir}/`)) return true
    if (mount.mountpoint === dir) return record.type === 'loop' ? from(layout.image(record.name)) : mount.fstype === record.type
    if (mount.mountpoint === layout.upperMount(record.name)) return record.type !== 'loop' && from(layout.image(record.name))
    return Object.keys(record.snapshots ?? {}).some(
      (snapshot) => mount.mountpoint === layout.lowerMount(formatSnapshotRef({volume: record.name, snapshot})) && from(layout.snapshotImage(record.name, snapshot)),
    )
  })
}
