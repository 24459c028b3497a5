// Stands in for ajv and ajv-formats in the conf chunk (see scripts/build.js): conf touches them
// only when given a JSON schema, which cbs never does. Using it anyway fails loudly.
export class Ajv2020 {
  constructor() {
    throw new Error('cbs is built without JSON-schema validation (ajv); do not pass a schema to conf')
  }
}
export default Ajv2020
