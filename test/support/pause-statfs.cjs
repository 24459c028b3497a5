// Loaded with NODE_OPTIONS=--require into a cbs process: its first statfs of a path under
// CBS_PAUSE_UNDER waits until the file CBS_PAUSE_DIR/go exists, after creating
// CBS_PAUSE_DIR/waiting. A test can then change the system between two of cbs's reads.
const fs = require('node:fs')
const {join} = require('node:path')
const under = process.env.CBS_PAUSE_UNDER
const dir = process.env.CBS_PAUSE_DIR
const statfsSync = fs.statfsSync
let paused = false
fs.statfsSync = (path, ...rest) => {
  if (!paused && under && dir && String(path).startsWith(under)) {
    paused = true
    fs.writeFileSync(join(dir, 'waiting'), '')
    const deadline = Date.now() + 60_000
    while (!fs.existsSync(join(dir, 'go')) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
  }
  return statfsSync(path, ...rest)
}
