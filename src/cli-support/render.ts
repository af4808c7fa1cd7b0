/**
 * Human text of the CLI's commands (JSON only with --json): `fabric status`,
 * `fabric peers`, `fabric doctor`, `fabric leave`. The routes table and the
 * table/age helpers are src/api/render.ts (the lab report uses them too).
 */
import { INSTALLS_NO_ROUTE, formatAge, renderRouteTable, renderTable } from '../api/render.js'
import type { DoctorCheck, HostIntegrationStatus, LeaveResponse, PeerRow, RouteRow, StatusResponse } from '../api/types.js'
import { type PeerBfd, type PeerGracefulRestart, bfdDiagText, peerBfd, peerGracefulRestart, peerIpv6 } from '../api/peer-details.js'

/** A value of a status field as text: never JSON. */
export function textOf(v: unknown): string {
  if (v === null || v === undefined) return '-'
  if (typeof v === 'boolean') return v ? 'yes' : 'no'
  if (Array.isArray(v)) return v.length ? v.map(textOf).join(' ') : '-'
  if (typeof v === 'object') {
    return Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k} ${textOf(x)}`).join(', ') || '-'
  }
  return String(v)
}

/** The fields of an object not in `known`, as "key value" text (a host integration may report more than fabric knows). */
function extras(o: Record<string, unknown>, known: readonly string[]): string[] {
  return Object.entries(o).filter(([k, v]) => !known.includes(k) && v !== undefined).map(([k, v]) => `${k} ${textOf(v)}`)
}

/** The `docker` and `firewall` lines of `fabric status`. */
export function hostIntegrationLines(h: HostIntegrationStatus): string[] {
  const lines = [`host      integration ${h.inSync ? 'in sync' : 'NOT in sync'}${h.ipForwarding ? ', IP forwarding on' : ''}`]
  const d = h.docker
  if (d) {
    const parts: string[] = []
    if (d.mode === 'none') parts.push('not managed by fabric')
    else if (d.mode === 'network') parts.push(`network ${d.network ?? '?'}${d.bridge ? ` on bridge ${d.bridge}` : ''}${d.created ? ' (created by fabric)' : ''}`)
    else parts.push(`${d.bridge ?? 'docker0'}${d.bip ? ` bip ${d.bip}` : ''}${typeof d.bip6 === 'string' ? ` and ${d.bip6}` : ''}${typeof d.fixedCidrV6 === 'string' ? ` (fixed-cidr-v6 ${d.fixedCidrV6})` : ''}${d.bridgeMatches === undefined ? '' : d.bridgeMatches ? ' (matches)' : ' (DOES NOT match this host\'s subnet)'}`)
    parts.push(d.version ? `Docker ${d.version}` : 'Docker version unknown')
    if (d.daemonJson) parts.push(`daemon.json ${d.daemonJson}`)
    if (d.allowDirectRouting !== undefined) parts.push(`direct routing ${d.allowDirectRouting ? 'allowed by Docker' : 'needs Docker 28.2+ or fabric\'s firewall rules'}`)
    parts.push(...extras(d, ['mode', 'network', 'bridge', 'created', 'bip', 'bip6', 'fixedCidrV6', 'bridgeMatches', 'version', 'daemonJson', 'allowDirectRouting']))
    lines.push(`docker    ${parts.join(', ')}`)
  }
  const f = h.firewall
  if (f) {
    if (!f.enabled) lines.push('firewall  not managed by fabric')
    else {
      const parts = [
        `${f.backend ?? 'iptables'}, chains ${(f.chains ?? []).join(' ') || '-'}${f.forwardJumpFrom ? ` (jump from ${f.forwardJumpFrom})` : ''}`,
        f.inSync === false ? 'NOT in sync' : 'in sync',
      ]
      if (f.checks !== undefined) parts.push(`${f.checks} checks`)
      if (f.restored) parts.push(`${f.restored} restored`)
      if (f.lastError) parts.push(`last error: ${f.lastError}`)
      parts.push(...extras(f, ['enabled', 'backend', 'chains', 'forwardJumpFrom', 'inSync', 'checks', 'restored', 'lastCheck', 'lastError', 'ipv6']))
      lines.push(`firewall  ${parts.join(', ')}`)
      const v6 = f.ipv6 as { enabled?: boolean; chains?: string[]; forwardJumpFrom?: string | null; inSync?: boolean; reason?: string | null } | undefined
      if (v6) {
        lines.push(v6.enabled
          ? `firewall6 ip6tables, chains ${(v6.chains ?? []).join(' ') || '-'}${v6.forwardJumpFrom ? ` (jump from ${v6.forwardJumpFrom})` : ''}, ${v6.inSync === false ? 'NOT in sync' : 'in sync'}`
          : `firewall6 not managed${v6.reason ? `: ${v6.reason}` : ''}`)
      }
    }
  }
  const rest = extras(h, ['inSync', 'ipForwarding', 'subnet', 'docker', 'firewall', 'networks'])
  if (rest.length) lines.push(`host      ${rest.join(', ')}`)
  return lines
}

/** ", 12 packets dropped (auth-bad-digest 10, bad-port 2)" from a source's counters */
export function dropSummary(stats: Record<string, unknown>): string {
  const flat: [string, number][] = []
  const walk = (o: Record<string, unknown>): void => {
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === 'number' && k.startsWith('drop-packet:') && v > 0) flat.push([k.slice('drop-packet:'.length), v])
      else if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>)
    }
  }
  walk(stats)
  if (flat.length === 0) return ''
  const total = flat.reduce((a, [, v]) => a + v, 0)
  return `, ${total} packets dropped (${flat.map(([k, v]) => `${k} ${v}`).join(', ')})`
}

const MIB = 1 << 20

/** "1/2 routes installed, 1 pending": the route counts of one family. */
function routeCountsText(r: StatusResponse['kernel']['routes']): string {
  return `${r.installed}/${r.wanted} routes installed` +
    `${r.conflict ? `, ${r.conflict} conflict` : ''}${r.notOnLink ? `, ${r.notOnLink} not on-link` : ''}${r.error ? `, ${r.error} error` : ''}${r.pending ? `, ${r.pending} pending` : ''}`
}

export function renderStatus(s: StatusResponse): string {
  const r = s.kernel.routes
  const ev = s.events
  const k6 = s.kernel.ipv6
  return [
    `host      ${s.host.name} ${s.host.address} on ${s.host.interface} (${s.host.underlay}), subnet ${s.host.subnet}`,
    ...(s.host.subnet6 ? [`host6     ${s.host.address6 ?? '-'} (${s.host.underlay6 ?? '-'}), subnet6 ${s.host.subnet6}`] : []),
    `fabric    mode ${s.mode}${s.routerId ? ` (AS ${s.asn}, router id ${s.routerId})` : ''}, pool ${s.pool}${s.pool6 ? `, pool6 ${s.pool6}` : ''}, route protocol ${s.routeProtocol}, config ${s.config ?? '-'}`,
    `agent     fabric ${s.version}, pid ${s.pid}, up ${formatAge(s.uptime)}, ${Math.round(s.memory.rss / MIB)} MiB RSS`,
    `kernel    ${s.kernel.inSync ? 'in sync' : 'NOT in sync'}: ${s.kernel.installRoutes === false ? INSTALLS_NO_ROUTE : `${routeCountsText(r)}${k6 ? ` IPv4, ${routeCountsText(k6.routes)} IPv6` : ''}`}` +
      `${s.kernel.lastError ? `; last error: ${s.kernel.lastError}` : ''}${k6?.lastError ? `; last IPv6 error: ${k6.lastError}` : ''}`,
    ...s.sources.map((src) => `source    ${src.kind}: ${src.ready ? 'ready' : 'gathering its initial table'}, ${src.peers} peers${dropSummary(src.stats)}`),
    ...hostIntegrationLines(s.hostIntegration),
    ...(ev.subscribers || ev.dropped || ev.disconnected
      ? [`events    ${ev.subscribers} subscribers${ev.dropped ? `, ${ev.dropped} events dropped for slow ones` : ''}${ev.disconnected ? `, ${ev.disconnected} disconnected` : ''}`]
      : []),
    ...s.conflicts.map((c) => `conflict  ${c.prefix}: ${c.reason}`),
    ...s.warnings.map((w) => `warning   ${w}`),
    `health    ${s.healthy ? 'healthy' : 'UNHEALTHY'}`,
  ].join('\n')
}

/** `fabric status` with the agent down: what fabric left in the kernel. */
export function renderStatusDown(protocol: number, rows: RouteRow[]): string {
  return `agent     DOWN\nkernel    ${rows.length} routes of protocol ${protocol} left in place${rows.length ? `:\n${renderRouteTable(rows)}` : ''}\nhealth    UNHEALTHY`
}

/** "Up 300ms", "Down (control detection time expired)", "Init": the BFD cell of `fabric peers`. */
export function bfdText(b: PeerBfd | null): string {
  if (!b) return '-'
  if (b.state === 'Up') return `Up ${b.detectionTimeMs}ms`
  const diag = bfdDiagText(b.lastDownDiag)
  return diag && (b.state === 'Down' || b.state === 'AdminDown') ? `${b.state} (${diag})` : b.state
}

/** "restarting, 3 stale, 87s left" / "waiting for End-of-RIB, 3 stale, 12s left"; undefined when no restart is in progress. */
export function gracefulRestartText(g: PeerGracefulRestart | null): string | undefined {
  if (!g || g.state === 'none') return undefined
  const left = g.secondsLeft === null ? '' : `, ${Math.max(0, Math.round(g.secondsLeft))}s left`
  return `${g.state === 'restarting' ? 'restarting' : 'waiting for End-of-RIB'}, ${g.stale} stale${left}`
}

/** What the two sides agreed on: "graceful restart 120s both ways", "... local only". */
function gracefulRestartCapability(g: PeerGracefulRestart): string {
  if (!g.local.advertised && !g.peer?.advertised) return 'no graceful restart'
  if (g.local.advertised && g.peer?.advertised) return `graceful restart: ours ${g.local.restartTime}s, peer's ${g.peer.restartTime}s${g.peer.forwarding ? ' (forwarding kept)' : ''}${g.helped ? `, ${g.helped} restarts helped` : ''}`
  return g.local.advertised ? `graceful restart: only we advertise it (${g.local.restartTime}s)` : `graceful restart: only the peer advertises it (${g.peer!.restartTime}s)`
}

/**
 * `fabric peers`: one row per peer; STATE carries a graceful restart in
 * progress ("Idle, restarting, 3 stale, 87s left"); a BFD column when any
 * peer runs BFD. With `verbose`, a line per peer with graceful-restart
 * capabilities and BFD counters follows the table.
 */
export function renderPeers(peers: PeerRow[], now: number, verbose = false): string {
  if (peers.length === 0) return 'no peers'
  const n = (v: number | undefined): string => (v === undefined ? '-' : String(v))
  const withBfd = peers.some((p) => peerBfd(p) !== null)
  const headers = ['PEER', 'ADDRESS', 'AS/PROTO', 'STATE', 'SINCE', 'RCVD', 'ACCEPT', 'SENT', ...(withBfd ? ['BFD'] : []), 'LAST ERROR']
  const table = renderTable(headers, peers.map((p) => {
    const gr = gracefulRestartText(peerGracefulRestart(p))
    return [
      p.peer, p.address, p.asn !== undefined ? String(p.asn) : p.source, gr ? `${p.state}, ${gr}` : p.state,
      formatAge(p.since ? Math.max(0, Math.round((now - p.since) / 1000)) : null),
      n(p.received), n(p.accepted), n(p.sent), ...(withBfd ? [bfdText(peerBfd(p))] : []), p.lastError ?? '-',
    ]
  }))
  if (!verbose) return table
  const notes: string[] = []
  for (const p of peers) {
    const parts: string[] = []
    const g = peerGracefulRestart(p)
    if (g) parts.push(gracefulRestartCapability(g))
    const b = peerBfd(p)
    if (b) {
      const diag = bfdDiagText(b.lastDownDiag)
      parts.push(`BFD ${bfdText(b)}, remote ${b.remoteState}, ${b.packetsIn} in / ${b.packetsOut} out, last packet ${b.lastRxAgoMs === null ? 'never' : `${b.lastRxAgoMs}ms ago`}${diag && b.state === 'Up' ? `, last down: ${diag}` : ''}`)
    }
    const v6 = peerIpv6(p)
    if (v6) parts.push(`IPv6 unicast: ${v6.received} received, ${v6.accepted} accepted${v6.filtered ? `, ${v6.filtered} filtered` : ''}, ${v6.sent} sent, End-of-RIB ${v6.endOfRib ? 'received' : 'awaited'}`)
    if (parts.length) notes.push(`  ${p.peer}: ${parts.join('; ')}`)
  }
  return notes.length ? `${table}\n\n${notes.join('\n')}` : table
}

const MARK: Record<DoctorCheck['result'], string> = { pass: 'ok', warn: 'WARN', fail: 'FAIL', skip: 'skip' }

export function renderDoctor(checks: readonly DoctorCheck[]): string {
  const failed = checks.filter((c) => c.result === 'fail').length
  const out = [renderTable(['CHECK', 'RESULT', 'DETAIL'], checks.map((c) => [c.name, MARK[c.result], c.detail]))]
  const fixes = checks.filter((c) => (c.result === 'fail' || c.result === 'warn') && c.fix)
  if (fixes.length) out.push(`\nto fix:\n${fixes.map((c) => `  ${c.name}: ${c.fix}`).join('\n')}`)
  out.push(`\n${failed === 0 ? 'no problems found' : `${failed} check${failed > 1 ? 's' : ''} failed`}`)
  return out.join('\n')
}

export function renderLeave(r: LeaveResponse): string {
  return `${r.host} left the fabric: ${r.routesRemoved} routes removed${r.routesFailed ? `, ${r.routesFailed} could not be removed` : ''}; the agent has stopped`
}
