#!/usr/bin/env node
// `npm run bench`: medians of cbs against the floors measured in the same run: Node's own
// start (`node -e 0`) and the raw shell steps cbs performs. Prints a table of ratios and
// writes .bench/results.json. Needs root; creates everything under a temporary CBS_ROOT.
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {performance} from 'node:perf_hooks'
import {median, printTable, releaseRoot, round, row} from './support.js'

const REPO = resolve(import.meta.dirname, '..')
const CBS = join(REPO, 'bin', 'run.js')
const REPEATS = Number(process.env.BENCH_REPEATS ?? 15)
const FIO_SECONDS = Number(process.env.BENCH_FIO_SECONDS ?? 5)
const quick = process.argv.includes('--quick')

/** Wall time of one program run, in ms; fails loudly. */
export function timed(file, args, env = {}) {
  const start = performance.now()
  const result = spawnSync(file, args, {env: {...process.env, ...env}, encoding: 'utf8'})
  const ms = performance.now() - start
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${result.stderr}`)
  return {ms, stdout: result.stdout}
}


function nodeFloor() {
  return median(Array.from({length: REPEATS}, () => timed(process.execPath, ['-e', '0']).ms))
}

function lsBench(root, node) {
  const ms = median(Array.from({length: REPEATS}, () => timed(process.execPath, [CBS, 'volume', 'ls'], {CBS_ROOT: root}).ms))
  return {ms, row: row(`cbs volume ls (${countVolumes(root)} volumes)`, ms, 'node -e 0', node)}
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

function createRmBench(root, size, node) {
  const raw = {create: [], rm: []}
  const cbs = {create: [], rm: []}
  for (let index = 0; index < REPEATS; index++) {
    const steps = rawCreate(root, size)
    raw.create.push(steps.ms)
    raw.rm.push(rawRemove(steps))
    cbs.create.push(timed(process.execPath, [CBS, 'volume', 'create', 'bench', '--size', size], {CBS_ROOT: root}).ms)
    cbs.rm.push(timed(process.execPath, [CBS, 'volume', 'rm', 'bench'], {CBS_ROOT: root}).ms)
  }
  const rawCreateMs = median(raw.create)
  const rawRmMs = median(raw.rm)
  return [
    row(`cbs volume create ${size}`, median(cbs.create), `raw steps (${round(rawCreateMs)} ms) + node -e 0`, rawCreateMs + node),
    row(`cbs volume rm ${size}`, median(cbs.rm), `raw steps (${round(rawRmMs)} ms) + node -e 0`, rawRmMs + node),
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

function fioBench(root) {
  const volume = JSON.parse(timed(process.execPath, [CBS, 'volume', 'create', 'fio', '--size', '4G', '--json'], {CBS_ROOT: root}).stdout)
  const hostDir = join(root, 'images')
  const rows = []
  try {
    for (const [name, args] of FIO_JOBS) {
      const host = fio(hostDir, args)
      const through = fio(volume.mountpoint, args)
      rows.push({name: `fio ${name} (MiB/s)`, median_ms: null, volume_mib_s: round(through / 1024), host_mib_s: round(host / 1024), ratio: round(through / host, 2)})
      rmSync(join(hostDir, 'bench.0.0'), {force: true})
      rmSync(join(volume.mountpoint, 'bench.0.0'), {force: true})
    }
  } finally {
    timed(process.execPath, [CBS, 'volume', 'rm', 'fio'], {CBS_ROOT: root})
  }
  return rows
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

async function optional(file, name) {
  if (!existsSync(join(import.meta.dirname, file))) return []
  const module = await import(`./${file}`)
  return module[name]({cbsBin: CBS, repeats: Math.max(3, Math.floor(REPEATS / 3))})
}

async function main() {
  if (process.getuid() !== 0) throw new Error('the benchmark needs root (loop devices and mounts)')
  const root = mkdtempSync('/tmp/cbs-bench-')
  const rows = []
  try {
    const node = nodeFloor()
    rows.push(row('node -e 0', node, 'node -e 0', node))
    const empty = lsBench(root, node)
    rows.push(empty.row)
    rows.push(...createRmBench(root, '1G', node))
    rows.push(...createRmBench(root, '100G', node))
    if (!quick) {
      await populate(root, 200)
      const many = lsBench(root, node)
      rows.push(many.row, row('cbs volume ls (200) vs ls (empty)', many.ms, 'cbs volume ls (empty)', empty.ms))
      rows.push(...fioBench(root))
      rows.push(...(await optional('snapshot.js', 'benchSnapshots')))
      rows.push(...(await optional('union.js', 'benchUnion')))
    }
  } finally {
    spawnSync(process.execPath, [CBS, 'volume', 'unmount', '--all'], {env: {...process.env, CBS_ROOT: root}})
    releaseRoot(root)
    rmSync(root, {recursive: true, force: true})
  }
  printTable(rows)
  mkdirSync(join(REPO, '.bench'), {recursive: true})
  writeFileSync(join(REPO, '.bench', 'results.json'), JSON.stringify({date: new Date().toISOString(), repeats: REPEATS, rows}, null, 2))
}

if (process.argv[1] === import.meta.filename) await main()
