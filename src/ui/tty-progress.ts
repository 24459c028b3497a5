import type {Progress} from '../lib/common/progress.js'
import {printable} from './printable.js'

/**
 * One self-rewriting line on a terminal: "[ 3/200] mounting db", or the label alone when the
 * total is not known (0: an import from a pipe counts bytes); nothing when not a TTY.
 */
export function ttyProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return {update() {}, finish() {}}
  let shown = false
  return {
    update(done, total, label) {
      const counter = total > 0 ? `[${String(done).padStart(String(total).length)}/${total}] ` : ''
      stream.write(`\r\u001B[2K${counter}${printable(label)}`.slice(0, (stream.columns || 80) + 10))
      shown = true
    },
    finish() {
      if (shown) stream.write('\r\u001B[2K')
      shown = false
    },
  }
}
