/**
 * Whether a read failed because the thing read vanished in between: a loop device detached or a
 * mountpoint removed by another cbs command after this one listed it. Read-only commands skip
 * such a thing, as if they had looked a moment later.
 */
export function isGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENXIO' || code === 'ENODEV'
}
