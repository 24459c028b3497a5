import {createHash, randomBytes} from 'node:crypto'
import {mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join, relative} from 'node:path'

const MiB = 1024 ** 2

/** path → sha256 of every regular file under dir (lost+found aside), sorted. */
export function fileSums(dir: string): Record<string, string> {
  const sums: Record<string, string> = {}
  const walk = (at: string) => {
    for (const entry of readdirSync(at, {withFileTypes: true})) {
      const path = join(at, entry.name)
      if (entry.name === 'lost+found' && at === dir) continue
      if (entry.isDirectory()) walk(path)
      else if (entry.isFile()) sums[relative(dir, path)] = createHash('sha256').update(readFileSync(path)).digest('hex')
    }
  }
  walk(dir)
  return Object.fromEntries(Object.entries(sums).sort(([a], [b]) => a.localeCompare(b)))
}

/** Random files of `mib` MiB in all, in a few folders, flushed. */
export function writeFiles(dir: string, mib: number, prefix = 'f'): void {
  mkdirSync(join(dir, `${prefix}-dir`), {recursive: true})
  for (let index = 0; index < mib; index++) {
    writeFileSync(join(dir, index % 2 ? `${prefix}-dir` : '', `${prefix}${index}`), randomBytes(MiB), {flush: true})
  }
}

export const sizeOf = (file: string) => statSync(file).size
