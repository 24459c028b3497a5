#!/usr/bin/env node
// Bundles src/ and @oclif/core into one CommonJS file, dist/cbs.cjs: start-up is most of what
// a cbs command costs, and Node loads one file much sooner than the hundreds of modules it
// replaces. conf and execa, which only some commands need, are bundled each into a file of its
// own (dist/conf.mjs, dist/execa.mjs) that the import() where they are first used loads: conf
// from node_modules is about fifty files and 60 ms to load here, bundled about 20 ms.
// cli-table3 stays in node_modules (a few small CommonJS files), required when a table is drawn.
import {build} from 'esbuild'
import {spawnSync} from 'node:child_process'
import {copyFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const REPO = fileURLToPath(new URL('..', import.meta.url))

/** Packages bundled apart, and what their file exports. */
const CHUNKS = {conf: "export {default} from 'conf'", execa: "export * from 'execa'"}

const common = {
  absWorkingDir: REPO,
  bundle: true,
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  logLevel: 'warning',
}

/** In dist/cbs.cjs, `import('conf')` loads ./conf.mjs, beside it. */
const chunkImports = {
  name: 'chunk-imports',
  setup(build) {
    const filter = new RegExp(`^(${Object.keys(CHUNKS).join('|')})$`)
    build.onResolve({filter}, (args) => ({path: `./${args.path}.mjs`, external: true}))
  },
}

rmSync(join(REPO, 'dist'), {recursive: true, force: true})
await Promise.all([
  build({
    ...common,
    entryPoints: ['src/index.ts'],
    outfile: 'dist/cbs.cjs',
    format: 'cjs',
    // oclif only reaches for these when running TypeScript sources in development. gRPC stays in
    // node_modules: only `cbs csi serve` loads it, and no other command pays for it.
    external: ['cli-table3', 'typescript', 'ts-node', 'tsx', '@grpc/grpc-js', '@grpc/proto-loader'],
    plugins: [chunkImports],
    // ES modules bundled into CommonJS: import.meta.url becomes the bundle's own URL.
    define: {'import.meta.url': '__cbsBundleUrl'},
    banner: {js: "const __cbsBundleUrl = require('node:url').pathToFileURL(__filename).href;"},
  }),
  ...Object.entries(CHUNKS).map(([name, contents]) =>
    build({
      ...common,
      stdin: {contents, resolveDir: REPO, sourcefile: `${name}-chunk.js`},
      outfile: `dist/${name}.mjs`,
      format: 'esm',
      // The CommonJS parts of a bundled ES module load Node's own modules with require().
      banner: {js: "import {createRequire} from 'node:module'; const require = createRequire(import.meta.url);"},
    }),
  ),
])

// Files the bundle runs as programs, beside it as beside their sources.
copyFileSync(join(REPO, 'src/lib/system/guardian.sh'), join(REPO, 'dist/guardian.sh'))

// cbs-mount-into (src/native/mount-into.c): joining a container's mount namespace takes a
// single-threaded process, which Node is not. It lives next to the bundle, where cbs looks.
const helper = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', 'dist/cbs-mount-into', 'src/native/mount-into.c'], {cwd: REPO, stdio: 'inherit'})
if (helper.status !== 0) throw new Error('scripts/build.js: cc could not build src/native/mount-into.c: install gcc and libc6-dev (scripts/setup.sh does)')
