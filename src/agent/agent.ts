/**
 * The agent: config -> sources -> RIB -> FIB sync -> kernel, plus the control
 * API. `fabric join` runs one in the foreground. Order matters: the config is
 * loaded and validated, and this host identified, before anything on the
 * host is changed.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { type ConfigOverrides, type FabricConfig, type HostEntry, loadConfig } from '../config/fabric-config.js'
import { ConfigError, ConfigErrors } from '../config/errors.js'
import { FibSync } from '../kernel/fib-sync.js'
import { removeProtocolRoutes } from '../kernel/remove-all.js'
import { registerRouteProtocol } from '../kernel/rt-protos.js'
import { Rtnl } from '../kernel/rtnl.js'
import type { KernelAddress, KernelLink } from '../kernel/rtnl-codec.js'
import { type HostHooks, createHostHooks, persistedSubnet, resolveSubnet } from '../host/hooks.js'
import { MAIN_TABLE } from '../kernel/types.js'
import { type Prefix, containsAddress, formatAddress, formatPrefix, overlaps, parseAddress, prefix } from '../net/ipv4.js'
import { PrefixMap } from '../net/prefix-map.js'
import { StaticSource } from '../protocols/static/static-source.js'
import { Rib } from '../rib/rib.js'
import type { Route } from '../rib/route.js'
import type { CreateSource, RouteSource } from '../rib/source.js'
import type { SelfInfo } from '../core/self.js'
import { AgentStartError, EXIT } from '../core/errors.js'
import { ControlServer, type Handler } from './control-server.js'
import type { EventHub } from './events.js'
import { type Metrics, createMetrics } from './metrics.js'
import type { Logger } from '../core/log.js'
import { buildRouteRows } from './routes-view.js'
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

/** Longest wait for the fabric's table before an automatic subnet is chosen. */
const DISCOVERY_TIMEOUT_S = 90

/** Longest time stale routes are kept at start while sources gather their tables. */
const STARTUP_GRACE_S = 120

export class Agent {
  private config!: FabricConfig
  private self!: SelfInfo
  private rtnl: Rtnl | undefined
  private fib!: FibSync
  private rib!: Rib
  private sources: RouteSource[] = []
  private staticSource: StaticSource | undefined
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
      this.self = await this.identify(this.config, addrs, links)
      this.host = await createHostHooks({
        config: this.config, self: this.self, log: log.child({ part: 'host' }), stateDir: this.opts.stateDir,
        options: this.opts.hostOptions ?? {}, warn: (e, m) => this.warn(e, m),
      })
      await this.host.preflight()
      // sources validate their settings (keys, interfaces, peers) here and open nothing yet
      this.sources = await this.createSources()
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
    this.metrics = createMetrics({
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
    })
    this.fib = new FibSync({
      port: rtnl, protocol: this.config.routeProtocol, table: MAIN_TABLE, log,
      nextHopScope: { underlay: this.self.underlay, self: this.self.address, pools: [this.config.pool] },
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

    this.server = new ControlServer(this.opts.socket, this.handlers())
    await this.server.listen()
    if (this.opts.metricsListen) {
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

  /** Finds this host among the [host.*] entries by its interface addresses. */
  private async identify(config: FabricConfig, addrs: KernelAddress[], links: KernelLink[]): Promise<SelfInfo> {
    const where = config.file ?? '(flags)'
    const up = new Map(links.map((l) => [l.index, l]))
    /** the interface holding an address, and its connected network: this host's underlay */
    const placeOf = (a: KernelAddress) => ({ interface: up.get(a.index)?.name ?? `if${a.index}`, underlay: prefix(a.address, a.prefixLen) })
    const local = addrs.filter((a) => a.scope !== 254)
    let entry: HostEntry | undefined
    let addr: KernelAddress | undefined
    if (this.opts.address !== undefined) {
      const a = parseAddress(this.opts.address)
      if (!a.ok) throw new AgentStartError(`--address "${this.opts.address}": ${a.error}`, EXIT.USAGE)
      addr = local.find((x) => x.address === a.value)
      if (!addr) throw new AgentStartError(`--address ${this.opts.address} is not assigned to any interface of this host (local: ${local.map((x) => formatAddress(x.address)).join(', ') || 'none'})`, EXIT.USAGE)
      entry = config.hosts.find((h) => h.address === a.value)
      if (!entry && config.mode === 'static') throw new AgentStartError(`--address ${this.opts.address} matches no [host.*] address in ${where}`, EXIT.USAGE)
      if (!entry) {
        // rip/bgp joined by flags: the subnet comes from --subnet, else automatic allocation (ipam),
        // which, the first time, learns the subnets the fabric already uses
        if (config.subnet === undefined) {
          const learned = persistedSubnet(this.opts.stateDir) ? [] : await this.discoverTaken(config, {
            name: hostname(), address: a.value, subnet: { addr: 0, len: 32 }, ...placeOf(addr),
          })
          config.subnet = await resolveSubnet({ config, address: a.value, stateDir: this.opts.stateDir, log: this.opts.log, options: this.opts.hostOptions ?? {}, learned })
        }
        if (config.subnet === undefined) throw new AgentStartError(`mode ${config.mode} needs this host's container subnet: pass --subnet CIDR (inside ${formatPrefix(config.pool)}) or add a [host.*] entry for ${this.opts.address}`, EXIT.USAGE)
        const clash = config.hosts.find((h) => overlaps(h.subnet, config.subnet!))
        if (clash) throw new AgentStartError(`--subnet ${formatPrefix(config.subnet)} overlaps host ${clash.name}'s ${formatPrefix(clash.subnet)} in ${where}`, EXIT.USAGE)
        entry = { name: hostname(), address: a.value, subnet: config.subnet }
      }
      if (config.subnet !== undefined && formatPrefix(config.subnet) !== formatPrefix(entry.subnet)) {
        throw new AgentStartError(`--subnet ${formatPrefix(config.subnet)} differs from ${formatPrefix(entry.subnet)} of [host.${entry.name}] in ${where}`, EXIT.USAGE)
      }
    } else {
      const matches = config.hosts.filter((h) => local.some((x) => x.address === h.address))
      if (matches.length === 0 && config.mode !== 'static') {
        throw new AgentStartError(`mode ${config.mode}: pass --address (this host's underlay address) and --subnet, or list this host as a [host.*] in ${where}`, EXIT.USAGE)
      }
      if (matches.length === 0) {
        throw new AgentStartError(`none of this host's addresses (${local.map((x) => formatAddress(x.address)).join(', ') || 'none'}) is the address of a [host.*] in ${where}; add this host or pass --address`, EXIT.USAGE)
      }
      if (matches.length > 1) throw new AgentStartError(`this host has the addresses of several hosts in ${where} (${matches.map((m) => m.name).join(', ')}); pass --address`, EXIT.USAGE)
      entry = matches[0]!
      addr = local.find((x) => x.address === entry!.address)!
    }
    const { interface: iface, underlay } = placeOf(addr)
    if (overlaps(underlay, config.pool)) {
      throw new AgentStartError(`${where}: pool ${formatPrefix(config.pool)} overlaps the underlay network ${formatPrefix(underlay)} of ${iface}; pick a pool outside it`, EXIT.USAGE)
    }
    for (const h of config.hosts) {
      if (h.name !== entry.name && !containsAddress(underlay, h.address) && !(config.underlay && containsAddress(config.underlay, h.address))) {
        // not fatal: reported per route as not-on-link with the interface named
        this.warn('host-not-on-link', `host ${h.name} (${formatAddress(h.address)}) is not on ${iface} ${formatPrefix(underlay)}; its route will not be installed`)
      }
    }
    return { name: entry.name, address: entry.address, subnet: entry.subnet, interface: iface, underlay }
  }

  /**
   * Before choosing a subnet automatically for the first time: run the mode's
   * source listening only (announcing nothing) until it has the fabric's full
   * table (End-of-RIB / a RIP update interval), and return the subnets the
   * other hosts announce.
   */
  private async discoverTaken(config: FabricConfig, self: SelfInfo): Promise<Prefix[]> {
    const log = this.opts.log.child({ source: config.mode, phase: 'subnet-discovery' })
    const mod = (await import(`../protocols/${config.mode}/source.js`)) as { createSource: CreateSource }
    const learned = new PrefixMap<Prefix>()
    let ready!: () => void
    const isReady = new Promise<void>((r) => (ready = r))
    const source = await mod.createSource({ config, self, log, stateDir: this.opts.stateDir, onReady: () => ready(), listenOnly: true })
    log.info('subnet-discovery', { note: 'learning which subnets the fabric uses before choosing one', timeoutSeconds: DISCOVERY_TIMEOUT_S })
    await source.start({
      add: (r) => learned.set(r.prefix, { addr: r.prefix.addr, len: r.prefix.len }),
      withdraw: (p) => void learned.delete(p),
      withdrawPeer: () => 0,
    })
    let timer: NodeJS.Timeout | undefined
    await Promise.race([isReady, new Promise<void>((r) => (timer = setTimeout(r, DISCOVERY_TIMEOUT_S * 1000)))])
    if (timer) clearTimeout(timer)
    await source.stop()
    const taken = [...learned.values()]
    log.info('subnet-discovery-done', { ready: source.ready(), learned: taken.length })
    return taken
  }

  private async createSources(): Promise<RouteSource[]> {
    if (this.config.mode === 'static') {
      this.staticSource = new StaticSource(this.config.hosts, this.self.name)
      return [this.staticSource]
    }
    // each protocol lives in src/protocols/<mode>/source.ts and exports createSource
    const mod = (await import(`../protocols/${this.config.mode}/source.js`)) as { createSource: CreateSource }
    const source = await mod.createSource({
      config: this.config,
      self: this.self,
      log: this.opts.log.child({ source: this.config.mode }),
      stateDir: this.opts.stateDir,
      onReady: () => this.onSourceReady(),
    })
    return [source]
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
    const fixed: [string, unknown, unknown][] = [
      ['pool', formatPrefix(next.pool), formatPrefix(this.config.pool)],
      ['route-protocol', next.routeProtocol, this.config.routeProtocol],
      ['mode', next.mode, this.config.mode],
    ]
    for (const [key, now, was] of fixed) {
      if (now !== was) {
        log.error('config-reload-refused', { error: `${key} changed from ${was} to ${now}; restart the agent to change it` })
        return false
      }
    }
    if (next.mode !== 'static') {
      this.config = next
      const summaries: string[] = []
      for (const s of this.sources) if (s.reload) summaries.push(await s.reload(next))
      log.info('config-reloaded', { file: next.file, changes: summaries.join('; ') || 'none applied by the source' })
      return true
    }
    const me = next.hosts.find((h) => h.name === this.self.name)
    if (!me || me.address !== this.self.address || formatPrefix(me.subnet) !== formatPrefix(this.self.subnet)) {
      log.error('config-reload-refused', { error: `this host (${this.self.name}) was removed or changed in ${next.file}; restart the agent to apply` })
      return false
    }
    this.config = next
    const change = this.staticSource?.update(next.hosts)
    log.info('config-reloaded', { file: next.file, added: change?.added ?? [], removed: change?.removed ?? [], moved: change?.moved ?? [] })
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
  async leave(): Promise<Record<string, unknown>> {
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
    const routes = await removeProtocolRoutes(this.rtnl!, this.config.routeProtocol)
    await this.host?.leave()
    rmSync(join(this.opts.stateDir, 'state.json'), { force: true })
    log.info('left', { routesRemoved: routes.removed, routesFailed: routes.failed })
    return { left: true, host: this.self.name, routesRemoved: routes.removed, routesFailed: routes.failed }
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
        this.opts.log.error('subnet-conflict', { ...c, subnet: formatPrefix(this.self.subnet), note: 'another host announces this host\'s subnet: two hosts have the same subnet; neither installs the other\'s route. Give one of them another subnet.' })
      }
    }
    for (const [k, c] of this.subnetClaims) if (!now.has(k)) this.opts.log.info('subnet-conflict-cleared', { ...c })
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
    const state = {
      host: this.self.name, address: formatAddress(this.self.address), subnet: formatPrefix(this.self.subnet),
      mode: this.config.mode, routeProtocol: this.config.routeProtocol, pid: process.pid, started: new Date(this.startedAt).toISOString(),
    }
    writeFileSync(join(this.opts.stateDir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`)
  }

  status(): Record<string, unknown> {
    this.checkSubnetConflicts()
    const conflicts = [
      ...this.fib.conflicts(),
      ...[...this.subnetClaims.values()].map((c) => ({
        prefix: c.prefix,
        reason: `${c.source} peer ${c.peer} announces ${c.prefix}, inside this host's subnet ${formatPrefix(this.self.subnet)}: two hosts have the same subnet; neither route is installed`,
      })),
    ]
    const c = this.fib.stateCounts()
    const hostStatus = this.host?.status() ?? { inSync: true }
    const healthy = this.fib.inSync() && conflicts.length === 0 && c['not-on-link'] === 0 && hostStatus.inSync
    return {
      version: VERSION,
      healthy,
      host: { name: this.self.name, address: formatAddress(this.self.address), subnet: formatPrefix(this.self.subnet), interface: this.self.interface, underlay: formatPrefix(this.self.underlay) },
      mode: this.config.mode,
      routerId: this.config.mode === 'bgp' ? formatAddress(this.config.bgp.routerId ?? this.self.address) : null,
      asn: this.config.mode === 'bgp' ? this.config.bgp.asn : null,
      config: this.config.file ?? null,
      pool: formatPrefix(this.config.pool),
      routeProtocol: this.config.routeProtocol,
      pid: process.pid,
      uptime: Math.round((Date.now() - this.startedAt) / 1000),
      memory: memoryOf(),
      kernel: {
        inSync: this.fib.inSync(),
        routes: { wanted: this.fib.size, installed: c.installed, pending: c.pending, conflict: c.conflict, notOnLink: c['not-on-link'], error: c.error },
        reconciles: this.fib.stats.reconciles,
        opsApplied: this.fib.stats.opsApplied,
        opsFailed: this.fib.stats.opsFailed,
        lastReconcileMs: this.fib.stats.lastReconcile ? Math.round(this.fib.stats.lastReconcile.durationMs) : null,
        lastError: this.fib.stats.lastError ?? null,
      },
      hostIntegration: hostStatus,
      sources: this.sources.map((s) => ({ kind: s.kind, ready: s.ready(), peers: s.peers().length, stats: s.stats?.() ?? {} })),
      conflicts,
      warnings: [...this.warnings],
    }
  }

  private handlers(): Map<string, Handler> {
    return new Map<string, Handler>([
      ['/v1/status', () => this.status()],
      ['/v1/routes', async () => {
        const rtnl = this.rtnl!
        const [kernel, links] = await Promise.all([rtnl.dumpRoutes(), rtnl.dumpLinks()])
        return {
          host: this.self.name,
          routes: buildRouteRows({
            best: this.rib.bestRoutes(), candidates: (r) => this.rib.candidateCount(r.prefix),
            stateOf: (p) => this.fib.stateOf(p), since: (p) => this.fib.sinceOf(p),
            kernel, links, protocol: this.config.routeProtocol, table: MAIN_TABLE, now: Date.now(),
          }),
        }
      }],
      ['POST /v1/leave', async (_req, _url, res) => {
        const result = await this.leave()
        // exit a moment after answering: the client (maybe `fabric leave` in this
        // very container, which stops with the agent) must get to print and exit first
        res.once('finish', () => setTimeout(() => this.opts.onLeft?.(), 1500))
        return result
      }],
      ['/v1/events', (req, _url, res) => {
        const hub = this.opts.events
        if (!hub) throw new Error('events are not available')
        res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
        const send = (e: unknown): void => {
          res.write(`${JSON.stringify(e)}\n`)
        }
        send({ time: new Date().toISOString(), level: 'info', event: 'stream-start', host: this.self.name })
        const off = hub.subscribe(send)
        req.on('close', off)
        res.on('close', off)
        return undefined
      }],
      ['/v1/peers', () => ({ host: this.self.name, peers: this.sources.flatMap((s) => s.peers().map((p) => ({ source: s.kind, ...p }))) })],
    ])
  }
}

/** The agent process's memory, bytes. */
function memoryOf(): { rss: number; heapUsed: number; heapTotal: number; external: number } {
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external + m.arrayBuffers }
}

/** Source stats flattened to one level of numeric counters (`a.b` for nested keys). */
export function flatCounters(stats: Record<string, unknown>, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(stats)) {
    if (typeof v === 'number') out[prefix + k] = v
    else if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flatCounters(v as Record<string, unknown>, k === 'counters' ? prefix : `${prefix}${k}.`))
  }
  return out
}

/** The kernel route metric: the RIP hop count for RIP routes (like ripd), else 0. */
export function kernelMetric(r: Route): number {
  return r.source === 'rip' ? r.metric : 0
}

/** Reads state.json of a state dir (for commands run while the agent is down). */
export function readState(stateDir: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as Record<string, unknown>
  } catch {
    return undefined
  }
}
