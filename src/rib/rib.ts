/**
 * The RIB keeps every candidate route per prefix and elects one: lowest
 * administrative distance, then the source's own preference, then metric,
 * then peer name (deterministic). It tells its listener about best-route
 * changes only; it never touches the kernel.
 *
 * Memory: most prefixes have one candidate, stored as the Route itself; a
 * Multi holder is made only when a second source or peer offers the prefix.
 */
import type { Prefix } from '../net/ipv4.js'
import { PrefixMap } from '../net/prefix-map.js'
import { type BestTable, bestOf as bestBy, bestTable, candidateKey, compareAfterDistance, distanceIn, sameCandidate } from './election.js'
import { ADMIN_DISTANCE, type Route } from './route.js'

export interface BestChange {
  prefix: Prefix
  /** the new best route, or undefined when the prefix has no candidate left */
  best: Route | undefined
  previous: Route | undefined
}

export type BestListener = (change: BestChange) => void

class Multi {
  constructor(
    readonly many: Map<string, Route>,
    public best: Route | undefined,
  ) {}
}

type Slot = Route | Multi

export function distanceOf(r: Route): number {
  return distanceIn(ADMIN_DISTANCE, r)
}

/** Negative when a is better than b. */
export function compareRoutes(a: Route, b: Route): number {
  return distanceOf(a) - distanceOf(b) || compareAfterDistance(a, b) || a.nextHop - b.nextHop
}

const sameRoute = (a: Route | undefined, b: Route | undefined): boolean => sameCandidate(a, b)

const bestOf = (many: Map<string, Route>): Route | undefined => bestBy(many.values(), compareRoutes)

export class Rib {
  private readonly entries = new PrefixMap<Slot>()
  private readonly listeners: BestListener[] = []

  onBestChange(listener: BestListener): void {
    this.listeners.push(listener)
  }

  /** Adds or replaces the candidate of (source, peer) for the route's prefix. */
  add(route: Route): void {
    const slot = this.entries.get(route.prefix)
    if (slot === undefined) {
      this.entries.set(route.prefix, route)
      return this.announce(route.prefix, route, undefined)
    }
    if (!(slot instanceof Multi)) {
      if (slot.source === route.source && slot.peer === route.peer) {
        this.entries.set(route.prefix, route)
        return this.announce(route.prefix, route, slot)
      }
      const many = new Map([[candidateKey(slot.source, slot.peer), slot], [candidateKey(route.source, route.peer), route]])
      const best = compareRoutes(route, slot) < 0 ? route : slot
      this.entries.set(route.prefix, new Multi(many, best))
      return this.announce(route.prefix, best, slot)
    }
    slot.many.set(candidateKey(route.source, route.peer), route)
    const previous = slot.best
    slot.best = bestOf(slot.many)
    this.announce(route.prefix, slot.best, previous)
  }

  /** Removes the candidate of (source, peer) for a prefix. */
  withdraw(prefix: Prefix, source: Route['source'], peer: string): void {
    const slot = this.entries.get(prefix)
    if (slot === undefined) return
    if (!(slot instanceof Multi)) {
      if (slot.source !== source || slot.peer !== peer) return
      this.entries.delete(prefix)
      return this.announce(slot.prefix, undefined, slot)
    }
    if (!slot.many.delete(candidateKey(source, peer))) return
    const previous = slot.best
    if (slot.many.size === 1) {
      const only = slot.many.values().next().value as Route
      this.entries.set(prefix, only)
      return this.announce(prefix, only, previous)
    }
    slot.best = bestOf(slot.many)
    this.announce(prefix, slot.best, previous)
  }

  /** Removes every candidate a (source, peer) offered, e.g. when a session goes down. */
  withdrawPeer(source: Route['source'], peer: string): number {
    const gone: Prefix[] = []
    for (const slot of this.entries.values()) {
      if (slot instanceof Multi) {
        const r = slot.many.get(candidateKey(source, peer))
        if (r) gone.push(r.prefix)
      } else if (slot.source === source && slot.peer === peer) gone.push(slot.prefix)
    }
    for (const p of gone) this.withdraw(p, source, peer)
    return gone.length
  }

  best(prefix: Prefix): Route | undefined {
    const slot = this.entries.get(prefix)
    return slot instanceof Multi ? slot.best : slot
  }

  /** All candidates for a prefix, best first. */
  candidates(prefix: Prefix): Route[] {
    const slot = this.entries.get(prefix)
    if (slot === undefined) return []
    return slot instanceof Multi ? [...slot.many.values()].sort(compareRoutes) : [slot]
  }

  /** Number of candidates for a prefix. */
  candidateCount(prefix: Prefix): number {
    const slot = this.entries.get(prefix)
    return slot === undefined ? 0 : slot instanceof Multi ? slot.many.size : 1
  }

  /** Every prefix's best route. */
  bestRoutes(): Route[] {
    const out: Route[] = []
    for (const slot of this.entries.values()) {
      const b = slot instanceof Multi ? slot.best : slot
      if (b) out.push(b)
    }
    return out
  }

  get size(): number {
    return this.entries.size
  }

  /** Every prefix's best route, lazily. */
  *bestValues(): Generator<Route> {
    for (const slot of this.entries.values()) {
      const b = slot instanceof Multi ? slot.best : slot
      if (b) yield b
    }
  }

  /** The best routes as FIB sync's desired table (read-only view, nothing copied). */
  desiredTable(): BestTable<Prefix, Route> {
    return bestTable(this)
  }

  private announce(prefix: Prefix, best: Route | undefined, previous: Route | undefined): void {
    if (sameRoute(previous, best)) return
    for (const l of this.listeners) l({ prefix, best, previous })
  }
}
