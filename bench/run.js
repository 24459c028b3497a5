#!/usr/bin/env node
// `npm run bench`: medians of cbs against the floors measured in the same rounds: Node's own
// start (`node -e 0`) and the raw shell steps cbs performs. Prints each row of ratios as soon
// as it is measured, and writes .bench/results.json. Needs root and fio; creates everything
// under temporary CBS_ROOTs.
import {execFileSync, spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {benchCsi} from './csi.js'
import {benchPlugin} from './plugin.js'
import {benchSnapshots} from './snapshot.js'
import {benchStreams} from './streams.js'
import {median, printHeader, printRow, round, row, takeDown, timed} from './support.js'
import {benchUnion} from './union.js'

const REPO = resolve(import.meta.dirname, '..')
const CBS = join(REPO, 'bin', 'run.js')
const REPEATS = Number(process.env.BENCH_REPEATS ?? 25)
const FIO_SECONDS = Number(process.env.BENCH_FIO_SECONDS ?? 5)
const FIO_ROUNDS = Number(process.env.BENCH_FIO_ROUNDS ?? 3)
const quick = process.argv.includes('--quick')

const nodeStart = () => timed(process.execPath, ['-e', '0']).ms
const cbsLs = (root) => timed(process.execPath, [CBS, 'volume', 'ls'], {CBS_ROOT: root}).ms

/**
 * Runs each named measurement once per round, all in the same rounds, and returns the median
 * of each: a floor is always measured beside what it is the floor of, so that the VM's slower
 * and faster minutes weigh on both alike.
 */
function interleaved(measurements) {
  const times = Object.fromEntries(Object.keys(measurements).map((name) => [name, []]))
  for (let round = 0; round < REPEATS; round++) {
    for (const [name, measure] of Object.entries(measurements)) times[name].push(measure())
  }
  return Object.fromEntries(Object.entries(times).map(([name, values]) => [name, median(values)]))
}

function lsBench(empty, many) {
  const count = countVolumes(many)
  const ms = interleaved({node: nodeStart, empty: () => cbsLs(empty), many: () => cbsLs(many)})
  return [
    row('node -e 0', ms.node, 'node -e 0', ms.node),
    row('cbs volume ls (empty store)', ms.empty, 'node -e 0', ms.node),
    row(`cbs volume ls (${count} volumes)`, ms.many, 'cbs volume ls (empty store)', ms.empty),
  ]
}

const countVolumes = (root) => JSON.parse(timed(process.execPath, [CBS, 'volume', 'ls', '--json'], {CBS_ROOT: root}).stdout).length

/** The raw steps of a create: truncate, losetup, mkfs, mkdir, mount; returns ms and what to undo. */
function rawCreate(dir, size) {
  const image = join(dir, 'raw.img')
  const mnt = join(dir, 'raw-mnt')
  const steps = []
  steps.push(timed('truncate', ['--size', size, image]).ms)
  const attach = timed('losetup', ['--find', '--show', '--nooverlap', '--direct-io=on', image])
  steps.push(attach.ms)
  const device = attach.stdout.trim()
  steps.push(timed('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'nodiscard,lazy_itable_init=1,lazy_journal_init=1,assume_storage_prezeroed=1', device]).ms)
  mkdirSync(mnt, {recursive: true})
  steps.push(timed('mount', ['-o', 'discard', device, mnt]).ms)
  return {ms: steps.reduce((a, b) => a + b), image, mnt, device}
}

function rawRemove({image, mnt, device}) {
  return timed('umount', [mnt]).ms + timed('losetup', ['--detach', device]).ms + timed('rm', ['-f', image]).ms
}

function createRmBench(root, size) {
  let steps
  const ms = interleaved({
    node: nodeStart,
    rawCreate: () => (steps = rawCreate(root, size)).ms,
    rawRm: () => rawRemove(steps),
    create: () => timed(process.execPath, [CBS, 'volume', 'create', 'bench', '--size', size], {CBS_ROOT: root}).ms,
    rm: () => timed(process.execPath, [CBS, 'volume', 'rm', 'bench'], {CBS_ROOT: root}).ms,
  })
  return [
    row(`cbs volume create ${size}`, ms.create, `raw steps (${round(ms.rawCreate)} ms) + node -e 0 (${round(ms.node)} ms)`, ms.rawCreate + ms.node),
    row(`cbs volume rm ${size}`, ms.rm, `raw steps (${round(ms.rawRm)} ms) + node -e 0 (${round(ms.node)} ms)`, ms.rawRm + ms.node),
  ]
}

const FIO_JOBS = [
  ['seq-read-1M', ['--rw=read', '--bs=1M', '--iodepth=8']],
  ['seq-write-1M', ['--rw=write', '--bs=1M', '--iodepth=8']],
  ['rand-read-4k-qd32', ['--rw=randread', '--bs=4k', '--iodepth=32']],
  ['rand-write-4k-qd32', ['--rw=randwrite', '--bs=4k', '--iodepth=32']],
]

/** fio bandwidth (KiB/s) of one job on a file in `dir`. */
function fio(dir, args) {
  const output = execFileSync('fio', [
    '--name=bench', `--directory=${dir}`, '--size=1G', '--ioengine=libaio', '--direct=1', '--time_based', `--runtime=${FIO_SECONDS}`,
    '--ramp_time=1', '--group_reporting', '--output-format=json', ...args,
  ], {encoding: 'utf8'})
  const job = JSON.parse(output).jobs[0]
  return job.read.bw + job.write.bw
}

/**
 * fio on a cbs volume, on the host folder that holds its image, and on the peers' setup: an
 * image of the same kind on a plain buffered loop device (`losetup` with no options, as the
 * Docker loopback volume plugins use it), all three in the same rounds.
 */
function fioBench(root, report) {
  const [volume] = JSON.parse(timed(process.execPath, [CBS, 'volume', 'create', 'fio', '--size', '4G', '--json'], {CBS_ROOT: root}).stdout)
  const dirs = {host: join(root, 'images'), volume: volume.mountpoint}
  const peer = {image: join(root, 'peer.img'), mnt: join(root, 'peer-mnt')}
  try {
    timed('truncate', ['--size', '4G', peer.image])
    peer.device = timed('losetup', ['--find', '--show', peer.image]).stdout.trim()
    timed('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'nodiscard,lazy_itable_init=1,lazy_journal_init=1,assume_storage_prezeroed=1', peer.device])
    mkdirSync(peer.mnt)
    timed('mount', [peer.device, peer.mnt])
    dirs.peer = peer.mnt
    for (const [name, args] of FIO_JOBS) {
      // This VM's disk varies by a third from one run to the next: several rounds, the order
      // of the three turned each time, and the median of each.
      const bandwidths = {host: [], volume: [], peer: []}
      for (let round = 0; round < FIO_ROUNDS; round++) {
        const sides = Object.keys(bandwidths)
        for (const side of [...sides.slice(round % 3), ...sides.slice(0, round % 3)]) {
          bandwidths[side].push(fio(dirs[side], args))
          rmSync(join(dirs[side], 'bench.0.0'), {force: true})
        }
      }
      const [host, through, plain] = ['host', 'volume', 'peer'].map((side) => median(bandwidths[side]) / 1024)
      const fioRow = (floorName, floor) => ({name: `fio ${name}`, volume_mib_s: round(through), floor_name: floorName, floor_mib_s: round(floor), ratio: round(through / floor, 2)})
      report(fioRow('host folder', host), fioRow('plain loop device (losetup, buffered)', plain))
    }
  } finally {
    spawnSync('umount', [peer.mnt])
    if (peer.device) spawnSync('losetup', ['--detach', peer.device])
    rmSync(peer.image, {force: true})
    timed(process.execPath, [CBS, 'volume', 'rm', 'fio'], {CBS_ROOT: root})
  }
}

/** Creates n tiny volumes quickly (in parallel batches) for the ls-with-many case. */
async function populate(root, count) {
  const {spawn} = await import('node:child_process')
  const run = (name) =>
    new Promise((done, fail) => {
      const child = spawn(process.execPath, [CBS, 'volume', 'create', name, '--size', '8M'], {env: {...process.env, CBS_ROOT: root}, stdio: 'ignore'})
      child.on('close', (code) => (code === 0 ? done() : fail(new Error(`create ${name} failed`))))
    })
  for (let start = 0; start < count; start += 8) {
    await Promise.all(Array.from({length: Math.min(8, count - start)}, (_, index) => run(`many${start + index}`)))
  }
}

/** fio is checked first: the benchmark would otherwise fail minutes in. */
function requireFio() {
  if (spawnSync('fio', ['--version']).error) {
    console.error('bench: fio is not installed: apt-get install fio (or npm run setup)')
    process.exit(5)
  }
}

async function main() {
  if (process.getuid() !== 0) throw new Error('the benchmark needs root (loop devices and mounts)')
  if (!quick) requireFio()
  const root = mkdtempSync('/tmp/cbs-bench-')
  const empty = mkdtempSync('/tmp/cbs-bench-empty-')
  const rows = []
  const report = (...measured) => {
    for (const each of measured) printRow(each)
    rows.push(...measured)
  }
  printHeader()
  try {
    report(...createRmBench(root, '1G'))
    report(...createRmBench(root, '100G'))
    if (!quick) await populate(root, 200)
    report(...lsBench(empty, root))
    if (!quick) {
      fioBench(root, report)
      const fewer = {cbsBin: CBS, repeats: Math.max(3, Math.floor(REPEATS / 3)), report}
      await benchSnapshots(fewer)
      report(...(await benchUnion(fewer)))
      report(...(await benchPlugin(fewer)))
      report(...(await benchCsi({cbsBin: CBS, repeats: REPEATS})))
      report(...(await benchStreams(fewer)))
    }
  } finally {
    takeDown(CBS, root)
    rmSync(empty, {recursive: true, force: true})
  }
  mkdirSync(join(REPO, '.bench'), {recursive: true})
  writeFileSync(join(REPO, '.bench', 'results.json'), JSON.stringify({date: new Date().toISOString(), repeats: REPEATS, rows}, null, 2))
}

if (process.argv[1] === import.meta.filename) await main()
