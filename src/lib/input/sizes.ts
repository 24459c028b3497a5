import {invalid} from '../common/errors.js'

const UNITS: Record<string, number> = {'': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4}
const SIZE = /^(\d+(?:\.\d+)?)([KMGT]?)(?:i?B)?$/i

/** Parses "10G", "512M", "1.5T", "4096" (powers of 1024) into bytes. */
export function parseSize(text: string): number {
  const match = SIZE.exec(text.trim())
  if (!match) throw invalid(`invalid size "${text}"`, 'use a number with an optional unit K, M, G or T, e.g. 10G')
  const bytes = Math.floor(Number(match[1]) * UNITS[match[2].toUpperCase()])
  if (!Number.isSafeInteger(bytes)) throw invalid(`size "${text}" is too large`, 'give at most 8191T')
  if (bytes <= 0) throw invalid(`size "${text}" is zero`, 'give a size of at least 1 byte, e.g. 10G')
  return bytes
}

/** 10737418240 → "10G"; one decimal below 10 units ("1.5G"), like `ls -h`. */
export function formatSize(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T', 'P']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  const digits = unit === 0 || value >= 10 || Number.isInteger(value) ? 0 : 1
  return `${value.toFixed(digits)}${units[unit]}`
}
