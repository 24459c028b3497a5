import {requireRoot} from '../../lib/system/context.js'
import {growsOnline} from '../../lib/volumes/grow.js'
import type {Driver} from './driver.js'

/**
 * The Identity service. Expansion is ONLINE where this host grows every filesystem cbs makes
 * while mounted; without CAP_SYS_RESOURCE ext4 (the default) only grows unmounted, so OFFLINE.
 */
export function identityService(driver: Driver) {
  return {
    async GetPluginInfo() {
      return {name: driver.name, vendor_version: driver.version, manifest: {}}
    },

    async GetPluginCapabilities() {
      const online = growsOnline(driver.ctx, 'ext4')
      return {
        capabilities: [
          {service: {type: 'CONTROLLER_SERVICE'}},
          {service: {type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS'}},
          {volume_expansion: {type: online ? 'ONLINE' : 'OFFLINE'}},
        ],
      }
    },

    async Probe() {
      requireRoot(driver.ctx.host)
      return {ready: {value: true}}
    },
  }
}
