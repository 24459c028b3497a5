import {invalid} from '../common/errors.js'
import type {UnionType} from '../store/state.js'

/** The folders a union mount stacks: lowers top-most first, then the writable upper layer. */
export interface UnionLayers {
  lowers: string[]
  /** The writable layer (overlay's upperdir, aufs's rw branch). */
  upper: string
  /** overlay: its work folder, on the same filesystem as upper. */
  work: string
  /** aufs: its external inode number file, kept on the upper volume rather than in /tmp. */
  xino: string
}

// mount(2) copies at most one page of options.
const MAX_OPTIONS = 4095

/** `mount` arguments for a union volume on `mountpoint`. */
export function unionMountArgs(type: UnionType, layers: UnionLayers, mountpoint: string): string[] {
  return type === 'overlay'
    ? ['-t', 'overlay', '-o', overlayOptions(layers), 'overlay', mountpoint]
    : ['-t', 'aufs', '-o', aufsOptions(layers), 'none', mountpoint]
}

export function overlayOptions({lowers, upper, work}: UnionLayers): string {
  return checkLength(`lowerdir=${lowers.map(escapeOverlayPath).join(':')},upperdir=${escapeOverlayPath(upper)},workdir=${escapeOverlayPath(work)}`)
}

/** Whiteouts in lower branches are honoured (+wh), as overlay does in its lower layers. */
export function aufsOptions({lowers, upper, xino}: UnionLayers): string {
  const branches = [`${aufsPath(upper)}=rw`, ...lowers.map((lower) => `${aufsPath(lower)}=ro+wh`)]
  return checkLength(`br=${branches.join(':')},xino=${aufsPath(xino)}`)
}

/**
 * overlayfs reads "\\" as an escape in its paths, so ":" (between lowers) and "," (between
 * options) are escaped. mount(8) splits options at every ",", escaped or not, and joins the
 * pieces it does not know back in order; it would take a piece such as "ro" or "loop=x" as its
 * own. A "/" is appended so that every piece after an escaped "," holds a "/" or ends in "\\",
 * which no option of mount(8) does; what could still be read as one ("x-..." or a "=" before
 * the next "/") is refused, as is '"', which mount(8) takes as quoting.
 */
export function escapeOverlayPath(path: string): string {
  if (path.includes('"') || /,([xX]-|[^/,]*=)/.test(path)) {
    throw invalid(`path ${path} cannot be passed to mount(8) as an overlay option`, 'rename it or use a folder whose name has no \'"\', and no "," followed by "x-" or by "=" before the next "/"')
  }
  const escaped = path.replaceAll('\\', '\\\\').replaceAll(':', '\\:').replaceAll(',', '\\,')
  return escaped.endsWith('/') ? escaped : `${escaped}/`
}

/** aufs has no escapes: ":" separates branches, "=" a branch from its mode, "," options. */
function aufsPath(path: string): string {
  if (/[:,=]/.test(path)) throw invalid(`path ${path} cannot be an aufs branch`, 'aufs cannot escape ":", "," or "=" in paths: rename it or use --type overlay')
  return path
}

function checkLength(options: string): string {
  if (options.length > MAX_OPTIONS) {
    throw invalid(`the mount options for these layers take ${options.length} bytes, more than the kernel's ${MAX_OPTIONS}`, 'use fewer --lower folders or shorter paths')
  }
  return options
}
