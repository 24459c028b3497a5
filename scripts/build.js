#!/usr/bin/env node
// Bundles src/ into one CommonJS file, dist/cbs.cjs, plus a V8 code cache for it. Start-up is
// most of what a cbs command costs: one file instead of hundreds of modules, and compiled code
// instead of source, take `cbs volume ls` from about 145 ms to under 100 ms here.
// conf, which only commands that change the state need, is a chunk of its own (dist/conf.cjs,
// with its own code cache), loaded by bin/load-bundle.cjs when first imported.
import {build} from 'esbuild'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const LOADER = '../bin/load-bundle.cjs' // from dist/

/** Packages that are chunks of their own; cbs imports their default export. */
const CHUNKS = ['conf']

const common = {
  absWorkingDir: REPO,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  // oclif only reaches for these when running TypeScript sources in development.
  external: ['typescript', 'ts-node', 'tsx'],
  logLevel: 'warning',
}

// conf loads ajv (a third of a megabyte), semver and node:crypto at start-up, but only uses them
// for schemas, migrations and encryption, none of which cbs asks for: in conf's chunk, stubs
// stand in for them.
const CONF_STUBS = [
  [/^ajv(-formats)?(\/|$)/, 'ajv.js'],
  [/^(semver|node:crypto)$/, 'unused.js'],
]
const confStubs = {
  name: 'conf-stubs',
  setup(build) {
    for (const [filter, stub] of CONF_STUBS) build.onResolve({filter}, () => ({path: join(REPO, 'scripts', 'conf-stubs', stub)}))
  },
}

// oclif sorts the command list with localeCompare at every start: the first call loads ICU's
// collator, about 8 ms. Plain order gives the same list for command ids (lowercase ASCII).
const OCLIF_PLUGIN = 'node_modules/@oclif/core/lib/config/plugin.js'
const LOCALE_SORT = '.sort((a, b) => a.id.localeCompare(b.id))'
const ordinalCommandSort = {
  name: 'ordinal-command-sort',
  setup(build) {
    build.onLoad({filter: /@oclif\/core\/lib\/config\/plugin\.js$/}, async (args) => {
      const source = await readFile(args.path, 'utf8')
      if (!source.includes(LOCALE_SORT)) throw new Error(`${OCLIF_PLUGIN} no longer sorts commands as scripts/build.js expects: review ordinalCommandSort`)
      return {contents: source.replace(LOCALE_SORT, '.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))'), loader: 'js'}
    })
  },
}

/** In dist/cbs.cjs, an import of a chunk's package becomes a loadChunk() of its file. */
const chunkImports = {
  name: 'chunk-imports',
  setup(build) {
    build.onResolve({filter: new RegExp(`^(${CHUNKS.join('|')})$`)}, (args) => ({path: args.path, namespace: 'chunk'}))
    build.onResolve({filter: /^\.\.\/bin\//}, (args) => ({path: args.path, external: true}))
    build.onLoad({filter: /.*/, namespace: 'chunk'}, (args) => ({
      contents: `export default require(${JSON.stringify(LOADER)}).loadChunk(${JSON.stringify(args.path)}).default`,
      resolveDir: REPO,
    }))
  },
}

rmSync(join(REPO, 'dist'), {recursive: true, force: true})
await Promise.all([
  build({
    ...common,
    entryPoints: ['src/index.ts'],
    outfile: 'dist/cbs.cjs',
    plugins: [chunkImports, ordinalCommandSort],
    // ES modules bundled into CommonJS: import.meta.url becomes the bundle's own URL.
    define: {'import.meta.url': '__cbsBundleUrl'},
    banner: {js: "const __cbsBundleUrl = require('node:url').pathToFileURL(__filename).href;"},
  }),
  ...CHUNKS.map((name) =>
    build({
      ...common,
      stdin: {contents: `export {default} from '${name}'`, resolveDir: REPO, sourcefile: `${name}-chunk.js`},
      outfile: `dist/${name}.cjs`,
      plugins: [confStubs],
    }),
  ),
])

// cbs-mount-into (src/native/mount-into.c): joining a container's mount namespace takes a
// single-threaded process, which Node is not. It lives next to the bundle, where cbs looks.
const helper = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', 'dist/cbs-mount-into', 'src/native/mount-into.c'], {cwd: REPO, stdio: 'inherit'})
if (helper.status !== 0) throw new Error('scripts/build.js: cc could not build src/native/mount-into.c: install gcc and libc6-dev (scripts/setup.sh does)')

// esbuild leaves a character of a regular expression in ansis (U+009B) as it is: one non-ASCII
// character makes Node decode the whole bundle the slow way, a millisecond at every start.
for (const name of ['cbs', ...CHUNKS]) {
  const file = join(REPO, 'dist', `${name}.cjs`)
  const ascii = readFileSync(file, 'utf8').replaceAll(/[^\0-\x7f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
  writeFileSync(file, ascii)
}

// Run the common paths once so that the code caches hold their compiled functions too; each
// run starts from the caches the one before wrote, so they add up.
const root = mkdtempSync(join(tmpdir(), 'cbs-build-'))
const warmUps = [
  ['bin/run.js', 'volume', 'ls', '--help'],
  ['bin/run.js', 'volume', 'ls', '--json'],
  ['bin/run.js', 'volume', 'create', 'warm-up', '--dry-run'],
  ['-e', `require('./bin/load-bundle.cjs').loadBundle().warmUpCodeCache(${JSON.stringify(root)})`],
]
try {
  for (const args of warmUps) {
    spawnSync(process.execPath, args, {cwd: REPO, env: {...process.env, CBS_ROOT: root, CBS_WRITE_CODE_CACHE: '1'}, stdio: 'ignore'})
  }
} finally {
  rmSync(root, {recursive: true, force: true})
}
