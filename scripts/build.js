#!/usr/bin/env node
// Bundles src/ and @oclif/core into one CommonJS file, dist/cbs.cjs: start-up is most of what
// a cbs command costs, and Node loads one file much sooner than the hundreds of modules it
// replaces. conf and execa, which only some commands need, are bundled each into a CommonJS
// file of its own (dist/conf.cjs, dist/execa.cjs) that the import() where they are first used
// requires: conf from node_modules is about fifty files and 60 ms to load here, bundled about
// 20 ms; as CommonJS rather than as an ES module, 3 to 5 ms less again (no ES module loader).
// cli-table3 stays in node_modules (a few small CommonJS files), required when a table is drawn.
import {build} from 'esbuild'
import {spawnSync} from 'node:child_process'
import {copyFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const REPO = fileURLToPath(new URL('..', import.meta.url))

/** Packages bundled apart, and what their file exports: what `import()` of the package gives. */
const CHUNKS = {conf: "module.exports = require('conf').default", execa: "module.exports = require('execa')"}

const common = {
  absWorkingDir: REPO,
  bundle: true,
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  logLevel: 'warning',
  format: 'cjs',
  // ES modules bundled into CommonJS: import.meta.url becomes the bundle's own URL.
  define: {'import.meta.url': '__cbsBundleUrl'},
  banner: {js: "const __cbsBundleUrl = require('node:url').pathToFileURL(__filename).href;"},
}

/**
 * In dist/cbs.cjs, `import('conf')` requires ./conf.cjs, beside it, when it runs (esbuild turns
 * the import() of a bundled CommonJS module into a require() at that point, not before).
 */
const chunkImports = {
  name: 'chunk-imports',
  setup(build) {
    const filter = new RegExp(`^(${Object.keys(CHUNKS).join('|')})$`)
    build.onResolve({filter}, (args) => ({path: args.path, namespace: 'chunk'}))
    build.onLoad({filter: /.*/, namespace: 'chunk'}, (args) => ({contents: `module.exports = require('./${args.path}.cjs')`, resolveDir: join(REPO, 'dist')}))
    build.onResolve({filter: /^\.\/\w+\.cjs$/, namespace: 'chunk'}, (args) => ({path: args.path, external: true}))
  },
}

rmSync(join(REPO, 'dist'), {recursive: true, force: true})
await Promise.all([
  build({
    ...common,
    entryPoints: ['src/index.ts'],
    outfile: 'dist/cbs.cjs',
    // oclif only reaches for these when running TypeScript sources in development. gRPC stays in
    // node_modules: only `cbs csi serve` loads it, and no other command pays for it.
    external: ['cli-table3', 'typescript', 'ts-node', 'tsx', '@grpc/grpc-js', '@grpc/proto-loader'],
    plugins: [chunkImports],
  }),
  ...Object.entries(CHUNKS).map(([name, contents]) =>
    build({...common, stdin: {contents, resolveDir: REPO, sourcefile: `${name}-chunk.js`}, outfile: `dist/${name}.cjs`}),
  ),
])

// Files the bundle runs as programs, beside it as beside their sources.
copyFileSync(join(REPO, 'src/lib/system/guardian.sh'), join(REPO, 'dist/guardian.sh'))

// Programs in C, next to the bundle, where cbs looks for them. cbs-mount-into: joining a
// container's mount namespace takes a single-threaded process, which Node is not.
// cbs-pipe-size: Node cannot grow a pipe's buffer (fcntl), which a stream moves through.
for (const [program, source] of [['cbs-mount-into', 'src/native/mount-into.c'], ['cbs-pipe-size', 'src/native/pipe-size.c']]) {
  const built = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', `dist/${program}`, source], {cwd: REPO, stdio: 'inherit'})
  if (built.status !== 0) throw new Error(`scripts/build.js: cc could not build ${source}: install gcc and libc6-dev (scripts/setup.sh does)`)
}
