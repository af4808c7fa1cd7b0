/**
 * IPv6 routes out of RIPng. The engine emits Route6; the source hands them
 * to the agent's IPv6 RIB (rib/rib6.ts Rib6, a rib/source.ts RouteSink6,
 * whose RibRoute6 is this shape with any source kind), and FibSync6 installs
 * `prefix via nextHop dev interface proto 233`.
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

/** Where RIPng emits its routes: the agent's IPv6 RIB. */
export type { RouteSink6 } from '../../rib/source.js'
