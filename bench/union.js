#!/usr/bin/env node
// Union volumes: creating an overlay volume on a snapshot of a 4 GiB volume holding 1 GiB,
// against creating a clone of the same snapshot with `--from` (a copy of the data on ext4).
// Called by bench/run.js (`npm run bench`); standalone: `npm run build && node bench/union.js`.
// Needs root; everything lives under a temporary CBS_ROOT, which must be on ext4 for the floor
// to be the copy it names.
import {randomBytes} from 'node:crypto'
import {spawnSync} from 'node:child_process'
import {closeSync, mkdtempSync, openSync, rmSync, writeSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {performance} from 'node:perf_hooks'

const MiB = 1024 ** 2
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const round = (value, digits = 1) => Number(value.toFixed(digits))

/** Rows {name, median_ms, floor_name, floor_ms, ratio} for bench/run.js. */
export async function benchUnion({cbsBin, repeats = 5}) {
  const root = mkdtempSync('/tmp/cbs-bench-union-')
  const cbs = (...args) => {
    const start = performance.now()
    const result = spawnSync(process.execPath, [cbsBin, ...args], {env: {...process.env, CBS_ROOT: root}, encoding: 'utf8'})
    const ms = performance.now() - start
    if (result.status !== 0) throw new Error(`cbs ${args.join(' ')}: ${result.stderr.trim()}`)
    return {ms, stdout: result.stdout}
  }
  try {
    const seed = JSON.parse(cbs('volume', 'create', 'seed', '--size', '4G', '--json').stdout)
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
    cleanUp(root, cbsBin)
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

const row = (name, ms, floorName, floorMs) => ({name, median_ms: round(ms), floor_name: floorName, floor_ms: round(floorMs), ratio: round(ms / floorMs, 3)})

/** Incompressible data that a sparse copy cannot skip, flushed to the image. */
function writeRandom(file, bytes) {
  const block = randomBytes(4 * MiB)
  const fd = openSync(file, 'w')
  try {
    for (let written = 0; written < bytes; written += block.length) {
      block.writeUInt32LE(written / block.length) // no two blocks alike
      writeSync(fd, block)
    }
  } finally {
    closeSync(fd)
  }
  spawnSync('sync', ['-f', file])
}

function cleanUp(root, cbsBin) {
  spawnSync(process.execPath, [cbsBin, 'volume', 'unmount', '--all'], {env: {...process.env, CBS_ROOT: root}})
  for (const line of spawnSync('findmnt', ['-l', '-n', '-o', 'TARGET'], {encoding: 'utf8'}).stdout.split('\n').reverse()) {
    if (line.startsWith(`${root}/`)) spawnSync('umount', ['-l', line])
  }
  for (const line of spawnSync('losetup', ['-l', '-n', '-O', 'NAME,BACK-FILE'], {encoding: 'utf8'}).stdout.split('\n')) {
    const [device, file] = line.trim().split(/\s+/)
    if (file?.startsWith(`${root}/`)) spawnSync('losetup', ['-d', device])
  }
  spawnSync('chattr', ['-R', '-i', root])
  rmSync(root, {recursive: true, force: true})
}

if (process.argv[1] === import.meta.filename) {
  if (process.getuid() !== 0) throw new Error('the benchmark needs root (loop devices and mounts)')
  const rows = await benchUnion({cbsBin: resolve(import.meta.dirname, '..', 'bin', 'run.js'), repeats: Number(process.env.BENCH_REPEATS ?? 5)})
  for (const each of rows) console.log(`${each.name}: ${each.median_ms} ms; ${each.floor_name}: ${each.floor_ms} ms; ratio ${each.ratio}`)
}
