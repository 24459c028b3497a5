#!/usr/bin/env node
// CommonJS (bin/package.json): Node starts it a few milliseconds sooner than an ES module.
// Node 22.1 and later keep compiled code between runs when asked (module.enableCompileCache).
require('node:module').enableCompileCache?.()
// package.json's engines states the Node.js cbs needs; oclif checking it again with semver as
// it loads costs a few milliseconds (OCLIF_DISABLE_ENGINE_WARNING is oclif's own switch).
const quiet = process.env.OCLIF_DISABLE_ENGINE_WARNING === undefined
if (quiet) process.env.OCLIF_DISABLE_ENGINE_WARNING = '1'
const cbs = require('../dist/cbs.cjs')
if (quiet) delete process.env.OCLIF_DISABLE_ENGINE_WARNING
// Once the command is done (its output written: stdout and stderr are synchronous on Linux),
// exit at once: Node taking down its heap and signal handlers one by one costs about 5 ms.
cbs.run().then(() => process.exit())
