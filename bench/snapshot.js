#!/usr/bin/env node
// Snapshots: `cbs volume snapshot create` of a 4 GiB volume holding 1 GiB of data, mounted,
// - on an ext4 host (a sparse copy), against `cp --sparse=always` of the same image;
// - on a reflink-capable xfs host (made on a loop device for the purpose), against the raw
//   steps (fsfreeze, cp --reflink=always, unfreeze) plus cbs's own start (`cbs volume ls` on an
//   empty store), measured in the same rounds.
// cbs also flushes the copy to disk before it calls it a snapshot (cp does not): the ext4 copy
// is measured against `cp` + `sync FILE` as well. Every timed run starts with the host's dirty
// pages written back (`sync`), so that one run does not pay for the writeback of the last.
// Besides the whole command, how long the volume stayed frozen (`frozenMs` of --json) is
// reported against the same floors: that is what a database on the volume notices.
// Called by bench/run.js (`npm run bench`); standalone: `npm run build && node bench/snapshot.js`
// (`-- --xfs` for the xfs host only).
// Needs root. Everything it makes (CBS_ROOTs, the xfs host, its loop device) goes at the end.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, statfsSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {performance} from 'node:perf_hooks'
import {median, printHeader, printRow, releaseRoot, round, row, seedVolume, timed, withXfsHost} from './support.js'

const EXT4_MAGIC = 0xef53

/** Reports rows {name, median_ms, floor_name, floor_ms, ratio} for bench/run.js as each host (ext4, xfs: `hosts`) is done. */
export async function benchSnapshots({cbsBin, repeats = 5, report, hosts = ['ext4', 'xfs']}) {
  if (hosts.includes('ext4')) report(...benchExt4(cbsBin, repeats))
  if (hosts.includes('xfs')) report(...benchXfs(cbsBin, repeats))
}

/** A sparse copy on an ext4 host (/tmp here), against cp --sparse=always of the same image. */
function benchExt4(cbsBin, repeats) {
  const root = mkdtempSync('/tmp/cbs-bench-snapshot-')
  try {
    if (statfsSync(root).type !== EXT4_MAGIC) throw new Error(`${root} is not on ext4: the copy benchmark needs an ext4 /tmp`)
    const {image} = seedVolume(cbsBin, root)
    const copy = join(root, 'cp-floor.img')
    let synced = []
    const floor = () => {
      const ms = time('cp', ['--sparse=always', image, copy])
      synced.push(ms + time('sync', [copy]))
      rmSync(copy)
      return ms
    }
    const {runs, frozen} = snapshots(cbsBin, root, repeats, floor)
    synced = synced.slice(1) // the warm-up
    const name = 'cbs volume snapshot create, 4 GiB volume / 1 GiB data, ext4 host (sparse copy)'
    const floorMs = median(runs.map((run) => run.floor))
    return [
      row(name, median(runs.map((run) => run.cbs)), 'cp --sparse=always of the image', floorMs),
      row(name, median(runs.map((run) => run.cbs)), 'cp --sparse=always + sync of the copy', median(synced)),
      row('  of which the volume was frozen (frozenMs)', median(frozen), 'cp --sparse=always of the image', floorMs),
    ]
  } finally {
    cleanUp(cbsBin, root)
    rmSync(root, {recursive: true, force: true})
  }
}

/** A reflink on an xfs host made for the purpose, against the raw freeze, reflink and thaw. */
function benchXfs(cbsBin, repeats) {
  const empty = mkdtempSync('/tmp/cbs-bench-empty-')
  try {
    return withXfsHost('cbs-bench-xfs', (root) => cleanUp(cbsBin, root), (root) => {
      const {image, mountpoint} = seedVolume(cbsBin, root)
      const clone = join(root, 'reflink-floor.img')
      const floor = () => {
        const start = performance.now()
        run('fsfreeze', ['--freeze', mountpoint])
        try {
          run('cp', ['--reflink=always', image, clone])
        } finally {
          run('fsfreeze', ['--unfreeze', mountpoint])
        }
        const ms = performance.now() - start
        rmSync(clone)
        return ms
      }
      const lsEmpty = []
      const floorAndStart = () => {
        lsEmpty.push(cbs(cbsBin, empty, ['volume', 'ls']).ms)
        return floor()
      }
      const {runs, frozen, method} = snapshots(cbsBin, root, repeats, floorAndStart)
      if (method !== 'reflink') throw new Error(`the xfs host made a ${method}, not a reflink`)
      const floorMs = median(runs.map((run) => run.floor))
      const startMs = median(lsEmpty.slice(1)) // less the warm-up round
      return [
        row(
          'cbs volume snapshot create, 4 GiB volume / 1 GiB data, xfs host (reflink)',
          median(runs.map((run) => run.cbs)),
          `cbs volume ls, empty (${round(startMs)} ms) + fsfreeze, cp --reflink, unfreeze (${round(floorMs)} ms)`,
          startMs + floorMs,
        ),
        row('  of which the volume was frozen (frozenMs)', median(frozen), 'fsfreeze + cp --reflink=always + unfreeze', floorMs),
      ]
    })
  } finally {
    rmSync(empty, {recursive: true, force: true})
  }
}

/**
 * Interleaved runs of the snapshot (then removed, untimed) and of the floor, after one untimed
 * round of each: both then read the image from the page cache.
 */
function snapshots(cbsBin, root, repeats, floor) {
  const runs = []
  const frozen = []
  let method
  for (let index = -1; index < repeats; index++) {
    run('sync', [])
    const start = performance.now()
    const [snapshot] = JSON.parse(cbs(cbsBin, root, ['volume', 'snapshot', 'create', 'bench', `s${index + 1}`, '--json']).stdout)
    const ms = performance.now() - start
    cbs(cbsBin, root, ['volume', 'snapshot', 'rm', snapshot.name])
    run('sync', [])
    const floorMs = floor()
    if (index < 0) continue
    runs.push({cbs: ms, floor: floorMs})
    frozen.push(snapshot.frozenMs)
    method = snapshot.method
  }
  return {runs, frozen, method}
}

const cbs = (cbsBin, root, args) => timed(process.execPath, [cbsBin, ...args], {CBS_ROOT: root})
const run = (file, args) => timed(file, args)
const time = (file, args) => timed(file, args).ms

/** Removes every volume and snapshot, and takes down whatever is still mounted or attached under root. */
function cleanUp(cbsBin, root) {
  spawnSync(process.execPath, [cbsBin, 'volume', 'rm', '--force', '--recursive', 'bench'], {env: {...process.env, CBS_ROOT: root}})
  releaseRoot(root)
}

if (process.argv[1] === import.meta.filename) {
  if (process.getuid() !== 0) throw new Error('the benchmark needs root (loop devices and mounts)')
  printHeader()
  const hosts = process.argv.includes('--xfs') ? ['xfs'] : undefined
  await benchSnapshots({cbsBin: resolve(import.meta.dirname, '..', 'bin', 'run.js'), repeats: Number(process.env.BENCH_REPEATS ?? 5), report: (...rows) => rows.forEach(printRow), hosts})
}
