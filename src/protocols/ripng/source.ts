/**
 * RIPng's route source: the RipngEngine driven by real time and the UDP 521
 * transport, emitting IPv6 routes (Route6) into a RouteSink6 (route6.ts).
 *
 * It follows the RouteSource contract of rib/source.ts (start / stop /
 * ready / peers / stats / leave) with an IPv6 sink; options are plain values
 * so the agent (once config has pool6/subnet6) maps [fabric]/[rip] onto them.
 *
 *   constructor  resolves the interface's link-local (and global) address
 *                and refuses an interface that faces containers (an address
 *                inside pool6 or this host's subnet6), like RIP
 *   start        installs the ip6tables hop-limit rule (unless disabled),
 *                binds [link-local%IFACE]:521 and [ff02::9%IFACE]:521,
 *                announces subnet6 at metric 1, asks for the neighbours' tables
 *   ready        after the first full update interval
 *   leave        subnet6 at metric 16, learned routes withdrawn
 *   stop         sockets closed, routes kept
 */
import { networkInterfaces } from 'node:os'
import { type Prefix6, canonicalAddress6, containsAddress6, formatPrefix6, isLinkLocal6, overlaps6, prefix6, parseIpv6 } from '../../net/ipv6.js'
import type { PeerStatus } from '../../rib/source.js'
import type { RipTimers } from '../rip/engine.js'
import { RIPNG_PORT } from './codec.js'
import { type RipngAction, RipngEngine } from './engine.js'
import { installHopLimitCheck } from './hop-limit.js'
import type { RouteSink6 } from './route6.js'
import { type RipngDatagram, RipngTransport, type RipngTransportOptions } from './transport.js'

const UPDATE_JITTER = 0.15

export interface RipngLog {
  info(event: string, fields?: Record<string, unknown>): void
  warn(event: string, fields?: Record<string, unknown>): void
  debug(event: string, fields?: Record<string, unknown>): void
}

export interface RipngSourceOptions {
  /** the underlay interface RIPng speaks on */
  interface: string
  /** IPv6 container pool (pool6): routes learned only inside it (plus allow6); next hops never inside it */
  pool6: Prefix6
  /** this host's IPv6 container subnet, announced at metric 1 (absent or listenOnly: nothing) */
  subnet6?: Prefix6
  allow6?: readonly Prefix6[]
  timers?: Partial<RipTimers>
  port?: number
  /** the underlay link MTU (default 1500) */
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
  /** the host's interfaces (default os.networkInterfaces) */
  interfaces?: () => ReturnType<typeof networkInterfaces>
}

export class RipngStartError extends Error {
  readonly exitCode = 2
}

interface ResolvedInterface6 {
  name: string
  linkLocal: string
  global?: Prefix6
  globalAddress?: string
  all: string[]
}

/** The interface's link-local and global addresses; refuses a missing one or one facing containers. */
export function resolveRipngInterface(opts: Pick<RipngSourceOptions, 'interface' | 'pool6' | 'subnet6'>, list = networkInterfaces()): ResolvedInterface6 {
  const addrs = (list[opts.interface] ?? []).filter((a) => a.family === 'IPv6')
  if (addrs.length === 0) {
    const names = Object.keys(list).filter((n) => n !== 'lo').join(', ') || 'none'
    throw new RipngStartError(`RIPng interface "${opts.interface}": no such interface with an IPv6 address on this host (interfaces: ${names}); expected the underlay interface`)
  }
  let linkLocal: string | undefined
  let global: Prefix6 | undefined
  let globalAddress: string | undefined
  const all: string[] = []
  for (const a of addrs) {
    const c = canonicalAddress6(a.address.split('%')[0]!)
    if (!c.ok) continue
    all.push(c.value)
    if (containsAddress6(opts.pool6, c.value) || (opts.subnet6 && containsAddress6(opts.subnet6, c.value))) {
      throw new RipngStartError(`RIPng interface "${opts.interface}": its address ${c.value} is inside pool6 ${formatPrefix6(opts.pool6)}: the interface faces containers; RIPng must only run on the underlay interface`)
    }
    if (isLinkLocal6(c.value)) linkLocal ??= c.value
    else if (!global) {
      const len = Number(a.cidr?.split('/')[1])
      const bytes = parseIpv6(c.value)
      if (bytes && Number.isInteger(len)) {
        global = prefix6(bytes, len)
        globalAddress = c.value
        if (overlaps6(global, opts.pool6)) throw new RipngStartError(`RIPng interface "${opts.interface}": its network ${formatPrefix6(global)} overlaps pool6 ${formatPrefix6(opts.pool6)}: the interface faces containers`)
      }
    }
  }
  if (!linkLocal) throw new RipngStartError(`RIPng interface "${opts.interface}": no link-local (fe80::/10) address; RIPng responses must be sent from one (RFC 2080 2.4.2)`)
  return { name: opts.interface, linkLocal, ...(global ? { global, globalAddress: globalAddress! } : {}), all }
}

export class RipngSource {
  readonly kind = 'ripng' as const
  readonly #opts: RipngSourceOptions
  readonly #now: () => number
  readonly #iface: ResolvedInterface6
  readonly #engine: RipngEngine
  readonly #transport: Pick<RipngTransport, 'open' | 'send' | 'close' | 'counters' | 'lastSendError'>
  readonly #timers: RipTimers
  #sink: RouteSink6 | undefined
  #timer: NodeJS.Timeout | undefined
  #readyTimer: NodeJS.Timeout | undefined
  #ready = false
  #running = false
  #left = false
  readonly #pending = new Set<Promise<unknown>>()

  constructor(opts: RipngSourceOptions, deps: RipngSourceDeps = {}) {
    this.#opts = opts
    this.#now = deps.now ?? Date.now
    this.#iface = resolveRipngInterface(opts, (deps.interfaces ?? networkInterfaces)())
    const own = new Set<string>()
    for (const list of Object.values((deps.interfaces ?? networkInterfaces)())) {
      for (const a of list ?? []) if (a.family === 'IPv6') { const c = canonicalAddress6(a.address.split('%')[0]!); if (c.ok && !isLinkLocal6(c.value)) own.add(c.value) }
    }
    for (const a of this.#iface.all) own.add(a)
    this.#timers = { update: 30_000, updateJitter: UPDATE_JITTER, timeout: 180_000, garbage: 120_000, triggeredMin: 1_000, triggeredMax: 5_000, ...opts.timers }
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
      ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
    })
    const make = deps.transport ?? ((o: RipngTransportOptions) => new RipngTransport(o))
    this.#transport = make({
      linkLocal: this.#iface.linkLocal,
      interface: this.#iface.name,
      port: opts.port ?? RIPNG_PORT,
      onDatagram: (d) => this.#onDatagram(d),
      onError: (where, e) => opts.log.warn('ripng-socket-error', { where, error: e.message }),
    })
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
      announce: this.#opts.listenOnly || !this.#opts.subnet6 ? 'nothing' : formatPrefix6(this.#opts.subnet6),
    })
    this.#apply(this.#engine.setLocalRoutes(this.#opts.listenOnly || !this.#opts.subnet6 ? [] : [{ prefix: this.#opts.subnet6, metric: 1 }]))
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
    this.#opts.log.info('ripng-ready', { routes: this.#engine.routes().filter((r) => r.state === 'active').length })
    this.#opts.onReady?.()
  }

  #onDatagram(d: RipngDatagram): void {
    if (!this.#running) return
    this.#apply(this.#engine.receive({ from: d.from, port: d.port, interface: this.#iface.name, bytes: d.bytes }))
  }

  #apply(actions: RipngAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send': {
          const p = this.#transport.send(a.bytes, a.to.kind === 'multicast' ? 'multicast' : a.to.address, a.to.kind === 'multicast' ? (this.#opts.port ?? RIPNG_PORT) : a.to.port)
          this.#pending.add(p)
          void p.then((ok) => { if (!ok) this.#opts.log.warn('ripng-send-failed', { error: this.#transport.lastSendError }) }).finally(() => this.#pending.delete(p))
          break
        }
        case 'route-add':
          this.#sink?.add(a.route)
          this.#opts.log.debug('ripng-route-learned', { prefix: formatPrefix6(a.route.prefix), via: a.route.nextHop, dev: a.route.interface, metric: a.route.metric })
          break
        case 'route-withdraw':
          this.#sink?.withdraw(a.route.prefix, 'ripng', a.route.peer)
          this.#opts.log.debug('ripng-route-lost', { prefix: formatPrefix6(a.route.prefix), from: a.route.peer })
          break
        case 'timer':
          this.#arm(a.at)
          break
        case 'dropped':
          this.#opts.log.debug('ripng-dropped', { reason: `drop-${a.scope}:${a.reason}`, from: a.from, count: a.count, ...(a.detail ? { detail: a.detail } : {}) })
          break
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
      } catch (e) {
        this.#opts.log.warn('ripng-timer-error', { error: (e as Error).message })
      }
    }, Math.min(Math.max(0, at - this.#now()), 0x7fffffff))
  }

  peers(): PeerStatus[] {
    const timeout = this.#timers.timeout
    const now = this.#now()
    return this.#engine.neighbors().map((n) => ({
      peer: n.address,
      address: n.address,
      state: n.packets > 0 && now - n.lastHeard < timeout ? 'up' : 'down',
      since: n.firstHeard,
      received: n.packets + n.badPackets,
      accepted: n.routes,
      ...(n.lastError !== undefined ? { lastError: n.lastError } : {}),
      details: { interface: n.interface, badPackets: n.badPackets, badRoutes: n.badRoutes },
    }))
  }

  stats(): Record<string, unknown> {
    return { interface: this.#iface.name, linkLocal: this.#iface.linkLocal, routes: this.#engine.routes().filter((r) => r.state === 'active').length, neighbors: this.#engine.neighbors().length, counters: { ...this.#engine.counters(), ...this.#transport.counters } }
  }

  routes() {
    return this.#engine.routes()
  }

  async leave(): Promise<void> {
    if (this.#left || !this.#running) return
    this.#left = true
    this.#apply(this.#engine.shutdown())
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
