/**
 * Route rows (RouteRow) independent of where they come from: the agent's
 * RIB (src/agent/routes.ts) or the kernel alone while the agent is down
 * (src/cli-support/kernel-view.ts). Sorting and `fabric routes` filters.
 */
import { type Prefix, containsPrefix, formatAddress, formatPrefix, parsePrefix } from '../net/ipv4.js'
import { type Prefix6, bytesOf6, containsPrefix6, formatPrefix6, parsePrefix6 } from '../net/ipv6.js'
import type { LocalLink } from './host-identity.js'
import type { RouteRow } from './types.js'

/** The fields of a kernel route a row shows (kernel/types' KernelRoute fits). */
export interface KernelRouteFields {
  prefix: Prefix
  gateway?: number
  oif?: number
  metric: number
}

/** The device name of a kernel route's output interface. */
export function deviceOf(route: { oif?: number } | undefined, links: ReadonlyMap<number, LocalLink>): string | null {
  if (route?.oif === undefined) return null
  return links.get(route.oif)?.name ?? `if${route.oif}`
}

/** A row for a route only the kernel knows (fabric's protocol, but no source wants it, or the agent is down). */
export function kernelOnlyRow(k: KernelRouteFields, links: ReadonlyMap<number, LocalLink>, state: 'stale' | 'kernel-only', reason: string): RouteRow {
  return {
    family: 4, prefix: formatPrefix(k.prefix), nextHop: k.gateway !== undefined ? formatAddress(k.gateway) : null, device: deviceOf(k, links),
    source: 'kernel', peer: null, metric: k.metric, asPath: null, age: null, state, reason, alternatives: 0, stale: null, network: null,
  }
}

/** The fields of a kernel IPv6 route a row shows (kernel/types' KernelRoute6 fits). */
export interface KernelRouteFields6 {
  prefix: Prefix6
  gateway?: string
  oif?: number
  metric: number
}

/** An IPv6 row for a route only the kernel knows. */
export function kernelOnlyRow6(k: KernelRouteFields6, links: ReadonlyMap<number, LocalLink>, state: 'stale' | 'kernel-only', reason: string): RouteRow {
  return {
    family: 6, prefix: formatPrefix6(k.prefix), nextHop: k.gateway ?? null, device: deviceOf(k, links),
    source: 'kernel', peer: null, metric: k.metric, asPath: null, age: null, state, reason, alternatives: 0, stale: null, network: null,
  }
}

/** A fabric network as the route rows see it ('default' is [fabric] pool). */
export interface RowNetwork {
  name: string
  pool: Prefix
}

/** Sets each IPv4 row's network: the network whose pool contains its prefix (null for none); IPv6 rows are left as they are. */
export function labelNetworks(rows: RouteRow[], networks: readonly RowNetwork[]): RouteRow[] {
  for (const row of rows) {
    if (row.family === 6) continue
    const p = parsePrefix(row.prefix)
    row.network = p.ok ? networks.find((n) => containsPrefix(n.pool, p.value))?.name ?? null : null
  }
  return rows
}

/** IPv6 rows by address, then length. */
export function sortRouteRows6(rows: RouteRow[]): RouteRow[] {
  const keyed = rows.map((row) => {
    const p = parsePrefix6(row.prefix)
    return { row, addr: p.ok ? bytesOf6(p.value.addr) : Buffer.alloc(16), len: p.ok ? p.value.len : 0 }
  })
  keyed.sort((x, y) => Buffer.compare(x.addr, y.addr) || x.len - y.len)
  return keyed.map((k) => k.row)
}

/** By address, then length; each prefix is parsed once, not in every comparison. */
export function sortRouteRows(rows: RouteRow[]): RouteRow[] {
  const keyed = rows.map((row) => {
    const p = parsePrefix(row.prefix)
    return { row, addr: p.ok ? p.value.addr : 0, len: p.ok ? p.value.len : 0 }
  })
  keyed.sort((x, y) => x.addr - y.addr || x.len - y.len)
  return keyed.map((k) => k.row)
}

export interface RouteFilter {
  /** 4 or 6: only rows of that address family (rows without a family, from older agents, are IPv4) */
  family?: 4 | 6
  source?: string
  /** a fabric network's name ('default' for [fabric] pool) */
  network?: string
  peer?: string
  /** an address or prefix: the longest matching route (like `ip route get`) */
  match?: string
}

/** Applies `fabric routes` filters; match picks the longest prefix containing the address/prefix. */
export function filterRouteRows(rows: RouteRow[], f: RouteFilter): RouteRow[] | { error: string } {
  let out = rows
  if (f.family !== undefined) out = out.filter((r) => (r.family ?? 4) === f.family)
  if (f.source) out = out.filter((r) => r.source === f.source)
  if (f.network) out = out.filter((r) => r.network === f.network)
  if (f.peer) out = out.filter((r) => r.peer === f.peer || r.nextHop === f.peer)
  if (f.match) {
    const best = f.match.includes(':')
      ? longestMatch(out, 6, f.match, 128, parsePrefix6, containsPrefix6)
      : longestMatch(out, 4, f.match, 32, parsePrefix, containsPrefix)
    if ('error' in best) return best
    out = best.row ? [best.row] : []
  }
  return out
}

/** The longest row of the family whose prefix contains `match` (an address, or a prefix), like `ip route get`. */
function longestMatch<P extends { len: number }>(
  rows: readonly RouteRow[], family: 4 | 6, match: string, hostLen: number,
  parse: (text: string, strict?: boolean) => { ok: true; value: P } | { ok: false; error: string }, contains: (outer: P, inner: P) => boolean,
): { row: RouteRow | undefined } | { error: string } {
  const p = parse(match.includes('/') ? match : `${match}/${hostLen}`, false)
  if (!p.ok) return { error: `"${match}": expected an address or a prefix (${p.error})` }
  let row: RouteRow | undefined
  let rowLen = -1
  for (const r of rows) {
    if ((r.family ?? 4) !== family) continue
    const rp = parse(r.prefix)
    if (rp.ok && contains(rp.value, p.value) && rp.value.len > rowLen) {
      row = r
      rowLen = rp.value.len
    }
  }
  return { row }
}
