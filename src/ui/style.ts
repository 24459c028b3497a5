import {Chalk, type ChalkInstance} from 'chalk'
import type {VolumeStatus} from '../lib/volumes/volume.js'

/** Colour only for a person at a terminal, and never with NO_COLOR set (no-color.org). */
export function styleFor(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): ChalkInstance {
  const colour = Boolean(stream.isTTY) && env.NO_COLOR === undefined
  return new Chalk({level: colour ? 1 : 0})
}

export function paintStatus(style: ChalkInstance, status: VolumeStatus): string {
  switch (status) {
    case 'mounted':
      return style.green(status)
    case 'error':
      return style.red(status)
    case 'unmounted':
      return style.dim(status)
    default:
      return style.yellow(status)
  }
}
