import {status} from '@grpc/grpc-js'
import {CbsError} from '../../lib/common/errors.js'
import {OperationUnderWay} from '../../lib/store/intent.js'
import {describeFailure} from '../../lib/system/failure.js'
import {PublishedOtherwise} from '../../lib/volumes/publish.js'

/** An error with the gRPC status code the CSI spec assigns to the case. */
export class RpcError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message)
  }
}

export const invalidArgument = (message: string) => new RpcError(status.INVALID_ARGUMENT, message)
export const notFoundError = (message: string) => new RpcError(status.NOT_FOUND, message)
export const alreadyExists = (message: string) => new RpcError(status.ALREADY_EXISTS, message)
export const outOfRange = (message: string) => new RpcError(status.OUT_OF_RANGE, message)
export const aborted = (message: string) => new RpcError(status.ABORTED, message)
export const resourceExhausted = (message: string) => new RpcError(status.RESOURCE_EXHAUSTED, message)
export const failedPrecondition = (message: string) => new RpcError(status.FAILED_PRECONDITION, message)

const BY_KIND = {
  invalid: status.INVALID_ARGUMENT,
  notFound: status.NOT_FOUND,
  conflict: status.FAILED_PRECONDITION,
  environment: status.INTERNAL,
  interrupted: status.UNAVAILABLE,
  unexpected: status.INTERNAL,
} as const

/**
 * The status of any failure: the adapter's own, or cbs's error kinds mapped once. A volume another
 * operation holds is ABORTED (the CO retries); a lack of space, RESOURCE_EXHAUSTED.
 */
export function toStatus(error: unknown): {code: status; details: string} {
  if (error instanceof RpcError) return {code: error.code, details: error.message}
  const {message} = describeFailure(error)
  if (error instanceof OperationUnderWay) return {code: status.ABORTED, details: message}
  if (error instanceof PublishedOtherwise) return {code: status.ALREADY_EXISTS, details: message}
  // Told from the error's own words: describeFailure adds "check permissions and free space"
  // to every EACCES, EPERM and EROFS, which are no lack of space.
  if (/no space left|free space/i.test(error instanceof Error ? error.message : '')) return {code: status.RESOURCE_EXHAUSTED, details: message}
  if (error instanceof CbsError) return {code: BY_KIND[error.kind], details: message}
  return {code: status.INTERNAL, details: message}
}
