import assert from 'node:assert/strict'
import {parseTemplate, renderTemplate} from '../../../src/ui/go-template.js'
import {exitCodeOfSync} from '../../support/exit-codes.js'

const FIELDS = ['name', 'mountpoint', 'sizeBytes', 'labels', 'usedBytes', 'upper', 'lowers']
const volumes = [
  {name: 'db', mountpoint: '/r/mounts/db', sizeBytes: 1024, labels: {env: 'prod', team: 'web'}, usedBytes: null, lowers: [{source: 'a@b'}]},
  {name: 'cache', mountpoint: '/r/mounts/cache', sizeBytes: 2048, labels: {}, usedBytes: 5, upper: {mountpoint: '/r/uppers/cache'}},
]
const render = (source: string) => renderTemplate(parseTemplate(source, FIELDS), volumes)

describe('--format: the Go-template subset docker users type (pure)', () => {
  it("maps docker's capitalised fields to the JSON keys, in any case", () => {
    assert.equal(render('{{.Name}}'), 'db\ncache')
    assert.equal(render('{{.Name}}: {{.Mountpoint}} {{.SizeBytes}} {{.sizebytes}}'), 'db: /r/mounts/db 1024 1024\ncache: /r/mounts/cache 2048 2048')
  })
  it('prints \\t as a tab, null as nothing, labels as k=v,k2=v2, nested fields, objects deeper than that as JSON', () => {
    assert.equal(render('{{.Name}}\\t{{.UsedBytes}}|'), 'db\t|\ncache\t5|')
    assert.equal(render('{{.Labels}}'), 'env=prod,team=web\n')
    assert.equal(render('{{.Labels.env}}{{.Upper.Mountpoint}}'), 'prod\n/r/uppers/cache')
    assert.equal(render('{{.Lowers}}'), '[{"source":"a@b"}]\n')
  })
  it('{{json .}} and {{json .Field}}; upper and lower', () => {
    assert.deepEqual(JSON.parse(render('{{json .}}').split('\n')[0]), volumes[0])
    assert.equal(render('{{json .Labels}}'), '{"env":"prod","team":"web"}\n{}')
    assert.equal(render('{{ upper .Name }}'), 'DB\nCACHE')
  })
  it('escapes control characters in the values it prints (a root path, say), never in the template; json keeps its own escapes', () => {
    const hostile = [{name: 'x', mountpoint: '/r\u001B[31m/mounts/x\nFAKE', labels: {}}]
    const print = (source: string) => renderTemplate(parseTemplate(source, FIELDS), hostile)
    assert.equal(print('{{.Mountpoint}}\\t{{upper .Mountpoint}}\\n'), '/r\\x1b[31m/mounts/x\\nFAKE\t/R\\x1b[31M/MOUNTS/X\\nFAKE\n')
    assert.equal(print('{{json .Mountpoint}}'), '"/r\\u001b[31m/mounts/x\\nFAKE"')
  })
  it('table: a header of the field names, columns aligned on tabs', () => {
    assert.equal(render('table {{.Name}}\\t{{.SizeBytes}}\\t{{.Mountpoint}}'), [
      'NAME    SIZE BYTES   MOUNTPOINT',
      'db      1024         /r/mounts/db',
      'cache   2048         /r/mounts/cache',
    ].join('\n'))
    assert.equal(renderTemplate(parseTemplate('table {{.Name}}', FIELDS), []), 'NAME')
  })
  it('an unknown field is exit 2 naming the valid ones; so is an unknown function or an unclosed action', () => {
    assert.equal(exitCodeOfSync(() => parseTemplate('{{.Driver}}', FIELDS)), 2)
    assert.throws(() => parseTemplate('{{.Driver}}', FIELDS), /unknown field \.Driver: use one of \.Name, \.Mountpoint, \.SizeBytes/)
    for (const source of ['{{printf "%s" .Name}}', '{{title .Name}}', '{{.Name', '{{Name}}', '{{json}}']) assert.equal(exitCodeOfSync(() => parseTemplate(source, FIELDS)), 2, source)
  })
})
