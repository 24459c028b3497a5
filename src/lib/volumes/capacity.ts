import {dirname} from 'node:path'
import type {Context} from '../system/context.js'

/**
 * The room new volumes have: what the host filesystem under $CBS_ROOT has free. Images are
 * sparse, so this is what can still be written, not the sum of the sizes volumes may grow to.
 */
export function freeCapacity(ctx: Context): number {
  return ctx.host.fsUsage(existingAncestor(ctx, ctx.layout.imagesDir)).availableBytes
}

/** The path itself, or its nearest ancestor that exists (statfs needs one). */
export function existingAncestor(ctx: Context, path: string): string {
  while (!ctx.host.fileInfo(path) && dirname(path) !== path) path = dirname(path)
  return path
}
