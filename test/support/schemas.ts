import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {Ajv2020, type ValidateFunction} from 'ajv/dist/2020.js'
import {REPO} from './integration.js'

export const SCHEMA_DIR = join(REPO, 'schemas')

/** Every schema in schemas/, by file name, compiled together so that their $refs resolve. */
export function loadSchemas(): {files: string[]; validatorFor: (file: string) => ValidateFunction} {
  const files = readdirSync(SCHEMA_DIR).filter((file) => file.endsWith('.json')).sort()
  const ajv = new Ajv2020({allErrors: true, strict: true, allowUnionTypes: true})
  const ids = new Map<string, string>()
  for (const file of files) {
    const schema = JSON.parse(readFileSync(join(SCHEMA_DIR, file), 'utf8')) as {$id: string}
    ajv.addSchema(schema)
    ids.set(file, schema.$id)
  }
  return {
    files,
    validatorFor(file) {
      const validate = ajv.getSchema(ids.get(file) ?? '')
      if (!validate) throw new Error(`no schema ${file} in schemas/`)
      return validate
    },
  }
}

/** The schema file of a command: `volume snapshot create` → volume-snapshot-create.json. */
export const schemaFile = (command: string[]) => `${command.join('-')}.json`
