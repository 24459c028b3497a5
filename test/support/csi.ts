import {type ChildProcess, spawn} from 'node:child_process'
import {join} from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import {REPO} from './integration.js'

const BIN = join(REPO, 'bin', 'run.js')
const PROTO = join(REPO, 'proto', 'csi.proto')

export type Rpc = (request?: object) => Promise<any>
export type Service = Record<string, Rpc>

/** A CSI client of one server: each RPC a promise of its response, rejected with a grpc ServiceError. */
export interface CsiClient {
  identity: Service
  controller: Service
  node: Service
  close(): void
}

export function csiClient(socket: string): CsiClient {
  const definition = protoLoader.loadSync(PROTO, {keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true})
  const csi = (grpc.loadPackageDefinition(definition).csi as grpc.GrpcObject).v1 as grpc.GrpcObject
  const clients: grpc.Client[] = []
  const service = (name: string): Service => {
    const Client = csi[name] as grpc.ServiceClientConstructor
    const client = new Client(`unix://${socket}`, grpc.credentials.createInsecure())
    clients.push(client)
    return new Proxy({} as Service, {
      get: (_, method: string) => (request: object = {}) =>
        new Promise((resolve, reject) => (client as any)[method](request, (error: Error | null, response: unknown) => (error ? reject(error) : resolve(response)))),
    })
  }
  return {identity: service('Identity'), controller: service('Controller'), node: service('Node'), close: () => clients.forEach((client) => client.close())}
}

/** Whether a call failed with this gRPC status (by name, e.g. 'ALREADY_EXISTS'). */
export const hasCode = (name: keyof typeof grpc.status) => (error: {code?: number; details?: string}) => {
  if (error.code === grpc.status[name]) return true
  throw new Error(`expected ${name}, got ${grpc.status[error.code ?? 2]}: ${error.details}`)
}

export interface RunningServer {
  child: ChildProcess
  socket: string
  /** Everything it wrote to stderr, and to stdout, so far. */
  stderr(): string
  stdout(): string
  /** Resolves at the first "cbs-test: paused at" line (CBS_TEST_PAUSE_AT). */
  paused: Promise<string>
  /** SIGTERM, then the exit. */
  stop(): Promise<number | null>
}

/** Starts `cbs csi serve` from dist (as a DaemonSet would) and waits until it listens. */
export async function startServer(root: string, options: {nodeId?: string; env?: NodeJS.ProcessEnv; driverName?: string; args?: string[]} = {}): Promise<RunningServer> {
  const socket = join(root, 'csi.sock')
  const args = [BIN, 'csi', 'serve', '--endpoint', `unix://${socket}`, '--node-id', options.nodeId ?? 'node-1', ...(options.driverName ? ['--driver-name', options.driverName] : []), ...(options.args ?? [])]
  const child = spawn(process.execPath, args, {env: {...process.env, CBS_ROOT: root, NO_COLOR: '1', ...options.env}, stdio: ['ignore', 'pipe', 'pipe']})
  let stderr = ''
  let stdout = ''
  child.stdout!.on('data', (chunk) => (stdout += chunk))
  let onPause: (step: string) => void = () => {}
  const paused = new Promise<string>((resolve) => (onPause = resolve))
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk) => {
      stderr += chunk
      if (stderr.includes('cbs csi: serving')) resolve()
      const pause = /cbs-test: paused at (\S+)/.exec(stderr)
      if (pause) onPause(pause[1])
    })
    child.on('exit', (code) => reject(new Error(`cbs csi serve exited with ${code}: ${stderr}`)))
  })
  await ready
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    child,
    socket,
    stderr: () => stderr,
    stdout: () => stdout,
    paused,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exited
    },
  }
}
