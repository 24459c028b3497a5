import {renameSync, unlinkSync} from 'node:fs'
import {basename, join} from 'node:path'
import type {Context} from '../system/context.js'
import {PACKAGE_OF, describeFailure} from '../system/failure.js'
import {DOCTOR_FIX, type Finding, findDrift, type Problem, type Repair} from './drift.js'
import {HostView} from '../system/host-view.js'
import {isAbandoned} from '../store/intent.js'
import {type Availability, type KernelFeature, kernelFeatures} from '../system/kernel-features.js'
import {detach, ensureDirectory, removeMountpoint} from '../images/loop-volume.js'
import {type Recovery, recoverInterrupted} from '../recovery/recovery.js'
import {formatSize} from '../input/sizes.js'
import {rebuildState} from './state-rebuild.js'
import {attachmentFindings, dropStaleAttachments} from './attachments.js'
import {folderLowerFindings} from './folder-lowers.js'
import type {State} from '../store/state.js'
import {CorruptState} from '../store/store.js'
import {probeTools, type ToolStatus} from '../system/tools.js'
import {describeUnsafeRoot, ownershipChain, rootIsReadOnly, UnsafeRoot, unsafeFolder} from '../store/root.js'
import {strayLockFiles} from '../store/lock.js'
import {existingAncestor} from '../volumes/capacity.js'

export interface DoctorReport {
  /** No finding at warning or error: `cbs doctor` exits 0. */
  healthy: boolean
  root: string
  findings: Finding[]
  /** What --fix did, one line each (also what it could not do, and why). */
  repaired: string[]
  kernel: Record<KernelFeature, Availability>
  tools: ToolStatus[]
}

/**
 * Checks the host (root, kernel features, tools), the state file, the free space under $CBS_ROOT
 * and the drift between the store and the system. With `fix` it first repairs what is safe:
 * finishes or rolls back operations left half done, unmounts and detaches what no volume knows,
 * moves image files no volume knows to lost+found (it never deletes one), removes stray empty
 * mountpoints, and rebuilds a damaged state file (state-rebuild.ts).
 */
export async function runDoctor(ctx: Context, options: {fix?: boolean} = {}): Promise<DoctorReport> {
  const folder = rootFolderFindings(ctx)
  // Nothing is repaired in a root others can change: they could turn the repairs against the host.
  const safe = !folder.some((finding) => finding.severity === 'error')
  const repaired = options.fix && ctx.host.isRoot() && safe ? await repair(ctx) : []
  const kernel = kernelFeatures(ctx.host.procFilesystems(), ctx.host.kernel())
  const tools = await probeTools(ctx)
  const store = ctx.host.isRoot() ? inspectStore(ctx) : {problems: []}
  const inUse = new Set(Object.values(store.state?.volumes ?? {}).map((record) => record.fs as string))
  const findings = [
    rootFinding(ctx),
    ...folder,
    ...kernelFindings(kernel, inUse),
    ...toolFindings(tools, inUse),
    ...store.problems.map((problem) => problem.finding),
    ...(store.state ? folderLowerFindings(ctx, store.state) : []),
    ...(store.state ? await attachmentFindings(ctx, store.state) : []),
  ]
  return {healthy: findings.every((finding) => finding.severity === 'ok' || finding.severity === 'info'), root: ctx.layout.root, findings, repaired, kernel, tools}
}

function rootFinding(ctx: Context): Finding {
  return ctx.host.isRoot()
    ? {check: 'root', severity: 'ok', message: 'running as root'}
    : {check: 'root', severity: 'error', message: 'not running as root: cbs manages loop devices and mounts, and reads a state file only root may read', fix: 'sudo cbs doctor'}
}

/** Who can change the root folder, and whether it can be written at all (see store/root.ts). */
function rootFolderFindings(ctx: Context): Finding[] {
  const {root} = ctx.layout
  const unsafe = unsafeFolder(ownershipChain(root), process.geteuid?.() ?? 0)
  if (unsafe) {
    const {message, fix} = describeUnsafeRoot(root, unsafe)
    return [{check: 'root', severity: 'error', message, fix}]
  }
  if (rootIsReadOnly(root)) {
    const message = `${root} is on a read-only filesystem: no command can change anything, and volumes cannot be mounted for writing`
    return [{check: 'root', severity: 'error', message, fix: 'remount it read-write (mount -o remount,rw)'}]
  }
  return [{check: 'root', severity: 'ok', message: `${root}: writable, and only root can change it or its parents`}]
}

const REQUIRED_FEATURES: KernelFeature[] = ['loop', 'ext4']

function kernelFindings(kernel: Record<KernelFeature, Availability>, inUse: Set<string>): Finding[] {
  const entries = Object.entries(kernel) as Array<[KernelFeature, Availability]>
  const present = entries.filter(([, availability]) => availability !== 'missing')
  const findings: Finding[] = [
    {check: 'kernel', severity: 'ok', message: present.map(([feature, availability]) => (availability === 'module' ? `${feature} (module)` : feature)).join(', ')},
  ]
  for (const [feature] of entries.filter(([, availability]) => availability === 'missing')) {
    const needed = REQUIRED_FEATURES.includes(feature) || inUse.has(feature)
    const severity = needed ? 'error' : feature === 'fsfreeze' ? 'warning' : 'info'
    const what = feature === 'aufs' ? 'aufs is not available: union volumes use overlay' : `${feature} is not available${needed ? '' : ': volumes that need it cannot be made'}`
    findings.push({check: 'kernel', severity, message: what, fix: feature === 'aufs' ? undefined : `modprobe ${feature} (or a kernel that has it)`})
  }
  return findings
}

function toolFindings(tools: ToolStatus[], inUse: Set<string>): Finding[] {
  const installed = tools.filter((tool) => tool.installed)
  const findings: Finding[] = [{check: 'tools', severity: 'ok', message: installed.map((tool) => `${tool.name} ${tool.version ?? ''}`.trim()).join(', ')}]
  for (const tool of tools.filter((each) => !each.installed)) {
    const severity = tool.need === 'required' || inUse.has(tool.need) ? 'error' : tool.need === 'snapshots' ? 'warning' : 'info'
    const purpose = tool.need === 'runtime' ? 'volumes cannot be handed to it' : tool.need === 'required' ? 'cbs needs it' : `needed for ${tool.need}`
    const pkg = PACKAGE_OF[tool.name]
    findings.push({check: 'tools', severity, message: `${tool.name} is not installed: ${purpose}`, fix: pkg ? `apt-get install ${pkg}` : undefined})
  }
  return findings
}

/** The state, the free space and the drift (only the state's problem when it cannot be read). */
function inspectStore(ctx: Context): {problems: Problem[]; state?: State} {
  const {layout, host} = ctx
  // Folders and the system first, the state last: see findDrift.
  const view = HostView.read(host)
  const observed = {
    view,
    images: host.listDirectory(layout.imagesDir),
    mountDirs: host.listDirectory(layout.mountsDir),
    lostFound: host.listDirectory(layout.lostFoundDir),
    snapshotImages: host
      .listDirectory(layout.snapshotsDir)
      .flatMap((volume) => host.listDirectory(layout.snapshotDir(volume)).map((file) => join(layout.snapshotDir(volume), file))),
  }
  let state: State
  try {
    state = ctx.store.read()
  } catch (error) {
    if (error instanceof UnsafeRoot) return {problems: []} // said once, by rootFolderFindings
    if (!(error instanceof CorruptState)) return {problems: [{finding: {check: 'state', severity: 'error', message: describeFailure(error).message}}]}
    const what = error.problem ? `is damaged (${error.problem})` : 'is not valid JSON'
    const message = `${layout.stateFile} ${what}: every command refuses to run`
    return {problems: [{finding: {check: 'state', severity: 'error', message, fix: `${DOCTOR_FIX} (keeps it aside and records the volumes again from images/)`}, repair: {kind: 'rebuild-state'}}]}
  }
  const count = Object.keys(state.volumes).length
  const stateFinding: Finding = {check: 'state', severity: 'ok', message: `${layout.stateFile}: ${count} volume${count === 1 ? '' : 's'}, schema ${state.schemaVersion}`}
  const drift = findDrift(layout, {...observed, state}, (pending) => isAbandoned(host, pending))
  return {problems: [{finding: stateFinding}, ...spaceFindings(ctx, state).map((finding) => ({finding})), ...drift, ...strayLocks(ctx)], state}
}

/** Lock files an older cbs left behind (a failed try, a dead owner's lock moved aside). */
function strayLocks(ctx: Context): Problem[] {
  const {layout, host} = ctx
  const names = host.listDirectory(layout.root)
  const stray = [...strayLockFiles(names, layout.lockFile), ...strayLockFiles(names, layout.lowersLockFile)]
  // A moved-aside lock of a live cbs is about to be removed by that cbs itself.
  const dead = stray.filter((name) => host.processStartTime(Number(name.slice(name.lastIndexOf('.') + 1))) === undefined)
  return dead.map((name) => ({
    finding: {check: 'state', severity: 'warning', message: `stray lock file ${join(layout.root, name)}, left by an older cbs`, fix: DOCTOR_FIX},
    repair: {kind: 'remove-lock', file: join(layout.root, name)},
  }))
}

function spaceFindings(ctx: Context, state: State): Finding[] {
  const {host, layout} = ctx
  const usage = host.fsUsage(existingAncestor(ctx, layout.root))
  const free = usage.availableBytes
  // Error under 1% free (or 64M, on a filesystem large enough for that to be under 10%).
  const critical = Math.max(usage.totalBytes / 100, Math.min(64 * 1024 ** 2, usage.totalBytes / 10))
  const severity = free < critical ? 'error' : free < usage.totalBytes / 10 ? 'warning' : 'ok'
  const findings: Finding[] = [
    {
      check: 'space',
      severity,
      message: `${formatSize(free)} free of ${formatSize(usage.totalBytes)} on the host filesystem under ${layout.root}`,
      fix: severity === 'ok' ? undefined : `free some space there (volumes that are full of it write to it: cbs volume ls)`,
    },
  ]
  // Images are sparse: what the volumes could still write may exceed what the host has.
  const unwritten = Object.values(state.volumes).reduce((sum, record) => {
    const file = host.fileInfo(layout.image(record.name))
    return sum + (file ? Math.max(0, file.sizeBytes - file.allocatedBytes) : 0)
  }, 0)
  if (unwritten > free) {
    findings.push({
      check: 'space',
      severity: 'info',
      message: `the volumes could still write ${formatSize(unwritten)}, more than the ${formatSize(free)} free: when the host fills up, writes inside volumes fail`,
    })
  }
  return findings
}

function stateIsCorrupt(ctx: Context): boolean {
  try {
    ctx.store.read()
    return false
  } catch (error) {
    return error instanceof CorruptState
  }
}

/** The order repairs go in: each phase reads the system again after the one before. */
const PHASES: Array<Array<Repair['kind']>> = [['unmount'], ['rescue', 'detach'], ['lost+found', 'rmdir', 'remove-lock']]

async function repair(ctx: Context): Promise<string[]> {
  const done: string[] = []
  if (stateIsCorrupt(ctx)) done.push(...(await rebuildState(ctx)))
  for (const recovery of await recoverInterrupted(ctx, {waitMs: 60_000, retryMs: 5000})) done.push(describeRecovery(recovery))
  for (const kinds of PHASES) {
    for (const {repair} of inspectStore(ctx).problems) {
      if (repair && kinds.includes(repair.kind)) done.push(await applyRepair(ctx, repair))
    }
  }
  if (!stateIsCorrupt(ctx)) done.push(...(await dropStaleAttachments(ctx)))
  return done
}

function describeRecovery({volume, operation, outcome, error}: Recovery): string {
  const what = `the ${operation} of ${volume.includes('@') ? volume : `volume "${volume}"`}`
  return outcome === 'failed' ? `could not recover ${what}: ${error}` : `${outcome} ${what}`
}

async function applyRepair(ctx: Context, repair: Repair): Promise<string> {
  const busy = (device: string) => !ctx.exec.dryRun && ctx.host.isDeviceBusy(device)
  try {
    switch (repair.kind) {
      case 'unmount':
        await ctx.exec.run('umount', [repair.path], {mutates: true})
        return `unmounted ${repair.path}`
      case 'detach':
        if (busy(repair.device)) return `left ${repair.device} attached: it is in use`
        await detach(ctx, repair.device)
        return `detached ${repair.device}`
      case 'rescue': {
        if (busy(repair.device)) return `left ${repair.device} attached: it is in use (unmount it, then run ${DOCTOR_FIX} again)`
        const copy = await lostAndFoundPath(ctx, repair.file)
        await ctx.exec.run('cp', ['--sparse=always', repair.device, copy], {mutates: true})
        await detach(ctx, repair.device)
        return `copied the data of the deleted ${repair.file} out of ${repair.device} to ${copy}, and detached it`
      }
      case 'lost+found': {
        const target = await lostAndFoundPath(ctx, repair.file)
        await ctx.exec.change(['mv', repair.file, target], () => renameSync(repair.file, target))
        return `moved ${repair.file} to ${target}`
      }
      case 'rmdir':
        await removeMountpoint(ctx, repair.dir)
        return `removed the empty mountpoint ${repair.dir}`
      case 'remove-lock':
        await ctx.exec.change(['rm', '-f', repair.file], () => unlinkSync(repair.file))
        return `removed the stray lock file ${repair.file}`
      default:
        return ''
    }
  } catch (error) {
    return `could not repair (${repair.kind}): ${describeFailure(error).message}`
  }
}

/** A name in lost+found that nothing has yet: old.img, old.img.1, old.img.2, ... */
async function lostAndFoundPath(ctx: Context, file: string): Promise<string> {
  const dir = ctx.layout.lostFoundDir
  await ensureDirectory(ctx, dir)
  const taken = new Set(ctx.host.listDirectory(dir))
  let name = basename(file)
  for (let index = 1; taken.has(name); index++) name = `${basename(file)}.${index}`
  return join(dir, name)
}
