import {Flags} from '@oclif/core'
import {CbsCommand} from '../../base-command.js'
import {requireRoot, systemContext} from '../../lib/system/context.js'
import {describeFailure} from '../../lib/system/failure.js'
import {systemHost} from '../../lib/system/host.js'
import {DEFAULT_PLUGIN_SOCKET} from '../../lib/system/systemd-unit.js'

export default class PluginServe extends CbsCommand {
  static override summary = 'Serve Docker\'s volume plugin protocol, for `docker volume create -d cbs` and podman.'
  static override description = `Listens on a unix socket (mode 0600: only root may talk to it) until SIGTERM or SIGINT; then the requests in flight finish and no volume is unmounted. Under systemd socket activation (cbs-plugin.socket) it uses the socket it is given. One line a request goes to stderr. \`cbs plugin install\` sets it up as a service.`
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --socket /run/docker/plugins/cbs.sock']
  static override flags = {
    socket: Flags.string({summary: 'Unix socket to listen on; dockerd finds the plugin by its file name.', default: DEFAULT_PLUGIN_SOCKET, helpValue: 'PATH'}),
  }

  async run(): Promise<{socket: string}> {
    const {flags} = await this.parse(PluginServe)
    requireRoot(systemHost)
    const log = (line: string) => process.stderr.write(`${line}\n`)
    // The HTTP server (node:http) is loaded here only: the other commands never pay for it.
    const [{activatedSocket, startServer}, {VolumeDriver}] = await Promise.all([import('../../servers/plugin/http-server.js'), import('../../servers/plugin/volume-driver.js')])
    const driver = new VolumeDriver(() => systemContext({verbose: flags.verbose, log}))
    const listen = activatedSocket() ?? {path: flags.socket}
    const server = await startServer(listen, {routes: driver.routes, log, describeError: (error) => describeFailure(error).message})
    // Listening for the signals before saying so: a SIGTERM sent on that line must not find
    // the default action (death) still in place. `on`, not `once`: with no listener left,
    // signal-exit (conf's writer) would re-raise it.
    const stopped = new Promise<string>((resolve) => {
      for (const name of ['SIGTERM', 'SIGINT']) process.on(name, () => resolve(name))
    })
    log(`cbs plugin: listening on ${'path' in listen ? listen.path : `the socket systemd passed (${server.path})`}`)
    const signal = await stopped
    log(`cbs plugin: ${signal}: finishing the requests in flight`)
    await server.close()
    return {socket: server.path}
  }
}
