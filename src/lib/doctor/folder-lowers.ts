import type {Context} from '../system/context.js'
import {CbsError} from '../common/errors.js'
import type {Finding} from './drift.js'
import {pinFolders} from '../union/lowers.js'
import type {State} from '../store/state.js'
import {HostView} from '../system/host-view.js'

/**
 * Host folder lowers that the next mount of their union volume would refuse: gone, replaced by a
 * link, or another folder than the one checked at create (exit 4 at mount). The checks are
 * mount's own, so doctor and mount never disagree; the fix is mount's hint.
 */
export function folderLowerFindings(ctx: Context, state: State): Finding[] {
  const findings: Finding[] = []
  let view: HostView | undefined // read only for a lower that fails
  for (const record of Object.values(state.volumes)) {
    for (const lower of record.lowers ?? []) {
      if (lower.type !== 'directory') continue
      try {
        pinFolders(ctx, state, [{...lower, volume: record.name}], {union: record.name}).close()
      } catch (error) {
        if (!(error instanceof CbsError)) throw error
        // A mounted union keeps the folder it stacked until it is unmounted.
        const mounted = (view ??= HostView.read(ctx.host)).mountAt(ctx.layout.mountpoint(record.name))?.fstype === record.type
        const fix = mounted && error.hint ? `${error.hint} (it is mounted: \`cbs volume unmount ${record.name}\` first)` : error.hint
        findings.push({check: 'volumes', severity: 'warning', message: `${error.reason}: its next mount will be refused`, fix})
      }
    }
  }
  return findings
}
