/**
 * Text of the API's responses shared by the CLI and the lab report: aligned
 * tables, BIRD-style ages and the `fabric routes` table. Command-specific
 * text (status, peers, doctor) is in src/cli-support/render.ts.
 */
import type { RouteRow } from './types.js'

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

/** A route kept through a peer's graceful restart (RFC 4724): RouteRow.stale. */
interface StaleMark {
  reason: 'peer-restarting' | 'awaiting-end-of-rib' | string
  secondsLeft: number | null
}

const STALE_REASON: Record<string, string> = { 'peer-restarting': 'peer restarting', 'awaiting-end-of-rib': 'awaiting End-of-RIB' }

/** The STATE cell: the row's state, or "stale (peer restarting, 87s)" for a route kept through a graceful restart. */
export function routeStateText(r: RouteRow): string {
  const stale = (r as RouteRow & { stale?: StaleMark | null }).stale
  if (!stale) return r.state
  const why = STALE_REASON[stale.reason] ?? stale.reason
  return `stale (${why}${stale.secondsLeft === null || stale.secondsLeft === undefined ? '' : `, ${Math.max(0, Math.round(stale.secondsLeft))}s`})`
}

/** What `fabric status` and `fabric doctor` say of a host with [bgp] install-routes = no. */
export const INSTALLS_NO_ROUTE = 'installs no route (install-routes = no: control plane only)'

/**
 * The `fabric routes` table: one row per prefix, readable at 80 columns; the
 * reason of every state other than installed follows the table, one line
 * per prefix (not-installed: one line for all), so long explanations never
 * widen the columns.
 */
export function renderRouteTable(rows: RouteRow[]): string {
  // the NETWORK column when fabric networks are in play (a row outside the default network); the wave-1 table otherwise
  const withNetwork = rows.some((r) => r.network !== undefined && r.network !== null && r.network !== 'default')
  const body = rows.map((r) => [
    r.prefix, ...(withNetwork ? [r.network ?? '-'] : []), r.nextHop ?? '-', r.device ?? '-', r.peer ? `${r.source}/${r.peer}` : r.source,
    r.asPath ? (r.asPath.join(' ') || 'i') : r.metric === null ? '-' : String(r.metric),
    formatAge(r.age), routeStateText(r),
  ])
  const table = renderTable(['PREFIX', ...(withNetwork ? ['NETWORK'] : []), 'NEXT HOP', 'DEV', 'SOURCE', 'METRIC', 'AGE', 'STATE'], body)
  const notes = rows.filter((r) => r.reason && r.state !== 'installed' && r.state !== 'kernel-only' && r.state !== 'not-installed').map((r) => `  ${r.prefix} ${r.state}: ${r.reason}`)
  // a control-plane-only host: every row has the same reason, given once
  const notInstalled = rows.find((r) => r.state === 'not-installed' && r.reason)
  if (notInstalled) notes.unshift(`  not-installed: ${notInstalled.reason}`)
  return notes.length ? `${table}\n\n${notes.join('\n')}` : table
}
