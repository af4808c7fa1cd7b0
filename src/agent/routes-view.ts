/**
 * The rows `fabric routes` shows, built by the agent (from the RIB, FIB sync
 * states and the kernel) or, when the agent is down, from the kernel alone.
 * The JSON schema is documented in docs/cli.md; keep it stable.
 */
import { type Prefix, containsPrefix, formatAddress, formatPrefix, parsePrefix } from '../net/ipv4.js'
import type { RouteState } from '../kernel/fib-sync.js'
import type { KernelLink } from '../kernel/rtnl-codec.js'
import type { KernelRoute } from '../kernel/types.js'
import type { Route } from '../rib/route.js'

export interface RouteRow {
  prefix: string
  nextHop: string | null
  device: string | null
  source: string
  peer: string | null
  metric: number | null
  asPath: number[] | null
  /** seconds since this route became best (null when unknown) */
  age: number | null
  state: 'installed' | 'pending' | 'conflict' | 'not-on-link' | 'error' | 'stale' | 'kernel-only'
  reason: string | null
  /** other candidates for the prefix (from other sources or peers) */
  alternatives: number
}

export function deviceOf(route: KernelRoute | undefined, links: Map<number, KernelLink>): string | null {
  if (route?.oif === undefined) return null
  return links.get(route.oif)?.name ?? `if${route.oif}`
}

export function buildRouteRows(opts: {
  best: Route[]
  candidates: (r: Route) => number
  stateOf: (p: Prefix) => RouteState | undefined
  since: (p: Prefix) => number | undefined
  kernel: KernelRoute[]
  links: KernelLink[]
  protocol: number
  table: number
  now: number
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
    })
  }
  for (const [key, k] of ours) {
    if (seen.has(key)) continue
    rows.push({
      prefix: key, nextHop: k.gateway !== undefined ? formatAddress(k.gateway) : null, device: deviceOf(k, linkMap),
      source: 'kernel', peer: null, metric: k.metric, asPath: null, age: null, state: 'stale',
      reason: 'in the kernel with fabric\'s protocol but no longer wanted; removed once every source has its full table', alternatives: 0,
    })
  }
  return sortRows(rows)
}

/** Rows from the kernel alone (agent down): every route of fabric's protocol. */
export function kernelRouteRows(kernel: KernelRoute[], links: KernelLink[], protocol: number, table: number): RouteRow[] {
  const linkMap = new Map(links.map((l) => [l.index, l]))
  return sortRows(kernel.filter((k) => k.protocol === protocol && k.table === table).map((k) => ({
    prefix: formatPrefix(k.prefix), nextHop: k.gateway !== undefined ? formatAddress(k.gateway) : null, device: deviceOf(k, linkMap),
    source: 'kernel', peer: null, metric: k.metric, asPath: null, age: null, state: 'kernel-only' as const,
    reason: 'agent not running: read from the kernel', alternatives: 0,
  })))
}

/** By address, then length; each prefix is parsed once, not in every comparison. */
function sortRows(rows: RouteRow[]): RouteRow[] {
  const keyed = rows.map((row) => {
    const p = parsePrefix(row.prefix)
    return { row, addr: p.ok ? p.value.addr : 0, len: p.ok ? p.value.len : 0 }
  })
  keyed.sort((x, y) => x.addr - y.addr || x.len - y.len)
  return keyed.map((k) => k.row)
}

/** Formats seconds like BIRD/FRR uptimes: 45s, 12m03s, 3h04m, 2d05h. */
export function formatAge(s: number | null): string {
  if (s === null) return '-'
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`
}

/** An aligned text table. */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()
  return [line(headers), ...rows.map(line)].join('\n')
}

/**
 * The `fabric routes` table: one row per prefix, readable at 80 columns; the
 * reason of every state other than installed follows the table, one line
 * per prefix, so long explanations never widen the columns.
 */
export function renderRouteTable(rows: RouteRow[]): string {
  const body = rows.map((r) => [
    r.prefix, r.nextHop ?? '-', r.device ?? '-', r.peer ? `${r.source}/${r.peer}` : r.source,
    r.asPath ? (r.asPath.join(' ') || 'i') : r.metric === null ? '-' : String(r.metric),
    formatAge(r.age), r.state,
  ])
  const table = renderTable(['PREFIX', 'NEXT HOP', 'DEV', 'SOURCE', 'METRIC', 'AGE', 'STATE'], body)
  const notes = rows.filter((r) => r.reason && r.state !== 'installed' && r.state !== 'kernel-only').map((r) => `  ${r.prefix} ${r.state}: ${r.reason}`)
  return notes.length ? `${table}\n\n${notes.join('\n')}` : table
}

export interface RouteFilter {
  source?: string
  peer?: string
  /** an address or prefix: the longest matching route (like `ip route get`) */
  match?: string
}

/** Applies `fabric routes` filters; match picks the longest prefix containing the address/prefix. */
export function filterRows(rows: RouteRow[], f: RouteFilter): RouteRow[] | { error: string } {
  let out = rows
  if (f.source) out = out.filter((r) => r.source === f.source)
  if (f.peer) out = out.filter((r) => r.peer === f.peer || r.nextHop === f.peer)
  if (f.match) {
    const text = f.match.includes('/') ? f.match : `${f.match}/32`
    const p = parsePrefix(text, false)
    if (!p.ok) return { error: `"${f.match}": expected an address or a prefix (${p.error})` }
    let best: RouteRow | undefined
    let bestLen = -1
    for (const r of out) {
      const rp = parsePrefix(r.prefix)
      if (!rp.ok) continue
      if (containsPrefix(rp.value, p.value) && rp.value.len > bestLen) {
        best = r
        bestLen = rp.value.len
      }
    }
    out = best ? [best] : []
  }
  return out
}
