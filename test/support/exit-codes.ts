import assert from 'node:assert/strict'
import {CbsError} from '../../src/lib/common/errors.js'

/** The exit code of the CbsError a core call fails with; anything else fails the test. */
export async function exitCodeOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof CbsError, `not a CbsError: ${(error as Error).stack}`)
    // A scripted command that did not match inside an undo shows up here, not as a test failure.
    assert.doesNotMatch(error.message, /could not undo/)
    return error.exitCode
  }
  return assert.fail('did not fail')
}

/** The same for a synchronous call (parsers, validators). */
export function exitCodeOfSync(fn: () => unknown): number {
  try {
    fn()
  } catch (error) {
    assert.ok(error instanceof CbsError, `not a CbsError: ${error}`)
    return error.exitCode
  }
  return assert.fail('did not throw')
}
