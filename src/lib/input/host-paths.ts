import {invalid} from '../common/errors.js'

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * An absolute path written out in full (no ".", ".." or empty parts, so the path checked is the
 * path used), other than "/", without control characters.
 */
export function isPlainAbsolutePath(path: string): boolean {
  const parts = path.split('/').slice(1)
  return path.startsWith('/') && path !== '/' && path.length < 4096 && !CONTROL.test(path) && parts.every((part) => part !== '' && part !== '.' && part !== '..')
}

/** A path on this host that cbs is asked to mount onto or read (a CSI target_path). */
export function validateHostPath(path: string, what = 'path'): string {
  if (!isPlainAbsolutePath(path)) throw invalid(`invalid ${what} ${JSON.stringify(path)}`, 'give an absolute path other than "/", without ".", ".." or empty parts and without control characters')
  return path
}
