#!/usr/bin/env node
// Moving volumes: `cbs volume export | cbs volume import` of a 4 GiB volume holding 1 GiB of
// data, between two CBS_ROOTs on this host's ext4 and between two xfs hosts, against
// `cp --sparse=always` + `sync` of the image (what a hand-made copy costs); the full stream's
// size against the bytes the image has allocated; and on a reflink-capable xfs host (made on a
// loop device for the purpose), an incremental stream after 16 MiB of random 4 KiB writes: its
// size against 16 MiB, and its time against the full export on the same host.
// Called by bench/run.js (`npm run bench`); standalone: `npm run build && node bench/streams.js`.
// Needs root. Everything it makes goes at the end.
import {spawnSync} from 'node:child_process'
import {randomBytes, randomInt} from 'node:crypto'
import {closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {performance} from 'node:perf_hooks'
import {MiB, median, printTable, releaseRoot, round, row, seedVolume, timed, withXfsHost} from './support.js'

export async function benchStreams({cbsBin, repeats = 5}) {
  return [...benchPipe(cbsBin, repeats), ...benchIncremental(cbsBin, repeats)]
}

/**
 * `export | import` between two roots, against `cp --sparse=always` + `sync` of the same image
 * in the same rounds: a mounted volume (exported through a temporary snapshot, as the issue's
 * row), and a snapshot (which the receiver keeps, for the next incremental) on the host's ext4;
 * then a mounted volume from one reflink (xfs) host to another, where snapshots are reflinks
 * and cp cannot reflink across. Also the full stream's size against the allocated bytes.
 */
function benchPipe(cbsBin, repeats) {
  const dir = mkdtempSync('/tmp/cbs-bench-streams-')
  const from = join(dir, 'a')
  const to = join(dir, 'b')
  try {
    seedVolume(cbsBin, from)
    cbs(cbsBin, from, ['volume', 'snapshot', 'create', 'bench', 'full'])
    const snapshotImage = join(from, 'snapshots', 'bench', 'full.img')
    const stream = join(dir, 'full.cbs')
    cbs(cbsBin, from, ['volume', 'export', 'bench@full', '-o', stream])
    const streamBytes = statSync(stream).size
    const allocated = statSync(snapshotImage).blocks * 512
    rmSync(stream)
    const volume = pipeRounds(cbsBin, repeats, {from, to, source: 'bench', image: join(from, 'images', 'bench.img'), copy: join(dir, 'cp-floor.img')})
    const snapshot = pipeRounds(cbsBin, repeats, {from, to, source: 'bench@full', image: snapshotImage, copy: join(dir, 'cp-floor.img')})
    const reflinks = withXfsHost('cbs-bench-streams-from', (root) => cleanUp(cbsBin, root), (xfsFrom) =>
      withXfsHost('cbs-bench-streams-to', (root) => cleanUp(cbsBin, root), (xfsTo) => {
        seedVolume(cbsBin, xfsFrom)
        return pipeRounds(cbsBin, repeats, {from: xfsFrom, to: xfsTo, source: 'bench', image: join(xfsFrom, 'images', 'bench.img'), copy: join(xfsTo, 'cp-floor.img')})
      }),
    )
    const floor = 'cp --sparse=always + sync of the image'
    return [
      pipeRow('cbs volume export VOLUME | cbs volume import, 4 GiB volume / 1 GiB data, ext4 host', volume, floor),
      pipeRow('cbs volume export VOLUME@SNAPSHOT | cbs volume import (snapshot kept), ext4 host', snapshot, floor),
      pipeRow('cbs volume export VOLUME | cbs volume import, xfs host to xfs host (reflinks)', reflinks, floor),
      {name: 'full stream size, 4 GiB volume / 1 GiB data (MiB)', median_ms: null, stream_mib: round(streamBytes / MiB), allocated_mib: round(allocated / MiB), ratio: round(streamBytes / allocated, 3)},
    ]
  } finally {
    for (const root of [from, to]) cleanUp(cbsBin, root)
    rmSync(dir, {recursive: true, force: true})
  }
}

/** A row of medians, with each round's own ratio beside it: these rows are the least steady. */
const pipeRow = (name, rounds, floor) => ({...row(name, rounds.ms, floor, rounds.floorMs), round_ratios: rounds.ratios})

/**
 * Medians of `export SOURCE | import copy` from root `from` to `to`, and of cp + sync of `image`
 * to `copy`, in the same rounds, and the ratio of each round. Which of the two goes first alternates, and what both wrote is
 * removed at the end of the round: what one round leaves behind (a GiB being freed on a
 * filesystem mounted with `discard`, memory just given back) weighs on both alike.
 */
function pipeRounds(cbsBin, repeats, {from, to, source, image, copy}) {
  const pipeline = () => {
    const start = performance.now()
    const piped = spawnSync('bash', ['-o', 'pipefail', '-c', `CBS_ROOT=${from} ${process.execPath} ${cbsBin} volume export ${source} | CBS_ROOT=${to} ${process.execPath} ${cbsBin} volume import copy`])
    if (piped.status !== 0) throw new Error(`export | import: ${piped.stderr}`)
    return performance.now() - start
  }
  const floor = () => {
    const start = performance.now()
    run('cp', ['--sparse=always', image, copy])
    run('sync', [copy])
    return performance.now() - start
  }
  const runs = []
  for (let index = -1; index < repeats; index++) {
    const order = index % 2 === 0 ? [pipeline, floor] : [floor, pipeline]
    const [first, second] = order.map((measure) => {
      run('sync', [])
      dropCache(image)
      return measure()
    })
    cbs(cbsBin, to, ['volume', 'rm', '-r', 'copy'])
    rmSync(copy)
    run('sync', [])
    const [ms, floorMs] = order[0] === pipeline ? [first, second] : [second, first]
    if (index >= 0) runs.push({ms, floorMs})
  }
  return {ms: median(runs.map((r) => r.ms)), floorMs: median(runs.map((r) => r.floorMs)), ratios: runs.map((r) => round(r.ms / r.floorMs))}
}

/**
 * Both sides start from an image that is not in the page cache, as a volume's is not (cbs
 * attaches them with direct I/O): the export reads a snapshot made for it, a file no one read
 * before, and cp, run round after round, would otherwise read the image from memory.
 */
const dropCache = (file) => run('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'])

/** On an xfs host with reflink: an incremental stream after 16 MiB of random 4 KiB writes. */
function benchIncremental(cbsBin, repeats) {
  return withXfsHost('cbs-bench-streams-xfs', (root) => cleanUp(cbsBin, root), (root) => {
    const dir = join(root, '..')
    seedVolume(cbsBin, root)
    const data = join(root, 'mounts', 'bench', 'data')
    const sizes = []
    const runs = []
    for (let index = 0; index <= repeats; index++) {
      cbs(cbsBin, root, ['volume', 'snapshot', 'create', 'bench', `s${index}`])
      if (index === 0) continue
      const stream = join(dir, 'incremental.cbs')
      const full = join(dir, 'full.cbs')
      run('sync', [])
      const fullStart = performance.now()
      cbs(cbsBin, root, ['volume', 'export', `bench@s${index}`, '-o', full])
      const fullMs = performance.now() - fullStart
      rmSync(full)
      run('sync', [])
      const start = performance.now()
      cbs(cbsBin, root, ['volume', 'export', `bench@s${index}`, '--since', `bench@s${index - 1}`, '-o', stream])
      const ms = performance.now() - start
      sizes.push(statSync(stream).size)
      rmSync(stream)
      runs.push({ms, fullMs})
      cbs(cbsBin, root, ['volume', 'snapshot', 'rm', `bench@s${index - 1}`])
      randomWrites(data, 16 * MiB)
      // (the snapshot at the top of the next round takes these writes)
    }
    // The first round streams no change: measure sizes after writes only.
    return [
      {name: 'incremental stream after 16 MiB of random 4 KiB writes, xfs host (MiB)', median_ms: null, stream_mib: round(median(sizes.slice(1)) / MiB), allocated_mib: 16, ratio: round(median(sizes.slice(1)) / (16 * MiB), 3)},
      row('cbs volume export --since, after 16 MiB of random writes, xfs host (reflink)', median(runs.slice(1).map((r) => r.ms)), 'full export of the same snapshot', median(runs.slice(1).map((r) => r.fullMs))),
    ]
  })
}

/** `bytes` of 4 KiB writes at distinct random 4 KiB-aligned places in the file, flushed. */
function randomWrites(file, bytes) {
  const blocks = statSync(file).size / 4096
  const chosen = new Set()
  while (chosen.size < bytes / 4096) chosen.add(randomInt(blocks))
  const fd = openSync(file, 'r+')
  try {
    for (const block of chosen) writeSync(fd, randomBytes(4096), 0, 4096, block * 4096)
  } finally {
    closeSync(fd)
  }
  spawnSync('sync', ['-f', file])
}

const cbs = (cbsBin, root, args) => timed(process.execPath, [cbsBin, ...args], {CBS_ROOT: root})
const run = (file, args) => timed(file, args)

function cleanUp(cbsBin, root) {
  spawnSync(process.execPath, [cbsBin, 'volume', 'rm', '-f', '-r', 'bench', 'copy'], {env: {...process.env, CBS_ROOT: root}})
  releaseRoot(root)
}

if (process.argv[1] === import.meta.filename) {
  if (process.getuid() !== 0) throw new Error('the benchmark needs root (loop devices and mounts)')
  const rows = await benchStreams({cbsBin: resolve(import.meta.dirname, '..', 'bin', 'run.js'), repeats: Number(process.env.BENCH_REPEATS ?? 5)})
  printTable(rows)
  for (const {name, round_ratios: ratios} of rows) if (ratios) console.log(`${name}, round by round: ${ratios.map((ratio) => `${ratio}x`).join(' ')}`)
}
