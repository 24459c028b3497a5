import assert from 'node:assert/strict'
import {Chalk} from 'chalk'
import type {DoctorReport} from '../../../src/lib/doctor/doctor.js'
import type {Volume} from '../../../src/lib/volumes/volume.js'
import {doctorText} from '../../../src/ui/doctor-output.js'
import {printable} from '../../../src/ui/printable.js'
import {snapshotTable} from '../../../src/ui/snapshot-output.js'
import {volumeDetails, volumeTable} from '../../../src/ui/volume-output.js'

const plain = new Chalk({level: 0})

describe('printable: human output never passes control characters to the terminal', () => {
  it('shows control characters and bidi overrides as escapes, leaves the rest alone', () => {
    assert.equal(printable('plain /var/lib/cbs/mounts/db ünï 日本'), 'plain /var/lib/cbs/mounts/db ünï 日本')
    assert.equal(printable('a\nb\rc\td'), 'a\\nb\\rc\\td')
    assert.equal(printable('\u001B[2J\u0007\u0000\u007F'), '\\x1b[2J\\x07\\x00\\x7f')
    assert.equal(printable('\u009B31m'), '\\x9b31m')
    assert.equal(printable('evil\u202Egpj.exe'), 'evil\\u202egpj.exe')
  })

  const volume = (extra: Partial<Volume> = {}): Volume =>
    ({
      name: 'db',
      type: 'loop',
      fs: 'ext4',
      status: 'mounted',
      sizeBytes: 1024,
      usedBytes: null,
      allocatedBytes: null,
      mountpoint: '/r/mounts/db',
      device: '/dev/loop1',
      image: '/r/images/db.img',
      labels: {note: 'a\nAttached:     docker: volume FAKE'},
      createdAt: '2026-01-01T00:00:00.000Z',
      attachments: [],
      ...extra,
    }) as Volume

  it('volume inspect: a label with a newline cannot add a line', () => {
    const text = volumeDetails(volume(), plain)
    assert.equal(text.split('\n').length, 12)
    assert.match(text, /^Labels:\s+note=a\\nAttached: {5}docker: volume FAKE$/m)
    assert.doesNotMatch(text, /^Attached:/m)
  })

  it('tables and doctor output escape what they show; only cbs colours', async () => {
    assert.doesNotMatch(await volumeTable([volume({mountpoint: '/r/\u001B[31mred'})], plain), /\u001B/)
    const snapshot = {name: 'db@s', createdAt: '', sizeBytes: 1, allocatedBytes: null, method: 'copy', status: 'ready'} as never
    assert.equal((await snapshotTable([snapshot])).split('\n').length, 2)
    const report = {
      healthy: false,
      root: '/r',
      findings: [{check: 'volumes', severity: 'warning', message: '/r/images/x\n.img belongs to no volume', fix: 'mv \u001B[2J'}],
      repaired: ['moved /r/images/y\r.img'],
      kernel: {},
      tools: [],
    } as unknown as DoctorReport
    const text = doctorText(report, new Chalk({level: 1}))
    assert.doesNotMatch(text.replaceAll(/\u001B\[\d+m/g, ''), /[\u0000-\u0009\u000B-\u001F]/)
    assert.match(text, /x\\n\.img belongs to no volume/)
  })
})
