/**
 * GET /v1/status: one typed response (api/types StatusResponse) built from
 * the agent's parts; `fabric status`, `fabric doctor` and the lab read it.
 * Healthy: the kernel in sync, no conflict, nothing off-link, host
 * integration in sync.
 */
import type { Conflict, EventsStatus, KernelStatus6, HostIntegrationStatus, NetworkStatusView, SourceStatusView, StatusResponse } from '../api/types.js'
import { type FabricConfig, installsRoutes } from '../config/fabric-config.js'
import type { SelfInfo } from '../core/self.js'
import { type Prefix, containsPrefix, formatAddress, formatPrefix } from '../net/ipv4.js'
import { formatPrefix6 } from '../net/ipv6.js'
import type { RouteSource } from '../rib/source.js'

/** What status reads of FIB sync. */
export interface FibView {
  readonly size: number
  inSync(): boolean
  stateCounts(): Record<'installed' | 'pending' | 'conflict' | 'not-on-link' | 'error', number>
  conflicts(): Conflict[]
  readonly stats: { reconciles: number; opsApplied: number; opsFailed: number; lastReconcile?: { durationMs: number }; lastError?: string }
}

export interface StatusInput {
  version: string
  self: SelfInfo
  config: FabricConfig
  startedAt: number
  now: number
  fib: FibView
  /** FibSync6 on a dual-stack host */
  fib6?: FibView
  host: HostIntegrationStatus
  sources: readonly RouteSource[]
  events: EventsStatus
  /** subnet conflicts found by the sources (another host announcing this host's subnet) */
  subnetClaims: readonly { peer: string; prefix: string; source: string }[]
  warnings: readonly string[]
  memory: StatusResponse['memory']
  /** the best routes with their kernel state (per-network route counts); absent: no networks section */
  routes?: readonly { prefix: Prefix; peer: string; state: string }[]
}

/**
 * Per fabric network: this host's subnet, its host integration (Docker
 * network, bridge, isolation) and the routes to the other hosts' subnets of
 * the network. The other hosts: static mode, every other [host.*]; rip/bgp,
 * every peer a route inside any fabric pool came from (a host seen in one
 * network is expected in every network).
 */
export function networkViews(i: Pick<StatusInput, 'self' | 'config' | 'host' | 'routes'>): NetworkStatusView[] {
  const { self, config } = i
  const nets = self.networks ?? [{ name: 'default', subnet: self.subnet, pool: config.pool }]
  const routes = i.routes ?? []
  const peers = new Set<string>()
  if (config.mode === 'static') {
    for (const h of config.hosts) if (h.name !== self.name) peers.add(h.name)
  } else {
    for (const r of routes) if (nets.some((n) => containsPrefix(n.pool, r.prefix))) peers.add(r.peer)
  }
  return nets.map((n) => {
    const mine = routes.filter((r) => containsPrefix(n.pool, r.prefix))
    // a control-plane-only host (install-routes = no) has reached a host whose route it has, installed or not
    const reached = new Set(mine.filter((r) => r.state === 'installed' || r.state === 'not-installed').map((r) => r.peer))
    const host = i.host.networks?.find((x) => x.name === n.name)
    const ok = host === undefined || ((host.docker === null || host.docker.fits) && host.bridgeUp !== false && host.isolation !== false)
    return {
      name: n.name,
      pool: formatPrefix(n.pool),
      subnet: formatPrefix(n.subnet),
      ...(host ? { host } : {}),
      routes: { installed: mine.filter((r) => r.state === 'installed').length, peers: peers.size, missing: [...peers].filter((p) => !reached.has(p)).sort() },
      ok,
    }
  })
}

/** One family's kernel status, from its FIB sync. */
function kernelOf(fib: FibView): KernelStatus6 {
  const c = fib.stateCounts()
  return {
    inSync: fib.inSync(),
    routes: { wanted: fib.size, installed: c.installed, pending: c.pending, conflict: c.conflict, notOnLink: c['not-on-link'], error: c.error },
    reconciles: fib.stats.reconciles,
    opsApplied: fib.stats.opsApplied,
    opsFailed: fib.stats.opsFailed,
    lastReconcileMs: fib.stats.lastReconcile ? Math.round(fib.stats.lastReconcile.durationMs) : null,
    lastError: fib.stats.lastError ?? null,
  }
}

export function buildStatus(i: StatusInput): StatusResponse {
  const { fib, self, config } = i
  const ipv6 = i.fib6 ? kernelOf(i.fib6) : undefined
  const conflicts: Conflict[] = [
    ...fib.conflicts(),
    ...(i.fib6?.conflicts() ?? []),
    ...i.subnetClaims.map((c) => ({
      prefix: c.prefix,
      reason: `${c.source} peer ${c.peer} announces ${c.prefix}, inside this host's subnet ${c.prefix.includes(':') && self.subnet6 ? formatPrefix6(self.subnet6) : formatPrefix(self.subnet)}: two hosts have the same subnet; neither route is installed`,
    })),
  ]
  const c = fib.stateCounts()
  const inSync = fib.inSync() && (ipv6?.inSync ?? true)
  const sources: SourceStatusView[] = i.sources.map((s) => ({ kind: s.kind, ready: s.ready(), peers: s.peers().length, stats: s.stats?.() ?? {} }))
  const networks = config.networks.length > 0 ? networkViews(i) : undefined
  return {
    version: i.version,
    healthy: inSync && conflicts.length === 0 && c['not-on-link'] === 0 && (ipv6?.routes.notOnLink ?? 0) === 0 && i.host.inSync && (networks ?? []).every((n) => n.ok),
    host: {
      name: self.name, address: formatAddress(self.address), subnet: formatPrefix(self.subnet), interface: self.interface, underlay: formatPrefix(self.underlay),
      ...(self.subnet6 !== undefined ? { address6: self.address6, subnet6: formatPrefix6(self.subnet6), ...(self.underlay6 ? { underlay6: formatPrefix6(self.underlay6) } : {}) } : {}),
    },
    mode: config.mode,
    routerId: config.mode === 'bgp' ? formatAddress(config.bgp.routerId ?? self.address) : null,
    asn: config.mode === 'bgp' ? config.bgp.asn : null,
    config: config.file ?? null,
    pool: formatPrefix(config.pool),
    ...(config.pool6 !== undefined ? { pool6: formatPrefix6(config.pool6) } : {}),
    routeProtocol: config.routeProtocol,
    pid: process.pid,
    uptime: Math.round((i.now - i.startedAt) / 1000),
    memory: i.memory,
    kernel: { ...kernelOf(fib), inSync, installRoutes: installsRoutes(config), ...(ipv6 ? { ipv6 } : {}) },
    hostIntegration: i.host,
    sources,
    events: i.events,
    conflicts,
    warnings: [...i.warnings],
    ...(networks ? { networks } : {}),
  }
}

/** The agent process's memory, bytes. */
export function memoryOf(): StatusResponse['memory'] {
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external + m.arrayBuffers }
}
