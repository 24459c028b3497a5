import assert from 'node:assert/strict'
import {ttyProgress} from '../../../src/ui/tty-progress.js'

/** A terminal that keeps what was written to it. */
function terminal(): NodeJS.WriteStream & {text: string} {
  const fake = {isTTY: true, columns: 80, text: '', write: (chunk: string) => ((fake.text += chunk), true)}
  return fake as unknown as NodeJS.WriteStream & {text: string}
}

describe('progress on a terminal', () => {
  it('counts steps, and shows the label alone when the total is not known (an import from a pipe)', () => {
    const stream = terminal()
    const progress = ttyProgress(stream)
    progress.update(3, 200, 'mounting db')
    assert.equal(stream.text, '\r\u001B[2K[  3/200] mounting db')
    stream.text = ''
    progress.update(0, 0, 'importing db: 512M')
    assert.equal(stream.text, '\r\u001B[2Kimporting db: 512M')
    stream.text = ''
    progress.finish()
    assert.equal(stream.text, '\r\u001B[2K')
  })
})
