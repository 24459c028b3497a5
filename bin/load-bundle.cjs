// Loads dist/cbs.cjs through V8's code cache (dist/cbs.cjs.cache, written by the build): the
// bundle's functions come compiled instead of being parsed at every start. A cache from another
// Node version is rejected by V8, and the bundle then simply compiles as usual.
const {readFileSync, writeFileSync} = require('node:fs')
const Module = require('node:module')
const {dirname, join} = require('node:path')
const {Script} = require('node:vm')

function loadBundle() {
  const file = join(__dirname, '..', 'dist', 'cbs.cjs')
  const cacheFile = `${file}.cache`
  let cachedData
  try {
    cachedData = readFileSync(cacheFile)
  } catch {}
  // No import() may run inside: V8 drops its resolver from cached code in Node 20, which is
  // why plugin commands are bundled (src/autocomplete.ts) rather than loaded as plugins.
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), {filename: file, cachedData})
  const bundle = new Module(file, module)
  bundle.filename = file
  bundle.paths = Module._nodeModulePaths(dirname(file))
  // oclif imports the same file to find the commands: let it find this instance.
  Module._cache[file] = bundle
  script.runInThisContext().call(bundle.exports, bundle.exports, (id) => bundle.require(id), bundle, file, dirname(file))
  bundle.loaded = true
  if (process.env.CBS_WRITE_CODE_CACHE) process.once('exit', () => writeFileSync(cacheFile, script.createCachedData()))
  return bundle.exports
}

module.exports = {loadBundle}
