/**
 * The RIB keeps every candidate route per prefix and elects one: lowest
 * administrative distance, then the source's own preference, then metric,
 * then peer name (deterministic). It tells its listener about best-route
 * changes only; it never touches the kernel.
 */
import { type Prefix, prefixId } from '../net/ipv4.js'
import { ADMIN_DISTANCE, type Route } from './route.js'

export interface BestChange {
  prefix: Prefix
  /** prefixId(prefix) */
  key: number
  /** the new best route, or undefined when the prefix has no candidate left */
  best: Route | undefined
  previous: Route | undefined
}

export type BestListener = (change: BestChange) => void

/**
 * One prefix. Most prefixes have a single candidate, kept inline; a Map is
 * made only when a second source or peer offers the same prefix.
 */
interface Entry {
  prefix: Prefix
  one: Route | undefined
  many: Map<string, Route> | undefined
  best: Route | undefined
}

function entrySize(e: Entry): number {
  return e.many ? e.many.size : e.one ? 1 : 0
}

function* entryRoutes(e: Entry): Generator<Route> {
  if (e.many) yield* e.many.values()
  else if (e.one) yield e.one
}

/** Removes the candidate with this key; true when it was there. */
function entryDelete(e: Entry, ck: string): boolean {
  if (e.many) {
    const had = e.many.delete(ck)
    if (e.many.size === 1) {
      e.one = e.many.values().next().value
      e.many = undefined
    } else if (e.many.size === 0) e.many = undefined
    return had
  }
  if (e.one && candidateKey(e.one) === ck) {
    e.one = undefined
    return true
  }
  return false
}

function entrySet(e: Entry, r: Route): void {
  const ck = candidateKey(r)
  if (e.many) e.many.set(ck, r)
  else if (e.one === undefined || candidateKey(e.one) === ck) e.one = r
  else {
    e.many = new Map([[candidateKey(e.one), e.one], [ck, r]])
    e.one = undefined
  }
}

export function distanceOf(r: Route): number {
  if (r.source === 'bgp' && r.attrs?.ibgp) return 200
  return ADMIN_DISTANCE[r.source]
}

/** Negative when a is better than b. */
export function compareRoutes(a: Route, b: Route): number {
  return (
    distanceOf(a) - distanceOf(b) ||
    (a.preference ?? 0) - (b.preference ?? 0) ||
    a.metric - b.metric ||
    (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0) ||
    a.nextHop - b.nextHop
  )
}

function sameRoute(a: Route | undefined, b: Route | undefined): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined) return false
  return a.nextHop === b.nextHop && a.source === b.source && a.peer === b.peer && a.metric === b.metric &&
    a.preference === b.preference && JSON.stringify(a.attrs ?? {}) === JSON.stringify(b.attrs ?? {})
}

export class Rib {
  private readonly entries = new Map<number, Entry>()
  private readonly listeners: BestListener[] = []

  onBestChange(listener: BestListener): void {
    this.listeners.push(listener)
  }

  /** Adds or replaces the candidate of (source, peer) for the route's prefix. */
  add(route: Route): void {
    const key = prefixId(route.prefix)
    let entry = this.entries.get(key)
    if (entry === undefined) {
      entry = { prefix: route.prefix, one: undefined, many: undefined, best: undefined }
      this.entries.set(key, entry)
    }
    entrySet(entry, route)
    this.elect(key, entry)
  }

  /** Removes the candidate of (source, peer) for a prefix. */
  withdraw(prefix: Prefix, source: Route['source'], peer: string): void {
    const key = prefixId(prefix)
    const entry = this.entries.get(key)
    if (entry === undefined) return
    if (!entryDelete(entry, `${source}\u0000${peer}`)) return
    this.elect(key, entry)
  }

  /** Removes every candidate a (source, peer) offered, e.g. when a session goes down. */
  withdrawPeer(source: Route['source'], peer: string): number {
    let n = 0
    const ck = `${source}\u0000${peer}`
    for (const [key, entry] of this.entries) {
      if (entryDelete(entry, ck)) {
        n++
        this.elect(key, entry)
      }
    }
    return n
  }

  /** Every candidate of a source, e.g. to diff a reloaded static config. */
  candidatesOf(source: Route['source']): Route[] {
    const out: Route[] = []
    for (const entry of this.entries.values()) for (const r of entryRoutes(entry)) if (r.source === source) out.push(r)
    return out
  }

  best(prefix: Prefix): Route | undefined {
    return this.entries.get(prefixId(prefix))?.best
  }

  /** All candidates for a prefix, best first. */
  candidates(prefix: Prefix): Route[] {
    const entry = this.entries.get(prefixId(prefix))
    return entry ? [...entryRoutes(entry)].sort(compareRoutes) : []
  }

  /** Number of candidates for a prefix. */
  candidateCount(prefix: Prefix): number {
    const entry = this.entries.get(prefixId(prefix))
    return entry ? entrySize(entry) : 0
  }

  /** Every prefix's best route. */
  bestRoutes(): Route[] {
    const out: Route[] = []
    for (const e of this.entries.values()) if (e.best) out.push(e.best)
    return out
  }

  get size(): number {
    return this.entries.size
  }

  private elect(key: number, entry: Entry): void {
    let best: Route | undefined
    if (entry.many) {
      for (const r of entry.many.values()) if (best === undefined || compareRoutes(r, best) < 0) best = r
    } else best = entry.one
    const previous = entry.best
    entry.best = best
    if (best === undefined) this.entries.delete(key)
    if (sameRoute(previous, best)) return
    for (const l of this.listeners) l({ prefix: entry.prefix, key, best, previous })
  }
}

function candidateKey(r: Route): string {
  return `${r.source}\u0000${r.peer}`
}
