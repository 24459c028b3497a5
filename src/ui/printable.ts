/**
 * Control characters (C0, DEL, C1) and the invisible marks that reorder text (bidi overrides):
 * from a label, a file name, a runtime's answer or an error, they could move the cursor, clear
 * the screen or add a fake line to what a person reads.
 */
const UNPRINTABLE = /[\u0000-\u001F\u007F-\u009F\u200E\u200F\u202A-\u202E\u2066-\u2069]/g

const NAMED: Record<string, string> = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}

/**
 * A value as it may go to a terminal: each such character shown as an escape (\n, \x1b, \u202e).
 * Every value in human output that came from a user, a file or a runtime passes through here,
 * before cbs adds colour of its own.
 */
export function printable(text: string): string {
  return text.replaceAll(UNPRINTABLE, (char) => {
    const code = char.codePointAt(0)!
    return NAMED[char] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`)
  })
}
