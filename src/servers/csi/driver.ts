import {createHash} from 'node:crypto'
import type {Context} from '../../lib/system/context.js'
import {isName} from '../../lib/input/names.js'
import type {VolumeRecord} from '../../lib/store/state.js'
import {InFlight} from './in-flight.js'
import {invalidArgument} from './errors.js'

/** What every CSI service shares: the core's context, who this node is, and the calls under way. */
export interface Driver {
  ctx: Context
  name: string
  version: string
  nodeId: string
  inFlight: InFlight
  /** Growing is left to NodeExpandVolume on the volume's node (see `cbs csi serve --expand-on-node`). */
  expandOnNode: boolean
}

/** The topology segment of this node: a cbs volume lives on the node that made it. */
export const topologyKey = (driver: Driver) => `topology.${driver.name}/node`
export const nodeTopology = (driver: Driver) => ({segments: {[topologyKey(driver)]: driver.nodeId}})

/** The label that marks a volume or snapshot as this driver's: others on the host stay out of its sight. */
export const OWNER_LABEL = 'csi-driver'
export const ownedBy = (driver: Driver, labels: Record<string, string> | undefined) => labels?.[OWNER_LABEL] === driver.name

/** A DNS-1123 name of up to 63 characters, as the CSI spec wants plugin names. */
const DRIVER_NAME = /^[a-z0-9A-Z]([a-z0-9A-Z.-]{0,61}[a-z0-9A-Z])?$/
export function validateDriverName(name: string): string {
  if (!DRIVER_NAME.test(name)) throw invalidArgument(`invalid driver name "${name}": use up to 63 letters, digits, "-" and ".", starting and ending with a letter or digit`)
  return name
}

// eslint-disable-next-line no-control-regex
const BANNED = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/

/**
 * The cbs name for a CSI name (CreateVolume, CreateSnapshot): the name itself when cbs accepts
 * it (pvc-<uuid>, snapshot-<uuid>), otherwise "csi-" and a digest of it, the same every time.
 */
export function cbsNameFor(csiName: string, what: string): string {
  if (!csiName) throw invalidArgument(`${what} is required`)
  if (Buffer.byteLength(csiName) > 128 || BANNED.test(csiName)) throw invalidArgument(`${what} must be up to 128 bytes without control characters`)
  if (isName(csiName)) return csiName
  return `csi-${createHash('sha256').update(csiName).digest('hex').slice(0, 40)}`
}

/** A volume of this driver, by id; undefined when there is none (or it is not this driver's). */
export function ownedVolume(driver: Driver, id: string): VolumeRecord | undefined {
  if (!isName(id)) return undefined
  const record = driver.ctx.store.read().volumes[id]
  return record && ownedBy(driver, record.labels) ? record : undefined
}
