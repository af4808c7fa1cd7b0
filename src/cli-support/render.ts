/**
 * Human text of the CLI's commands (JSON only with --json): `fabric status`,
 * `fabric peers`, `fabric doctor`, `fabric leave`. The routes table and the
 * table/age helpers are src/api/render.ts (the lab report uses them too).
 */
import { formatAge, renderRouteTable, renderTable } from '../api/render.js'
import type { DoctorCheck, HostIntegrationStatus, LeaveResponse, PeerRow, RouteRow, StatusResponse } from '../api/types.js'

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
    else parts.push(`${d.bridge ?? 'docker0'}${d.bip ? ` bip ${d.bip}` : ''}${d.bridgeMatches === undefined ? '' : d.bridgeMatches ? ' (matches)' : ' (DOES NOT match this host\'s subnet)'}`)
    parts.push(d.version ? `Docker ${d.version}` : 'Docker version unknown')
    if (d.daemonJson) parts.push(`daemon.json ${d.daemonJson}`)
    if (d.allowDirectRouting !== undefined) parts.push(`direct routing ${d.allowDirectRouting ? 'allowed by Docker' : 'needs Docker 28.2+ or fabric\'s firewall rules'}`)
    parts.push(...extras(d, ['mode', 'network', 'bridge', 'created', 'bip', 'bridgeMatches', 'version', 'daemonJson', 'allowDirectRouting']))
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
      parts.push(...extras(f, ['enabled', 'backend', 'chains', 'forwardJumpFrom', 'inSync', 'checks', 'restored', 'lastCheck', 'lastError']))
      lines.push(`firewall  ${parts.join(', ')}`)
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

export function renderStatus(s: StatusResponse): string {
  const r = s.kernel.routes
  const ev = s.events
  return [
    `host      ${s.host.name} ${s.host.address} on ${s.host.interface} (${s.host.underlay}), subnet ${s.host.subnet}`,
    `fabric    mode ${s.mode}${s.routerId ? ` (AS ${s.asn}, router id ${s.routerId})` : ''}, pool ${s.pool}, route protocol ${s.routeProtocol}, config ${s.config ?? '-'}`,
    `agent     fabric ${s.version}, pid ${s.pid}, up ${formatAge(s.uptime)}, ${Math.round(s.memory.rss / MIB)} MiB RSS`,
    `kernel    ${s.kernel.inSync ? 'in sync' : 'NOT in sync'}: ${r.installed}/${r.wanted} routes installed` +
      `${r.conflict ? `, ${r.conflict} conflict` : ''}${r.notOnLink ? `, ${r.notOnLink} not on-link` : ''}${r.error ? `, ${r.error} error` : ''}${r.pending ? `, ${r.pending} pending` : ''}` +
      `${s.kernel.lastError ? `; last error: ${s.kernel.lastError}` : ''}`,
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

export function renderPeers(peers: PeerRow[], now: number): string {
  if (peers.length === 0) return 'no peers'
  const n = (v: number | undefined): string => (v === undefined ? '-' : String(v))
  return renderTable(['PEER', 'ADDRESS', 'AS/PROTO', 'STATE', 'SINCE', 'RCVD', 'ACCEPT', 'SENT', 'LAST ERROR'], peers.map((p) => [
    p.peer, p.address, p.asn !== undefined ? String(p.asn) : p.source, p.state,
    formatAge(p.since ? Math.max(0, Math.round((now - p.since) / 1000)) : null),
    n(p.received), n(p.accepted), n(p.sent), p.lastError ?? '-',
  ]))
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
