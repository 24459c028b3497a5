/**
 * The program of a guardian process (see `Executor.hold`), run as `node -e GUARDIAN BOUND_MS
 * ENTER_JSON LEAVE_JSON` in its own session. It runs ENTER, reports on stdout, then runs LEAVE
 * once, and only after ENTER has returned:
 * - when its stdin reaches end of file: cbs released it, or cbs died (even by SIGKILL, the kernel
 *   closes the pipe cbs held),
 * - when BOUND_MS have passed since it started, whatever cbs does,
 * - when it is sent SIGTERM, SIGINT or SIGHUP.
 * Each report is one JSON line: {"entered":true,"ms":N} or {"entered":false,...}, then
 * {"left":"released"|"bound"|"signal","status":N,"stderr":"..."}.
 *
 * It is plain JavaScript in a string so that it needs no file of its own next to the bundle.
 */
export const GUARDIAN_PROGRAM = `'use strict'
const {spawnSync} = require('node:child_process')
const {writeSync} = require('node:fs')
const bound = Number(process.argv[1])
const enter = JSON.parse(process.argv[2])
const leave = JSON.parse(process.argv[3])
const report = (fields) => { try { writeSync(1, JSON.stringify(fields) + '\\n') } catch {} }
const run = (argv) => {
  const result = spawnSync(argv[0], argv.slice(1), {encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], env: {...process.env, LC_ALL: 'C'}})
  return {status: result.status, stderr: result.stderr || String(result.error ?? '')}
}
let left = false
const finish = (why) => {
  if (left) return
  left = true
  report({left: why, ...run(leave)})
  process.exit(0)
}
// spawnSync blocks the event loop: none of these can fire before ENTER has returned.
setTimeout(() => finish('bound'), bound)
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => finish('signal'))
const started = Date.now()
const entered = run(enter)
if (entered.status !== 0) {
  report({entered: false, ...entered})
  process.exit(1)
}
report({entered: true, ms: Date.now() - started})
process.stdin.on('data', () => {})
process.stdin.on('end', () => finish('released'))
process.stdin.on('error', () => finish('released'))
`
