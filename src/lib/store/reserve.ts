import {closeSync, constants, fstatSync, openSync, unlinkSync, writeSync} from 'node:fs'

/** Enough for a state file of thousands of volumes, written once more beside the old one. */
export const RESERVE_BYTES = 1024 ** 2

/**
 * Space kept back under $CBS_ROOT (a file of zeros) so that the state can still be written when
 * the host disk is full: an atomic write needs room for the new copy, and `cbs volume rm`, the
 * command that frees space, must record its intent first. On ENOSPC the store gives the reserve
 * back, writes again, and at once takes back what is left: so the space goes to the state, never
 * to whatever else runs (a create on a full disk still fails). Later writes fill it up again.
 */
export class SpaceReserve {
  constructor(readonly path: string) {}

  /** Frees the reserve's space; false when there was none to give back. */
  release(): boolean {
    try {
      unlinkSync(this.path)
      return true
    } catch {
      return false
    }
  }

  /** Fills the reserve up to its size, or as far as the host has room; never fails. */
  ensure(): void {
    let fd: number | undefined
    try {
      fd = openSync(this.path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, 0o600)
      const zeros = Buffer.alloc(64 * 1024)
      for (let size = fstatSync(fd).size; size < RESERVE_BYTES; size += zeros.length) writeSync(fd, zeros, 0, Math.min(zeros.length, RESERVE_BYTES - size))
    } catch {
      // No room for more: what was written stays held back.
    } finally {
      if (fd !== undefined) closeSync(fd)
    }
  }
}
