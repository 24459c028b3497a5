#!/usr/bin/env node
// Rebuilds the bundle (a fraction of a second), then runs it: no separate watch step.
import {execFileSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'

execFileSync(process.execPath, ['scripts/build.js'], {cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: 'inherit'})
const {run} = await import('../dist/index.js')
await run()
