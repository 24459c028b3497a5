import {CbsError, conflict} from '../common/errors.js'
import type {Context} from '../system/context.js'
import type {Host} from '../system/host.js'
import {currentProcess, isAlive, type ProcessIdentity} from '../system/process-identity.js'
import type {PendingOperation} from './state.js'

/** The intent a process records on a volume before it changes anything (see state.ts). */
export function intent<Operation extends string = PendingOperation['operation']>(
  operation: Operation,
  details: Partial<PendingOperation<Operation>> = {},
): PendingOperation<Operation> {
  return {operation, ...currentProcess(), startedAt: new Date().toISOString(), ...details}
}

/** The same intent, now owned by this process (which takes over an abandoned one). */
export function takeOver(pending: PendingOperation): PendingOperation {
  const {error: _, ...rest} = pending
  return {...rest, ...currentProcess()}
}

/** The process that recorded it is gone: only recovery will finish it now. */
export function isAbandoned(host: Host, pending: PendingOperation<string>): boolean {
  return !isAlive(pending, (pid) => host.processStartTime(pid))
}

export const sameOwner = (a: ProcessIdentity, b: ProcessIdentity) => a.pid === b.pid && a.startTime === b.startTime

/**
 * Ends the operation `owner` recorded on a volume: the record loses `pending` (and takes the
 * size the operation gave it), unless another process has taken the operation over meanwhile.
 */
export async function finishIntent(ctx: Context, name: string, owner: PendingOperation, sizeBytes?: number): Promise<void> {
  await ctx.store.update((state) => {
    const record = state.volumes[name]
    if (!record?.pending || !sameOwner(record.pending, owner)) return
    delete record.pending
    if (sizeBytes !== undefined) record.sizeBytes = sizeBytes
  })
}

/** Why a command refuses a volume with an operation under way (or one left half done). */
export function pendingConflict(name: string, pending: PendingOperation): CbsError {
  if (pending.error) {
    return conflict(`volume "${name}" was left half ${pending.operation}d by a process that died, and could not be recovered (${pending.error})`, 'run `cbs doctor` to see what to do')
  }
  return new OperationUnderWay(`volume "${name}" is being ${pending.operation}d by process ${pending.pid}`, 'wait for it to finish, or run `cbs doctor` if that process is gone')
}

/** A conflict that passes: another live operation holds the volume (a server answers "try again"). */
export class OperationUnderWay extends CbsError {
  constructor(message: string, hint?: string) {
    super('conflict', message, hint)
  }
}
