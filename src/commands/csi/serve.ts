import {Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {requireRoot, systemContext} from '../../lib/system/context.js'
import {systemHost} from '../../lib/system/host.js'
import pjson from '../../../package.json' with {type: 'json'}

export const DEFAULT_DRIVER_NAME = 'csi.cbs.dev'

/** What `csi serve --json` prints once stopped: the server it was. */
export interface CsiServed {
  socket: string
  endpoint: string
  nodeId: string
  driverName: string
}

export default class CsiServe extends CbsCommand {
  static override summary = 'Serve the Container Storage Interface (CSI spec v1) on a unix socket, for Kubernetes.'
  static override description =
    'A long-running gRPC server, one a node (see deploy/kubernetes/): node-local volumes, snapshots, clones, expansion and block volumes, made by the same core, store, lock and recovery as the other commands, in this one process. It first finishes or rolls back what a server killed half way left. SIGTERM or SIGINT stops it once the calls in flight are done. One line a call goes to stderr.'
  static override examples = ['<%= config.bin %> <%= command.id %> --endpoint unix:///csi/csi.sock --node-id "$NODE_NAME"']
  static override flags = {
    endpoint: Flags.string({summary: 'Where to listen: unix:///path/to/csi.sock.', required: true, helpValue: 'unix:///PATH'}),
    'node-id': Flags.string({summary: 'This node\'s name, as the cluster knows it (volumes live on the node that makes them).', required: true, helpValue: 'NODE'}),
    'driver-name': Flags.string({summary: 'The CSI driver name, as in the CSIDriver object and the StorageClass provisioner.', default: DEFAULT_DRIVER_NAME, helpValue: 'NAME'}),
    'expand-on-node': Flags.boolean({
      summary: 'Leave volume expansion to NodeExpandVolume on the volume\'s node.',
      description:
        'Kubernetes\' external-resizer has no per-node mode: one resizer in the cluster would call ControllerExpandVolume on its own node, where the volume is not. With this flag the controller does not offer expansion, the resizer only records the new size, and the kubelet of the volume\'s node asks its cbs to grow it.',
    }),
  }

  async run(): Promise<CsiServed> {
    const {flags} = await this.parse(CsiServe)
    requireRoot(systemHost)
    // A daemon's log: on stderr, --json or not (stdout carries the JSON result).
    const log = (line: string) => process.stderr.write(`cbs csi: ${line}\n`)
    const ctx = systemContext({verbose: flags.verbose, log})
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
    // Listening for the signals before saying so: a SIGTERM sent on that line must not find
    // the default action (death) still in place. `on`, not `once`: with no listener left,
    // signal-exit (conf's writer) would re-raise it.
    const stopped = new Promise<string>((resolve) => {
      for (const name of ['SIGTERM', 'SIGINT']) process.on(name, () => resolve(name))
    })
    log(`serving ${flags['driver-name']} on ${flags.endpoint} for node ${flags['node-id']}`)
    const signal = await stopped
    log(`${signal}: finishing the calls in flight`)
    await server.stop()
    return {socket: server.socket, endpoint: flags.endpoint, nodeId: flags['node-id'], driverName: flags['driver-name']}
  }
}
