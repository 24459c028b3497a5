#!/usr/bin/env node
// Union volumes: creating an overlay volume on a snapshot of a 4 GiB volume holding 1 GiB,
// against creating a clone of the same snapshot with `--from` (a copy of the data on ext4).
// Called by bench/run.js (`npm run bench`); standalone: `npm run build && node bench/union.js`.
// Needs root; everything lives under a temporary CBS_ROOT, which must be on ext4 for the floor
// to be the copy it names.
import {mkdtempSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {MiB, median, row, takeDown, timed, writeRandom} from './support.js'

/** Rows {name, median_ms, floor_name, floor_ms, ratio} for bench/run.js. */
export async function benchUnion({cbsBin, repeats = 5}) {
  const root = mkdtempSync('/tmp/cbs-bench-union-')
  const cbs = (...args) => timed(process.execPath, [cbsBin, ...args], {CBS_ROOT: root})
  try {
    const [seed] = JSON.parse(cbs('volume', 'create', 'seed', '--size', '4G', '--json').stdout)
    writeRandom(join(seed.mountpoint, 'data'), 1024 * MiB)
    cbs('volume', 'snapshot', 'create', 'seed', 'base')

    // Each overlay create mounts the snapshot read-only first: nothing else holds it.
    const overlay = measure(repeats, (index) => cbs('volume', 'create', `o${index}`, '--type', 'overlay', '--lower', 'seed@base').ms, (index) => cbs('volume', 'rm', `o${index}`))
    // With one union volume holding the snapshot mounted, the next ones only add their own layers.
    cbs('volume', 'create', 'holder', '--type', 'overlay', '--lower', 'seed@base')
    const shared = measure(repeats, (index) => cbs('volume', 'create', `s${index}`, '--type', 'overlay', '--lower', 'seed@base').ms, (index) => cbs('volume', 'rm', `s${index}`))
    const clone = measure(repeats, (index) => cbs('volume', 'create', `c${index}`, '--from', 'seed@base').ms, (index) => cbs('volume', 'rm', `c${index}`))
    const floorName = 'cbs volume create --from seed@base (ext4 copy of 1 GiB)'
    return [
      row('cbs volume create --type overlay --lower seed@base (4 GiB, 1 GiB used)', overlay, floorName, clone),
      row('same, with the snapshot already mounted by another union volume', shared, floorName, clone),
    ]
  } finally {
    takeDown(cbsBin, root)
  }
}

/** Median of `repeats` timed runs of `step`, each followed by an untimed `undo`. */
function measure(repeats, step, undo) {
  const times = []
  for (let index = 0; index < repeats; index++) {
    times.push(step(index))
    undo(index)
  }
  return median(times)
}

if (process.argv[1] === import.meta.filename) {
  if (process.getuid() !== 0) throw new Error('the benchmark needs root (loop devices and mounts)')
  const rows = await benchUnion({cbsBin: resolve(import.meta.dirname, '..', 'bin', 'run.js'), repeats: Number(process.env.BENCH_REPEATS ?? 5)})
  for (const each of rows) console.log(`${each.name}: ${each.median_ms} ms; ${each.floor_name}: ${each.floor_ms} ms; ratio ${each.ratio}`)
}
