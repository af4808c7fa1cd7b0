import type { Prefix } from '../net/ipv4.js'

/** The ways fabric learns routes; each is one route source. */
export type SourceKind = 'static' | 'rip' | 'bgp'

/**
 * Administrative distance per source, lowest wins (like FRR/Cisco): a route
 * configured in fabric.ini beats one learned from eBGP, RIP and iBGP.
 */
export const ADMIN_DISTANCE: Record<SourceKind, number> = {
  static: 1,
  bgp: 20, // eBGP; iBGP routes carry attrs.ibgp and get 200
  rip: 120,
}

/** Protocol attributes a source attaches, shown by `fabric routes`. */
export interface RouteAttrs {
  /** BGP AS path, flattened for display */
  asPath?: number[]
  localPref?: number
  med?: number
  origin?: 'igp' | 'egp' | 'incomplete'
  ibgp?: boolean
  /** RIP route tag */
  tag?: number
  /** free-form, e.g. the fabric.ini host name */
  hostName?: string
  /**
   * kept while its peer restarts (BGP graceful restart helper mode, RFC 4724):
   * since (ms since the epoch) helper mode began; until: when it goes unless
   * the peer comes back (peer-restarting) or sends End-of-RIB (awaiting-end-of-rib)
   */
  stale?: { since: number; reason: 'peer-restarting' | 'awaiting-end-of-rib'; until?: number }
}

/** A candidate route emitted by a source. Sources never touch the kernel. */
export interface Route {
  readonly prefix: Prefix
  /** next hop IPv4 address (uint32): the peer host's underlay address */
  readonly nextHop: number
  readonly source: SourceKind
  /** who told us: host name, peer address, ... (unique within a source) */
  readonly peer: string
  /** source metric: RIP hop count, BGP MED, 0 for static */
  readonly metric: number
  /** lower wins among candidates of the same source (source's own preference order) */
  readonly preference?: number
  readonly attrs?: RouteAttrs
  /** when the source learned this route (or it last changed), seconds since the Unix epoch; `fabric routes` shows it as AGE */
  readonly since?: number
}
