/**
 * The Adj-RIBs-In of every peer and the Loc-RIB in one table: per prefix the
 * candidate routes (one per peer, paths.ts), best first, so the Loc-RIB is
 * the first route of each entry. Best path selection per RFC 4271 9.1.2.2
 * with the RFC 4456 9 tie-breaks for reflected routes.
 *
 * An entry is a single route (the common case: one object per prefix) or an
 * array when several peers announce the prefix. Every change of a prefix's
 * best route is reported to the owner (the speaker) with the old and new
 * best, in the order the changes happen.
 */
import type { Prefix } from '../../net/ipv4.js'
import { PrefixMap } from '../../net/prefix-map.js'
import type { Route } from '../../rib/route.js'
import type { PeerRib } from './peer-rib.js'
import { BgpRoute, type Path, pathOf, releasePath } from './paths.js'

/**
 * The best route of a prefix changed from old to neu (either undefined: none).
 * withdrawOld false: the old peer's routes are withdrawn from the RIB as a
 * whole afterwards (a peer going down), not one by one.
 */
export type BestChanged = (prefix: Prefix, old: Route | undefined, neu: Route | undefined, withdrawOld: boolean) => void

type Entry = Route | Route[]

/** What best path selection reads of a path (an IPv4 Path, or an IPv6 one of speaker6.ts). */
export type PathRank = Pick<Path, 'localPref' | 'asPathLen' | 'origin' | 'neighborAs' | 'med' | 'ibgp' | 'originatorId' | 'from' | 'clusterList'>

/** RFC 4271 9.1.2.2 (and RFC 4456 9): negative when a is preferred over b. */
export function comparePaths(a: PathRank, b: PathRank): number {
  if (a.localPref !== b.localPref) return b.localPref - a.localPref
  if (a.asPathLen !== b.asPathLen) return a.asPathLen - b.asPathLen
  if (a.origin !== b.origin) return a.origin - b.origin
  // MED only between paths from the same neighbouring AS; absent MED is 0
  if (a.neighborAs === b.neighborAs && (a.med ?? 0) !== (b.med ?? 0)) return (a.med ?? 0) - (b.med ?? 0)
  if (a.ibgp !== b.ibgp) return a.ibgp ? 1 : -1
  const ida = (a.originatorId ?? a.from?.peer.routerId ?? 0) >>> 0
  const idb = (b.originatorId ?? b.from?.peer.routerId ?? 0) >>> 0
  if (ida !== idb) return ida - idb
  if (a.clusterList.length !== b.clusterList.length) return a.clusterList.length - b.clusterList.length
  return (a.from?.peer.address ?? 0) - (b.from?.peer.address ?? 0)
}

function compareRoutes(a: Route, b: Route): number {
  return comparePaths(pathOf(a), pathOf(b))
}

/** Moves the best route of an entry to the front. */
function select(e: Route[]): void {
  let best = 0
  for (let i = 1; i < e.length; i++) if (compareRoutes(e[i]!, e[best]!) < 0) best = i
  if (best !== 0) {
    const r = e[best]!
    e.splice(best, 1)
    e.unshift(r)
  }
}

export class LocRib {
  private readonly table = new PrefixMap<Entry>()

  constructor(private readonly changed: BestChanged) {}

  /** Adds or replaces p's route for prefix n (counting p.accepted and path references). */
  insert(p: PeerRib, n: Prefix, path: Path): void {
    const cur = this.table.get(n)
    if (cur !== undefined && !Array.isArray(cur) && pathOf(cur) === path) return // unchanged re-announcement
    const route: Route = new BgpRoute(n.addr, n.len, path.display)
    path.refs++
    if (cur === undefined) {
      this.table.set(n, route)
      p.accepted++
      this.changed(n, undefined, route, true)
      return
    }
    if (Array.isArray(cur)) {
      const old = cur[0]!
      const i = cur.findIndex((r) => pathOf(r).from === p)
      if (i >= 0) {
        const was = pathOf(cur[i]!)
        if (was === path) {
          path.refs--
          return
        }
        releasePath(was)
        cur[i] = route
      } else {
        cur.push(route)
        p.accepted++
      }
      select(cur)
      if (cur[0] !== old) this.changed(n, old, cur[0]!, true)
      return
    }
    const was = pathOf(cur)
    if (was.from === p) {
      releasePath(was)
      this.table.set(n, route)
      this.changed(n, cur, route, true)
      return
    }
    p.accepted++
    const both = compareRoutes(route, cur) < 0 ? [route, cur] : [cur, route]
    this.table.set(n, both)
    if (both[0] !== cur) this.changed(n, cur, route, true)
  }

  /** Removes p's route for prefix n, if any. */
  remove(p: PeerRib, n: Prefix): void {
    const cur = this.table.get(n)
    if (cur === undefined) return
    if (Array.isArray(cur)) {
      const i = cur.findIndex((r) => pathOf(r).from === p)
      if (i < 0) return
      const old = cur[0]!
      releasePath(pathOf(cur[i]!))
      cur.splice(i, 1)
      p.accepted--
      if (i === 0) select(cur)
      if (cur.length === 1) this.table.set(n, cur[0]!)
      if (i === 0) this.changed(n, old, cur[0]!, true)
      return
    }
    if (pathOf(cur).from !== p) return
    releasePath(pathOf(cur))
    this.table.delete(n)
    p.accepted--
    this.changed(n, cur, undefined, true)
  }

  /**
   * Removes every route of peer p (its session is gone). Best changes are
   * reported with withdrawOld false: the caller withdraws p's routes from the
   * RIB as a whole, after the new bests were added. Returns how many were removed.
   */
  removePeer(p: PeerRib): number {
    let removed = 0
    const deleted: Prefix[] = []
    for (const [prefix, e] of this.table.entries()) {
      if (Array.isArray(e)) {
        const i = e.findIndex((r) => pathOf(r).from === p)
        if (i < 0) continue
        const old = e[0]!
        e.splice(i, 1)
        removed++
        if (i === 0) select(e)
        if (e.length === 1) this.table.set(prefix, e[0]!)
        if (i === 0) this.changed(prefix, old, e[0]!, false)
      } else if (pathOf(e).from === p) {
        deleted.push(prefix)
        removed++
        this.changed(prefix, e, undefined, false)
      }
    }
    for (const d of deleted) this.table.delete(d)
    return removed
  }

  /** Calls fn with the best route of every prefix. */
  forEachBest(fn: (best: Route) => void): void {
    for (const e of this.table.values()) fn(Array.isArray(e) ? e[0]! : e)
  }

  /** Calls fn with every route (all peers) of every prefix. */
  forEachRoute(fn: (route: Route) => void): void {
    for (const e of this.table.values()) {
      if (Array.isArray(e)) for (const r of e) fn(r)
      else fn(e)
    }
  }

  /** Loc-RIB best route of a prefix. */
  best(p: Prefix): Route | undefined {
    const e = this.table.get(p)
    return e === undefined ? undefined : Array.isArray(e) ? e[0] : e
  }

  /** Every route (all peers) of a prefix, best first. */
  routes(p: Prefix): Route[] {
    const e = this.table.get(p)
    return e === undefined ? [] : Array.isArray(e) ? [...e] : [e]
  }

  /** prefixes with at least one route */
  get size(): number {
    return this.table.size
  }
}
