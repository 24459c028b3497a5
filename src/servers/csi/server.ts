import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import type {Context} from '../../lib/system/context.js'
import {conflict, invalid} from '../../lib/common/errors.js'
import {validateHostPath} from '../../lib/input/host-paths.js'
import {isName} from '../../lib/input/names.js'
import {recoverInterrupted} from '../../lib/recovery/recovery.js'
import {clearStaleSocket} from '../../lib/system/unix-socket.js'
import {controllerService} from './controller.js'
import {type Driver, validateDriverName} from './driver.js'
import {toStatus} from './errors.js'
import {identityService} from './identity.js'
import {InFlight} from './in-flight.js'
import {nodeService} from './node.js'

export interface ServeOptions {
  /** unix:///path/to/csi.sock (the only transport: the CO's sidecars share the node) */
  endpoint: string
  nodeId: string
  driverName: string
  version: string
  expandOnNode?: boolean
  /** One line a call and its outcome. */
  log: (line: string) => void
}

export interface CsiServer {
  socket: string
  /** Stops taking calls and waits for those under way. */
  stop(): Promise<void>
}

/** Starts the CSI gRPC server on a unix socket, in this process, over the core's one context. */
export async function serveCsi(ctx: Context, options: ServeOptions): Promise<CsiServer> {
  const socket = socketPath(options.endpoint)
  const nodeId = options.nodeId
  if (!isName(nodeId)) throw invalid(`invalid node id "${nodeId}"`, 'use the node name: up to 63 letters, digits, "_", "." or "-"')
  const driver: Driver = {ctx, name: validateName(options.driverName), version: options.version, nodeId, inFlight: new InFlight(), expandOnNode: options.expandOnNode ?? false}
  const definition = protoLoader.loadSync(protoFile(), {keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true})
  const csi = (grpc.loadPackageDefinition(definition).csi as grpc.GrpcObject).v1 as grpc.GrpcObject
  const server = new grpc.Server()
  const services = {Identity: identityService(driver), Controller: controllerService(driver), Node: nodeService(driver)}
  for (const [name, methods] of Object.entries(services)) {
    const service = (csi[name] as grpc.ServiceClientConstructor).service
    server.addService(service, adapt(name, methods as Record<string, Handler>, options.log))
  }
  // What a server killed half way through left: finished or rolled back before the first call.
  for (const recovery of await recoverInterrupted(ctx)) options.log(`recovery: ${recovery.operation} of ${recovery.volume}: ${recovery.outcome}${recovery.error ? ` (${recovery.error})` : ''}`)
  // A socket left by a server that died would refuse the bind; one a live server answers on is its own.
  await clearStaleSocket(socket, () => conflict(`a CSI server already listens on ${socket}`, 'stop it first, or pass another --endpoint'))
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())))
  return {
    socket,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  }
}

type Handler = (request: any) => Promise<object>

/** Each method answers its callback once: the result, or the error's status code and message. */
function adapt(service: string, methods: Record<string, Handler>, log: (line: string) => void): grpc.UntypedServiceImplementation {
  const implementation: grpc.UntypedServiceImplementation = {}
  for (const [method, handler] of Object.entries(methods)) {
    implementation[method] = (call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) => {
      const started = Date.now()
      handler.call(methods, call.request).then(
        (response) => {
          if (service !== 'Identity') log(`${method}: OK (${Date.now() - started} ms)`)
          callback(null, response)
        },
        (error: unknown) => {
          const {code, details} = toStatus(error)
          log(`${method}: ${grpc.status[code]}: ${details}`)
          callback({code, details})
        },
      )
    }
  }
  return implementation
}

function socketPath(endpoint: string): string {
  const match = /^unix:\/\/(\/.+)$/.exec(endpoint)
  if (!match) throw invalid(`invalid --endpoint "${endpoint}"`, 'give unix:///path/to/csi.sock')
  return validateHostPath(match[1], '--endpoint socket path')
}

function validateName(name: string): string {
  try {
    return validateDriverName(name)
  } catch (error) {
    throw invalid((error as Error).message)
  }
}

/** proto/csi.proto of the cbs package: found upwards from this module (bundled in dist/ or in src/). */
function protoFile(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'proto', 'csi.proto')
    if (existsSync(file)) return file
  }
  throw invalid('proto/csi.proto is missing from the cbs installation', 'reinstall cbs')
}
