#!/usr/bin/env node
// Rebuilds the bundle (about a second), then runs it: no separate watch step.
import {execFileSync} from 'node:child_process'
import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'

execFileSync(process.execPath, ['scripts/build.js'], {cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: 'inherit'})
const {loadBundle} = createRequire(import.meta.url)('./load-bundle.cjs')
await loadBundle().run()
