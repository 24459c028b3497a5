/**
 * A borderless, left-aligned table like `docker volume ls`: columns three spaces apart, no
 * trailing blanks. Cells may be coloured (ANSI), which takes no width. A plain aligner rather
 * than cli-table3: that took about 100 ms for 200 volumes, as long as all the rest of `ls`.
 */
export function renderTable(head: string[], rows: string[][]): string {
  const lines = [head, ...rows]
  const widths = head.map((_, column) => Math.max(...lines.map((line) => visibleWidth(line[column]))))
  const pad = (cell: string, column: number) => cell + ' '.repeat(widths[column] - visibleWidth(cell))
  return lines.map((line) => line.map(pad).join('   ').trimEnd()).join('\n')
}

const ANSI_STYLE = /\u001B\[[\d;]*m/g

/** Characters on screen: colour codes take none (names and paths here are never double-width). */
const visibleWidth = (cell: string) => [...cell.replaceAll(ANSI_STYLE, '')].length
