/**
 * RIPng's route source: the RipngEngine driven by real time and the UDP 521
 * transport, emitting IPv6 routes (Route6) into the agent's IPv6 RIB (a
 * rib/source.ts RouteSink6). In `mode = rip` on a dual-stack host the RIP
 * source (protocols/rip/source.ts) runs one on the RIP interface; it can
 * also run alone (test/interop/capture-ripng.sh).
 *
 *   constructor  resolves the interface's link-local (and global) address
 *                from the host's interfaces (SourceContext.interfaces, read
 *                through rtnetlink) and refuses an interface that faces
 *                containers (ripngInterfaceProblem)
 *   start        installs the ip6tables hop-limit rule (unless disabled),
 *                binds [link-local%IFACE]:521 and [ff02::9%IFACE]:521,
 *                announces subnet6 at metric 1, asks for the neighbours' tables
 *   ready        after the first full update interval
 *   leave        subnet6 at metric 16, learned routes withdrawn
 *   stop         sockets closed, routes kept
 */
import { AgentStartError, EXIT } from '../../core/errors.js'
import { type Prefix, containsAddress, formatAddress, formatPrefix } from '../../net/ipv4.js'
import { type Prefix6, canonicalAddress6, containsAddress6, formatPrefix6, isLinkLocal6, overlaps6, parseIpv6, prefix6 } from '../../net/ipv6.js'
import type { HostInterface, PeerStatus, RouteSink6 } from '../../rib/source.js'
import type { RipTimers } from '../rip/engine.js'
import { RIPNG_PORT } from './codec.js'
import { type RipngAction, RipngEngine } from './engine.js'
import { hopLimitDrops, installHopLimitCheck } from './hop-limit.js'
import { type RipngDatagram, RipngTransport, type RipngTransportOptions } from './transport.js'

const UPDATE_JITTER = 0.15
/** at most one ip6tables-save per this many ms for the hop-limit drop counter in stats */
const HOP_LIMIT_READ_MS = 5_000

export interface RipngLog {
  info(event: string, fields?: Record<string, unknown>): void
  warn(event: string, fields?: Record<string, unknown>): void
  debug(event: string, fields?: Record<string, unknown>): void
  /** a repeated warning, at most once per interval per key (core/log.ts Logger.limited); plain warn when absent */
  limited?(level: 'warn', event: string, key: string, fields?: Record<string, unknown>): void
}

/** What faces containers on this host: RIPng must never speak there. */
export interface ContainerSide {
  /** IPv4 container pools ([fabric] pool, [network.*] pools) */
  pools?: readonly Prefix[]
  /** this host's IPv4 container subnets */
  subnets?: readonly Prefix[]
  /** bridge names containers sit on (docker0, [network.*] bridge) */
  bridges?: readonly string[]
}

export interface RipngSourceOptions {
  /** the underlay interface RIPng speaks on */
  interface: string
  /** the host's interfaces, read through rtnetlink (kernel/interfaces.ts, with addresses6) */
  interfaces: readonly HostInterface[]
  /** IPv6 container pool (pool6): routes learned only inside it (plus allow6); next hops never inside it */
  pool6: Prefix6
  /** this host's IPv6 container subnet, announced at metric 1 (absent or listenOnly: nothing) */
  subnet6?: Prefix6
  allow6?: readonly Prefix6[]
  /** the IPv4 side of the container-facing check (the IPv6 side is pool6 / subnet6) */
  containers?: ContainerSide
  timers?: Partial<RipTimers>
  port?: number
  /** the underlay link MTU (default: the interface's, else 1500) */
  mtu?: number
  cost?: number
  splitHorizon?: 'poisoned-reverse' | 'simple' | 'off'
  maxRoutes?: number
  listenOnly?: boolean
  /** install the ip6tables hop-limit rule on start (default true; tests of the engine alone turn it off) */
  hopLimitRule?: boolean
  log: RipngLog
  onReady?: () => void
}

export interface RipngSourceDeps {
  now?: () => number
  random?: () => number
  transport?: (o: RipngTransportOptions) => Pick<RipngTransport, 'open' | 'send' | 'close' | 'counters' | 'lastSendError'>
  /** the hop-limit rule's drop counter (default: ip6tables-save) */
  hopLimitDrops?: (port: number) => Promise<number>
}

/** A refused RIPng interface (exit code 2, nothing on the host changed yet). */
export class RipngStartError extends AgentStartError {
  constructor(message: string) {
    super(message, EXIT.USAGE)
    this.name = 'RipngStartError'
  }
}

export interface ResolvedInterface6 {
  name: string
  linkLocal: string
  global?: Prefix6
  globalAddress?: string
  /** every IPv6 address of the interface (RFC 5952) */
  all: string[]
  mtu?: number
}

type IfaceSpec = Pick<RipngSourceOptions, 'interface' | 'pool6' | 'subnet6' | 'containers'>

/**
 * Why RIPng must not speak on this interface, or undefined: it faces
 * containers when it is docker0 or another container bridge, holds an IPv4
 * address inside a container pool or subnet, or an IPv6 address (or an
 * on-link network) inside pool6 or subnet6. A container would then be a
 * RIPng neighbour, and RIPng has no authentication to keep it out.
 */
export function ripngInterfaceProblem(opts: IfaceSpec, iface: HostInterface): string | undefined {
  const where = `RIPng interface "${iface.name}"`
  const c = opts.containers ?? {}
  const bridges = new Set(['docker0', ...(c.bridges ?? [])])
  if (bridges.has(iface.name)) return `${where}: it is a container bridge; RIPng must only run on the underlay interface, never on one that also faces containers`
  for (const a of iface.addresses) {
    const inPool = (c.pools ?? []).find((p) => containsAddress(p, a.address))
    const inSubnet = (c.subnets ?? []).find((s) => containsAddress(s, a.address))
    if (inPool || inSubnet) {
      const what = inSubnet ? `this host's container subnet ${formatPrefix(inSubnet)}` : `pool ${formatPrefix(inPool!)}`
      return `${where}: its address ${formatAddress(a.address)} is inside ${what}: the interface faces containers; RIPng must only run on the underlay interface`
    }
  }
  for (const a of iface.addresses6 ?? []) {
    const inSubnet = opts.subnet6 !== undefined && containsAddress6(opts.subnet6, a.address)
    if (containsAddress6(opts.pool6, a.address) || inSubnet) {
      const what = inSubnet ? `this host's subnet6 ${formatPrefix6(opts.subnet6!)}` : `pool6 ${formatPrefix6(opts.pool6)}`
      return `${where}: its address ${a.address} is inside ${what}: the interface faces containers; RIPng must only run on the underlay interface`
    }
    const bytes = parseIpv6(a.address)
    if (a.scope === 'global' && bytes && a.prefixLen < 128 && overlaps6(prefix6(bytes, a.prefixLen), opts.pool6)) {
      return `${where}: its network ${formatPrefix6(prefix6(bytes, a.prefixLen))} overlaps pool6 ${formatPrefix6(opts.pool6)}: the interface faces containers; RIPng must only run on the underlay interface`
    }
  }
  return undefined
}

/** The interface's link-local and global addresses; refuses a missing one, one without IPv6, or one facing containers. */
export function resolveRipngInterface(opts: IfaceSpec, interfaces: readonly HostInterface[]): ResolvedInterface6 {
  const iface = interfaces.find((i) => i.name === opts.interface)
  if (!iface) {
    const names = interfaces.map((i) => i.name).filter((n) => n !== 'lo').join(', ') || 'none'
    throw new RipngStartError(`RIPng interface "${opts.interface}": no such interface on this host (interfaces: ${names}); expected the underlay interface`)
  }
  if (iface.addresses6 === undefined) throw new RipngStartError(`RIPng interface "${opts.interface}": its IPv6 addresses were not read (no IPv6 address dump)`)
  const problem = ripngInterfaceProblem(opts, iface)
  if (problem !== undefined) throw new RipngStartError(problem)
  let linkLocal: string | undefined
  let global: Prefix6 | undefined
  let globalAddress: string | undefined
  const all: string[] = []
  for (const a of iface.addresses6) {
    const c = canonicalAddress6(a.address)
    if (!c.ok) continue
    all.push(c.value)
    if (isLinkLocal6(c.value)) linkLocal ??= c.value
    else if (!global && a.prefixLen < 128) {
      global = prefix6(parseIpv6(c.value)!, a.prefixLen)
      globalAddress = c.value
    }
  }
  if (!linkLocal) throw new RipngStartError(`RIPng interface "${opts.interface}": no link-local (fe80::/10) address; RIPng responses must be sent from one (RFC 2080 2.4.2)`)
  const mtu = iface.mtu
  return { name: opts.interface, linkLocal, ...(global ? { global, globalAddress: globalAddress! } : {}), all, ...(mtu !== undefined && mtu >= 1280 ? { mtu } : {}) }
}

interface PeerState {
  state: 'up' | 'down'
  since: number
}

export class RipngSource {
  readonly kind = 'ripng' as const
  readonly #opts: RipngSourceOptions
  readonly #now: () => number
  readonly #iface: ResolvedInterface6
  readonly #engine: RipngEngine
  readonly #transport: Pick<RipngTransport, 'open' | 'send' | 'close' | 'counters' | 'lastSendError'>
  readonly #timers: RipTimers
  readonly #hopLimitDrops: (port: number) => Promise<number>
  #sink: RouteSink6 | undefined
  #timer: NodeJS.Timeout | undefined
  #readyTimer: NodeJS.Timeout | undefined
  #ready = false
  #running = false
  #left = false
  #hopLimit: { drops: number | undefined; readAt: number; reading: boolean } = { drops: undefined, readAt: 0, reading: false }
  readonly #peerState = new Map<string, PeerState>()
  readonly #pending = new Set<Promise<unknown>>()

  constructor(opts: RipngSourceOptions, deps: RipngSourceDeps = {}) {
    this.#opts = opts
    this.#now = deps.now ?? Date.now
    this.#hopLimitDrops = deps.hopLimitDrops ?? hopLimitDrops
    this.#iface = resolveRipngInterface(opts, opts.interfaces)
    // our own addresses: every global IPv6 address of the host and all of this interface's
    // (other interfaces' link-local addresses are not ours on this link: a neighbour may use the same)
    const own = new Set<string>(this.#iface.all)
    for (const i of opts.interfaces) for (const a of i.addresses6 ?? []) if (a.scope === 'global') own.add(a.address)
    this.#timers = { update: 30_000, updateJitter: UPDATE_JITTER, timeout: 180_000, garbage: 120_000, triggeredMin: 1_000, triggeredMax: 5_000, ...opts.timers }
    const mtu = opts.mtu ?? this.#iface.mtu
    this.#engine = new RipngEngine({
      interfaces: [{ name: this.#iface.name, address: this.#iface.linkLocal, ...(this.#iface.global ? { subnet: this.#iface.global } : {}), cost: opts.cost ?? 1, splitHorizon: opts.splitHorizon ?? 'poisoned-reverse' }],
      now: this.#now,
      random: deps.random ?? Math.random,
      allowed: [opts.pool6, ...(opts.allow6 ?? [])],
      pools: [opts.pool6],
      ownAddresses: [...own],
      timers: this.#timers,
      ...(opts.maxRoutes !== undefined ? { maxRoutes: opts.maxRoutes } : {}),
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(mtu !== undefined ? { mtu } : {}),
    })
    const make = deps.transport ?? ((o: RipngTransportOptions) => new RipngTransport(o))
    this.#transport = make({
      linkLocal: this.#iface.linkLocal,
      interface: this.#iface.name,
      port: opts.port ?? RIPNG_PORT,
      onDatagram: (d) => this.#onDatagram(d),
      onError: (where, e) => this.#warn('ripng-socket-error', where, { where, error: e.message }),
    })
  }

  /** The interface RIPng speaks on, as resolved. */
  get interface(): ResolvedInterface6 {
    return this.#iface
  }

  #warn(event: string, key: string, fields: Record<string, unknown>): void {
    if (this.#opts.log.limited) this.#opts.log.limited('warn', event, key, fields)
    else this.#opts.log.warn(event, fields)
  }

  #announced(): Prefix6[] {
    return this.#opts.listenOnly || !this.#opts.subnet6 ? [] : [this.#opts.subnet6]
  }

  async start(sink: RouteSink6): Promise<void> {
    this.#sink = sink
    if (this.#opts.hopLimitRule ?? true) await installHopLimitCheck(this.#opts.port ?? RIPNG_PORT)
    await this.#transport.open()
    this.#running = true
    this.#opts.log.info('ripng-started', {
      interface: this.#iface.name,
      linkLocal: this.#iface.linkLocal,
      ...(this.#iface.global ? { network: formatPrefix6(this.#iface.global) } : {}),
      port: this.#opts.port ?? RIPNG_PORT,
      sendTo: ['ff02::9'],
      announce: this.#announced().map(formatPrefix6).join(' ') || 'nothing',
      timers: { update: this.#timers.update / 1000, timeout: this.#timers.timeout / 1000, garbageCollection: this.#timers.garbage / 1000 },
    })
    this.#apply(this.#engine.setLocalRoutes(this.#announced().map((prefix) => ({ prefix, metric: 1 }))))
    this.#apply(this.#engine.start())
    const readyAfter = Math.round(this.#timers.update * (1 + this.#timers.updateJitter) + this.#timers.triggeredMax)
    this.#readyTimer = setTimeout(() => this.#markReady(), readyAfter)
    this.#readyTimer.unref()
  }

  ready(): boolean {
    return this.#ready
  }

  #markReady(): void {
    if (this.#ready) return
    this.#ready = true
    this.#opts.log.info('ripng-ready', { routes: this.#engine.routes().filter((r) => r.state === 'active').length, neighbors: this.#engine.neighbors().length })
    this.#opts.onReady?.()
  }

  #onDatagram(d: RipngDatagram): void {
    if (!this.#running) return
    this.#apply(this.#engine.receive({ from: d.from, port: d.port, interface: this.#iface.name, bytes: d.bytes }))
    const nb = this.#engine.neighbor(d.from)
    if (nb && nb.packets > 0) this.#refreshPeer(nb, this.#now())
  }

  #apply(actions: RipngAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send': {
          const p = this.#transport.send(a.bytes, a.to.kind === 'multicast' ? 'multicast' : a.to.address, a.to.kind === 'multicast' ? (this.#opts.port ?? RIPNG_PORT) : a.to.port)
          this.#pending.add(p)
          void p.then((ok) => { if (!ok) this.#warn('ripng-send-failed', 'send', { error: this.#transport.lastSendError }) }).finally(() => this.#pending.delete(p))
          break
        }
        case 'route-add':
          this.#sink?.add(a.route)
          this.#opts.log.debug('ripng-route-learned', { prefix: formatPrefix6(a.route.prefix), via: a.route.nextHop, dev: a.route.interface, from: a.route.peer, metric: a.route.metric })
          break
        case 'route-withdraw':
          this.#sink?.withdraw(a.route.prefix, 'ripng', a.route.peer)
          this.#opts.log.debug('ripng-route-lost', { prefix: formatPrefix6(a.route.prefix), from: a.route.peer })
          break
        case 'timer':
          this.#arm(a.at)
          break
        case 'dropped': {
          const reason = `drop-${a.scope}:${a.reason}`
          const fields = { reason, from: a.from, count: a.count, ...(a.detail ? { detail: a.detail } : {}) }
          if (a.reason === 'own-address' && a.scope === 'packet') this.#opts.log.debug('ripng-dropped', fields)
          else this.#warn('ripng-dropped', `${a.from} ${reason}`, fields)
          break
        }
      }
    }
  }

  #arm(at: number): void {
    if (!this.#running) return
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (!this.#running) return
      try {
        this.#apply(this.#engine.tick())
        const next = this.#engine.nextTimer()
        if (next !== undefined && this.#timer === undefined) this.#arm(next)
        this.refreshPeers()
      } catch (e) {
        this.#warn('ripng-timer-error', 'timer', { error: (e as Error).message })
      }
    }, Math.min(Math.max(0, at - this.#now()), 0x7fffffff))
  }

  /** Up/down per neighbour (heard within the route timeout), with log events on change. */
  refreshPeers(): void {
    const now = this.#now()
    const seen = new Set<string>()
    for (const n of this.#engine.neighbors()) {
      if (n.packets === 0) continue
      seen.add(n.address)
      this.#refreshPeer(n, now)
    }
    for (const [addr, st] of this.#peerState) {
      if (!seen.has(addr) && st.state === 'up') {
        this.#peerState.set(addr, { state: 'down', since: now })
        this.#opts.log.warn('ripng-neighbor-down', { neighbor: addr, note: 'forgotten' })
      }
    }
  }

  #refreshPeer(n: { address: string; interface: string; firstHeard: number; lastHeard: number }, now: number): void {
    const timeout = this.#timers.timeout
    const state: PeerState['state'] = now - n.lastHeard < timeout ? 'up' : 'down'
    const cur = this.#peerState.get(n.address)
    if (cur && cur.state === state) return
    const since = state === 'up' ? (cur ? n.lastHeard : n.firstHeard) : n.lastHeard + timeout
    this.#peerState.set(n.address, { state, since })
    if (state === 'up') this.#opts.log.info('ripng-neighbor-up', { neighbor: n.address, interface: n.interface })
    else if (cur) this.#opts.log.warn('ripng-neighbor-down', { neighbor: n.address, silentFor: Math.round((now - n.lastHeard) / 1000) })
  }

  /** Neighbours announcing this host's subnet6 at metric 1 (a duplicate subnet), within the route timeout. */
  subnetConflicts(): { peer: string; prefix: Prefix6 }[] {
    return this.#engine.subnetConflicts().map((c) => ({ peer: c.neighbor, prefix: c.prefix }))
  }

  peers(): PeerStatus[] {
    this.refreshPeers()
    const timeout = this.#timers.timeout
    const now = this.#now()
    return this.#engine.neighbors().map((n) => {
      const st = this.#peerState.get(n.address)
      return {
        peer: n.address,
        address: n.address,
        state: n.packets > 0 && now - n.lastHeard < timeout ? 'up' : 'down',
        since: st?.since ?? n.firstHeard,
        received: n.packets + n.badPackets,
        accepted: n.routes,
        ...(n.lastError !== undefined ? { lastError: n.lastError } : {}),
        details: {
          protocol: 'ripng',
          interface: n.interface,
          packets: n.packets,
          badPackets: n.badPackets,
          badRoutes: n.badRoutes,
          lastHeard: new Date(n.lastHeard).toISOString(),
          bfd: null,
        },
      }
    }).sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
  }

  /** The hop-limit rule's drop count as last read (read again in the background at most every 5 s). */
  #hopLimitCount(): number | undefined {
    const h = this.#hopLimit
    if ((this.#opts.hopLimitRule ?? true) && this.#running && !h.reading && this.#now() - h.readAt >= HOP_LIMIT_READ_MS) {
      h.reading = true
      h.readAt = this.#now()
      void this.#hopLimitDrops(this.#opts.port ?? RIPNG_PORT).then((n) => (h.drops = n), () => undefined).finally(() => (h.reading = false))
    }
    return h.drops
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
    const hop = this.#hopLimitCount()
    return {
      interface: this.#iface.name,
      linkLocal: this.#iface.linkLocal,
      port: this.#opts.port ?? RIPNG_PORT,
      announce: this.#announced().map(formatPrefix6),
      routes: routes.filter((r) => r.state === 'active').length,
      garbage: routes.filter((r) => r.state === 'garbage').length,
      neighbors: this.#engine.neighbors().length,
      'packets-received': counters['rx-packets'] ?? 0,
      'packets-dropped': dropped,
      drops,
      ...(hop !== undefined ? { 'hop-limit-drops': hop } : {}),
      'subnet-conflicts': this.subnetConflicts().map((c) => ({ peer: c.peer, prefix: formatPrefix6(c.prefix) })),
      counters: { ...counters, ...this.#transport.counters },
      ...(this.#transport.lastSendError ? { lastSendError: this.#transport.lastSendError } : {}),
    }
  }

  routes() {
    return this.#engine.routes()
  }

  /** `fabric leave`: subnet6 at metric 16 to ff02::9, learned routes withdrawn, sockets closed once sent. */
  async leave(): Promise<void> {
    if (this.#left || !this.#running) return
    this.#left = true
    const actions = this.#engine.shutdown()
    this.#opts.log.info('ripng-leave', { poisoned: this.#announced().map(formatPrefix6).join(' ') || 'nothing', datagrams: actions.filter((a) => a.type === 'send').length })
    this.#apply(actions)
    await Promise.all([...this.#pending])
    await this.stop()
  }

  async stop(): Promise<void> {
    this.#running = false
    if (this.#timer) clearTimeout(this.#timer)
    if (this.#readyTimer) clearTimeout(this.#readyTimer)
    this.#timer = undefined
    this.#readyTimer = undefined
    await Promise.all([...this.#pending])
    await this.#transport.close()
  }
}
