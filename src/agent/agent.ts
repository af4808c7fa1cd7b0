/**
 * The agent: config -> sources -> RIB -> FIB sync -> kernel, plus the control
 * API. `fabric join` runs one in the foreground. Order matters: the config is
 * loaded and validated, and this host identified, before anything on the
 * host is changed. Each job is its own module: identify.ts (which host),
 * sources.ts (the mode's source), reload.ts (SIGHUP), status.ts (/v1/status),
 * routes.ts (/v1/routes), control-api.ts + control-server.ts (the socket),
 * state-file.ts, metrics.ts, events.ts.
 */
import { assembleInterfaces } from '../kernel/interfaces.js'
import { mkdirSync } from 'node:fs'
import type { HostIntegrationStatus, LeaveResponse, PeersResponse, RoutesResponse, StatusResponse } from '../api/types.js'
import { type ConfigOverrides, type FabricConfig, loadConfig } from '../config/fabric-config.js'
import { ConfigError, ConfigErrors } from '../config/errors.js'
import type { Logger } from '../core/log.js'
import type { SelfInfo } from '../core/self.js'
import { type HostHooks, createHostHooks } from '../host/hooks.js'
import { FibSync } from '../kernel/fib-sync.js'
import { removeProtocolRoutes } from '../kernel/remove-all.js'
import { registerRouteProtocol } from '../kernel/rt-protos.js'
import { Rtnl } from '../kernel/rtnl.js'
import { MAIN_TABLE } from '../kernel/types.js'
import { formatAddress, formatPrefix } from '../net/ipv4.js'
import { BfdService } from '../protocols/bfd/service.js'
import { Rib } from '../rib/rib.js'
import type { Route } from '../rib/route.js'
import type { HostInterface, RouteSource } from '../rib/source.js'
import { type AgentApi, controlApi } from './control-api.js'
import { ControlServer } from './control-server.js'
import type { EventHub } from './events.js'
import { identifyHost } from './identify.js'
import { networkPools } from './networks.js'
import { type Metrics, createMetrics } from './metrics.js'
import { reloadRefusal } from './reload.js'
import { buildRouteRows } from './routes.js'
import { SOURCES } from './sources.js'
import { removeStateFile, writeStateFile } from './state-file.js'
import { buildStatus, memoryOf } from './status.js'
import { VERSION } from './version.js'

export interface AgentOptions {
  configFile?: string
  overrides: ConfigOverrides
  /** this host's underlay address; found from interfaces when absent */
  address?: string
  stateDir: string
  socket: string
  log: Logger
  rtProtosDir?: string
  /** host-integration flags (src/host/flags.ts) */
  hostOptions?: Record<string, unknown>
  /** called after `fabric leave` has been carried out: the process should exit */
  onLeft?: () => void
  /** log events for /v1/events (the logger publishes into it) */
  events?: EventHub
  /** --metrics-listen ADDR:PORT */
  metricsListen?: string
}

/** Longest time stale routes are kept at start while sources gather their tables. */
const STARTUP_GRACE_S = 120

export class Agent {
  private config!: FabricConfig
  private self!: SelfInfo
  private rtnl: Rtnl | undefined
  private fib!: FibSync
  private rib!: Rib
  private sources: RouteSource[] = []
  private server: ControlServer | undefined
  private readonly warnings: string[] = []
  private readonly startedAt = Date.now()
  private stopping = false
  private graceTimer: NodeJS.Timeout | undefined
  private conflictTimer: NodeJS.Timeout | undefined
  /** "peer prefix" of every duplicate-subnet claim seen last time */
  private subnetClaims = new Map<string, { peer: string; prefix: string; source: string }>()
  private host: HostHooks | undefined
  private metrics: Metrics | undefined
  /** the one BFD service (worker thread), started when a source first asks for it */
  private bfd: Promise<BfdService> | undefined

  constructor(private readonly opts: AgentOptions) {}

  get log(): Logger {
    return this.opts.log
  }

  /** Validates everything, then changes the host and starts routing. */
  async start(): Promise<void> {
    const { log } = this.opts
    this.config = this.loadConfig()
    const rtnl = new Rtnl()
    this.rtnl = rtnl
    try {
      const [addrs, links] = await Promise.all([rtnl.dumpAddresses(), rtnl.dumpLinks()])
      this.self = await identifyHost({
        config: this.config, addrs, links, address: this.opts.address, stateDir: this.opts.stateDir, log,
        hostOptions: this.opts.hostOptions ?? {}, warn: (e, m) => this.warn(e, m),
      })
      this.host = await createHostHooks({
        config: this.config, self: this.self, log: log.child({ part: 'host' }), stateDir: this.opts.stateDir,
        options: this.opts.hostOptions ?? {}, warn: (e, m) => this.warn(e, m),
      })
      await this.host.preflight()
      // sources validate their settings (keys, interfaces, peers) here and open nothing yet
      this.sources = await this.createSources(assembleInterfaces(links, addrs, await rtnl.dumpAddresses6()))
    } catch (e) {
      rtnl.close()
      this.rtnl = undefined
      throw e
    }
    // --- from here on the host is changed ---
    const reg = registerRouteProtocol(this.config.routeProtocol, this.opts.rtProtosDir)
    if (reg.result === 'taken') this.warn('route-protocol-name-taken', reg.detail ?? '')
    mkdirSync(this.opts.stateDir, { recursive: true })
    await this.host.start()

    this.rib = new Rib()
    if (this.opts.metricsListen) this.metrics = await createMetrics({
      routes: () => this.routeCountsBySource(),
      sessions: () => {
        const m = new Map<string, { source: string; state: string; count: number }>()
        for (const s of this.sources) for (const p of s.peers()) {
          const k = `${s.kind}/${p.state}`
          const e = m.get(k) ?? { source: s.kind, state: p.state, count: 0 }
          e.count++
          m.set(k, e)
        }
        return [...m.values()]
      },
      kernel: () => ({ opsApplied: this.fib.stats.opsApplied, opsFailed: this.fib.stats.opsFailed, fullReconciles: this.fib.stats.reconciles, incrementalRuns: this.fib.stats.incrementals }),
      sourceCounters: () => this.sources.map((s) => ({ source: s.kind, counters: flatCounters(s.stats?.() ?? {}) })),
      info: () => ({ version: VERSION, host: this.self.name, mode: this.config.mode }),
      events: () => this.opts.events?.status() ?? { subscribers: 0, dropped: 0, disconnected: 0 },
    })
    this.fib = new FibSync({
      port: rtnl, protocol: this.config.routeProtocol, table: MAIN_TABLE, log,
      nextHopScope: { underlay: this.self.underlay, self: this.self.address, pools: networkPools(this.config) },
      onRun: (r) => this.metrics?.observeReconcile(r.kind, r.durationMs / 1000),
      metricOf: (r) => kernelMetric(r as Route),
      desired: this.rib.desiredTable(),
    })
    // the RIB's best Route is the desired kernel route itself (no copy per prefix)
    this.rib.onBestChange((c) => this.fib.setDesired(c.prefix, c.best, c.previous))
    for (const s of this.sources) await s.start(this.rib)
    this.fib.allowDeletes = this.sources.every((s) => s.ready())
    if (!this.fib.allowDeletes) {
      // never keep stale routes forever when a peer does not come back
      this.graceTimer = setTimeout(() => {
        if (this.fib.allowDeletes) return
        this.fib.allowDeletes = true
        log.warn('startup-grace-ended', { seconds: STARTUP_GRACE_S, note: 'not every source reported its full table; stale routes may now be removed' })
        void this.fib.flush().catch(() => undefined)
      }, STARTUP_GRACE_S * 1000)
      this.graceTimer.unref()
    }
    const first = await this.fib.flush()
    log.info('kernel-synced', { added: first.applied, unchanged: first.unchanged, conflicts: first.conflicts, keptStale: first.keptStale, ms: Math.round(first.durationMs) })
    this.fib.start(this.config.reconcileInterval)
    this.conflictTimer = setInterval(() => this.checkSubnetConflicts(), 2000)
    this.conflictTimer.unref()

    this.server = new ControlServer(this.opts.socket, controlApi(this.api()))
    await this.server.listen()
    if (this.opts.metricsListen && this.metrics) {
      const where = await this.metrics.listen(this.opts.metricsListen)
      log.info('metrics-listening', { address: where, path: '/metrics' })
    }
    this.writeState()
    log.info('agent-started', {
      version: VERSION, host: this.self.name, address: formatAddress(this.self.address), subnet: formatPrefix(this.self.subnet),
      interface: this.self.interface, mode: this.config.mode, routeProtocol: this.config.routeProtocol, socket: this.opts.socket,
    })
  }

  private loadConfig(): FabricConfig {
    const config = loadConfig({ file: this.opts.configFile, overrides: this.opts.overrides })
    if (config.mode === 'static' && config.hosts.length === 0) {
      throw new ConfigErrors([new ConfigError({ where: config.file ?? '(flags)', expected: 'mode static needs [host.NAME] sections (address, subnet) for every host of the fabric' })])
    }
    return config
  }

  /** The mode's source (src/agent/sources.ts); it validates its settings here and opens nothing yet. */
  private async createSources(interfaces: readonly HostInterface[]): Promise<RouteSource[]> {
    const source = await SOURCES[this.config.mode]({
      config: this.config,
      self: this.self,
      interfaces,
      log: this.opts.log.child({ source: this.config.mode }),
      stateDir: this.opts.stateDir,
      bfd: () => this.bfdService(),
      onReady: () => this.onSourceReady(),
    })
    return [source]
  }

  /**
   * BFD for the sources: one service, started on first use, with the RFC 5881
   * TTL check (an iptables rule in a chain fabric owns); without iptables it
   * runs without the check and says so.
   */
  private bfdService(): Promise<BfdService> {
    if (this.stopping) return Promise.reject(new Error('the agent is stopping'))
    this.bfd ??= (async () => {
      const log = this.opts.log.child({ part: 'bfd' })
      let service: BfdService
      try {
        service = await BfdService.start({ gtsm: true })
      } catch (e) {
        this.warn('bfd-ttl-check-unavailable', `BFD runs without the TTL 255 check (RFC 5881 5): ${(e as Error).message}`)
        service = await BfdService.start({ gtsm: false })
      }
      service.on('error', (e) => log.limited('warn', 'bfd-error', e.message, { error: e.message }))
      service.on('state', (key, from, to, diag) => log.info('bfd-state', { session: key, from, to, diag }))
      log.info('bfd-started', {})
      return service
    })()
    return this.bfd
  }

  private async closeBfd(): Promise<void> {
    const p = this.bfd
    this.bfd = undefined
    if (!p) return
    const s = await p.catch(() => undefined)
    // every neighbour gets AdminDown (RFC 5882 3.2: not a failure; graceful restart decides)
    await s?.close().catch(() => undefined)
  }

  /** Deletes of stale routes wait until every source has its full table (or the grace time ends). */
  private onSourceReady(): void {
    if (!this.fib || this.fib.allowDeletes || !this.sources.every((s) => s.ready())) return
    this.fib.allowDeletes = true
    this.opts.log.info('sources-ready', { note: 'stale routes of fabric may now be removed' })
    void this.fib.flush().catch(() => undefined)
  }

  private warn(event: string, message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message)
    this.opts.log.warn(event, { message })
  }

  /** SIGHUP: re-read fabric.ini and apply the difference. A bad file changes nothing. */
  async reload(): Promise<boolean> {
    const { log } = this.opts
    let next: FabricConfig
    try {
      next = this.loadConfig()
    } catch (e) {
      log.error('config-reload-refused', { error: (e as Error).message })
      return false
    }
    const refusal = reloadRefusal(this.config, next, this.self)
    if (refusal !== undefined) {
      log.error('config-reload-refused', { error: refusal })
      return false
    }
    this.config = next
    const summaries: string[] = []
    for (const s of this.sources) if (s.reload) summaries.push(await s.reload(next))
    log.info('config-reloaded', { file: next.file, changes: summaries.join('; ') || 'none applied by the source' })
    await this.fib.flush()
    return true
  }

  /** SIGTERM/SIGINT: stop, leaving fabric's routes in the kernel. */
  async stop(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    if (this.graceTimer) clearTimeout(this.graceTimer)
    if (this.conflictTimer) clearInterval(this.conflictTimer)
    this.fib?.stop()
    for (const s of this.sources) await s.stop().catch(() => undefined)
    await this.closeBfd()
    await this.server?.close()
    await this.metrics?.close()
    await this.host?.stop().catch(() => undefined)
    this.rtnl?.close()
    this.opts.log.info('agent-stopped', { routesLeft: this.fib?.size ?? 0, note: 'routes left in the kernel; a restart adopts them' })
  }

  /**
   * `fabric leave`: tell peers this host's subnet is gone (RIP metric 16, BGP
   * withdraw + Cease), remove fabric's routes and undo the host integration.
   */
  async leave(): Promise<LeaveResponse> {
    const { log } = this.opts
    log.info('leaving', { host: this.self.name })
    for (const s of this.sources) {
      if (!s.leave) continue
      try {
        await s.leave()
      } catch (e) {
        log.warn('leave-source-failed', { source: s.kind, error: (e as Error).message })
      }
    }
    this.fib.stop()
    for (const s of this.sources) await s.stop().catch(() => undefined)
    this.sources = []
    await this.closeBfd()
    const routes = await removeProtocolRoutes(this.rtnl!, this.config.routeProtocol)
    const hostLeft = await this.host?.leave()
    removeStateFile(this.opts.stateDir)
    log.info('left', { routesRemoved: routes.removed, routesFailed: routes.failed })
    return { left: true, host: this.self.name, routesRemoved: routes.removed, routesFailed: routes.failed, ...(hostLeft?.networks ? { networks: hostLeft.networks } : {}) }
  }

  /**
   * Two hosts with one subnet: a peer announcing this host's own subnet. The
   * sources never install such a route; the conflict is logged (as an error,
   * once) and makes the agent unhealthy until the claim goes away.
   */
  private checkSubnetConflicts(): void {
    const now = new Map<string, { peer: string; prefix: string; source: string }>()
    for (const s of this.sources) {
      for (const c of s.subnetConflicts?.() ?? []) {
        const prefix = formatPrefix(c.prefix)
        now.set(`${s.kind} ${c.peer} ${prefix}`, { peer: c.peer, prefix, source: s.kind })
      }
    }
    for (const [k, c] of now) {
      if (!this.subnetClaims.has(k)) {
        // a peer whose claim comes and goes (a flapping or hostile neighbour) is summarised, not logged each time
        this.opts.log.limited('error', 'subnet-conflict', `${c.source} ${c.peer}`, { ...c, subnet: formatPrefix(this.self.subnet), note: 'another host announces this host\'s subnet: two hosts have the same subnet; neither installs the other\'s route. Give one of them another subnet.' })
      }
    }
    for (const [k, c] of this.subnetClaims) if (!now.has(k)) this.opts.log.limited('info', 'subnet-conflict-cleared', `${c.source} ${c.peer}`, { ...c })
    this.subnetClaims = now
  }

  /** desired routes by (source of the best route, kernel state) */
  private routeCountsBySource(): { source: string; state: string; count: number }[] {
    const m = new Map<string, { source: string; state: string; count: number }>()
    for (const r of this.rib.bestValues()) {
      const state = this.fib.stateOf(r.prefix)?.state ?? 'pending'
      const k = `${r.source}/${state}`
      const e = m.get(k) ?? { source: r.source, state, count: 0 }
      e.count++
      m.set(k, e)
    }
    return [...m.values()]
  }

  private writeState(): void {
    writeStateFile(this.opts.stateDir, {
      host: this.self.name, address: formatAddress(this.self.address), subnet: formatPrefix(this.self.subnet),
      mode: this.config.mode, routeProtocol: this.config.routeProtocol, pid: process.pid, started: new Date(this.startedAt).toISOString(),
    })
  }

  /** GET /v1/status; never waits on a child process (the event loop drives BGP and RIP timers). */
  async status(): Promise<StatusResponse> {
    this.checkSubnetConflicts()
    const host: HostIntegrationStatus = (await this.host?.status()) ?? { inSync: true }
    return buildStatus({
      version: VERSION, self: this.self, config: this.config, startedAt: this.startedAt, now: Date.now(),
      fib: this.fib, host, sources: this.sources,
      events: this.opts.events?.status() ?? { subscribers: 0, dropped: 0, disconnected: 0 },
      subnetClaims: [...this.subnetClaims.values()], warnings: this.warnings, memory: memoryOf(),
      routes: this.config.networks.length === 0 ? undefined : this.rib.bestRoutes().map((r) => ({ prefix: r.prefix, peer: r.peer, state: this.fib.stateOf(r.prefix)?.state ?? 'pending' })),
    })
  }

  private async routes(): Promise<RoutesResponse> {
    const rtnl = this.rtnl!
    const [kernel, links] = await Promise.all([rtnl.dumpRoutes(), rtnl.dumpLinks()])
    return {
      host: this.self.name,
      routes: buildRouteRows({
        best: this.rib.bestRoutes(), candidates: (r) => this.rib.candidateCount(r.prefix),
        stateOf: (p) => this.fib.stateOf(p), since: (p) => this.fib.sinceOf(p),
        kernel, links, protocol: this.config.routeProtocol, table: MAIN_TABLE, now: Date.now(),
        networks: (this.self.networks ?? []).map((n) => ({ name: n.name, pool: n.pool })),
      }),
    }
  }

  private peers(): PeersResponse {
    return { host: this.self.name, peers: this.sources.flatMap((s) => s.peers().map((p) => ({ ...p, source: s.kind }))) }
  }

  private api(): AgentApi {
    return {
      hostName: this.self.name,
      status: () => this.status(),
      routes: () => this.routes(),
      peers: () => this.peers(),
      leave: () => this.leave(),
      afterLeave: () => this.opts.onLeft?.(),
      events: this.opts.events,
    }
  }
}

/** Source stats flattened to one level of numeric counters (`a.b` for nested keys). */
/** A source's stats() as flat numeric counters (nested objects joined with '.', `counters` unprefixed). */
export function flatCounters(stats: Record<string, unknown>, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(stats)) {
    if (typeof v === 'number') out[prefix + k] = v
    else if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flatCounters(v as Record<string, unknown>, k === 'counters' ? prefix : `${prefix}${k}.`))
  }
  return out
}

/** The kernel route metric: the RIP hop count for RIP routes (like ripd), else 0. */
function kernelMetric(r: Route): number {
  return r.source === 'rip' ? r.metric : 0
}
