#!/usr/bin/env node
// CommonJS (bin/package.json): Node starts it a few milliseconds sooner than an ES module.
// package.json's engines states the Node.js cbs needs; oclif checking its own engines with
// semver as it loads costs about 4 ms.
const quiet = process.env.OCLIF_DISABLE_ENGINE_WARNING === undefined
if (quiet) process.env.OCLIF_DISABLE_ENGINE_WARNING = '1'
const cbs = require('./load-bundle.cjs').loadBundle()
if (quiet) delete process.env.OCLIF_DISABLE_ENGINE_WARNING
// Once the command is done (its output written: stdout and stderr are synchronous on Linux),
// exit at once: Node taking down its heap and signal handlers one by one costs about 5 ms.
cbs.run().then(() => process.exit())
