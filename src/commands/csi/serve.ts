import {Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import pjson from '../../../package.json' with {type: 'json'}

export const DEFAULT_DRIVER_NAME = 'csi.cbs.dev'

export interface CsiServeResult {
  endpoint: string
  socket: string
  nodeId: string
  driverName: string
}

export default class CsiServe extends CbsCommand {
  static override summary = 'Serve the Container Storage Interface (CSI spec v1) on a unix socket, for Kubernetes.'
  static override description =
    'A long-running gRPC server, one a node (see deploy/kubernetes/): node-local volumes, snapshots, clones, expansion and block volumes, made by the same core, store, lock and recovery as the other commands, in this one process. SIGTERM or SIGINT stops it: calls under way are stopped at their next step and rolled back. With --json, the server it was is printed as it stops.'
  static override examples = ['<%= config.bin %> <%= command.id %> --endpoint unix:///csi/csi.sock --node-id "$NODE_NAME"']
  static override flags = {
    endpoint: Flags.string({summary: 'Where to listen: unix:///path/to/csi.sock.', required: true, helpValue: 'unix:///PATH'}),
    'node-id': Flags.string({summary: 'This node\'s name, as the cluster knows it (volumes live on the node that makes them).', required: true, helpValue: 'NODE'}),
    'expand-on-node': Flags.boolean({
      summary: 'Leave volume expansion to NodeExpandVolume on the volume\'s node.',
      description:
        'Kubernetes\' external-resizer has no per-node mode: one resizer in the cluster would call ControllerExpandVolume on its own node, where the volume is not. With this flag the controller does not offer expansion, the resizer only records the new size, and the kubelet of the volume\'s node asks its cbs to grow it.',
    }),
    'driver-name': Flags.string({summary: 'The CSI driver name, as in the CSIDriver object and the StorageClass provisioner.', default: DEFAULT_DRIVER_NAME, helpValue: 'NAME'}),
  }

  async run(): Promise<CsiServeResult[]> {
    const {flags} = await this.parse(CsiServe)
    const ctx = this.context(flags)
    // A daemon's log: on stderr with --json too (stdout carries the JSON result).
    const log = (line: string) => process.stderr.write(`cbs csi: ${line}\n`)
    // gRPC is loaded here only: the other commands never pay for it.
    const {serveCsi} = await import('../../servers/csi/server.js')
    const server = await serveCsi(ctx, {
      endpoint: flags.endpoint,
      nodeId: flags['node-id'],
      driverName: flags['driver-name'],
      version: pjson.version,
      expandOnNode: flags['expand-on-node'],
      log,
    })
    log(`serving ${flags['driver-name']} on ${flags.endpoint} for node ${flags['node-id']}`)
    await new Promise<void>((resolve) => {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve())
    })
    await server.stop()
    return [{endpoint: flags.endpoint, socket: server.socket, nodeId: flags['node-id'], driverName: flags['driver-name']}]
  }
}
