import {createInterface} from 'node:readline/promises'

/** Asks on the terminal (the question on stderr, so that stdout stays the output); only "y" or "yes" is yes. */
export async function confirm(question: string): Promise<boolean> {
  const terminal = createInterface({input: process.stdin, output: process.stderr})
  try {
    const answer = await terminal.question(`${question} [y/N] `)
    return /^y(es)?$/i.test(answer.trim())
  } finally {
    terminal.close()
  }
}
