// Loads the files of dist/ through V8's code cache (NAME.cjs.cache beside each, written by the
// build): their functions come compiled instead of being parsed at every start. A cache from
// another Node version is rejected by V8, and the file then simply compiles as usual.
// dist/cbs.cjs is the program; conf is a chunk of its own that it loads through loadChunk() when
// a command first changes the state, so that commands that only read never pay for it.
const {readFileSync, writeFileSync} = require('node:fs')
const Module = require('node:module')
const {dirname, join} = require('node:path')
const {Script} = require('node:vm')

const DIST = join(__dirname, '..', 'dist')

function load(name) {
  const file = join(DIST, `${name}.cjs`)
  const cacheFile = `${file}.cache`
  let cachedData
  try {
    cachedData = readFileSync(cacheFile)
  } catch {}
  // No import() may run inside: V8 drops its resolver from cached code in Node 20, which is
  // why plugin commands are bundled (src/autocomplete.ts) rather than loaded as plugins.
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), {filename: file, cachedData})
  const loaded = new Module(file, module)
  loaded.filename = file
  loaded.paths = Module._nodeModulePaths(dirname(file))
  // oclif imports the program's file to find the commands: let it find this instance.
  Module._cache[file] = loaded
  script.runInThisContext().call(loaded.exports, loaded.exports, (id) => loaded.require(id), loaded, file, dirname(file))
  loaded.loaded = true
  // The build runs the common paths once with this set (scripts/build.js).
  if (process.env.CBS_WRITE_CODE_CACHE) process.once('exit', () => writeFileSync(cacheFile, script.createCachedData()))
  return loaded.exports
}

const chunks = new Map()

/** The exports of dist/NAME.cjs, loaded on first use. */
function loadChunk(name) {
  if (!chunks.has(name)) chunks.set(name, load(name))
  return chunks.get(name)
}

module.exports = {loadBundle: () => load('cbs'), loadChunk}
