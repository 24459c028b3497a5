#!/usr/bin/env node
// Rebuilds the bundle (about a second), then runs it: no separate watch step.
const {execFileSync} = require('node:child_process')
const {join} = require('node:path')

execFileSync(process.execPath, ['scripts/build.js'], {cwd: join(__dirname, '..'), stdio: 'inherit'})
require('../dist/cbs.cjs').run()
