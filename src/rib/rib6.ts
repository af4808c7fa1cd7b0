/**
 * The IPv6 RIB: every candidate route per prefix, one elected like rib.ts
 * does for IPv4 (lowest administrative distance, then the source's own
 * preference, then metric, then peer, then next hop). It tells its
 * listeners about best-route changes only; FibSync6 reads its best routes as
 * the desired table. IPv6 tables are small (a subnet per host): a Map of
 * candidates per prefix, no single-candidate packing.
 */
import { type Prefix6, PrefixMap6 } from '../net/ipv6.js'
import { type BestTable, bestOf, bestTable, candidateKey, compareAfterDistance, distanceIn, sameCandidate } from './election.js'

/**
 * A candidate IPv6 route: the shape of protocols/ripng/route6.ts's Route6
 * (rib/ may not import protocols/), with any source kind (static and BGP
 * will emit them too), an optional preference and age. Rib6 is a RouteSink6.
 */
export interface RibRoute6 {
  readonly prefix: Prefix6
  /** RFC 5952 text: link-local or a global address on the underlay prefix */
  readonly nextHop: string
  /** the interface the next hop is on (required for link-local next hops) */
  readonly interface: string
  readonly peer: string
  readonly metric: number
  readonly source: string
  /** lower wins among candidates of the same source */
  readonly preference?: number
  /** seconds since the Unix epoch when the source learned it */
  readonly since?: number
  readonly attrs?: { readonly tag?: number; readonly ibgp?: boolean; readonly [k: string]: unknown }
}

/** Administrative distance per source, lowest wins (the IPv4 values; iBGP 200, unknown sources 255). */
export const ADMIN_DISTANCE6: Readonly<Record<string, number>> = { static: 1, bgp: 20, ripng: 120 }

export function distanceOf6(r: RibRoute6): number {
  return distanceIn(ADMIN_DISTANCE6, r)
}

/** Negative when a is better than b. */
export function compareRoutes6(a: RibRoute6, b: RibRoute6): number {
  return distanceOf6(a) - distanceOf6(b) || compareAfterDistance(a, b) || (a.nextHop < b.nextHop ? -1 : a.nextHop > b.nextHop ? 1 : 0)
}

const sameRoute6 = (a: RibRoute6 | undefined, b: RibRoute6 | undefined): boolean => sameCandidate(a, b, (x, y) => x.interface === y.interface)

export interface BestChange6 {
  prefix: Prefix6
  best: RibRoute6 | undefined
  previous: RibRoute6 | undefined
}

interface Entry {
  many: Map<string, RibRoute6>
  best: RibRoute6 | undefined
}


export class Rib6 {
  private readonly entries = new PrefixMap6<Entry>()
  private readonly listeners: ((c: BestChange6) => void)[] = []

  onBestChange(listener: (c: BestChange6) => void): void {
    this.listeners.push(listener)
  }

  /** Adds or replaces the candidate of (source, peer) for the route's prefix. */
  add(route: RibRoute6): void {
    let e = this.entries.get(route.prefix)
    if (e === undefined) {
      e = { many: new Map(), best: undefined }
      this.entries.set(route.prefix, e)
    }
    e.many.set(candidateKey(route.source, route.peer), route)
    this.elect(route.prefix, e)
  }

  /** Removes the candidate of (source, peer); no-op when absent. */
  withdraw(prefix: Prefix6, source: string, peer: string): void {
    const e = this.entries.get(prefix)
    if (e === undefined || !e.many.delete(candidateKey(source, peer))) return
    if (e.many.size === 0) this.entries.delete(prefix)
    this.elect(prefix, e)
  }

  /** Removes every candidate of (source, peer); returns how many. */
  withdrawPeer(source: string, peer: string): number {
    const gone: Prefix6[] = []
    const k = candidateKey(source, peer)
    for (const [p, e] of this.entries.entries()) if (e.many.has(k)) gone.push(p)
    for (const p of gone) this.withdraw(p, source, peer)
    return gone.length
  }

  best(prefix: Prefix6): RibRoute6 | undefined {
    return this.entries.get(prefix)?.best
  }

  /** All candidates for a prefix, best first. */
  candidates(prefix: Prefix6): RibRoute6[] {
    return [...(this.entries.get(prefix)?.many.values() ?? [])].sort(compareRoutes6)
  }

  get size(): number {
    return this.entries.size
  }

  *bestValues(): Generator<RibRoute6> {
    for (const e of this.entries.values()) if (e.best) yield e.best
  }

  /** The best routes as FibSync6's desired table (a view, nothing copied; kernel/ is not imported here). */
  desiredTable(): BestTable<Prefix6, RibRoute6> {
    return bestTable(this)
  }

  private elect(prefix: Prefix6, e: Entry): void {
    const previous = e.best
    const best = bestOf(e.many.values(), compareRoutes6)
    e.best = best
    if (sameRoute6(previous, best)) return
    for (const l of this.listeners) l({ prefix, best, previous })
  }
}
