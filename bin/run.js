#!/usr/bin/env node
// CommonJS (bin/package.json): Node starts it a few milliseconds sooner than an ES module.
// package.json's engines states the Node.js cbs needs; oclif checking its own engines with
// semver as it loads costs about 4 ms.
const quiet = process.env.OCLIF_DISABLE_ENGINE_WARNING === undefined
if (quiet) process.env.OCLIF_DISABLE_ENGINE_WARNING = '1'
const cbs = require('./load-bundle.cjs').loadBundle()
if (quiet) delete process.env.OCLIF_DISABLE_ENGINE_WARNING
cbs.run()
