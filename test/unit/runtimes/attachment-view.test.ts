import assert from 'node:assert/strict'
import {mkdirSync, writeFileSync} from 'node:fs'
import {attachmentFindings, dropStaleAttachments} from '../../../src/lib/doctor/attachments.js'
import {confirm, parseContainerStatus} from '../../../src/lib/runtimes/attachment-view.js'
import type {AttachmentRecord} from '../../../src/lib/store/state.js'
import {inspectVolumes, listVolumes} from '../../../src/lib/volumes/list.js'
import {pruneCandidates} from '../../../src/lib/volumes/prune.js'
import type {Expectation} from '../../support/fake-executor.js'
import {type UnitContext, unitContext, withScript} from '../../support/unit-context.js'

const ID = 'a'.repeat(64)
const OTHER = 'b'.repeat(64)
const LIVE = 'c'.repeat(64)

const ps = (runtime: string, lines: string[]): Expectation => ({command: `${runtime} ps --all --no-trunc --format '{{.ID}} {{.Status}}'`, stdout: lines.map((line) => `${line}\n`).join('')})
const volumes = (runtime: string, names: string[]): Expectation => ({command: `${runtime} volume ls --quiet --filter driver=local`, stdout: names.map((name) => `${name}\n`).join('')})

async function seed(ctx: UnitContext, name: string, attachments?: AttachmentRecord[]): Promise<void> {
  mkdirSync(ctx.layout.imagesDir, {recursive: true})
  writeFileSync(ctx.layout.image(name), '')
  await ctx.store.update((state) => {
    state.volumes[name] = {name, type: 'loop', fs: 'ext4', sizeBytes: 1024 ** 3, labels: {}, createdAt: '2026-01-01T00:00:00.000Z', attachments}
  })
}

describe('attachments as the runtimes confirm them (pure)', () => {
  it('reads ps --format "{{.ID}} {{.Status}}": Up means running', () => {
    assert.deepEqual(
      [...parseContainerStatus(`${ID} Up 3 minutes\n${OTHER} Exited (0) 2 hours ago\n${LIVE} Up 1 second (Paused)\n`)],
      [[ID, true], [OTHER, false], [LIVE, true]],
    )
  })

  it('keeps what exists: the named volume, containers, live mounts in running containers; nothing left is no attachment', () => {
    const record: AttachmentRecord = {runtime: 'docker', name: 'db', containers: [ID, OTHER], live: [{container: LIVE, name: 'web', target: '/data'}]}
    const facts = (names: string[], containers: Array<[string, boolean]>) => ({volumes: new Set(names), containers: new Map(containers)})
    assert.deepEqual(confirm(record, facts(['db'], [[ID, false], [LIVE, true]])), {runtime: 'docker', name: 'db', containers: [ID], live: record.live})
    assert.deepEqual(confirm(record, facts([], [[ID, false], [LIVE, false]])), {runtime: 'docker', name: null, containers: [ID]})
    assert.equal(confirm(record, facts(['other'], [[LIVE, false]])), undefined)
    // nerdctl's plain attach hands out a bind mount and leaves nothing to read: it stands.
    const bindOnly: AttachmentRecord = {runtime: 'nerdctl', name: null, containers: []}
    assert.deepEqual(confirm(bindOnly, facts([], [])), bindOnly)
  })
})

describe('ls, inspect and doctor read attachments from the runtimes', () => {
  let ctx: UnitContext
  beforeEach(() => (ctx = unitContext()))
  afterEach(() => ctx.cleanup())

  it('ls asks no runtime when no volume has an attachment record', async () => {
    await seed(ctx, 'db')
    const ls = withScript(ctx, [])
    assert.deepEqual((await listVolumes(ls)).map((volume) => volume.attachments), [[]])
    ls.exec.assertDone()
  })

  it('after docker rm and docker volume rm, ls and inspect show no attachment; one ps and one volume ls per runtime, for all volumes', async () => {
    await seed(ctx, 'db', [{runtime: 'docker', name: 'db', containers: [ID, OTHER]}])
    await seed(ctx, 'web', [{runtime: 'docker', name: 'web', containers: []}, {runtime: 'podman', name: null, containers: [ID]}])
    const ls = withScript(ctx, [ps('docker', [`${OTHER} Exited (0) 1 minute ago`]), volumes('docker', ['web']), ps('podman', [])])
    const listed = await listVolumes(ls)
    ls.exec.assertDone()
    assert.deepEqual(
      listed.map((volume) => volume.attachments),
      [[{runtime: 'docker', name: null, containers: [OTHER]}], [{runtime: 'docker', name: 'web', containers: []}]],
    )
    // The store is not rewritten by a listing: doctor reports and --fix forgets.
    assert.equal(ctx.store.read().volumes.db.attachments![0].name, 'db')

    const inspect = withScript(ctx, [ps('docker', []), volumes('docker', [])])
    assert.deepEqual((await inspectVolumes(inspect, ['db']))[0].attachments, [])
    inspect.exec.assertDone()
  })

  it('live mounts and containers cbs started are confirmed by ps alone: volume ls (which a hung volume driver can stall) is not asked', async () => {
    const attachments: AttachmentRecord[] = [{runtime: 'docker', name: null, containers: [ID], live: [{container: LIVE, name: 'web', target: '/data'}]}]
    await seed(ctx, 'db', attachments)
    const inspect = withScript(ctx, [ps('docker', [`${ID} Up 1 minute`, `${LIVE} Up 2 minutes`])])
    assert.deepEqual((await inspectVolumes(inspect, ['db']))[0].attachments, attachments)
    inspect.exec.assertDone()
  })

  it('a runtime that is missing or does not answer confirms nothing, and ls still succeeds', async () => {
    await seed(ctx, 'db', [{runtime: 'docker', name: 'db', containers: []}, {runtime: 'podman', name: 'db', containers: []}])
    const ls = withScript(ctx, [
      {command: /^docker ps /, fails: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?'},
      {command: /^podman ps /, missing: true},
    ])
    assert.deepEqual((await listVolumes(ls))[0].attachments, [])
    ls.exec.assertDone()
  })

  it('prune keeps a volume whose runtime does not answer: its attachment is unknown, not gone', async () => {
    await seed(ctx, 'db', [{runtime: 'docker', name: 'db', containers: []}])
    await seed(ctx, 'idle')
    const prune = withScript(ctx, [{command: /^docker ps /, fails: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?'}])
    assert.deepEqual((await pruneCandidates(prune)).map((volume) => volume.name), ['idle'])
    assert.deepEqual((await pruneCandidates(prune, true)).map((volume) => volume.name), ['idle'])
    prune.exec.assertDone()
  })

  it('prune asks a runtime once: the answer with the volumes serves a volume that only has containers', async () => {
    await seed(ctx, 'db', [{runtime: 'docker', name: 'db', containers: []}])
    await seed(ctx, 'web', [{runtime: 'docker', name: null, containers: [OTHER]}])
    await seed(ctx, 'idle')
    const prune = withScript(ctx, [ps('docker', [`${OTHER} Exited (0) 1 minute ago`]), volumes('docker', [])])
    assert.deepEqual((await pruneCandidates(prune)).map((volume) => volume.name), ['db', 'idle'])
    prune.exec.assertDone()
  })

  it('doctor reports records no runtime confirms, says which runtimes it could not ask, and --fix drops only the stale parts', async () => {
    await seed(ctx, 'db', [
      {runtime: 'docker', name: 'db', containers: [ID]},
      {runtime: 'podman', name: null, containers: [], live: [{container: LIVE, name: 'web', target: '/data'}]},
    ])
    await seed(ctx, 'keep', [{runtime: 'nerdctl', name: 'keep', containers: []}])
    const answers = () => [ps('docker', []), volumes('docker', ['db']), ps('podman', [`${LIVE} Exited (137) 1 second ago`]), {command: /^nerdctl ps /, missing: true}]
    const doctor = withScript(ctx, answers())
    assert.deepEqual(
      (await attachmentFindings(doctor, ctx.store.read())).map((finding) => `${finding.severity}: ${finding.message}`),
      [
        `warning: volume "db" records an attachment to docker that docker no longer has (container aaaaaaaaaaaa)`,
        `warning: volume "db" records an attachment to podman that podman no longer has (mount in web at /data)`,
        'info: nerdctl is not installed: its attachment records cannot be checked',
      ],
    )
    doctor.exec.assertDone()

    const fix = withScript(ctx, answers())
    assert.deepEqual(await dropStaleAttachments(fix), [
      'forgot what docker no longer has of volume "db" (container aaaaaaaaaaaa)',
      'forgot what podman no longer has of volume "db" (mount in web at /data)',
    ])
    assert.deepEqual(ctx.store.read().volumes.db.attachments, [{runtime: 'docker', name: 'db', containers: []}])
    assert.deepEqual(ctx.store.read().volumes.keep.attachments, [{runtime: 'nerdctl', name: 'keep', containers: []}])
  })
})
