import {createRequire} from 'node:module'
import type Table from 'cli-table3'

/** No borders at all: columns apart by three spaces, like `docker volume ls`. */
const BORDERLESS: Table.TableConstructorOptions['chars'] = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '   ',
}

/**
 * A borderless, left-aligned table drawn by cli-table3, without trailing blanks. Cells may be
 * coloured (ANSI), which takes no width. cli-table3 is loaded here, when a table is printed:
 * `-q` and `--json` never load it.
 */
export async function renderTable(head: string[], rows: string[][]): Promise<string> {
  // require() rather than import(): cli-table3 is CommonJS, and import() would have Node scan
  // its source for the names it exports first.
  const Table = createRequire(import.meta.url)('cli-table3') as typeof import('cli-table3')
  const table = new Table({head, chars: BORDERLESS, style: {head: [], border: [], 'padding-left': 0, 'padding-right': 0}})
  table.push(...rows)
  return table.toString().split('\n').map((line) => line.trimEnd()).join('\n')
}
