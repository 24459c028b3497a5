import {invalid} from '../common/errors.js'

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * A path inside a container where cbs mounts a volume (`attach --container --target`): written
 * out in full, so that the path recorded and shown is the one mounted, and never the container's
 * root (`--target /../../..` would mount over it). One trailing "/" is dropped.
 */
export function validateContainerTarget(target: string): string {
  const path = target.length > 1 ? target.replace(/\/$/, '') : target
  const parts = path.split('/').slice(1)
  const valid = path.startsWith('/') && path !== '/' && path.length < 4096 && !CONTROL.test(path) && parts.every((part) => part !== '' && part !== '.' && part !== '..')
  if (!valid) {
    // JSON quoting keeps a control character from breaking the one-line message.
    throw invalid(`invalid --target ${JSON.stringify(target)}`, 'give an absolute path inside the container other than "/", without ".", ".." or empty parts and without control characters, e.g. /data')
  }
  return path
}
