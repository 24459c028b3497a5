/**
 * Named points between the steps of an operation, for the fault-injection tests: with
 * CBS_TEST_PAUSE_AT=<name>, cbs announces "cbs-test: paused at <name>" on stderr when it gets
 * there and waits to be killed. Without that variable it does nothing.
 */
export async function checkpoint(name: string): Promise<void> {
  if (process.env.CBS_TEST_PAUSE_AT !== name) return
  process.stderr.write(`cbs-test: paused at ${name}\n`)
  await new Promise(() => setInterval(() => {}, 60_000))
}
