import assert from 'node:assert/strict'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

const LIB = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/lib')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : []
  })
}

/** The src/lib files each src/lib file imports (static and dynamic, type-only included). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>()
  for (const file of sourceFiles(LIB)) {
    const specifiers = [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((match) => match[1])
    graph.set(
      relative(LIB, file),
      specifiers.map((specifier) => relative(LIB, resolve(dirname(file), specifier).replace(/\.js$/, '.ts'))),
    )
  }
  return graph
}

describe('src/lib layout', () => {
  const graph = importGraph()

  it('every file lives in a folder named for its domain, none at the top of src/lib', () => {
    assert.deepEqual([...graph.keys()].filter((file) => !file.includes('/')), [])
  })

  it('no file imports from outside src/lib (the core knows nothing of commands, ui or oclif)', () => {
    const outside = [...graph].flatMap(([file, imports]) => imports.filter((target) => target.startsWith('..')).map((target) => `${file} -> ${target}`))
    assert.deepEqual(outside, [])
    for (const file of graph.keys()) assert.doesNotMatch(readFileSync(join(LIB, file), 'utf8'), /from '@oclif\//, file)
  })

  it('has no import cycle', () => {
    const cycles: string[] = []
    const state = new Map<string, 'visiting' | 'done'>()
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return
      if (state.get(file) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '))
        return
      }
      state.set(file, 'visiting')
      for (const target of graph.get(file) ?? []) visit(target, [...path, file])
      state.set(file, 'done')
    }
    for (const file of graph.keys()) visit(file, [])
    assert.deepEqual(cycles, [])
  })
})
