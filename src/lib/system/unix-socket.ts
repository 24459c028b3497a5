import {lstatSync, rmSync} from 'node:fs'
import {connect} from 'node:net'

/**
 * Clears the way for a server to listen on the unix socket `path`: a socket a dead server left
 * is removed, one that a live server answers on is refused (`inUse`), and anything that is not
 * a socket is left for the bind to refuse.
 */
export async function clearStaleSocket(path: string, inUse: () => Error): Promise<void> {
  if (!isSocket(path)) return
  if (await answers(path)) throw inUse()
  rmSync(path)
}

function isSocket(path: string): boolean {
  try {
    return lstatSync(path).isSocket()
  } catch {
    return false
  }
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
