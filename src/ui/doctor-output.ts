import type {ChalkInstance} from 'chalk'
import type {DoctorReport} from '../lib/doctor/doctor.js'
import type {Severity} from '../lib/doctor/drift.js'
import {printable} from './printable.js'

/** `cbs doctor` for a person: one line a finding, its fix below it, then what --fix did and a verdict. */
export function doctorText(report: DoctorReport, style: ChalkInstance): string {
  const paint: Record<Severity, (text: string) => string> = {ok: style.green, info: style.dim, warning: style.yellow, error: style.red}
  const lines: string[] = []
  // Findings name files, devices and errors found on the host: printable before they are shown.
  if (report.repaired.length > 0) lines.push('Repaired:', ...report.repaired.map((line) => `  ${printable(line)}`), '')
  for (const finding of report.findings) {
    lines.push(`${paint[finding.severity](finding.severity.padEnd(8))}${finding.check.padEnd(9)}${printable(finding.message)}`)
    if (finding.fix && finding.severity !== 'ok') lines.push(`${' '.repeat(17)}fix: ${printable(finding.fix)}`)
  }
  const count = (severity: Severity) => report.findings.filter((finding) => finding.severity === severity).length
  const problems = [[count('error'), 'error'], [count('warning'), 'warning']]
    .filter(([n]) => n)
    .map(([n, word]) => `${n} ${word}${n === 1 ? '' : 's'}`)
  lines.push('', report.healthy ? style.green('healthy') : style.red(`unhealthy: ${problems.join(', ')}`))
  return lines.join('\n')
}
