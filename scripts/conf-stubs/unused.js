// Stands in for semver and node:crypto in the conf chunk (see scripts/build.js): conf uses them
// only for migrations and encryption, which cbs never asks for (its state carries its own
// schema version). Loading them would cost about 8 ms per command. Using them fails loudly.
const unused = new Proxy(
  {},
  {
    get(_, name) {
      throw new Error(`cbs is built without conf's migrations and encryption (${String(name)}): see scripts/build.js`)
    },
  },
)
export default unused
