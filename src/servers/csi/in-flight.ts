import {aborted} from './errors.js'

/**
 * The volumes and snapshots an RPC is working on in this server. The CSI spec has the plugin
 * answer ABORTED to a second call on one of them while the first runs (the CO retries), rather
 * than queue or interleave them.
 */
export class InFlight {
  private readonly busy = new Set<string>()

  async run<T>(keys: string[], work: () => Promise<T>): Promise<T> {
    const taken = keys.find((key) => this.busy.has(key))
    if (taken !== undefined) throw aborted(`an operation on ${taken} is already under way: try again when it is done`)
    for (const key of keys) this.busy.add(key)
    try {
      return await work()
    } finally {
      for (const key of keys) this.busy.delete(key)
    }
  }
}
