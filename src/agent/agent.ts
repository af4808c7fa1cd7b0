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
import { type ConfigOverrides, type FabricConfig, installsRoutes, loadConfig } from '../config/fabric-config.js'
import { ConfigError, ConfigErrors } from '../config/errors.js'
import { AgentStartError, EXIT } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import type { SelfInfo } from '../core/self.js'
import { type HostHooks, createHostHooks } from '../host/hooks.js'
import { type DesiredTable, FibSync } from '../kernel/fib-sync.js'
import { type DesiredTable6, FibSync6 } from '../kernel/fib-sync6.js'
import { enableIpv6Forwarding, raIgnored, readSysctl6 } from '../kernel/sysctl.js'
import { removeProtocolRoutes } from '../kernel/remove-all.js'
import { registerRouteProtocol } from '../kernel/rt-protos.js'
import { Rtnl } from '../kernel/rtnl.js'
import { MAIN_TABLE } from '../kernel/types.js'
import { type Prefix, formatAddress, formatPrefix } from '../net/ipv4.js'
import { type Prefix6, formatPrefix6 } from '../net/ipv6.js'
import type { BfdService } from '../protocols/bfd/service.js'
import { Rib } from '../rib/rib.js'
import { Rib6 } from '../rib/rib6.js'
import type { Route } from '../rib/route.js'
import type { HostInterface, RouteSource } from '../rib/source.js'
import { type AgentApi, controlApi } from './control-api.js'
import { ControlServer } from './control-server.js'
import type { EventHub } from './events.js'
import { identifyHost } from './identify.js'
import { networkPools } from './networks.js'
import type { Metrics } from './metrics.js'
import { reloadRefusal } from './reload.js'
import { NOT_INSTALLED, type RowRouteState, buildRouteRows, buildRouteRows6 } from './routes.js'
import { SOURCES } from './sources.js'
import { removeStateFile, writeStateFile } from './state-file.js'
import { buildStatus, memoryOf } from './status.js'
import { VERSION } from './version.js'
import { isoTime } from '../util/time.js'

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

/** FIB sync's desired table of a host that installs nothing ([bgp] install-routes = no) */
const NO_ROUTES: DesiredTable = Object.freeze({ get: () => undefined, values: () => [], size: 0 })
const NO_ROUTES6: DesiredTable6 = Object.freeze({ get: () => undefined, values: () => [], size: 0 })

export class Agent {
  private config!: FabricConfig
  private self!: SelfInfo
  private rtnl: Rtnl | undefined
  private fib!: FibSync
  private rib!: Rib
  /** IPv6 (dual-stack host, self.subnet6 set): the IPv6 RIB and its FIB sync; absent on an IPv4-only host */
  private rib6: Rib6 | undefined
  private fib6: FibSync6 | undefined
  private sources: RouteSource[] = []
  private server: ControlServer | undefined
  private readonly warnings: string[] = []
  private readonly startedAt = Date.now()
  private stopping = false
  private graceTimer: NodeJS.Timeout | undefined
  /** "peer prefix" of every duplicate-subnet claim seen last time */
  private subnetClaims = new Map<string, { peer: string; prefix: string; source: string }>()
  private host: HostHooks | undefined
  private metrics: Metrics | undefined
  /** the one BFD service (worker thread), started when a source first asks for it */
  private bfd: Promise<BfdService> | undefined
  /** false with [bgp] install-routes = no (mode bgp): FIB sync wants no route, so none is installed and fabric's own go */
  private installs = true

  constructor(private readonly opts: AgentOptions) {}

  get log(): Logger {
    return this.opts.log
  }

  /** Validates everything, then changes the host and starts routing. */
  async start(): Promise<void> {
    const { log } = this.opts
    this.config = this.loadConfig()
    this.installs = installsRoutes(this.config)
    const rtnl = new Rtnl()
    this.rtnl = rtnl
    try {
      const [addrs, links, addrs6] = await Promise.all([rtnl.dumpAddresses(), rtnl.dumpLinks(), this.config.pool6 === undefined ? Promise.resolve([]) : rtnl.dumpAddresses6()])
      if (this.config.pool6 !== undefined && readSysctl6('conf/all/forwarding') === undefined) {
        throw new AgentStartError(`pool6 is set but this kernel has no IPv6 (/proc/sys/net/ipv6 is missing: booted with ipv6.disable=1?); remove pool6 or enable IPv6`, EXIT.USAGE)
      }
      this.self = await identifyHost({
        config: this.config, addrs, addrs6, links, address: this.opts.address, stateDir: this.opts.stateDir, log,
        hostOptions: this.opts.hostOptions ?? {}, warn: (e, m) => this.warn(e, m),
      })
      this.host = await createHostHooks({
        config: this.config, self: this.self, log: log.child({ part: 'host' }), stateDir: this.opts.stateDir,
        options: this.opts.hostOptions ?? {}, warn: (e, m) => this.warn(e, m),
      })
      await this.host.preflight()
      // sources validate their settings (keys, interfaces, peers) here and open nothing yet
      this.sources = await this.createSources(assembleInterfaces(links, addrs, addrs6))
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
    if (this.self.subnet6 !== undefined) this.enableIpv6()

    this.rib = new Rib()
    // prom-client and node:http only with --metrics-listen; the BFD worker only when a source asks for it (lazy imports)
    if (this.opts.metricsListen) this.metrics = await (await import('./metrics.js')).createMetrics({
      routes: () => this.routeCountsBySource(),
      routes6: () => this.routeCountsBySource6(),
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
      kernel: () => ({
        opsApplied: this.fib.stats.opsApplied + (this.fib6?.stats.opsApplied ?? 0), opsFailed: this.fib.stats.opsFailed + (this.fib6?.stats.opsFailed ?? 0),
        fullReconciles: this.fib.stats.reconciles + (this.fib6?.stats.reconciles ?? 0), incrementalRuns: this.fib.stats.incrementals,
      }),
      sourceCounters: () => this.sources.map((s) => ({ source: s.kind, counters: flatCounters(s.stats?.() ?? {}) })),
      info: () => ({ version: VERSION, host: this.self.name, mode: this.config.mode }),
      events: () => this.opts.events?.status() ?? { subscribers: 0, dropped: 0, disconnected: 0 },
    })
    this.fib = new FibSync({
      port: rtnl, protocol: this.config.routeProtocol, table: MAIN_TABLE, log,
      nextHopScope: { underlay: this.self.underlay, self: this.self.address, pools: networkPools(this.config) },
      onRun: (r) => {
        this.metrics?.observeReconcile(r.kind, r.durationMs / 1000)
        // duplicate subnets are looked for on every full reconcile (each reconcile interval), not by a timer
        // of their own that would wake an idle agent; /v1/status looks at once
        if (r.kind === 'full') this.checkSubnetConflictsSafely()
      },
      metricOf: (r) => kernelMetric(r as Route),
      desired: this.installs ? this.rib.desiredTable() : NO_ROUTES,
    })
    // the RIB's best Route is the desired kernel route itself (no copy per prefix)
    if (this.installs) this.rib.onBestChange((c) => this.fib.setDesired(c.prefix, c.best, c.previous))
    else log.info('install-routes-off', { note: '[bgp] install-routes = no: no learned route is installed in the kernel; fabric\'s own routes left from an earlier run are removed' })
    if (this.self.subnet6 !== undefined) {
      const self = this.self
      const rib6 = new Rib6()
      const fib6 = new FibSync6({
        port: rtnl, protocol: this.config.routeProtocol, table: MAIN_TABLE, log, desired: this.installs ? rib6.desiredTable() : NO_ROUTES6,
        nextHopScope: { underlay: self.underlay6, self: [self.address6!], pools: [self.pool6!], interface: self.interface },
        onRun: (r) => this.metrics?.observeReconcile(r.kind, r.durationMs / 1000),
      })
      if (this.installs) rib6.onBestChange((c) => fib6.setDesired(c.prefix, c.best, c.previous))
      this.rib6 = rib6
      this.fib6 = fib6
    }
    for (const s of this.sources) await s.start(this.rib, this.rib6)
    this.setAllowDeletes(this.sources.every((s) => s.ready()))
    if (!this.fib.allowDeletes) {
      // never keep stale routes forever when a peer does not come back
      this.graceTimer = setTimeout(() => {
        if (this.fib.allowDeletes) return
        this.setAllowDeletes(true)
        log.warn('startup-grace-ended', { seconds: STARTUP_GRACE_S, note: 'not every source reported its full table; stale routes may now be removed' })
        void this.flushAll().catch(() => undefined)
      }, STARTUP_GRACE_S * 1000)
      this.graceTimer.unref()
    }
    const first = await this.fib.flush()
    log.info('kernel-synced', { added: first.applied, unchanged: first.unchanged, conflicts: first.conflicts, keptStale: first.keptStale, ms: Math.round(first.durationMs) })
    this.fib.start(this.config.reconcileInterval)
    if (this.fib6) {
      const first6 = await this.fib6.flush()
      log.info('kernel-synced', { family: 6, added: first6.applied, unchanged: first6.unchanged, conflicts: first6.conflicts, keptStale: first6.keptStale, ms: Math.round(first6.durationMs) })
      this.fib6.start(this.config.reconcileInterval)
    }

    this.server = new ControlServer(this.opts.socket, controlApi(this.api()))
    await this.server.listen()
    if (this.opts.metricsListen && this.metrics) {
      const where = await this.metrics.listen(this.opts.metricsListen)
      log.info('metrics-listening', { address: where, path: '/metrics' })
    }
    this.writeState()
    log.info('agent-started', {
      version: VERSION, host: this.self.name, address: formatAddress(this.self.address), subnet: formatPrefix(this.self.subnet),
      ...(this.self.subnet6 ? { address6: this.self.address6, subnet6: formatPrefix6(this.self.subnet6) } : {}),
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

  /**
   * A dual-stack host forwards IPv6 (net.ipv6.conf.all.forwarding = 1). With
   * forwarding on, the kernel ignores Router Advertisements on an interface
   * whose accept_ra is 1: an underlay configured by SLAAC/RAs would lose its
   * default route and addresses when they expire. That is warned about
   * (status, doctor), not changed: accept_ra = 2 is the operator's call.
   */
  private enableIpv6(): void {
    const before = raIgnored(this.self.interface)
    const changed = enableIpv6Forwarding()
    const after = raIgnored(this.self.interface)
    if (changed) this.opts.log.info('ipv6-forwarding-enabled', { sysctl: 'net.ipv6.conf.all.forwarding', value: 1 })
    if (after?.ignored && after.acceptRa === 1 && before?.ignored !== true) {
      this.warn('ipv6-ra-ignored', `IPv6 forwarding is on, so ${this.self.interface} now ignores Router Advertisements (accept_ra = 1): a default route or addresses learned from RAs will expire. If the underlay is configured by RAs/SLAAC, set net.ipv6.conf.${this.self.interface}.accept_ra = 2`)
    } else if (after?.ignored && after.acceptRa === 1) {
      this.warn('ipv6-ra-ignored', `${this.self.interface} ignores Router Advertisements (accept_ra = 1 with forwarding on); if the underlay is configured by RAs/SLAAC, set net.ipv6.conf.${this.self.interface}.accept_ra = 2`)
    }
  }

  private setAllowDeletes(allow: boolean): void {
    this.fib.allowDeletes = allow
    if (this.fib6) this.fib6.allowDeletes = allow
  }

  /** A full reconcile of both families. */
  private async flushAll(): Promise<void> {
    await this.fib.flush()
    await this.fib6?.flush()
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
      const { BfdService } = await import('../protocols/bfd/service.js')
      let service: BfdService
      try {
        service = await BfdService.start({ gtsm: true })
      } catch (e) {
        this.warn('bfd-ttl-check-unavailable', `BFD runs without the TTL 255 check (RFC 5881 5): ${(e as Error).message}`)
        service = await BfdService.start({ gtsm: false })
      }
      service.on('error', (e) => log.limited('warn', 'bfd-error', e.message, { error: e.message }))
      service.on('state', (key, from, to, diag) => log.info('bfd-state', { session: key, from, to, diag }))
      // the worker sends at most one of these per 10 s
      service.on('late', (timers, worstMs) =>
        log.warn('bfd-late', { timers, worstMs, note: 'BFD timers fired late: its thread did not get a CPU in time (host overloaded?); neighbours may declare this host down, and it them' }),
      )
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
    this.setAllowDeletes(true)
    this.opts.log.info('sources-ready', { note: 'stale routes of fabric may now be removed' })
    void this.flushAll().catch(() => undefined)
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
    await this.flushAll()
    return true
  }

  /** SIGTERM/SIGINT: stop, leaving fabric's routes in the kernel. */
  async stop(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    if (this.graceTimer) clearTimeout(this.graceTimer)
    this.fib?.stop()
    this.fib6?.stop()
    for (const s of this.sources) await s.stop().catch(() => undefined)
    await this.closeBfd()
    await this.server?.close()
    await this.metrics?.close()
    await this.host?.stop().catch(() => undefined)
    // a batch in flight is answered before the netlink socket closes
    await Promise.all([this.fib?.drain(), this.fib6?.drain()]).catch(() => undefined)
    this.rtnl?.close()
    this.opts.log.info('agent-stopped', { routesLeft: (this.fib?.size ?? 0) + (this.fib6?.size ?? 0), note: 'routes left in the kernel; a restart adopts them' })
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
    this.fib6?.stop()
    for (const s of this.sources) await s.stop().catch(() => undefined)
    this.sources = []
    await this.closeBfd()
    // a batch FIB sync had in flight when it was stopped finishes first: the kernel port takes one
    // netlink batch at a time ("applyBatch is not reentrant" made `fabric leave` fail)
    await Promise.all([this.fib.drain(), this.fib6?.drain()])
    // both families: IPv4, and IPv6 (Rtnl speaks both) also on an IPv4-only host, in case pool6 was removed since
    const routes = await removeProtocolRoutes(this.rtnl!, this.config.routeProtocol)
    const hostLeft = await this.host?.leave()
    removeStateFile(this.opts.stateDir)
    log.info('left', { routesRemoved: routes.removed, routesFailed: routes.failed, ...(routes.ipv6 ? { routesRemoved6: routes.ipv6.removed } : {}) })
    return { left: true, host: this.self.name, routesRemoved: routes.removed, routesFailed: routes.failed, ...(hostLeft?.networks ? { networks: hostLeft.networks } : {}) }
  }

  /**
   * Two hosts with one subnet: a peer announcing this host's own subnet. The
   * sources never install such a route; the conflict is logged (as an error,
   * once) and makes the agent unhealthy until the claim goes away.
   */
  private checkSubnetConflictsSafely(): void {
    try {
      this.checkSubnetConflicts()
    } catch (e) {
      this.opts.log.error('subnet-conflict-check-failed', { error: (e as Error).message })
    }
  }

  private checkSubnetConflicts(): void {
    const now = new Map<string, { peer: string; prefix: string; source: string }>()
    for (const s of this.sources) {
      for (const c of s.subnetConflicts?.() ?? []) {
        const prefix = formatPrefix(c.prefix)
        now.set(`${s.kind} ${c.peer} ${prefix}`, { peer: c.peer, prefix, source: s.kind })
      }
      for (const c of s.subnetConflicts6?.() ?? []) {
        const prefix = formatPrefix6(c.prefix)
        now.set(`${s.kind} ${c.peer} ${prefix}`, { peer: c.peer, prefix, source: s.kind })
      }
    }
    for (const [k, c] of now) {
      if (!this.subnetClaims.has(k)) {
        // a peer whose claim comes and goes (a flapping or hostile neighbour) is summarised, not logged each time
        this.opts.log.limited('error', 'subnet-conflict', `${c.source} ${c.peer}`, { ...c, subnet: c.prefix.includes(':') && this.self.subnet6 ? formatPrefix6(this.self.subnet6) : formatPrefix(this.self.subnet), note: 'another host announces this host\'s subnet: two hosts have the same subnet; neither installs the other\'s route. Give one of them another subnet.' })
      }
    }
    for (const [k, c] of this.subnetClaims) if (!now.has(k)) this.opts.log.limited('info', 'subnet-conflict-cleared', `${c.source} ${c.peer}`, { ...c })
    this.subnetClaims = now
  }

  /** What became of a best route in the kernel (not-installed with install-routes = no). */
  private stateOf(p: Prefix): RowRouteState | undefined {
    return this.installs ? this.fib.stateOf(p) : NOT_INSTALLED
  }

  private stateOf6(p: Prefix6): RowRouteState | undefined {
    return this.installs ? this.fib6?.stateOf(p) : NOT_INSTALLED
  }

  /** desired routes by (source of the best route, kernel state) */
  private routeCountsBySource(): { source: string; state: string; count: number }[] {
    return countBySourceAndState(this.rib.bestValues(), (p) => this.stateOf(p)?.state)
  }

  /** desired IPv6 routes by (source of the best route, kernel state) */
  private routeCountsBySource6(): { source: string; state: string; count: number }[] {
    if (!this.rib6 || !this.fib6) return []
    return countBySourceAndState(this.rib6.bestValues(), (p) => this.stateOf6(p)?.state)
  }

  private writeState(): void {
    writeStateFile(this.opts.stateDir, {
      host: this.self.name, address: formatAddress(this.self.address), subnet: formatPrefix(this.self.subnet),
      ...(this.self.subnet6 ? { address6: this.self.address6, subnet6: formatPrefix6(this.self.subnet6) } : {}),
      mode: this.config.mode, routeProtocol: this.config.routeProtocol, pid: process.pid, started: isoTime(this.startedAt),
    })
  }

  /** GET /v1/status; never waits on a child process (the event loop drives BGP and RIP timers). */
  async status(): Promise<StatusResponse> {
    this.checkSubnetConflicts()
    const host: HostIntegrationStatus = (await this.host?.status()) ?? { inSync: true }
    return buildStatus({
      version: VERSION, self: this.self, config: this.config, startedAt: this.startedAt, now: Date.now(),
      fib: this.fib, fib6: this.fib6, host, sources: this.sources,
      events: this.opts.events?.status() ?? { subscribers: 0, dropped: 0, disconnected: 0 },
      subnetClaims: [...this.subnetClaims.values()], warnings: this.warnings, memory: memoryOf(),
      routes: this.config.networks.length === 0 ? undefined : this.rib.bestRoutes().map((r) => ({ prefix: r.prefix, peer: r.peer, state: this.stateOf(r.prefix)?.state ?? 'pending' })),
    })
  }

  private async routes(): Promise<RoutesResponse> {
    const rtnl = this.rtnl!
    const rib6 = this.rib6
    const fib6 = this.fib6
    const [kernel, links, kernel6] = await Promise.all([rtnl.dumpRoutes(), rtnl.dumpLinks(), rtnl.dumpRoutes6().catch(() => [])])
    const now = Date.now()
    const rows = buildRouteRows({
      best: this.rib.bestRoutes(), candidates: (r) => this.rib.candidateCount(r.prefix),
      stateOf: (p) => this.stateOf(p), since: (p) => this.fib.sinceOf(p),
      kernel, links, protocol: this.config.routeProtocol, table: MAIN_TABLE, now,
      networks: (this.self.networks ?? []).map((n) => ({ name: n.name, pool: n.pool })),
    })
    // IPv6 rows: the Rib6's best routes with FibSync6's states; fabric's IPv6 kernel routes nobody wants (also on an IPv4-only host) as stale
    const rows6 = buildRouteRows6({
      best: rib6 ? [...rib6.bestValues()] : [], candidates: (r) => rib6?.candidates(r.prefix).length ?? 1,
      stateOf: (p) => this.stateOf6(p), since: (p) => fib6?.sinceOf(p),
      kernel: kernel6, links, protocol: this.config.routeProtocol, table: MAIN_TABLE, now, pool6: this.self.pool6,
    })
    return { host: this.self.name, routes: [...rows, ...rows6] }
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

/** Routes counted by (source, kernel state; pending when the FIB sync has none yet). */
function countBySourceAndState<P>(routes: Iterable<{ source: string; prefix: P }>, stateOf: (p: P) => string | undefined): { source: string; state: string; count: number }[] {
  const m = new Map<string, { source: string; state: string; count: number }>()
  for (const r of routes) {
    const state = stateOf(r.prefix) ?? 'pending'
    const k = `${r.source}/${state}`
    const e = m.get(k) ?? { source: r.source, state, count: 0 }
    e.count++
    m.set(k, e)
  }
  return [...m.values()]
}
