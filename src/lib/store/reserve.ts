import {closeSync, constants, lstatSync, openSync, unlinkSync, writeSync} from 'node:fs'

/** Enough for a state file of thousands of volumes, written once more beside the old one. */
export const RESERVE_BYTES = 1024 ** 2

/**
 * Space kept back under $CBS_ROOT (a file of zeros) so that the state can still be written when
 * the host disk is full: an atomic write needs room for the new copy, and `cbs volume rm`, the
 * command that frees space, must record its intent first. On ENOSPC the store gives the reserve
 * back and writes again; it is put back by a later write, once there is room.
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

  /** Puts the reserve back when it is missing and the host has room for it; never fails. */
  ensure(): void {
    try {
      lstatSync(this.path)
      return
    } catch {
      // missing: make it
    }
    let fd: number | undefined
    try {
      fd = openSync(this.path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
      const zeros = Buffer.alloc(64 * 1024)
      for (let written = 0; written < RESERVE_BYTES; written += zeros.length) writeSync(fd, zeros)
      const done = fd
      fd = undefined
      closeSync(done)
    } catch {
      if (fd !== undefined) {
        closeSync(fd)
        this.release() // a part of a reserve would only take space nobody gets back
      }
    }
  }
}
