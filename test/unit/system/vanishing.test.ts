import assert from 'node:assert/strict'
import {mkdtempSync, rmdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {systemHost} from '../../../src/lib/system/host.js'
import {readLoopDevices} from '../../../src/lib/system/loops.js'

/** A file read that fails like the kernel does for a path that is not (or no longer) there. */
const errno = (code: string) => Object.assign(new Error(`${code}: read`), {code})

/** /proc/partitions and each loop device's backing_file, as a map; a missing path is ENOENT. */
function reader(files: Record<string, string | Error>): (path: string) => string {
  return (path) => {
    const content = files[path] ?? errno('ENOENT')
    if (content instanceof Error) throw content
    return content
  }
}

const PARTITIONS = 'major minor  #blocks  name\n\n 259 0 1000 nvme0n1\n 7 0 8192 loop0\n 7 1 8192 loop1\n 7 2 0 loop2\n'

describe('system reads that race with other cbs commands', () => {
  it('lists the attached loop devices with their backing files', () => {
    const read = reader({
      '/proc/partitions': PARTITIONS,
      '/sys/block/loop0/loop/backing_file': '/r/images/a.img\n',
      '/sys/block/loop1/loop/backing_file': '/r/images/b.img (deleted)\n',
    })
    assert.deepEqual(readLoopDevices(read), [
      {device: '/dev/loop0', backingFile: '/r/images/a.img'},
      {device: '/dev/loop1', backingFile: '/r/images/b.img', deleted: true},
    ])
  })

  it('leaves out a loop device detached between /proc/partitions and its backing_file (ENOENT, ENXIO, or emptied)', () => {
    for (const gone of [errno('ENOENT'), errno('ENXIO'), '']) {
      const read = reader({'/proc/partitions': PARTITIONS, '/sys/block/loop0/loop/backing_file': gone, '/sys/block/loop1/loop/backing_file': '/r/images/b.img\n'})
      assert.deepEqual(readLoopDevices(read), [{device: '/dev/loop1', backingFile: '/r/images/b.img'}])
    }
  })

  it('still fails on an error that is not a device going away', () => {
    const read = reader({'/proc/partitions': PARTITIONS, '/sys/block/loop0/loop/backing_file': errno('EACCES')})
    assert.throws(() => readLoopDevices(read), /EACCES/)
  })

  it('the usage of a mountpoint removed in between is unknown, not an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cbs-unit-'))
    assert.ok(systemHost.mountUsage(dir)!.totalBytes > 0)
    rmdirSync(dir)
    assert.equal(systemHost.mountUsage(dir), undefined)
    assert.equal(systemHost.mountUsage(join(dir, 'below')), undefined)
    assert.deepEqual(systemHost.processesUsing(dir), [], 'nothing uses a mountpoint that is gone')
  })
})
