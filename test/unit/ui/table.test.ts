import assert from 'node:assert/strict'
import {Chalk} from 'chalk'
import {renderTable} from '../../../src/ui/table.js'

describe('renderTable', () => {
  it('aligns columns three spaces apart, without trailing blanks; colour takes no width', async () => {
    const green = new Chalk({level: 1}).green
    const text = await renderTable(['NAME', 'STATUS', 'MOUNTPOINT'], [['db', green('mounted'), '/var/lib/cbs/mounts/db'], ['cache-1', 'unmounted', '']])
    assert.equal(
      text.replaceAll(/\u001B\[\d+m/g, ''),
      ['NAME      STATUS      MOUNTPOINT', 'db        mounted     /var/lib/cbs/mounts/db', 'cache-1   unmounted'].join('\n'),
    )
    assert.ok(text.includes(green('mounted')))
  })

  it('prints the header alone when there are no rows', async () => {
    assert.equal(await renderTable(['NAME', 'TYPE'], []), 'NAME   TYPE')
  })
})
