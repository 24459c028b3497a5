import {chmodSync, mkdirSync, readFileSync, readlinkSync, rmSync} from 'node:fs'
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'
import {dirname} from 'node:path'
import {conflict} from '../../lib/common/errors.js'
import {clearStaleSocket} from '../../lib/system/unix-socket.js'

/**
 * The framing of Docker's plugin protocol: HTTP POSTs with JSON bodies on a unix socket, every
 * answer a JSON object, a failure one with `Err` (dockerd and podman show it to the user). This
 * file knows nothing of volumes: it reads, routes, answers and logs one line a request.
 */

const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json'
/** Requests are a name, a caller id and a few options: anything larger is not one of them. */
const MAX_BODY_BYTES = 64 * 1024

export type RequestBody = Record<string, unknown>
export type Handler = (body: RequestBody) => Promise<object>
export type Routes = Record<string, Handler>

/** A request refused before any handler ran: answered with its HTTP status and `Err`. */
export class ProtocolError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

export interface ServerOptions {
  routes: Routes
  /** One line a request (stderr; journald under systemd). */
  log: (line: string) => void
  /** A handler's failure as the one line the user reads. */
  describeError: (error: unknown) => string
}

/** Where to listen: a socket path, or a socket systemd already opened (socket activation). */
export type Listen = {path: string} | {fd: number}

export interface RunningServer {
  /** The socket's path: the one given, or the one systemd passed. */
  path: string
  /** Stops taking connections, lets the requests in flight finish, then resolves. */
  close(): Promise<void>
}

export async function startServer(listen: Listen, options: ServerOptions): Promise<RunningServer> {
  let inFlight = 0
  let closing = false
  const server = createServer((request, response) => {
    inFlight++
    response.on('close', () => {
      inFlight--
      if (closing && inFlight === 0) server.closeAllConnections()
    })
    if (closing) response.shouldKeepAlive = false
    void answer(request, response, options)
  })
  server.keepAliveTimeout = 30_000
  if ('path' in listen) await listenOnPath(server, listen.path)
  else await new Promise<void>((resolve, reject) => server.once('error', reject).listen({fd: listen.fd}, resolve))
  const address = server.address()
  return {
    path: 'path' in listen ? listen.path : typeof address === 'string' && address ? address : (socketPathOf(listen.fd) ?? ''),
    close: () =>
      new Promise<void>((resolve) => {
        closing = true
        server.close(() => resolve())
        if (inFlight === 0) server.closeAllConnections()
        if ('path' in listen) rmSync(listen.path, {force: true})
      }),
  }
}

/** Created 0600 from the start (only root may talk to the plugin); a stale socket is replaced. */
async function listenOnPath(server: ReturnType<typeof createServer>, path: string): Promise<void> {
  mkdirSync(dirname(path), {recursive: true, mode: 0o755})
  await clearStaleSocket(path, () => conflict(`a plugin server already listens on ${path}`, 'stop it first, or pass another --socket'))
  const umask = process.umask(0o177)
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve))
  } finally {
    process.umask(umask)
  }
  chmodSync(path, 0o600)
}

/** The path a unix socket open at `fd` is bound to (Node does not tell it for a socket it was given): from /proc/net/unix, by inode. */
function socketPathOf(fd: number): string | undefined {
  try {
    const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1]
    // Num RefCount Protocol Flags Type St Inode Path
    const line = readFileSync('/proc/net/unix', 'utf8').split('\n').map((each) => each.trim().split(/\s+/)).find((fields) => fields[6] === inode && fields[7])
    return line?.[7]
  } catch {
    return undefined
  }
}

/** systemd socket activation: the socket it passed (LISTEN_FDS), if it passed exactly one to us. */
export function activatedSocket(env: NodeJS.ProcessEnv = process.env): {fd: number} | undefined {
  return env.LISTEN_PID === String(process.pid) && env.LISTEN_FDS === '1' ? {fd: 3} : undefined
}

async function answer(request: IncomingMessage, response: ServerResponse, options: ServerOptions): Promise<void> {
  const started = performance.now()
  let status = 200
  let result: object
  let name: unknown
  try {
    const handler = route(request, options.routes)
    const body = parseBody(await readBody(request))
    name = body.Name
    result = await handler(body)
  } catch (error) {
    status = error instanceof ProtocolError ? error.status : 500
    result = {Err: error instanceof ProtocolError ? error.message : options.describeError(error)}
  }
  const text = JSON.stringify(result)
  response.writeHead(status, {'Content-Type': CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text)})
  response.end(text)
  const subject = typeof name === 'string' ? ` ${JSON.stringify(name).slice(0, 80)}` : ''
  const err = 'Err' in result ? `: ${result.Err}` : ''
  options.log(`${request.method} ${request.url?.slice(0, 100)}${subject} ${status} ${Math.round(performance.now() - started)}ms${err}`)
}

function route(request: IncomingMessage, routes: Routes): Handler {
  const handler = Object.hasOwn(routes, request.url ?? '') ? routes[request.url!] : undefined
  if (!handler) throw new ProtocolError(404, `unknown endpoint ${String(request.url).slice(0, 100)}: cbs speaks ${Object.keys(routes).join(', ')}`)
  if (request.method !== 'POST') throw new ProtocolError(405, `${request.method} ${request.url}: the plugin protocol uses POST`)
  return handler
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? 0)
    if (declared > MAX_BODY_BYTES) {
      request.resume()
      reject(tooLarge())
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size <= MAX_BODY_BYTES) chunks.push(chunk)
    })
    request.on('end', () => (size > MAX_BODY_BYTES ? reject(tooLarge()) : resolve(Buffer.concat(chunks).toString('utf8'))))
    request.on('error', reject)
  })
}

const tooLarge = () => new ProtocolError(413, `request body larger than ${MAX_BODY_BYTES} bytes`)

/** Empty, `null` or an object: Activate, List and Capabilities come without a body. */
export function parseBody(text: string): RequestBody {
  if (text.trim() === '') return {}
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new ProtocolError(400, 'request body is not valid JSON')
  }
  if (body === null) return {}
  if (typeof body !== 'object' || Array.isArray(body)) throw new ProtocolError(400, 'request body must be a JSON object')
  return body as RequestBody
}
