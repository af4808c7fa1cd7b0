/**
 * The RIPng engine: the same distance-vector engine as RIPv2
 * (protocols/rip/engine.ts: timers 30/180/120 s, split horizon with
 * poisoned reverse, triggered updates, O(entries) per packet) with the
 * RIPng address family (family.ts).
 */
import type { Prefix6 } from '../../net/ipv6.js'
import { type DvAction, type DvEngineOptions, DistanceVectorEngine } from '../rip/engine.js'
import type { RipngPacket } from './codec.js'
import { type RipngFamilyOptions, type RipngInterfaceConfig, ripngFamily } from './family.js'
import type { Route6 } from './route6.js'

export interface RipngEngineOptions extends DvEngineOptions<string, Prefix6>, RipngFamilyOptions {
  readonly interfaces: readonly RipngInterfaceConfig[]
}

export type RipngAction = DvAction<string, RipngPacket, Route6>

export class RipngEngine extends DistanceVectorEngine<string, Prefix6, RipngPacket, Route6> {
  constructor(opts: RipngEngineOptions) {
    super(opts, ripngFamily({ ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}), ...(opts.port !== undefined ? { port: opts.port } : {}) }))
  }
}
