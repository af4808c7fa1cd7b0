/**
 * The rows of /v1/routes, from the RIB, FIB sync's states and the kernel.
 * The schema (api/types RouteRow) is documented in docs/cli.md.
 */
import { type RowNetwork, kernelOnlyRow, kernelOnlyRow6, deviceOf, labelNetworks, sortRouteRows, sortRouteRows6 } from '../api/route-rows.js'
import type { RouteRow } from '../api/types.js'
import type { RouteState } from '../kernel/fib-sync.js'
import type { KernelLink } from '../kernel/rtnl-codec.js'
import type { KernelRoute, KernelRoute6 } from '../kernel/types.js'
import { type Prefix, formatAddress, formatPrefix } from '../net/ipv4.js'
import { type Prefix6, containsPrefix6, formatPrefix6 } from '../net/ipv6.js'
import type { RibRoute6 } from '../rib/rib6.js'
import type { Route } from '../rib/route.js'

/** A best route's state in a row: FIB sync's, or not-installed on a host with [bgp] install-routes = no. */
export type RowRouteState = RouteState | { readonly state: 'not-installed'; readonly reason: string }

export const NOT_INSTALLED: RowRouteState = Object.freeze({
  state: 'not-installed', reason: '[bgp] install-routes = no: this host installs no route in its kernel (control plane only)',
})

const STALE_REASON = 'in the kernel with fabric\'s protocol but no longer wanted; removed once every source has its full table'

export function buildRouteRows(opts: {
  best: Route[]
  candidates: (r: Route) => number
  stateOf: (p: Prefix) => RowRouteState | undefined
  since: (p: Prefix) => number | undefined
  kernel: KernelRoute[]
  links: KernelLink[]
  protocol: number
  table: number
  now: number
  /** the fabric networks (default first): each row's `network` */
  networks?: readonly RowNetwork[]
}): RouteRow[] {
  const linkMap = new Map(opts.links.map((l) => [l.index, l]))
  const ours = new Map<string, KernelRoute>()
  for (const k of opts.kernel) if (k.protocol === opts.protocol && k.table === opts.table) ours.set(formatPrefix(k.prefix), k)
  const rows: RouteRow[] = []
  const seen = new Set<string>()
  for (const r of opts.best) {
    const key = formatPrefix(r.prefix)
    seen.add(key)
    const st = opts.stateOf(r.prefix) ?? { state: 'pending' as const }
    const since = opts.since(r.prefix)
    rows.push({
      family: 4,
      prefix: key,
      nextHop: formatAddress(r.nextHop),
      device: deviceOf(ours.get(key), linkMap),
      source: r.source,
      peer: r.peer,
      metric: r.metric,
      asPath: r.attrs?.asPath ?? null,
      age: since === undefined ? null : Math.max(0, Math.round((opts.now - since) / 1000)),
      state: st.state,
      reason: 'reason' in st ? st.reason : null,
      alternatives: Math.max(0, opts.candidates(r) - 1),
      stale: staleOf(r.attrs?.stale, opts.now),
      network: null,
    })
  }
  for (const [key, k] of ours) if (!seen.has(key)) rows.push(kernelOnlyRow(k, linkMap, 'stale', STALE_REASON))
  return labelNetworks(sortRouteRows(rows), opts.networks ?? [])
}

/**
 * The IPv6 rows: the Rib6's best routes with FibSync6's states (device from
 * fabric's kernel route, else the route's interface), then fabric's IPv6
 * kernel routes no source wants (stale). `network` is 'default' inside
 * pool6 (the IPv6 half of docker0's network), else null.
 */
export function buildRouteRows6(opts: {
  best: readonly RibRoute6[]
  candidates: (r: RibRoute6) => number
  stateOf: (p: Prefix6) => RowRouteState | undefined
  since: (p: Prefix6) => number | undefined
  kernel: readonly KernelRoute6[]
  links: readonly KernelLink[]
  protocol: number
  table: number
  now: number
  pool6?: Prefix6
}): RouteRow[] {
  const linkMap = new Map(opts.links.map((l) => [l.index, l]))
  const ours = new Map<string, KernelRoute6>()
  for (const k of opts.kernel) if (k.protocol === opts.protocol && k.table === opts.table) ours.set(formatPrefix6(k.prefix), k)
  const rows: RouteRow[] = []
  const seen = new Set<string>()
  for (const r of opts.best) {
    const key = formatPrefix6(r.prefix)
    seen.add(key)
    const st = opts.stateOf(r.prefix) ?? { state: 'pending' as const }
    const since = opts.since(r.prefix) ?? (r.since !== undefined ? r.since * 1000 : undefined)
    rows.push({
      family: 6,
      prefix: key,
      nextHop: r.nextHop,
      device: deviceOf(ours.get(key), linkMap) ?? r.interface,
      source: r.source as RouteRow['source'],
      peer: r.peer,
      metric: r.metric,
      asPath: Array.isArray(r.attrs?.asPath) ? (r.attrs.asPath as number[]) : null,
      age: since === undefined ? null : Math.max(0, Math.round((opts.now - since) / 1000)),
      state: st.state,
      reason: 'reason' in st ? st.reason : null,
      alternatives: Math.max(0, opts.candidates(r) - 1),
      stale: staleOf(r.attrs?.stale, opts.now),
      network: opts.pool6 !== undefined && containsPrefix6(opts.pool6, r.prefix) ? 'default' : null,
    })
  }
  for (const [key, k] of ours) if (!seen.has(key)) rows.push(kernelOnlyRow6(k, linkMap, 'stale', STALE_REASON))
  return sortRouteRows6(rows)
}

type StaleAttr = { reason: 'peer-restarting' | 'awaiting-end-of-rib'; until?: number }

/** A graceful-restart stale mark (rib/route.ts RouteAttrs.stale; speaker6 writes the same shape on IPv6 routes) as a row field. */
function staleOf(mark: unknown, now: number): RouteRow['stale'] {
  if (!mark || typeof mark !== 'object') return null
  const m = mark as StaleAttr
  return { reason: m.reason, secondsLeft: m.until === undefined ? null : Math.max(0, Math.ceil((m.until - now) / 1000)) }
}
