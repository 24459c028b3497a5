import assert from 'node:assert/strict'
import {status} from '@grpc/grpc-js'
import {CbsError, conflict, environment, invalid, notFound} from '../../../src/lib/common/errors.js'
import {pendingConflict} from '../../../src/lib/store/intent.js'
import {bindArgs, PublishedOtherwise} from '../../../src/lib/volumes/publish.js'
import {cbsNameFor} from '../../../src/servers/csi/driver.js'
import {RpcError, toStatus} from '../../../src/servers/csi/errors.js'
import {InFlight} from '../../../src/servers/csi/in-flight.js'
import {fitsRange, page, parseCapabilities, sizeFor} from '../../../src/servers/csi/requests.js'

const MiB = 1024 ** 2
const code = (name: keyof typeof status) => (error: unknown) => error instanceof RpcError && error.code === status[name]

describe('csi server: requests', () => {
  it('sizes a capacity range: rounded up to a MiB, at least the minimum, never above the limit', () => {
    assert.equal(sizeFor({required_bytes: 10 * MiB + 1}, 1024 * MiB, 4 * MiB), 11 * MiB)
    assert.equal(sizeFor({}, 1024 * MiB, 4 * MiB), 1024 * MiB)
    assert.equal(sizeFor({limit_bytes: 64 * MiB}, 1024 * MiB, 4 * MiB), 64 * MiB)
    assert.equal(sizeFor({required_bytes: MiB}, 1024 * MiB, 300 * MiB), 300 * MiB)
    assert.throws(() => sizeFor({required_bytes: MiB, limit_bytes: 100 * MiB}, 1024 * MiB, 300 * MiB), code('OUT_OF_RANGE'))
    assert.throws(() => sizeFor({required_bytes: 10 * MiB + 1, limit_bytes: 10 * MiB + 100}, 1024 * MiB, 4 * MiB), code('OUT_OF_RANGE'))
    assert.throws(() => sizeFor({required_bytes: 20 * MiB, limit_bytes: 10 * MiB}, 1024 * MiB, 4 * MiB), code('INVALID_ARGUMENT'))
    assert.throws(() => sizeFor({required_bytes: -1}, 1024 * MiB, 4 * MiB), code('INVALID_ARGUMENT'))
    assert.ok(fitsRange(11 * MiB, {required_bytes: 10 * MiB}))
    assert.ok(!fitsRange(11 * MiB, {required_bytes: 10 * MiB, limit_bytes: 10 * MiB}))
  })

  it('takes single-node capabilities, block or mount, and refuses the rest', () => {
    const access = parseCapabilities([
      {mount: {fs_type: 'xfs', mount_flags: ['noatime']}, access_type: 'mount', access_mode: {mode: 'SINGLE_NODE_WRITER'}},
      {block: {}, access_type: 'block', access_mode: {mode: 'SINGLE_NODE_READER_ONLY'}},
    ])
    assert.deepEqual(access, {block: true, mount: true, fs: 'xfs', readOnly: false, mountFlags: ['noatime']})
    assert.equal(parseCapabilities([{block: {}, access_mode: {mode: 'SINGLE_NODE_READER_ONLY'}}]).readOnly, true)
    for (const mode of ['MULTI_NODE_READER_ONLY', 'MULTI_NODE_SINGLE_WRITER', 'MULTI_NODE_MULTI_WRITER', 'UNKNOWN']) {
      assert.throws(() => parseCapabilities([{mount: {}, access_mode: {mode}}]), code('INVALID_ARGUMENT'), mode)
    }
    assert.throws(() => parseCapabilities([]), code('INVALID_ARGUMENT'))
    assert.throws(() => parseCapabilities([{access_mode: {mode: 'SINGLE_NODE_WRITER'}}]), code('INVALID_ARGUMENT'))
    assert.throws(() => parseCapabilities([{mount: {fs_type: 'ext4'}, access_mode: {mode: 'SINGLE_NODE_WRITER'}}, {mount: {fs_type: 'xfs'}, access_mode: {mode: 'SINGLE_NODE_WRITER'}}]), code('INVALID_ARGUMENT'))
  })

  it('pages by index tokens and refuses a token it never handed out with ABORTED', () => {
    const items = ['a', 'b', 'c', 'd', 'e']
    assert.deepEqual(page(items, 2, ''), {entries: ['a', 'b'], nextToken: '2'})
    assert.deepEqual(page(items, 2, '4'), {entries: ['e'], nextToken: ''})
    assert.deepEqual(page(items, 0, undefined), {entries: items, nextToken: ''})
    for (const token of ['x', '-1', '6', '1e3']) assert.throws(() => page(items, 2, token), code('ABORTED'), token)
    assert.throws(() => page(items, -1, ''), code('INVALID_ARGUMENT'))
  })

  it('maps CSI names to cbs names: as they are when cbs takes them, else a stable digest', () => {
    assert.equal(cbsNameFor('pvc-0b3f8c8e-6a9b-4f5e-9d1e-2f1b6c3a7d10', 'name'), 'pvc-0b3f8c8e-6a9b-4f5e-9d1e-2f1b6c3a7d10')
    const odd = cbsNameFor('my volume / ../1', 'name')
    assert.match(odd, /^csi-[0-9a-f]{40}$/)
    assert.equal(cbsNameFor('my volume / ../1', 'name'), odd)
    assert.notEqual(cbsNameFor('my volume / ../2', 'name'), odd)
    assert.match(cbsNameFor('x'.repeat(64), 'name'), /^csi-/)
    for (const bad of ['', 'a\u0001b', 'x'.repeat(129)]) assert.throws(() => cbsNameFor(bad, 'name'), code('INVALID_ARGUMENT'))
  })

  it('maps cbs errors to the status codes of the spec', () => {
    assert.equal(toStatus(invalid('x')).code, status.INVALID_ARGUMENT)
    assert.equal(toStatus(notFound('x')).code, status.NOT_FOUND)
    assert.equal(toStatus(conflict('x')).code, status.FAILED_PRECONDITION)
    assert.equal(toStatus(pendingConflict('v', {operation: 'create', pid: 1, startedAt: ''})).code, status.ABORTED)
    assert.equal(toStatus(pendingConflict('v', {operation: 'create', pid: 1, startedAt: '', error: 'boom'})).code, status.FAILED_PRECONDITION)
    assert.equal(toStatus(new PublishedOtherwise('/t', 'x')).code, status.ALREADY_EXISTS)
    assert.equal(toStatus(environment('growing needs that much free space on the host')).code, status.RESOURCE_EXHAUSTED)
    assert.equal(toStatus(environment('mkfs.ext4 failed: no space left on the host')).code, status.RESOURCE_EXHAUSTED)
    assert.equal(toStatus(Object.assign(new Error('EACCES: permission denied, open \'/x\''), {code: 'EACCES'})).code, status.INTERNAL, 'no lack of space')
    assert.equal(toStatus(new CbsError('interrupted', 'x')).code, status.UNAVAILABLE)
    assert.equal(toStatus(new Error('boom')).code, status.INTERNAL)
  })

  it('answers ABORTED to a second call on a volume while the first runs', async () => {
    const inFlight = new InFlight()
    let finish = () => {}
    const first = inFlight.run(['v'], () => new Promise<void>((resolve) => (finish = resolve)))
    await assert.rejects(inFlight.run(['w', 'v'], async () => {}), code('ABORTED'))
    await inFlight.run(['w'], async () => {})
    finish()
    await first
    await inFlight.run(['v'], async () => {})
  })

  it('builds bind mounts as data', () => {
    assert.deepEqual(bindArgs('/a', '/b', false), ['--bind', '/a', '/b'])
    assert.deepEqual(bindArgs('/a', '/b', true, ['nosuid', 'ro']), ['--bind', '-o', 'ro,nosuid', '/a', '/b'])
  })
})
