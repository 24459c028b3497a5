#!/usr/bin/env node
// Lists the pages in man/ in package.json's "man", which `npm install -g` links into the man
// path (npm ignores "directories.man" when it installs a folder). Run by `npm run man`.
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const file = `${REPO}package.json`
const pjson = JSON.parse(readFileSync(file, 'utf8'))
const pages = readdirSync(`${REPO}man`).filter((name) => /\.\d$/.test(name)).sort().map((name) => `./man/${name}`)
if (JSON.stringify(pjson.man) !== JSON.stringify(pages)) {
  pjson.man = pages
  writeFileSync(file, `${JSON.stringify(pjson, null, 2)}\n`)
  console.log(`package.json: "man" lists ${pages.length} pages`)
}
