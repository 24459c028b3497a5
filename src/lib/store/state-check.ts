import {isAbsolute, normalize} from 'node:path'
import {FILESYSTEMS} from '../images/filesystems.js'
import {isLabelKey} from '../input/labels.js'
import {isName} from '../input/names.js'
import {migrateState, type PendingOperation, type RuntimeName, SCHEMA_VERSION, type State, VOLUME_TYPES, type VolumeRecord} from './state.js'

/**
 * The check of a state file, run on every read: cbs runs as root and joins the names it finds
 * there into paths and command lines, so a record it did not write itself (a name such as
 * "../../etc/x", a null where a list belongs) must stop it rather than be acted on.
 *
 * Each record kind is a table of its fields, one line a field: a new field is one more line.
 * Fields the tables do not name are ignored (no code reads them).
 */

/** What is wrong with a value, and where in it; undefined when it is good. */
type Check = (value: unknown) => Problem | undefined
type Fields = Record<string, Check>

interface Problem {
  path: string[]
  message: string
}

const VOLUME_OPERATIONS = ['create', 'remove', 'restore', 'resize', 'receive'] as const satisfies ReadonlyArray<PendingOperation['operation']>
const SNAPSHOT_OPERATIONS = ['snapshot', 'remove', 'export'] as const
const RUNTIME_NAMES = ['docker', 'nerdctl', 'podman'] as const satisfies readonly RuntimeName[]

const show = (value: unknown) => (value === undefined ? 'missing' : (JSON.stringify(value)?.slice(0, 80) ?? String(value)))
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
const within = (key: string, problem: Problem | undefined) => problem && {path: [key, ...problem.path], message: problem.message}

/** A check of one value: `what` says how a bad one fails it ("is not a string"). */
const rule =
  (test: (value: unknown) => boolean, what: string): Check =>
  (value) =>
    test(value) ? undefined : {path: [], message: `${show(value)} ${what}`}

const text = rule((value) => typeof value === 'string', 'is not a string')
const flag = rule((value) => typeof value === 'boolean', 'is not true or false')
const count = rule((value) => Number.isSafeInteger(value) && (value as number) >= 0, 'is not a whole number of bytes')
const positive = (what: string) => rule((value) => Number.isSafeInteger(value) && (value as number) > 0, what)
const pid = positive('is not a process id')
const version = positive('is not a version number')
const name = rule((value) => typeof value === 'string' && isName(value), 'does not follow the name rule')
const labelKey = rule((value) => typeof value === 'string' && isLabelKey(value), 'is not a label key')
const containerId = rule((value) => typeof value === 'string' && /^[\da-f]{12,64}$/.test(value), 'is not a container id')
const absolutePath = rule(
  (value) => typeof value === 'string' && isAbsolute(value) && normalize(value) === value && !value.includes('\0'),
  'is not an absolute, normalised path',
)
const oneOf = (values: readonly unknown[]) => rule((value) => values.includes(value), `is not one of ${values.join(', ')}`)
const optional =
  (check: Check): Check =>
  (value) =>
    value === undefined ? undefined : check(value)
const nullable =
  (check: Check): Check =>
  (value) =>
    value === null ? undefined : check(value)

/** An object whose fields each pass their check. */
const object =
  (fields: Fields): Check =>
  (value) => {
    if (!isObject(value)) return {path: [], message: `${show(value)} is not an object`}
    for (const [field, check] of Object.entries(fields)) {
      const problem = within(field, check(value[field]))
      if (problem) return problem
    }
    return undefined
  }

const list =
  (check: Check): Check =>
  (value) => {
    if (!Array.isArray(value)) return {path: [], message: `${show(value)} is not a list`}
    for (const [index, item] of value.entries()) {
      const problem = within(String(index), check(item))
      if (problem) return problem
    }
    return undefined
  }

/** An object of entries by key: each key passes `key`, each entry `entry`. */
const map =
  (key: Check, entry: Check): Check =>
  (value) => {
    if (!isObject(value)) return {path: [], message: `${show(value)} is not an object`}
    for (const [each, item] of Object.entries(value)) {
      const problem = within(each, key(each) ?? entry(item))
      if (problem) return problem
    }
    return undefined
  }

/** One of several shapes, told apart by the value of `tag`. */
const variant =
  (tag: string, shapes: Record<string, Fields>): Check =>
  (value) => {
    if (!isObject(value)) return {path: [], message: `${show(value)} is not an object`}
    const fields = shapes[value[tag] as string]
    return fields ? object(fields)(value) : within(tag, oneOf(Object.keys(shapes))(value[tag]))
  }

const intent = (operations: readonly string[]): Check =>
  object({
    operation: oneOf(operations),
    pid,
    startTime: optional(text),
    startedAt: text,
    committed: optional(flag),
    sizeBytes: optional(count),
    fromBytes: optional(count),
    wasMounted: optional(flag),
    error: optional(text),
  })

const LOWER = variant('type', {
  snapshot: {volume: name, snapshot: name},
  directory: {path: absolutePath, identity: optional(rule((value) => typeof value === 'string' && /^\d+:\d+$/.test(value), 'is not DEVICE:INODE'))},
})

const ATTACHMENT: Fields = {
  runtime: oneOf(RUNTIME_NAMES),
  name: nullable(name),
  containers: list(containerId),
  live: optional(list(object({container: containerId, name: text, target: absolutePath}))),
}

const SNAPSHOT: Fields = {
  name,
  id: rule((value) => typeof value === 'string' && /^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i.test(value), 'is not a UUID'),
  volume: name,
  fs: oneOf(FILESYSTEMS),
  sizeBytes: count,
  method: oneOf(['reflink', 'copy']),
  labels: map(labelKey, text),
  createdAt: text,
  pending: optional(intent(SNAPSHOT_OPERATIONS)),
  receivedFingerprint: optional(text),
}

const VOLUME: Fields = {
  name,
  type: oneOf(VOLUME_TYPES),
  fs: oneOf(FILESYSTEMS),
  sizeBytes: count,
  labels: map(labelKey, text),
  createdAt: text,
  lowers: optional(list(LOWER)),
  pending: optional(intent(VOLUME_OPERATIONS)),
  attachments: optional(list(object(ATTACHMENT))),
  snapshots: optional(map(name, object(SNAPSHOT))),
  meantToBeMounted: optional(flag),
}

const STATE = object({
  schemaVersion: oneOf([SCHEMA_VERSION]),
  volumes: map(name, object(VOLUME)),
  imports: optional(map(name, intent(['import']))),
})

/**
 * What is wrong with a state (as migrated to the current schema), as "where: what", e.g.
 * `volumes.db.snapshots.x.volume: "other" is not "db"`; undefined when it is good.
 */
export function stateProblem(state: unknown): string | undefined {
  const problem = STATE(state) ?? relations(state as State)
  return problem && `${problem.path.join('.')}: ${problem.message}`
}

/** What the field checks cannot see: names that match their keys, lowers that fit the type. */
function relations(state: State): Problem | undefined {
  const at = (message: string, ...path: string[]) => ({path: ['volumes', ...path], message})
  for (const [key, volume] of Object.entries(state.volumes)) {
    if (volume.name !== key) return at(`${show(volume.name)} is not its key "${key}"`, key, 'name')
    if (volume.type === 'loop' && volume.lowers !== undefined) return at('a loop volume has no lower layers', key, 'lowers')
    if (volume.type !== 'loop' && !volume.lowers?.length) return at('a union volume needs at least one', key, 'lowers')
    for (const [snapshotKey, snapshot] of Object.entries(volume.snapshots ?? {})) {
      if (snapshot.name !== snapshotKey) return at(`${show(snapshot.name)} is not its key "${snapshotKey}"`, key, 'snapshots', snapshotKey, 'name')
      if (snapshot.volume !== key) return at(`${show(snapshot.volume)} is not "${key}"`, key, 'snapshots', snapshotKey, 'volume')
    }
  }
  return undefined
}

/**
 * The schema version a state file says it has (absent: 1, the first), or what is wrong with it:
 * migration needs it before the rest can be checked.
 */
export function versionOf(data: unknown): number | {problem: string} {
  if (!isObject(data)) return {problem: `${show(data)} is not an object`}
  const problem = within('schemaVersion', version(data.schemaVersion ?? 1))
  return problem ? {problem: `${problem.path.join('.')}: ${problem.message}`} : ((data.schemaVersion ?? 1) as number)
}

/**
 * The volume records of a damaged state that are sound each on its own (with their snapshots),
 * and what is wrong with the others: what `cbs doctor --fix` can keep when it rebuilds the file.
 */
export function soundVolumes(data: unknown): {sound: Record<string, VolumeRecord>; dropped: string[]} {
  const schema = versionOf(data)
  if (typeof schema !== 'number' || schema > SCHEMA_VERSION) return {sound: {}, dropped: []}
  const {volumes} = migrateState(data as Record<string, unknown>, schema) as {volumes: unknown}
  const sound: Record<string, VolumeRecord> = {}
  const dropped: string[] = []
  for (const [key, record] of Object.entries(isObject(volumes) ? volumes : {})) {
    const problem = stateProblem({schemaVersion: SCHEMA_VERSION, volumes: {[key]: record}})
    if (problem) dropped.push(problem)
    else sound[key] = record as VolumeRecord
  }
  return {sound, dropped}
}
