// What the benchmark files share: medians, result rows, test data, and taking down a root.
import {spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync} from 'node:fs'
import {join} from 'node:path'
import {performance} from 'node:perf_hooks'

export const MiB = 1024 ** 2
export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
export const round = (value, digits = 1) => Number(value.toFixed(digits))
export const row = (name, ms, floorName, floorMs, digits = 2) => ({name, median_ms: round(ms), floor_name: floorName, floor_ms: round(floorMs), ratio: round(ms / floorMs, digits)})

/** Wall time of one program run, in ms, and what it printed; fails loudly. */
export function timed(file, args, env = {}) {
  const start = performance.now()
  const result = spawnSync(file, args, {env: {...process.env, ...env}, encoding: 'utf8'})
  const ms = performance.now() - start
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${result.stderr.trim()}`)
  return {ms, stdout: result.stdout}
}

/** Incompressible data that a sparse copy cannot skip, flushed to the file. */
export function writeRandom(file, bytes) {
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

/** Takes down whatever is still mounted or attached under root, and makes it deletable. */
export function releaseRoot(root) {
  for (const line of spawnSync('findmnt', ['-l', '-n', '-o', 'TARGET'], {encoding: 'utf8'}).stdout.split('\n').reverse()) {
    if (line.startsWith(`${root}/`)) spawnSync('umount', ['-l', line])
  }
  for (const line of spawnSync('losetup', ['-l', '-n', '-O', 'NAME,BACK-FILE'], {encoding: 'utf8'}).stdout.split('\n')) {
    const [device, file] = line.trim().split(/\s+/)
    if (file?.startsWith(`${root}/`)) spawnSync('losetup', ['-d', device])
  }
  spawnSync('chattr', ['-R', '-i', root])
}

/** Unmounts every volume of a CBS_ROOT, takes down what is left under it, and deletes it. */
export function takeDown(cbsBin, root) {
  spawnSync(process.execPath, [cbsBin, 'volume', 'unmount', '--all'], {env: {...process.env, CBS_ROOT: root}})
  releaseRoot(root)
  rmSync(root, {recursive: true, force: true})
}

const WIDTHS = [82, 12, 56, 14]

/** Prints the header of the table that printRow() continues. */
export function printHeader() {
  printLine(['benchmark', 'median', 'floor', 'floor median', 'ratio'])
}

/** Prints one row as soon as it is measured: the table grows while the benchmark runs. */
export function printRow(r) {
  if (r.volume_mib_s !== undefined) printLine([r.name, `${r.volume_mib_s} MiB/s`, r.floor_name, `${r.floor_mib_s} MiB/s`, `${r.ratio}x`])
  else if (r.stream_mib !== undefined) printLine([r.name, `${r.stream_mib} MiB`, 'allocated / written', `${r.allocated_mib} MiB`, `${r.ratio}x`])
  else printLine([r.name, `${r.median_ms} ms`, r.floor_name, `${r.floor_ms} ms`, `${r.ratio}x`])
}

const printLine = (cells) => console.log(cells.map((cell, column) => cell.padEnd(WIDTHS[column] ?? 0)).join('  ').trimEnd())

/** Prints a whole table (for a bench file run on its own). */
export function printTable(rows) {
  printHeader()
  rows.forEach(printRow)
}

/** A mounted 4 GiB volume "bench" holding 1 GiB of incompressible data. */
export function seedVolume(cbsBin, root) {
  const [volume] = JSON.parse(timed(process.execPath, [cbsBin, 'volume', 'create', 'bench', '--size', '4G', '--json'], {CBS_ROOT: root}).stdout)
  writeRandom(join(volume.mountpoint, 'data'), 1024 * MiB)
  return {image: volume.image, mountpoint: volume.mountpoint}
}

/**
 * Runs `work(root)` with a CBS_ROOT on an 8 GiB reflink-capable xfs made on a loop device for
 * the purpose; `cleanUp(root)` then takes down what cbs left, and the xfs goes.
 */
export function withXfsHost(prefix, cleanUp, work) {
  const dir = mkdtempSync(`/tmp/${prefix}-`)
  const hostImage = join(dir, 'host.img')
  const root = join(dir, 'root')
  mkdirSync(root, {mode: 0o700})
  let mounted = false
  try {
    timed('truncate', ['--size', '8G', hostImage])
    timed('mkfs.xfs', ['-q', '-m', 'reflink=1', hostImage])
    timed('mount', ['-o', 'loop', hostImage, root])
    mounted = true
    return work(root)
  } finally {
    cleanUp(root)
    if (mounted) spawnSync('umount', [root])
    rmSync(dir, {recursive: true, force: true})
  }
}
