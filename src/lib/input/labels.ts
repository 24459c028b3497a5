import {invalid} from '../common/errors.js'

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9_.\/-]{0,127}$/

/** ["env=prod", "team=db"] → {env: "prod", team: "db"}; a key given twice keeps the last value. */
export function parseLabels(pairs: string[] = []): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    const key = at < 0 ? pair : pair.slice(0, at)
    if (at < 0 || !LABEL_KEY.test(key)) {
      throw invalid(`invalid label "${pair}"`, 'use KEY=VALUE with a key of letters, digits, "_", ".", "/" or "-"')
    }
    labels[key] = pair.slice(at + 1)
  }
  return labels
}
