// The floor of the CSI row (bench/csi.js): the same four operations through the core, in one
// long-lived process, as `cbs csi serve` does them, with no gRPC in between. Reads "cycle NAME"
// lines on stdin and answers each with the milliseconds the cycle took.
import {createInterface} from 'node:readline'
import {performance} from 'node:perf_hooks'
import {join} from 'node:path'
import {systemContext} from '../src/lib/system/context.js'
import {createVolume} from '../src/lib/volumes/create.js'
import {publishVolume, unpublishVolume} from '../src/lib/volumes/publish.js'
import {removeVolumes} from '../src/lib/volumes/remove.js'

const ctx = systemContext()
const SIZE = 64 * 1024 ** 2

for await (const line of createInterface({input: process.stdin})) {
  const [command, name] = line.split(' ')
  if (command !== 'cycle') continue
  const target = join(ctx.layout.root, `target-${name}`)
  const start = performance.now()
  await createVolume(ctx, {name, sizeBytes: SIZE, labels: {'csi-driver': 'bench'}})
  await publishVolume(ctx, {name, target, readOnly: false, block: false})
  await unpublishVolume(ctx, target)
  await removeVolumes(ctx, [name])
  process.stdout.write(`${performance.now() - start}\n`)
}
