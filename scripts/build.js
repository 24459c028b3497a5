#!/usr/bin/env node
// Bundles src/ into dist/: oclif and the core in one ESM file, with what only some commands
// need (execa, conf, tables) split into chunks loaded on first use.
import {build} from 'esbuild'
import {rmSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const STUB = fileURLToPath(new URL('no-schema-validation.js', import.meta.url))

rmSync('dist', {recursive: true, force: true})
await build({
  entryPoints: ['src/index.ts'],
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  chunkNames: 'chunks/[name]-[hash]',
  // oclif only reaches for these when running TypeScript sources in development.
  external: ['typescript', 'ts-node', 'tsx'],
  // conf loads ajv (a third of a megabyte) at start-up but only uses it to validate a schema,
  // and cbs gives none: a stub keeps it out of every command's start-up.
  plugins: [{name: 'no-schema-validation', setup: (build) => build.onResolve({filter: /^ajv(-formats)?(\/|$)/}, () => ({path: STUB}))}],
  // CommonJS dependencies inside an ES module need a require.
  banner: {js: "import {createRequire as __cbsRequire} from 'node:module'; const require = __cbsRequire(import.meta.url);"},
  logLevel: 'warning',
})
