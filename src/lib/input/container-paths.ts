import {invalid} from '../common/errors.js'
import {isPlainAbsolutePath} from './host-paths.js'

/**
 * A path inside a container where cbs mounts a volume (`attach --container --target`): written
 * out in full, so that the path recorded and shown is the one mounted, and never the container's
 * root (`--target /../../..` would mount over it). One trailing "/" is dropped.
 */
export function validateContainerTarget(target: string): string {
  const path = target.length > 1 ? target.replace(/\/$/, '') : target
  if (!isPlainAbsolutePath(path)) {
    // JSON quoting keeps a control character from breaking the one-line message.
    throw invalid(`invalid --target ${JSON.stringify(target)}`, 'give an absolute path inside the container other than "/", without ".", ".." or empty parts and without control characters, e.g. /data')
  }
  return path
}
