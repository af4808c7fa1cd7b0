/**
 * IPv6 routes out of RIPng, and the sink they are emitted through.
 *
 * The RIB and the kernel layer carry IPv4 only today (rib/route.ts Route,
 * rib/source.ts RouteSink). Until they carry IPv6, RIPng emits Route6 into a
 * RouteSink6 the agent supplies; the intended wiring is that the RIB grows a
 * family-6 table with the same (prefix, source, peer) candidate keys and
 * election, and FIB sync installs `prefix via nextHop dev interface proto 233`.
 *
 * A link-local next hop (fe80::/10, what RIPng always learns) is only
 * meaningful with its interface, so Route6 always names it.
 */
import type { Prefix6 } from '../../net/ipv6.js'

export type SourceKind6 = 'ripng'

export interface Route6 {
  readonly prefix: Prefix6
  /** RFC 5952 text: link-local (RIPng) or a global address on the underlay prefix */
  readonly nextHop: string
  /** the interface the next hop is on (required for link-local next hops) */
  readonly interface: string
  readonly source: SourceKind6
  /** the neighbour that announced it (its link-local address) */
  readonly peer: string
  /** RIPng metric after adding the interface cost, 1..15 */
  readonly metric: number
  readonly attrs?: { readonly tag?: number }
}

/** Where an IPv6 source emits its routes (the RIB's IPv6 table, once it has one). */
export interface RouteSink6 {
  /** add or replace the candidate (prefix, source, peer) */
  add(route: Route6): void
  /** remove the candidate (prefix, source, peer); no-op when absent */
  withdraw(prefix: Prefix6, source: SourceKind6, peer: string): void
  /** remove every candidate of this peer; returns how many were removed */
  withdrawPeer(source: SourceKind6, peer: string): number
}
