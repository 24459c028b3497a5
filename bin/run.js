#!/usr/bin/env node
import {createRequire} from 'node:module'

const {loadBundle} = createRequire(import.meta.url)('./load-bundle.cjs')
await loadBundle().run()
