/**
 * The RIB keeps every candidate route per prefix and elects one: lowest
 * administrative distance, then the source's own preference, then metric,
 * then peer name (deterministic). It tells its listener about best-route
 * changes only; it never touches the kernel.
 *
 * Memory: most prefixes have one candidate, stored as the Route itself; a
 * Multi holder is made only when a second source or peer offers the prefix.
 *
 * A source with a big table of its own (BGP's Loc-RIB, which elects one
 * best per prefix itself) attaches it instead of adding its routes: the RIB
 * then stores nothing per prefix for that source and reads its best route
 * from the attached table (`BestSource`) when it elects, lists or counts; the
 * source reports each change of its best with `BestSink`. An attached best is
 * one candidate among the others of the prefix, with the same election.
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

/** A source's own table of best routes, one per prefix (BGP's Loc-RIB), read by the RIB. */
export interface BestSource {
  /** the source's best route for a prefix (may be made on demand) */
  best(p: Prefix): Route | undefined
  has(p: Prefix): boolean
  bestValues(): Iterable<Route>
  readonly size: number
}

/**
 * How an attached source reports that its best route of a prefix changed
 * from `old` to `neu` (either undefined: none), after its table holds `neu`.
 */
export type BestSink = (prefix: Prefix, old: Route | undefined, neu: Route | undefined) => void

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

/** The better of two candidates (either may be absent); a on a tie. */
function better(a: Route | undefined, b: Route | undefined): Route | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return compareRoutes(b, a) < 0 ? b : a
}

const bestOf = (many: Map<string, Route>): Route | undefined => bestBy(many.values(), compareRoutes)

export class Rib {
  private readonly entries = new PrefixMap<Slot>()
  private readonly listeners: BestListener[] = []
  /** the attached table (BGP's Loc-RIB) and its source */
  private attached: BestSource | undefined
  private attachedKind: Route['source'] | undefined
  /** prefixes with both an own candidate (entries) and an attached best */
  private overlap = 0

  /**
   * Attaches a source's table of best routes (BGP's Loc-RIB): its routes are
   * never added, the RIB reads them from `table` and is told of changes
   * through the returned sink. One table at a time.
   */
  attach(source: Route['source'], table: BestSource): BestSink {
    if (this.attached) throw new Error(`the RIB has an attached ${this.attachedKind} table already`)
    this.attached = table
    this.attachedKind = source
    for (const r of table.bestValues()) if (this.entries.has(r.prefix)) this.overlap++
    return (prefix, old, neu) => this.attachedChanged(prefix, old, neu)
  }

  private attachedChanged(prefix: Prefix, old: Route | undefined, neu: Route | undefined): void {
    const own = this.entries.get(prefix)
    const ownBest = own instanceof Multi ? own.best : own
    if (own !== undefined) {
      if (old === undefined && neu !== undefined) this.overlap++
      else if (old !== undefined && neu === undefined) this.overlap--
    }
    this.announce(prefix, better(ownBest, neu), better(ownBest, old))
  }

  /** A prefix got (+1) or lost (-1) its own slot: the overlap count follows. */
  private slotCountChanged(prefix: Prefix, delta: 1 | -1): void {
    if (this.attached?.has(prefix)) this.overlap += delta
  }

  onBestChange(listener: BestListener): void {
    this.listeners.push(listener)
  }

  /** Adds or replaces the candidate of (source, peer) for the route's prefix. */
  add(route: Route): void {
    const slot = this.entries.get(route.prefix)
    if (slot === undefined) {
      this.entries.set(route.prefix, route)
      this.slotCountChanged(route.prefix, 1)
      return this.announceOwn(route.prefix, route, undefined)
    }
    if (!(slot instanceof Multi)) {
      if (slot.source === route.source && slot.peer === route.peer) {
        this.entries.set(route.prefix, route)
        return this.announceOwn(route.prefix, route, slot)
      }
      const many = new Map([[candidateKey(slot.source, slot.peer), slot], [candidateKey(route.source, route.peer), route]])
      const best = compareRoutes(route, slot) < 0 ? route : slot
      this.entries.set(route.prefix, new Multi(many, best))
      return this.announceOwn(route.prefix, best, slot)
    }
    slot.many.set(candidateKey(route.source, route.peer), route)
    const previous = slot.best
    slot.best = bestOf(slot.many)
    this.announceOwn(route.prefix, slot.best, previous)
  }

  /** Removes the candidate of (source, peer) for a prefix. */
  withdraw(prefix: Prefix, source: Route['source'], peer: string): void {
    const slot = this.entries.get(prefix)
    if (slot === undefined) return
    if (!(slot instanceof Multi)) {
      if (slot.source !== source || slot.peer !== peer) return
      this.entries.delete(prefix)
      this.slotCountChanged(prefix, -1)
      return this.announceOwn(slot.prefix, undefined, slot)
    }
    if (!slot.many.delete(candidateKey(source, peer))) return
    const previous = slot.best
    if (slot.many.size === 1) {
      const only = slot.many.values().next().value as Route
      this.entries.set(prefix, only)
      return this.announceOwn(prefix, only, previous)
    }
    slot.best = bestOf(slot.many)
    this.announceOwn(prefix, slot.best, previous)
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
    const own = slot instanceof Multi ? slot.best : slot
    return this.attached ? better(own, this.attached.best(prefix)) : own
  }

  /** All candidates for a prefix, best first. */
  candidates(prefix: Prefix): Route[] {
    const slot = this.entries.get(prefix)
    const out = slot === undefined ? [] : slot instanceof Multi ? [...slot.many.values()] : [slot]
    const a = this.attached?.best(prefix)
    if (a) out.push(a)
    return out.length > 1 ? out.sort(compareRoutes) : out
  }

  /** Number of candidates for a prefix. */
  candidateCount(prefix: Prefix): number {
    const slot = this.entries.get(prefix)
    const own = slot === undefined ? 0 : slot instanceof Multi ? slot.many.size : 1
    return this.attached?.has(prefix) ? own + 1 : own
  }

  /** Every prefix's best route. */
  bestRoutes(): Route[] {
    return [...this.bestValues()]
  }

  get size(): number {
    return this.entries.size + (this.attached ? this.attached.size - this.overlap : 0)
  }

  /** Every prefix's best route, lazily: the own slots' (with the attached best where both are), then the attached table's other prefixes. */
  *bestValues(): Generator<Route> {
    const attached = this.attached
    for (const slot of this.entries.values()) {
      const own = slot instanceof Multi ? slot.best : slot
      if (own === undefined) continue
      const b = attached ? better(own, attached.best(own.prefix)) : own
      if (b) yield b
    }
    if (!attached) return
    const entries = this.entries
    for (const r of attached.bestValues()) if (!entries.has(r.prefix)) yield r
  }

  /** The best routes as FIB sync's desired table (read-only view, nothing copied). */
  desiredTable(): BestTable<Prefix, Route> {
    return bestTable(this)
  }

  /** An own candidate changed the own best from previous to best: the attached best takes part in the election. */
  private announceOwn(prefix: Prefix, best: Route | undefined, previous: Route | undefined): void {
    if (this.attached === undefined) return this.announce(prefix, best, previous)
    if (best === previous) return
    const a = this.attached.best(prefix)
    this.announce(prefix, better(best, a), better(previous, a))
  }

  private announce(prefix: Prefix, best: Route | undefined, previous: Route | undefined): void {
    if (sameRoute(previous, best)) return
    for (const l of this.listeners) l({ prefix, best, previous })
  }
}
