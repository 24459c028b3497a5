import {invalid} from '../common/errors.js'

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * A path on this host that cbs is asked to mount onto or read (a CSI target_path): absolute,
 * written out in full (no ".", ".." or empty parts, so the path checked is the path mounted),
 * never "/", and free of control characters.
 */
export function validateHostPath(path: string, what = 'path'): string {
  const parts = path.split('/').slice(1)
  const valid = path.startsWith('/') && path !== '/' && path.length < 4096 && !CONTROL.test(path) && parts.every((part) => part !== '' && part !== '.' && part !== '..')
  if (!valid) throw invalid(`invalid ${what} ${JSON.stringify(path)}`, 'give an absolute path other than "/", without ".", ".." or empty parts and without control characters')
  return path
}
