import {invalid} from '../common/errors.js'

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9_.\/-]{0,127}$/

/** C0 controls (newline, tab, escape...), DEL and C1 controls: they would rewrite a terminal. */
export const CONTROL_CHARACTERS = /[\u0000-\u001F\u007F-\u009F]/

export const isLabelKey = (text: string) => LABEL_KEY.test(text)

/** ["env=prod", "team=db"] → {env: "prod", team: "db"}; a key given twice keeps the last value. */
export function parseLabels(pairs: string[] = []): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    const key = at < 0 ? pair : pair.slice(0, at)
    if (at < 0 || !isLabelKey(key)) {
      throw invalid(`invalid label ${JSON.stringify(pair)}`, 'use KEY=VALUE with a key of letters, digits, "_", ".", "/" or "-"')
    }
    labels[key] = labelValue(pair.slice(at + 1), pair)
  }
  return labels
}

/** A label value: any text but control characters (`given` is the whole KEY=VALUE, for the message). */
function labelValue(value: string, given: string): string {
  if (CONTROL_CHARACTERS.test(value)) {
    throw invalid(`invalid label ${JSON.stringify(given)}: it contains control characters`, 'a value may hold any printable text, but no newline, tab, escape or other control character')
  }
  return value
}
