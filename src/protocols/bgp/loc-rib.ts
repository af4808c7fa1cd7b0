/**
 * The Adj-RIBs-In of every peer and the Loc-RIB in one table: per prefix the
 * candidate routes (one per peer), best first, so the Loc-RIB is the first
 * route of each entry. Best path selection per RFC 4271 9.1.2.2 with the
 * RFC 4456 9 tie-breaks for reflected routes.
 *
 * Memory is the design constraint (a million prefixes): the table is a
 * compact PrefixTable (net/prefix-table.ts) whose slot holds the prefix, the
 * time the route was learned and, in the common case of one peer, the shared
 * Path itself; a flat array (path, time, path, time...) is made only when
 * several peers announce the prefix. There is no object per route: `Route` objects (BgpRoute) are made
 * when asked for (best, routes, change reports) and not kept.
 *
 * Every change of a prefix's best route is reported to the owner (the
 * speaker) with the old and new best, after the table holds the new state.
 */
import type { Prefix } from '../../net/ipv4.js'
import { PrefixTable } from '../../net/prefix-table.js'
import type { Route } from '../../rib/route.js'
import type { PeerRib } from './peer-rib.js'
import { BgpRoute, type Path, releasePath } from './paths.js'

/**
 * The best route of a prefix changed from old to neu (either undefined: none).
 * withdrawOld false: the old peer's routes are withdrawn from the RIB as a
 * whole afterwards (a peer going down), not one by one.
 */
export type BestChanged = (prefix: Prefix, old: Route | undefined, neu: Route | undefined, withdrawOld: boolean) => void


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

/**
 * The candidates of a prefix announced by several peers, best first, flat:
 * path, learn time, path, learn time... (one array: 80 bytes for two peers).
 */
type Many = (Path | number)[]

type Entry = Path | Many

const count = (e: Many): number => e.length >> 1
const pathAt = (e: Many, i: number): Path => e[2 * i] as Path
const sinceAt = (e: Many, i: number): number => e[2 * i + 1] as number

/** Moves the best candidate of an entry to the front. */
function select(e: Many): void {
  let best = 0
  for (let i = 1; i < count(e); i++) if (comparePaths(pathAt(e, i), pathAt(e, best)) < 0) best = i
  if (best !== 0) {
    const path = pathAt(e, best)
    const since = sinceAt(e, best)
    e.splice(2 * best, 2)
    e.unshift(path, since)
  }
}

function indexOfPeer(e: Many, p: PeerRib): number {
  for (let i = 0; i < count(e); i++) if (pathAt(e, i).from === p) return i
  return -1
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000)

export class LocRib {
  private readonly table = new PrefixTable<Entry>()

  constructor(private readonly changed: BestChanged) {}

  private route(slot: number, path: Path, since: number): Route {
    return new BgpRoute(this.table.addrAt(slot), this.table.lenAt(slot), path.display, since)
  }

  /** Adds or replaces p's route for prefix n (counting p.accepted and path references). */
  insert(p: PeerRib, n: Prefix, path: Path): void {
    const t = this.table
    let slot = t.find(n.addr, n.len)
    if (slot < 0) {
      slot = t.insert(n.addr, n.len)
      const now = nowSeconds()
      t.setValueAt(slot, path)
      t.setStampAt(slot, now)
      path.refs++
      p.accepted++
      this.changed(n, undefined, new BgpRoute(n.addr, n.len, path.display, now), true)
      return
    }
    const cur = t.valueAt(slot)!
    if (cur === path) return // unchanged re-announcement
    const now = nowSeconds()
    if (Array.isArray(cur)) {
      const old = pathAt(cur, 0)
      const oldSince = sinceAt(cur, 0)
      const i = indexOfPeer(cur, p)
      if (i >= 0) {
        const was = pathAt(cur, i)
        if (was === path) return
        releasePath(was)
        cur[2 * i] = path
        cur[2 * i + 1] = now
      } else {
        cur.push(path, now)
        p.accepted++
      }
      path.refs++
      select(cur)
      if (pathAt(cur, 0) !== old) this.changed(n, this.route(slot, old, oldSince), this.route(slot, pathAt(cur, 0), sinceAt(cur, 0)), true)
      return
    }
    const curSince = t.stampAt(slot)
    path.refs++
    if (cur.from === p) {
      releasePath(cur)
      t.setValueAt(slot, path)
      t.setStampAt(slot, now)
      this.changed(n, this.route(slot, cur, curSince), this.route(slot, path, now), true)
      return
    }
    p.accepted++
    const first = comparePaths(path, cur) < 0
    t.setValueAt(slot, first ? [path, now, cur, curSince] : [cur, curSince, path, now])
    if (first) this.changed(n, this.route(slot, cur, curSince), this.route(slot, path, now), true)
  }

  /** Removes p's route for prefix n, if any. */
  remove(p: PeerRib, n: Prefix): void {
    const t = this.table
    const slot = t.find(n.addr, n.len)
    if (slot < 0) return
    const cur = t.valueAt(slot)!
    if (Array.isArray(cur)) {
      const i = indexOfPeer(cur, p)
      if (i < 0) return
      const old = pathAt(cur, 0)
      const oldSince = sinceAt(cur, 0)
      releasePath(pathAt(cur, i))
      cur.splice(2 * i, 2)
      p.accepted--
      if (i === 0) select(cur)
      const best = pathAt(cur, 0)
      const bestSince = sinceAt(cur, 0)
      if (count(cur) === 1) {
        t.setValueAt(slot, best)
        t.setStampAt(slot, bestSince)
      }
      if (i === 0) this.changed(n, this.route(slot, old, oldSince), this.route(slot, best, bestSince), true)
      return
    }
    if (cur.from !== p) return
    releasePath(cur)
    const old = this.route(slot, cur, t.stampAt(slot))
    t.deleteAt(slot)
    p.accepted--
    this.changed(n, old, undefined, true)
  }

  /**
   * Removes every route of peer p (its session is gone). Best changes are
   * reported with withdrawOld false: the caller withdraws p's routes from the
   * RIB as a whole, after the new bests were added. Returns how many were removed.
   */
  removePeer(p: PeerRib): number {
    const t = this.table
    let removed = 0
    // prefixes whose only route was p's: deleted after the walk (a delete moves entries), kept
    // meanwhile as columns (a peer with a million routes going down makes no object per route here)
    const room = Math.min(t.size, Math.max(p.accepted, 0) + 16)
    let goneAddr = new Uint32Array(room)
    let goneLen = new Uint8Array(room)
    let goneSince = new Uint32Array(room)
    const gonePath: Path[] = []
    for (let slot = 0; slot < t.capacity; slot++) {
      if (!t.used(slot)) continue
      const e = t.valueAt(slot)!
      if (Array.isArray(e)) {
        const i = indexOfPeer(e, p)
        if (i < 0) continue
        const old = pathAt(e, 0)
        const oldSince = sinceAt(e, 0)
        e.splice(2 * i, 2)
        removed++
        if (i === 0) select(e)
        const best = pathAt(e, 0)
        const bestSince = sinceAt(e, 0)
        if (count(e) === 1) {
          t.setValueAt(slot, best)
          t.setStampAt(slot, bestSince)
        }
        if (i === 0) this.changed(t.prefixAt(slot), this.route(slot, old, oldSince), this.route(slot, best, bestSince), false)
      } else if (e.from === p) {
        const k = gonePath.length
        if (k === goneAddr.length) {
          // p.accepted undercounted: grow the columns
          const grow = <T extends Uint32Array | Uint8Array>(a: T, b: T): T => {
            b.set(a)
            return b
          }
          goneAddr = grow(goneAddr, new Uint32Array(k * 2 + 16))
          goneLen = grow(goneLen, new Uint8Array(k * 2 + 16))
          goneSince = grow(goneSince, new Uint32Array(k * 2 + 16))
        }
        goneAddr[k] = t.addrAt(slot)
        goneLen[k] = t.lenAt(slot)
        goneSince[k] = t.stampAt(slot)
        gonePath.push(e)
        removed++
      }
    }
    for (let k = 0; k < gonePath.length; k++) {
      const addr = goneAddr[k]!
      const len = goneLen[k]!
      t.delete(addr, len)
      const old = new BgpRoute(addr, len, gonePath[k]!.display, goneSince[k]!)
      this.changed(old, old, undefined, false)
    }
    return removed
  }

  /** Calls fn with the prefix and best path of every prefix (no object made per prefix). */
  forEachBestPath(fn: (addr: number, len: number, path: Path) => void): void {
    const t = this.table
    for (let slot = 0; slot < t.capacity; slot++) {
      if (!t.used(slot)) continue
      const e = t.valueAt(slot)!
      fn(t.addrAt(slot), t.lenAt(slot), Array.isArray(e) ? pathAt(e, 0) : e)
    }
  }

  /** Calls fn with the prefix and path of every route (all peers) of every prefix. */
  forEachPath(fn: (addr: number, len: number, path: Path) => void): void {
    const t = this.table
    for (let slot = 0; slot < t.capacity; slot++) {
      if (!t.used(slot)) continue
      const e = t.valueAt(slot)!
      if (Array.isArray(e)) for (let i = 0; i < count(e); i++) fn(t.addrAt(slot), t.lenAt(slot), pathAt(e, i))
      else fn(t.addrAt(slot), t.lenAt(slot), e)
    }
  }

  /** Calls fn with the best route of every prefix. */
  forEachBest(fn: (best: Route) => void): void {
    for (const r of this.bestValues()) fn(r)
  }

  /** Every prefix's best route, lazily (each made when reached). */
  *bestValues(): Generator<Route> {
    const t = this.table
    for (let slot = 0; slot < t.capacity; slot++) {
      if (!t.used(slot)) continue
      const e = t.valueAt(slot)!
      yield Array.isArray(e) ? this.route(slot, pathAt(e, 0), sinceAt(e, 0)) : this.route(slot, e, t.stampAt(slot))
    }
  }

  /** Calls fn with every route (all peers) of every prefix. */
  forEachRoute(fn: (route: Route) => void): void {
    const t = this.table
    for (let slot = 0; slot < t.capacity; slot++) {
      if (!t.used(slot)) continue
      const e = t.valueAt(slot)!
      if (Array.isArray(e)) for (let i = 0; i < count(e); i++) fn(this.route(slot, pathAt(e, i), sinceAt(e, i)))
      else fn(this.route(slot, e, t.stampAt(slot)))
    }
  }

  /** Loc-RIB best route of a prefix. */
  best(p: Prefix): Route | undefined {
    const slot = this.table.find(p.addr, p.len)
    if (slot < 0) return undefined
    const e = this.table.valueAt(slot)!
    return Array.isArray(e) ? this.route(slot, pathAt(e, 0), sinceAt(e, 0)) : this.route(slot, e, this.table.stampAt(slot))
  }

  /** Whether any peer announces prefix p. */
  has(p: Prefix): boolean {
    return this.table.find(p.addr, p.len) >= 0
  }

  /** Every route (all peers) of a prefix, best first. */
  routes(p: Prefix): Route[] {
    const slot = this.table.find(p.addr, p.len)
    if (slot < 0) return []
    const e = this.table.valueAt(slot)!
    if (!Array.isArray(e)) return [this.route(slot, e, this.table.stampAt(slot))]
    const out: Route[] = []
    for (let i = 0; i < count(e); i++) out.push(this.route(slot, pathAt(e, i), sinceAt(e, i)))
    return out
  }

  /** prefixes with at least one route */
  get size(): number {
    return this.table.size
  }
}
