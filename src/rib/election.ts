/**
 * Best-route election shared by the IPv4 RIB (rib.ts) and the IPv6 RIB
 * (rib6.ts): lowest administrative distance, then the source's own
 * preference, then metric, then peer name, then next hop (deterministic).
 * Pure functions over the fields both route shapes have; the next hop's
 * type (a uint32 or RFC 5952 text) is the family's.
 */

/** What election reads of a candidate route. */
export interface Candidate<H> {
  readonly nextHop: H
  readonly source: string
  readonly peer: string
  readonly metric: number
  /** lower wins among candidates of the same source */
  readonly preference?: number
  readonly attrs?: { readonly ibgp?: boolean }
}

/** The administrative distance of `r` by source in `table`: iBGP 200, unknown sources 255. */
export function distanceIn(table: Readonly<Record<string, number>>, r: Candidate<unknown>): number {
  if (r.source === 'bgp' && r.attrs?.ibgp) return 200
  return table[r.source] ?? 255
}

/** After distance: preference, metric, peer; negative when a is better, 0 when they tie (the next hop decides). */
export function compareAfterDistance(a: Candidate<unknown>, b: Candidate<unknown>): number {
  return (
    (a.preference ?? 0) - (b.preference ?? 0) ||
    a.metric - b.metric ||
    (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0)
  )
}

/** The key of the candidate (source, peer) offers for a prefix. */
export function candidateKey(source: string, peer: string): string {
  return `${source}\u0000${peer}`
}

/** The best of `many` by `compare` (the first of equals). */
export function bestOf<R>(many: Iterable<R>, compare: (a: R, b: R) => number): R | undefined {
  let best: R | undefined
  for (const r of many) if (best === undefined || compare(r, best) < 0) best = r
  return best
}

/** Whether a best-route change from a to b is no change for listeners (same route in every field election and the kernel see). */
export function sameCandidate<R extends Candidate<unknown>>(a: R | undefined, b: R | undefined, alsoSame?: (a: R, b: R) => boolean): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined) return false
  return a.nextHop === b.nextHop && a.source === b.source && a.peer === b.peer && a.metric === b.metric &&
    a.preference === b.preference && (alsoSame === undefined || alsoSame(a, b)) &&
    (a.attrs === b.attrs || JSON.stringify(a.attrs ?? {}) === JSON.stringify(b.attrs ?? {}))
}

/** A RIB's best routes as a read-only table (FIB sync's desired table): a view, nothing copied. */
export interface BestTable<P, R> {
  get(p: P): R | undefined
  values(): Iterable<R>
  readonly size: number
}

export function bestTable<P, R>(rib: { best(p: P): R | undefined; bestValues(): Iterable<R>; readonly size: number }): BestTable<P, R> {
  return {
    get: (p) => rib.best(p),
    values: () => rib.bestValues(),
    get size() {
      return rib.size
    },
  }
}
