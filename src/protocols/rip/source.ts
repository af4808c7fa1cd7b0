/**
 * RIP mode's route source: the pure RipEngine driven by real time and the
 * UDP transport, emitting learned routes into the RIB.
 *
 *   createSource  validates [rip] against this host (interface, neighbours,
 *                 key file) and throws a located error before anything runs
 *   start         binds UDP 520 on the underlay address (+ 224.0.0.9),
 *                 announces this host's subnet at metric 1 and asks the
 *                 neighbours for their tables
 *   ready         after the first full update interval (every neighbour has
 *                 sent its table by then), or once every configured unicast
 *                 neighbour has answered
 *   leave         `fabric leave`: this host's subnet at metric 16 (engine
 *                 shutdown), learned routes withdrawn
 *   stop          SIGTERM: sockets closed, nothing announced, routes kept
 *   bfd           [rip] bfd = yes: a BFD session per neighbour (bfd.ts); its
 *                 down times out the routes via that neighbour at once
 *   ripng         on a dual-stack host (self.subnet6 set) RIPng (RFC 2080,
 *                 protocols/ripng) runs on the same interface: subnet6
 *                 announced, the other hosts' IPv6 subnets into sink6;
 *                 ready, peers, stats (key `ripng`), leave and stop cover both
 */
import { AgentStartError, EXIT } from '../../core/errors.js'
import type { Logger } from '../../core/log.js'
import { type SelfInfo, extraSubnets } from '../../core/self.js'
import type { FabricConfig } from '../../config/fabric-config.js'
import type { RipConfig } from '../../config/rip-config.js'
import { type Prefix, containsAddress, formatAddress, formatPrefix, overlaps, parseAddress, prefix } from '../../net/ipv4.js'
import { type Prefix6, formatPrefix6 } from '../../net/ipv6.js'
import type { CreateSource, HostInterface, PeerStatus, RouteSink, RouteSink6, RouteSource, SourceContext } from '../../rib/source.js'
import { removeHopLimitCheck } from '../ripng/hop-limit.js'
import { RipngSource, type RipngSourceDeps } from '../ripng/source.js'
import { BFD_DEFAULTS } from '../../config/bfd-config.js'
import { RipBfd } from './bfd.js'
import type { RipAuthConfig, RipKey } from './auth.js'
import { type RipAction, RipEngine, type RipInterfaceConfig, type RipNeighborView } from './engine.js'
import { describeKeys, loadKeyFile } from './keys.js'
import { type RipDatagram, RipTransport, type RipTransportOptions } from './transport.js'

/** The engine's regular-update jitter (+-15 %): ready waits for the longest interval. */
const UPDATE_JITTER = 0.15

export interface RipSourceDeps {
  /** ms clock (default Date.now) */
  now?: () => number
  random?: () => number
  /** the UDP transport (default: RipTransport on the underlay address); benches and tests pass one without sockets */
  transport?: (opts: RipTransportOptions) => RipTransportPort
  /** RIPng's (dual-stack hosts): transport, clock and hop-limit counter; hopLimitRule false skips the ip6tables rule */
  ripng?: RipngSourceDeps & { hopLimitRule?: boolean }
}

/** What the source needs of a transport (RipTransport implements it). */
export type RipTransportPort = Pick<RipTransport, 'open' | 'send' | 'close' | 'counters' | 'lastSendError'>

interface ResolvedInterface {
  name: string
  address: number
  subnet: Prefix
}

interface PeerState {
  state: 'up' | 'down'
  since: number
}

function errorOf(message: string): AgentStartError {
  return new AgentStartError(message, EXIT.USAGE)
}

// ---- the host's interfaces (SourceContext.interfaces: read by the agent through rtnetlink) ----

/** The IPv4 address and network of an interface. */
function interfaceAddress(interfaces: readonly HostInterface[], name: string): ResolvedInterface | undefined {
  const a = interfaces.find((i) => i.name === name)?.addresses[0]
  return a ? { name, address: a.address, subnet: prefix(a.address, a.prefixLen) } : undefined
}

function localAddresses(interfaces: readonly HostInterface[]): number[] {
  return interfaces.flatMap((i) => i.addresses.map((a) => a.address))
}

function interfaceNames(interfaces: readonly HostInterface[]): string[] {
  return interfaces.map((i) => i.name).filter((n) => n !== 'lo')
}

// ------------------------------------------------------------------------------

/** Resolves the interface RIP speaks on and checks it is not container-facing. */
export function resolveRipInterface(config: FabricConfig, self: SelfInfo, interfaces: readonly HostInterface[] = []): ResolvedInterface {
  const rip = config.rip
  let iface: ResolvedInterface = { name: self.interface, address: self.address, subnet: self.underlay }
  if (rip.interface !== undefined && rip.interface !== self.interface) {
    const found = interfaceAddress(interfaces, rip.interface)
    if (!found) {
      const names = interfaceNames(interfaces).join(', ') || 'none'
      throw errorOf(`[rip] interface = "${rip.interface}": no such interface with an IPv4 address on this host (interfaces: ${names}); expected the underlay interface, e.g. ${self.interface}`)
    }
    iface = found
  }
  if (overlaps(iface.subnet, config.pool) || containsAddress(self.subnet, iface.address)) {
    throw errorOf(`[rip] interface = "${iface.name}": its network ${formatPrefix(iface.subnet)} is container-facing (inside pool ${formatPrefix(config.pool)}); RIP must only run on the underlay interface (${self.interface})`)
  }
  for (const n of rip.neighbors) {
    if (!containsAddress(iface.subnet, n) || n === iface.address) {
      throw errorOf(`[rip] neighbor = ${formatAddress(n)}: expected another address on ${iface.name}'s network ${formatPrefix(iface.subnet)} (RIP neighbours are on-link)`)
    }
  }
  return iface
}

/** Loads the key chain [rip] auth asks for (undefined for auth none). */
export function loadRipAuth(rip: RipConfig): { auth: RipAuthConfig | undefined; keys: RipKey[]; warnings: string[] } {
  if (rip.auth === 'none') return { auth: undefined, keys: [], warnings: [] }
  if (rip.keyFile === undefined) throw errorOf(`[rip] auth = ${rip.auth}: expected key-file (--key-file) with the keys`)
  let loaded: ReturnType<typeof loadKeyFile>
  try {
    loaded = loadKeyFile(rip.keyFile, rip.auth)
  } catch (e) {
    throw errorOf((e as Error).message)
  }
  return { auth: { keys: loaded.keys }, keys: loaded.keys, warnings: loaded.warnings }
}

export class RipSource implements RouteSource {
  readonly kind = 'rip' as const
  readonly #config: FabricConfig
  readonly #self: SelfInfo
  readonly #log: Logger
  readonly #onReady: () => void
  readonly #now: () => number
  readonly #iface: ResolvedInterface
  readonly #listenOnly: boolean
  readonly #engine: RipEngine
  readonly #transport: RipTransportPort
  #keys: RipKey[]
  #sink: RouteSink | undefined
  #timer: NodeJS.Timeout | undefined
  #timerAt: number | undefined
  #readyTimer: NodeJS.Timeout | undefined
  #watch: NodeJS.Timeout | undefined
  #ready = false
  #running = false
  #left = false
  #startedAt = 0
  readonly #peerState = new Map<string, PeerState>()
  /** configured unicast neighbours not heard yet (ready once empty) */
  readonly #unheard = new Set<number>()
  /** which socket the datagram being processed came in on (for logs) */
  #via: RipDatagram['via'] | undefined
  readonly #pending = new Set<Promise<unknown>>()
  readonly #bfd: RipBfd
  /** RIPng on the same interface (dual-stack host); running once started with a sink6 */
  readonly #ripng: RipngSource | undefined
  #ripngRunning = false
  /** the ip6tables hop-limit rule is installed at RIPng's start (removed at leave) */
  #ripngRule = false
  /** "peer prefix" of the IPv6 duplicate-subnet claims logged last time */
  #conflicts6 = new Set<string>()

  constructor(ctx: { config: FabricConfig; self: SelfInfo; log: Logger; onReady: () => void; listenOnly?: boolean; bfd?: SourceContext['bfd']; interfaces?: readonly HostInterface[] }, deps: RipSourceDeps = {}) {
    this.#config = ctx.config
    this.#self = ctx.self
    this.#listenOnly = ctx.listenOnly ?? false
    this.#log = ctx.log
    this.#onReady = ctx.onReady
    this.#now = deps.now ?? Date.now
    const rip = ctx.config.rip
    const interfaces = ctx.interfaces ?? []
    this.#iface = resolveRipInterface(ctx.config, ctx.self, interfaces)
    const { auth, keys, warnings } = loadRipAuth(rip)
    this.#keys = keys
    for (const n of rip.neighbors) this.#unheard.add(n >>> 0)
    for (const w of warnings) this.#log.warn('rip-key-file-permissions', { message: w })
    const ms = (s: number) => Math.round(s * 1000)
    const iface: RipInterfaceConfig = {
      name: this.#iface.name,
      address: this.#iface.address,
      subnet: this.#iface.subnet,
      cost: rip.cost,
      splitHorizon: rip.splitHorizon,
      ...(auth ? { auth } : {}),
      ...(rip.neighbors.length > 0 ? { neighbors: rip.neighbors } : {}),
    }
    // fabric networks ([network.NAME]): their pools are learned and refused as next hops like [fabric] pool
    const netPools = ctx.config.networks.map((n) => n.pool)
    const allowed = [ctx.config.pool, ...netPools, ...rip.allow]
    this.#engine = new RipEngine({
      interfaces: [iface],
      now: this.#now,
      random: deps.random ?? Math.random,
      allowed,
      ownAddresses: [ctx.self.address, ...localAddresses(interfaces)],
      pools: [ctx.config.pool, ...netPools],
      maxRoutes: rip.maxRoutes,
      port: rip.port,
      timers: {
        update: ms(rip.updateInterval),
        updateJitter: UPDATE_JITTER,
        timeout: ms(rip.timeout),
        garbage: ms(rip.garbageCollection),
        triggeredMin: ms(rip.triggeredMin),
        triggeredMax: ms(rip.triggeredMax),
      },
    })
    this.#bfd = new RipBfd({
      config: rip.bfd ?? BFD_DEFAULTS, local: formatAddress(this.#iface.address), interface: this.#iface.name, port: ctx.bfd, log: this.#log, now: this.#now,
      onDown: (address) => this.#bfdDown(address),
    })
    const makeTransport = deps.transport ?? ((o: RipTransportOptions) => new RipTransport(o))
    this.#transport = makeTransport({
      address: formatAddress(this.#iface.address),
      port: rip.port,
      multicast: true,
      multicastOptional: rip.neighbors.length > 0,
      onDatagram: (d) => this.#onDatagram(d),
      onError: (where, e) => this.#log.limited('warn', 'rip-socket-error', where, { where, error: e.message }),
    })
    this.#ripng = this.#makeRipng(ctx, interfaces, deps)
  }

  /**
   * RIPng on the RIP interface when this host is dual-stack (subnet6 and
   * pool6 set) and not only listening (subnet discovery is IPv4's). It
   * refuses here, before anything runs, an interface that faces containers.
   */
  #makeRipng(ctx: { config: FabricConfig; self: SelfInfo }, interfaces: readonly HostInterface[], deps: RipSourceDeps): RipngSource | undefined {
    const { config, self } = ctx
    const pool6 = self.pool6 ?? config.pool6
    if (self.subnet6 === undefined || pool6 === undefined || this.#listenOnly) return undefined
    const rip = config.rip
    const ms = (x: number) => Math.round(x * 1000)
    const { hopLimitRule, ...ripngDeps } = deps.ripng ?? {}
    this.#ripngRule = hopLimitRule ?? true
    return new RipngSource({
      interface: this.#iface.name,
      interfaces,
      pool6,
      subnet6: self.subnet6,
      containers: {
        pools: [config.pool, ...config.networks.map((n) => n.pool)],
        subnets: [self.subnet, ...extraSubnets(self)],
        bridges: config.networks.flatMap((n) => (n.bridge !== undefined ? [n.bridge] : [])),
      },
      timers: { update: ms(rip.updateInterval), updateJitter: UPDATE_JITTER, timeout: ms(rip.timeout), garbage: ms(rip.garbageCollection), triggeredMin: ms(rip.triggeredMin), triggeredMax: ms(rip.triggeredMax) },
      cost: rip.cost,
      splitHorizon: rip.splitHorizon,
      maxRoutes: rip.maxRoutes,
      ...(hopLimitRule !== undefined ? { hopLimitRule } : {}),
      log: this.#log,
      onReady: () => this.#maybeReady(),
    }, { now: this.#now, ...ripngDeps })
  }

  /** RIPng's part, when it runs (for tests and the agent's IPv6 view). */
  get ripng(): RipngSource | undefined {
    return this.#ripngRunning ? this.#ripng : undefined
  }

  async start(sink: RouteSink, sink6?: RouteSink6): Promise<void> {
    this.#sink = sink
    await this.#transport.open()
    this.#running = true
    this.#startedAt = this.#now()
    const rip = this.#config.rip
    this.#log.info('rip-started', {
      interface: this.#iface.name,
      address: formatAddress(this.#iface.address),
      network: formatPrefix(this.#iface.subnet),
      port: rip.port,
      sendTo: rip.neighbors.length > 0 ? rip.neighbors.map(formatAddress) : ['224.0.0.9'],
      auth: rip.auth,
      keys: this.#keys.map((k) => k.id),
      announce: this.#listenOnly ? 'nothing (listening only)' : [this.#self.subnet, ...extraSubnets(this.#self)].map(formatPrefix).join(' '),
      timers: { update: rip.updateInterval, timeout: rip.timeout, garbageCollection: rip.garbageCollection },
    })
    this.#apply(this.#engine.setLocalRoutes(this.#listenOnly ? [] : [this.#self.subnet, ...extraSubnets(this.#self)].map((prefix) => ({ prefix, metric: 1 }))))
    this.#apply(this.#engine.start())
    await this.#bfd.start(rip.neighbors.map(formatAddress))
    // every neighbour sends its whole table at least once per (jittered) update interval
    const readyAfter = Math.round(rip.updateInterval * (1 + UPDATE_JITTER) * 1000 + rip.triggeredMax * 1000)
    this.#readyTimer = setTimeout(() => this.#markReady('update-interval'), readyAfter)
    this.#readyTimer.unref()
    const every = Math.max(500, Math.min(5000, Math.round((rip.timeout * 1000) / 6)))
    this.#watch = setInterval(() => {
      this.#refreshPeers()
      if (this.#ripngRunning) this.#ripng!.refreshPeers()
      this.#checkConflicts6()
    }, every)
    this.#watch.unref()
    await this.#startRipng(sink6)
  }

  async #startRipng(sink6: RouteSink6 | undefined): Promise<void> {
    if (!this.#ripng) return
    if (!sink6) {
      // an agent without an IPv6 RIB: nothing to learn into
      this.#log.warn('ripng-not-started', { interface: this.#iface.name, note: 'no IPv6 RIB was given to the RIP source; RIPng needs one (dual-stack agent)' })
      return
    }
    try {
      await this.#ripng.start(sink6)
    } catch (e) {
      await this.stop().catch(() => undefined)
      throw e
    }
    this.#ripngRunning = true
  }

  /** RIP's first update interval is over and, on a dual-stack host, RIPng's too. */
  ready(): boolean {
    return this.#ready && (!this.#ripngRunning || this.#ripng!.ready())
  }

  #markReady(why: string): void {
    if (this.#ready) return
    this.#ready = true
    if (this.#readyTimer) clearTimeout(this.#readyTimer)
    this.#log.info('rip-ready', { reason: why, routes: this.#engine.routes().filter((r) => r.state === 'active').length, neighbors: this.#engine.neighbors().length })
    this.#maybeReady()
  }

  #maybeReady(): void {
    if (this.ready()) this.#onReady()
  }

  /** O(entries of the datagram): nothing here looks at the whole table or every neighbour. */
  #onDatagram(d: RipDatagram): void {
    if (!this.#running) return
    this.#via = d.via
    this.#apply(this.#engine.receive({ from: d.from, port: d.port, interface: this.#iface.name, bytes: d.bytes }))
    this.#via = undefined
    const nb = this.#engine.neighbor(d.from)
    if (nb && nb.packets > 0) {
      this.#refreshPeer(nb, this.#now())
      this.#bfd.heard(nb.address)
    }
    if (!this.#ready && this.#unheard.size > 0 && nb && nb.packets > 0) {
      this.#unheard.delete(d.from >>> 0)
      if (this.#unheard.size === 0) this.#markReady('all-neighbors-heard')
    }
  }

  /** A refused packet or entry: a warning at most once per interval per sender and reason (Logger.limited), debug otherwise. */
  #logDrop(a: Extract<RipAction, { type: 'dropped' }>): void {
    const from = formatAddress(a.from)
    const reason = `drop-${a.scope}:${a.reason}`
    const fields = { reason, from, count: a.count, ...(this.#via ? { via: this.#via } : {}), ...(a.detail !== undefined ? { detail: a.detail } : {}) }
    // packets from our own address only happen if multicast loopback is forced on: not worth a warning
    if (a.reason === 'own-address' && a.scope === 'packet') this.#log.debug('rip-dropped', fields)
    else this.#log.limited('warn', 'rip-dropped', `${from} ${reason}`, fields)
  }

  /** Carries out the engine's actions: datagrams, RIB events, the timer. */
  #apply(actions: RipAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send': {
          const dest = a.to.kind === 'multicast' ? ('multicast' as const) : a.to.address
          const port = a.to.kind === 'multicast' ? this.#config.rip.port : a.to.port
          const p = this.#transport.send(a.bytes, dest, port).then((ok) => {
            if (!ok) this.#log.limited('warn', 'rip-send-failed', 'send', { error: this.#transport.lastSendError })
          })
          this.#pending.add(p)
          void p.finally(() => this.#pending.delete(p))
          break
        }
        case 'route-add':
          this.#sink?.add(a.route)
          this.#log.debug('rip-route-learned', { prefix: formatPrefix(a.route.prefix), via: formatAddress(a.route.nextHop), from: a.route.peer, metric: a.route.metric, tag: a.route.attrs?.tag ?? 0 })
          break
        case 'route-withdraw':
          this.#sink?.withdraw(a.route.prefix, 'rip', a.route.peer)
          this.#log.debug('rip-route-lost', { prefix: formatPrefix(a.route.prefix), from: a.route.peer })
          break
        case 'timer':
          this.#arm(a.at)
          break
        case 'dropped':
          this.#logDrop(a)
          break
      }
    }
  }

  #arm(at: number): void {
    if (!this.#running) return
    if (this.#timer && this.#timerAt === at) return
    if (this.#timer) clearTimeout(this.#timer)
    this.#timerAt = at
    // setTimeout's limit is 2^31-1 ms; a timer this far away is simply re-armed
    const delay = Math.min(Math.max(0, at - this.#now()), 0x7fffffff)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#timerAt = undefined
      if (!this.#running) return
      this.#apply(this.#engine.tick())
      // the engine hands out a timer after every tick; re-arm from its view if it did not change
      const next = this.#engine.nextTimer()
      if (next !== undefined && this.#timer === undefined) this.#arm(next)
      this.#refreshPeers()
    }, delay)
  }

  /** Up/down per neighbour (heard within the route timeout), with events on change; on the watch timer and for status. */
  #refreshPeers(): void {
    const now = this.#now()
    const seen = new Set<string>()
    for (const n of this.#engine.neighbors()) {
      if (n.packets === 0) continue
      seen.add(n.address)
      this.#refreshPeer(n, now)
    }
    for (const [addr, st] of this.#peerState) {
      // forgotten by the engine (silent for timeout + garbage collection)
      if (!seen.has(addr) && st.state === 'up') {
        this.#peerState.set(addr, { state: 'down', since: now })
        this.#log.warn('rip-neighbor-down', { neighbor: addr, note: 'forgotten' })
      }
      if (!seen.has(addr) && !this.#config.rip.neighbors.some((x) => formatAddress(x) === addr)) this.#bfd.forget(addr)
    }
  }

  #refreshPeer(n: RipNeighborView, now: number): void {
    const timeout = this.#config.rip.timeout * 1000
    const state: PeerState['state'] = now - n.lastHeard < timeout ? 'up' : 'down'
    const cur = this.#peerState.get(n.address)
    if (cur && cur.state === state) return
    const since = state === 'up' ? (cur ? n.lastHeard : n.firstHeard) : n.lastHeard + timeout
    this.#peerState.set(n.address, { state, since })
    if (state === 'up') this.#log.info('rip-neighbor-up', { neighbor: n.address, interface: n.interface })
    else if (cur) this.#log.warn('rip-neighbor-down', { neighbor: n.address, silentFor: Math.round((now - n.lastHeard) / 1000) })
  }

  subnetConflicts(): { peer: string; prefix: Prefix }[] {
    return this.#engine.subnetConflicts().map((c) => ({ peer: formatAddress(c.neighbor), prefix: c.prefix }))
  }

  /** RIPng neighbours announcing this host's subnet6 at metric 1: two hosts with the same IPv6 subnet. */
  subnetConflicts6(): { peer: string; prefix: Prefix6 }[] {
    return this.#ripngRunning ? this.#ripng!.subnetConflicts() : []
  }

  /**
   * IPv6 duplicate subnets are logged here, with the fields of the agent's
   * IPv4 `subnet-conflict` lines plus `family: 6` (the agent's conflict
   * check formats IPv4 prefixes; subnetConflicts() stays IPv4).
   */
  #checkConflicts6(): void {
    const now = new Map(this.subnetConflicts6().map((c) => [`${c.peer} ${formatPrefix6(c.prefix)}`, c]))
    for (const [k, c] of now) {
      if (this.#conflicts6.has(k)) continue
      this.#log.limited('error', 'subnet-conflict', `ripng ${c.peer}`, {
        source: 'rip', family: 6, peer: c.peer, prefix: formatPrefix6(c.prefix), subnet: this.#self.subnet6 ? formatPrefix6(this.#self.subnet6) : undefined,
        note: "another host announces this host's IPv6 subnet: two hosts have the same subnet6; neither installs the other's route. Give one of them another subnet6.",
      })
    }
    for (const k of this.#conflicts6) if (!now.has(k)) this.#log.limited('info', 'subnet-conflict-cleared', `ripng ${k}`, { source: 'rip', family: 6, peer: k.split(' ')[0], prefix: k.split(' ')[1] })
    this.#conflicts6 = new Set(now.keys())
  }

  peers(): PeerStatus[] {
    this.#refreshPeers()
    const out: PeerStatus[] = []
    const byAddr = new Map(this.#engine.neighbors().map((n) => [n.address, n]))
    const addresses = new Set<string>([...this.#config.rip.neighbors.map(formatAddress), ...byAddr.keys()])
    for (const address of addresses) {
      const n = byAddr.get(address)
      const st = this.#peerState.get(address)
      const state = n && n.packets > 0 ? (st?.state ?? 'up') : 'down'
      out.push({
        peer: address,
        address,
        state,
        since: st?.since ?? (n ? n.firstHeard : this.#startedAt),
        received: n ? n.packets + n.badPackets : 0,
        accepted: n ? n.routes : 0,
        ...(n?.lastError !== undefined ? { lastError: n.lastError } : {}),
        details: {
          interface: this.#iface.name,
          configured: this.#config.rip.neighbors.some((x) => formatAddress(x) === address),
          packets: n?.packets ?? 0,
          badPackets: n?.badPackets ?? 0,
          badRoutes: n?.badRoutes ?? 0,
          ...(n ? { lastHeard: new Date(n.lastHeard).toISOString() } : {}),
          bfd: this.#bfd.details(address),
        },
      })
    }
    const num = (s: string) => {
      const p = parseAddress(s)
      return p.ok ? p.value : 0
    }
    out.sort((a, b) => num(a.address) - num(b.address))
    // RIPng neighbours (link-local addresses) after the RIP ones
    if (this.#ripngRunning) out.push(...this.#ripng!.peers())
    return out
  }

  stats(): Record<string, unknown> {
    const counters = this.#engine.counters()
    let dropped = 0
    const drops: Record<string, number> = {}
    for (const [k, v] of Object.entries(counters)) {
      if (k.startsWith('drop-packet:') || k === 'neighbor-cap') dropped += v
      if (k.startsWith('drop-')) drops[k] = v
    }
    const routes = this.#engine.routes()
    return {
      interface: this.#iface.name,
      address: formatAddress(this.#iface.address),
      auth: this.#config.rip.auth,
      ...(this.#keys.length > 0 ? { keys: describeKeys(this.#keys, this.#now()) } : {}),
      routes: routes.filter((r) => r.state === 'active').length,
      garbage: routes.filter((r) => r.state === 'garbage').length,
      neighbors: this.#engine.neighbors().length,
      'packets-received': counters['rx-packets'] ?? 0,
      'packets-dropped': dropped,
      drops,
      counters: { ...counters, ...this.#transport.counters },
      ...(this.#transport.lastSendError ? { lastSendError: this.#transport.lastSendError } : {}),
      ...(this.#ripngRunning ? { ripng: this.#ripng!.stats() } : {}),
    }
  }

  /**
   * `fabric leave`: announce this host's subnet at metric 16 so neighbours
   * drop it now instead of after their timeout, withdraw the learned routes,
   * and close the sockets once the datagrams are out.
   */
  async leave(): Promise<void> {
    if (this.#left || !this.#running) return
    this.#left = true
    const actions = this.#engine.shutdown()
    this.#log.info('rip-leave', { poisoned: formatPrefix(this.#self.subnet), datagrams: actions.filter((a) => a.type === 'send').length })
    this.#apply(actions)
    await Promise.all([...this.#pending])
    if (this.#ripngRunning) {
      // subnet6 at metric 16 to ff02::9 as well, then the hop-limit rule goes
      await this.#ripng!.leave()
      if (this.#ripngRule) await removeHopLimitCheck().catch((e: Error) => this.#log.warn('ripng-rule-not-removed', { error: e.message }))
    }
    await this.stop()
  }

  /** BFD saw the neighbour die: its routes time out now (RIP would wait for its timeout). */
  #bfdDown(address: string): void {
    const a = parseAddress(address)
    if (!this.#running || !a.ok) return
    const actions = this.#engine.neighbourDown(a.value)
    this.#log.warn('rip-neighbor-down', { neighbor: address, note: 'BFD', withdrawn: actions.filter((x) => x.type === 'route-withdraw').length })
    this.#apply(actions)
  }

  /** SIGTERM: close everything, announce nothing (routes stay for a restart). */
  async stop(): Promise<void> {
    this.#running = false
    await this.#bfd.stop()
    for (const t of [this.#timer, this.#readyTimer]) if (t) clearTimeout(t)
    if (this.#watch) clearInterval(this.#watch)
    this.#timer = undefined
    this.#readyTimer = undefined
    this.#watch = undefined
    await Promise.all([...this.#pending])
    await this.#transport.close()
    await this.#ripng?.stop()
  }

  /** SIGHUP: a changed key file is applied (key rotation); other [rip] changes need a restart. */
  async reload(config: FabricConfig): Promise<string> {
    const was = this.#config.rip
    const now = config.rip
    const changes: string[] = []
    if (now.auth === was.auth && now.auth !== 'none') {
      try {
        const { auth, keys, warnings } = loadRipAuth(now)
        for (const w of warnings) this.#log.warn('rip-key-file-permissions', { message: w })
        const before = JSON.stringify(describeKeys(this.#keys, 0))
        this.#keys = keys
        this.#engine.setAuth(this.#iface.name, auth)
        if (JSON.stringify(describeKeys(keys, 0)) !== before) changes.push(`rip keys reloaded (ids ${keys.map((k) => k.id).join(', ')})`)
      } catch (e) {
        this.#log.error('rip-key-file-refused', { error: (e as Error).message, note: 'the previous keys stay in use' })
        changes.push('rip key file refused, previous keys kept')
      }
    }
    const fixed: (keyof RipConfig)[] = ['interface', 'neighbors', 'auth', 'bfd', 'updateInterval', 'timeout', 'garbageCollection', 'triggeredMin', 'triggeredMax', 'splitHorizon', 'cost', 'maxRoutes', 'allow', 'port']
    const differ = fixed.filter((k) => JSON.stringify(was[k]) !== JSON.stringify(now[k]))
    if (differ.length > 0) {
      this.#log.warn('rip-reload-needs-restart', { keys: differ })
      changes.push(`[rip] ${differ.join(', ')} changed: restart the agent to apply`)
    }
    return changes.join('; ') || 'rip: no change'
  }
}

export const createSource: CreateSource = (ctx) => new RipSource(ctx)

// re-exported for tests and for validating a key file before the host is changed
export { loadKeyFile, parseKeyFile } from './keys.js'
