#!/usr/bin/env node
// Bundles src/ into one CommonJS file, dist/cbs.cjs, plus a V8 code cache for it. Start-up is
// most of what a cbs command costs: one file instead of hundreds of modules, and compiled code
// instead of source, take Node from about 145 ms to about 100 ms for `cbs volume ls`.
// What only some commands need (execa, conf, tables) stays in the file but is evaluated only
// when first imported.
import {build} from 'esbuild'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const STUB = fileURLToPath(new URL('no-schema-validation.js', import.meta.url))
const REPO = fileURLToPath(new URL('..', import.meta.url))

rmSync(join(REPO, 'dist'), {recursive: true, force: true})
await build({
  absWorkingDir: REPO,
  entryPoints: ['src/index.ts'],
  outfile: 'dist/cbs.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  // oclif only reaches for these when running TypeScript sources in development.
  external: ['typescript', 'ts-node', 'tsx'],
  // conf loads ajv (a third of a megabyte) at start-up but only uses it to validate a schema,
  // and cbs gives none: a stub keeps it out of the bundle.
  plugins: [{name: 'no-schema-validation', setup: (build) => build.onResolve({filter: /^ajv(-formats)?(\/|$)/}, () => ({path: STUB}))}],
  // ES modules bundled into CommonJS: import.meta.url becomes the bundle's own URL.
  define: {'import.meta.url': '__cbsBundleUrl'},
  banner: {js: "const __cbsBundleUrl = require('node:url').pathToFileURL(__filename).href;"},
  logLevel: 'warning',
})

// Run the common paths once so that the code cache holds their compiled functions too.
const root = mkdtempSync(join(tmpdir(), 'cbs-build-'))
try {
  for (const args of [['volume', 'ls', '--help'], ['volume', 'ls', '--json']]) {
    spawnSync(process.execPath, [join(REPO, 'bin', 'run.js'), ...args], {
      env: {...process.env, CBS_ROOT: root, CBS_WRITE_CODE_CACHE: '1'},
      stdio: 'ignore',
    })
  }
} finally {
  rmSync(root, {recursive: true, force: true})
}
