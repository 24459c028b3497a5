#!/usr/bin/env node
// Bundles src/ and @oclif/core into one CommonJS file, dist/cbs.cjs: start-up is most of what
// a cbs command costs, and Node loads one file much sooner than the hundreds of modules it
// replaces. The libraries a command may not need (conf, execa, cli-table3) stay outside it, in
// node_modules, loaded by import() where they are first used.
import {build} from 'esbuild'
import {spawnSync} from 'node:child_process'
import {copyFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

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
  // Loaded on first use; oclif only reaches for the TypeScript ones when running sources.
  external: ['conf', 'execa', 'cli-table3', 'typescript', 'ts-node', 'tsx'],
  // ES modules bundled into CommonJS: import.meta.url becomes the bundle's own URL.
  define: {'import.meta.url': '__cbsBundleUrl'},
  banner: {js: "const __cbsBundleUrl = require('node:url').pathToFileURL(__filename).href;"},
  logLevel: 'warning',
})

// Files the bundle runs as programs, beside it as beside their sources.
copyFileSync(join(REPO, 'src/lib/system/guardian.sh'), join(REPO, 'dist/guardian.sh'))

// cbs-mount-into (src/native/mount-into.c): joining a container's mount namespace takes a
// single-threaded process, which Node is not. It lives next to the bundle, where cbs looks.
const helper = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', 'dist/cbs-mount-into', 'src/native/mount-into.c'], {cwd: REPO, stdio: 'inherit'})
if (helper.status !== 0) throw new Error('scripts/build.js: cc could not build src/native/mount-into.c: install gcc and libc6-dev (scripts/setup.sh does)')
