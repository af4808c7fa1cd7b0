/**
 * The RIB keeps every candidate route per prefix and elects one: lowest
 * administrative distance, then the source's own preference, then metric,
 * then peer name (deterministic). It tells its listener about best-route
 * changes only; it never touches the kernel.
 */
import { type Prefix, formatPrefix } from '../net/ipv4.js'
import { ADMIN_DISTANCE, type Route } from './route.js'

export interface BestChange {
  prefix: Prefix
  key: string
  /** the new best route, or undefined when the prefix has no candidate left */
  best: Route | undefined
  previous: Route | undefined
}

export type BestListener = (change: BestChange) => void

interface Entry {
  prefix: Prefix
  candidates: Map<string, Route>
  best: Route | undefined
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
  private readonly entries = new Map<string, Entry>()
  private readonly listeners: BestListener[] = []

  onBestChange(listener: BestListener): void {
    this.listeners.push(listener)
  }

  /** Adds or replaces the candidate of (source, peer) for the route's prefix. */
  add(route: Route): void {
    const key = formatPrefix(route.prefix)
    let entry = this.entries.get(key)
    if (entry === undefined) {
      entry = { prefix: route.prefix, candidates: new Map(), best: undefined }
      this.entries.set(key, entry)
    }
    entry.candidates.set(candidateKey(route), route)
    this.elect(key, entry)
  }

  /** Removes the candidate of (source, peer) for a prefix. */
  withdraw(prefix: Prefix, source: Route['source'], peer: string): void {
    const key = formatPrefix(prefix)
    const entry = this.entries.get(key)
    if (entry === undefined) return
    if (!entry.candidates.delete(`${source}\u0000${peer}`)) return
    this.elect(key, entry)
  }

  /** Removes every candidate a (source, peer) offered, e.g. when a session goes down. */
  withdrawPeer(source: Route['source'], peer: string): number {
    let n = 0
    const ck = `${source}\u0000${peer}`
    for (const [key, entry] of this.entries) {
      if (entry.candidates.delete(ck)) {
        n++
        this.elect(key, entry)
      }
    }
    return n
  }

  /** Every candidate of a source, e.g. to diff a reloaded static config. */
  candidatesOf(source: Route['source']): Route[] {
    const out: Route[] = []
    for (const entry of this.entries.values()) for (const r of entry.candidates.values()) if (r.source === source) out.push(r)
    return out
  }

  best(prefix: Prefix): Route | undefined {
    return this.entries.get(formatPrefix(prefix))?.best
  }

  /** All candidates for a prefix, best first. */
  candidates(prefix: Prefix): Route[] {
    const entry = this.entries.get(formatPrefix(prefix))
    return entry ? [...entry.candidates.values()].sort(compareRoutes) : []
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

  private elect(key: string, entry: Entry): void {
    let best: Route | undefined
    for (const r of entry.candidates.values()) if (best === undefined || compareRoutes(r, best) < 0) best = r
    const previous = entry.best
    entry.best = best
    if (entry.candidates.size === 0) this.entries.delete(key)
    if (sameRoute(previous, best)) return
    for (const l of this.listeners) l({ prefix: entry.prefix, key, best, previous })
  }
}

function candidateKey(r: Route): string {
  return `${r.source}\u0000${r.peer}`
}
