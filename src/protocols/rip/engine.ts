/**
 * A distance-vector routing engine (RIPv2, RFC 2453; RIPng, RFC 2080) with
 * no sockets and no real timers, parametrised by address family
 * (family.ts: address/prefix types, keys, next-hop rules, decoding and
 * authentication, entries per packet, the emitted route object).
 *
 * The caller (transport) feeds events: start(), receive() for each datagram,
 * tick() when the requested timer fires, setLocalRoutes() and shutdown().
 * Each returns actions: datagrams to send, route add/withdraw events, and
 * timer requests. Clock and RNG are injected, so tests drive the RFC timers
 * (30/180/120 s) without waiting.
 *
 * RipEngine is the IPv4 instance (RIPv2); protocols/ripng/engine.ts makes
 * the IPv6 one from the same class.
 */
import type { Prefix } from '../../net/ipv4.js'
import type { Route } from '../../rib/route.js'
import { ReplayGuard, type RipAuthConfig } from './auth.js'
import { type DecodeOptions, RIP_INFINITY, type RipPacket } from './codec.js'
import { type AddressFamily, type DvDecoded, type DvEntry, type DvInterfaceConfig, type DvRouteEntry, ipv4Family } from './family.js'

export type { SplitHorizonMode } from './family.js'

/** A RIPv2 interface: IPv4 address and connected subnet (required). */
export interface RipInterfaceConfig extends DvInterfaceConfig<number, Prefix> {
  readonly subnet: Prefix
}

export interface RipTimers {
  /** regular update interval, ms (30 000) */
  readonly update: number
  /** +- fraction of the update interval drawn at random each time (0.15) */
  readonly updateJitter: number
  /** route timeout, ms (180 000) */
  readonly timeout: number
  /** garbage-collection time after timeout/withdrawal, ms (120 000) */
  readonly garbage: number
  /** a triggered update goes out this long after the first change: random in [min, max] ms (1 000..5 000) */
  readonly triggeredMin: number
  readonly triggeredMax: number
}

export const DEFAULT_RIP_TIMERS: RipTimers = {
  update: 30_000,
  updateJitter: 0.15,
  timeout: 180_000,
  garbage: 120_000,
  triggeredMin: 1_000,
  triggeredMax: 5_000,
}

export interface DvEngineOptions<A, P> {
  readonly interfaces: readonly DvInterfaceConfig<A, P>[]
  /** ms clock */
  readonly now: () => number
  /** uniform random in [0, 1) */
  readonly random: () => number
  readonly timers?: Partial<RipTimers>
  /** destinations we may learn: the fabric pool plus allow list, as prefixes or a predicate */
  readonly allowed: readonly P[] | ((p: P) => boolean)
  /** our addresses besides the interfaces' own (packets from them are ignored) */
  readonly ownAddresses?: readonly A[]
  /** learned routes kept at most (default 10 000); more are dropped and counted */
  readonly maxRoutes?: number
  /** neighbors tracked at most (default 256) */
  readonly maxNeighbors?: number
  /** container pools: a next hop inside one faces a container and is refused (net/next-hop.ts, net/ipv6.ts) */
  readonly pools?: readonly P[]
}

export interface RipEngineOptions extends DvEngineOptions<number, Prefix> {
  readonly interfaces: readonly RipInterfaceConfig[]
  readonly decode?: DecodeOptions
  /** the RIP UDP port: responses must come from it, updates go to it (default 520) */
  readonly port?: number
}

/** A route we originate (our own subnet). */
export interface DvLocalRoute<P> {
  readonly prefix: P
  /** metric announced, default 1 */
  readonly metric?: number
  readonly tag?: number
}

export type RipLocalRoute = DvLocalRoute<Prefix>

export type DvDestination<A> = { readonly kind: 'multicast' } | { readonly kind: 'unicast'; readonly address: A; readonly port: number }
export type RipDestination = DvDestination<number>

export type DvAction<A, Pkt, R> =
  | { readonly type: 'send'; readonly interface: string; readonly to: DvDestination<A>; readonly packet: Pkt; readonly bytes: Buffer }
  | { readonly type: 'route-add'; readonly route: R }
  | { readonly type: 'route-withdraw'; readonly route: R }
  /** call tick() at this time (replaces any earlier request) */
  | { readonly type: 'timer'; readonly at: number }
  /**
   * Something received was refused (also counted as 'drop-packet:<reason>' or
   * 'drop-entry:<reason>'): for the caller's (rate-limited) log. Entry drops
   * of one packet come as one action per reason with their count.
   */
  | { readonly type: 'dropped'; readonly scope: 'packet' | 'entry'; readonly reason: string; readonly from: A; readonly count: number; readonly detail?: string }

export type RipAction = DvAction<number, RipPacket, Route>

export interface DvReceived<A> {
  /** sender address (RIPv2: uint32; RIPng: RFC 5952 text) and UDP port */
  readonly from: A
  readonly port: number
  readonly interface: string
  /** the UDP payload */
  readonly bytes: Uint8Array
}

export type RipReceived = DvReceived<number>

export interface RipNeighborView {
  readonly address: string
  readonly interface: string
  readonly firstHeard: number
  readonly lastHeard: number
  readonly packets: number
  readonly badPackets: number
  readonly badRoutes: number
  /** learned routes currently via this neighbor (metric < 16) */
  readonly routes: number
  readonly lastError?: string
}

export interface DvRouteView<A, P> {
  readonly prefix: P
  readonly metric: number
  readonly nextHop: A
  readonly tag: number
  readonly from: string
  readonly interface: string
  readonly state: 'active' | 'garbage'
  /** when the route times out (active) or is removed (garbage), ms */
  readonly deadline: number
}

export type RipRouteView = DvRouteView<number, Prefix>

interface Learned<A, P, R> {
  prefix: P
  metric: number
  nextHop: A
  tag: number
  from: A
  iface: string
  expiresAt: number
  gcAt: number | undefined
  installed: R | undefined
  /** the neighbour whose active-route count includes this route (active routes only) */
  countedFor: A | undefined
}

interface Local<P> {
  prefix: P
  metric: number
  tag: number
  /** set when the route was removed: announced at 16 until then */
  gcAt: number | undefined
}

interface Neighbor<A, P> {
  address: A
  iface: string
  firstHeard: number
  lastHeard: number
  packets: number
  badPackets: number
  badRoutes: number
  lastError: string | undefined
  /** announced this host's own subnet at metric 1 (it is directly connected there too) until this time */
  ownSubnetClaim?: { prefix: P; until: number }
  /** learned routes currently via this neighbour (metric < 16), kept as routes change */
  routes: number
}

/**
 * RFC 2453 3.9.2: at equal metric the existing route is kept unless it is
 * "about to time out"; the RFC suggests switching once it is at least
 * halfway to its timeout. fabric switches only when the existing route has
 * gone unrefreshed for half its timeout and for at least this many of its
 * router's longest regular update intervals, so that one lost update (or a
 * flood that delays it) never moves a route with short timers (the lab's
 * 5 s / 15 s); with the RFC's 30 s / 180 s it is the RFC's 90 s.
 */
export const EQUAL_METRIC_MISSED_UPDATES = 2

const COUNTER_NAMES = [
  'rx-packets',
  'rx-requests',
  'rx-responses',
  'rx-routes',
  'tx-packets',
  'tx-regular-updates',
  'tx-triggered-updates',
  'tx-request-replies',
  'routes-added',
  'routes-withdrawn',
  'routes-timed-out',
] as const

/**
 * The engine for one address family. Type parameters: A address, P prefix,
 * Pkt the family's packet object, R the emitted route (family.ts).
 */
export class DistanceVectorEngine<A, P, Pkt, R> {
  readonly #opts: DvEngineOptions<A, P>
  readonly #fam: AddressFamily<A, P, Pkt, R>
  readonly #timers: RipTimers
  readonly #ifaces = new Map<string, DvInterfaceConfig<A, P>>()
  readonly #own = new Set<A>()
  readonly #allowed: (p: P) => boolean
  readonly #maxRoutes: number
  readonly #maxNeighbors: number
  readonly #port: number
  readonly #learned = new Map<string, Learned<A, P, R>>()
  readonly #local = new Map<string, Local<P>>()
  readonly #neighbors = new Map<A, Neighbor<A, P>>()
  readonly #replay: ReplayGuard
  readonly #seq = new Map<string, number>()
  readonly #counters = new Map<string, number>()
  /** routes changed since the last update went out (what a triggered update carries) */
  readonly #changedLearned = new Set<Learned<A, P, R>>()
  readonly #changedLocal = new Set<Local<P>>()
  #nextUpdateAt: number | undefined
  #triggerAt: number | undefined
  /** lower bound of the earliest route/neighbor deadline (exact after tick) */
  #sweepAt = Infinity
  #lastTimer: number | undefined
  #started = false
  #stopped = false

  constructor(opts: DvEngineOptions<A, P>, family: AddressFamily<A, P, Pkt, R>) {
    this.#opts = opts
    this.#fam = family
    this.#timers = { ...DEFAULT_RIP_TIMERS, ...opts.timers }
    for (const i of opts.interfaces) {
      this.#ifaces.set(i.name, i)
      this.#own.add(family.norm(i.address))
    }
    for (const a of opts.ownAddresses ?? []) this.#own.add(family.norm(a))
    const allowed = opts.allowed
    this.#allowed = typeof allowed === 'function' ? allowed : (p) => allowed.some((a) => family.containsPrefix(a, p))
    this.#maxRoutes = opts.maxRoutes ?? 10_000
    this.#maxNeighbors = opts.maxNeighbors ?? 256
    this.#port = family.port
    this.#replay = new ReplayGuard({ maxSenders: this.#maxNeighbors, restartAfterMs: this.#timers.timeout })
    for (const c of COUNTER_NAMES) this.#counters.set(c, 0)
  }

  // ---- events ---------------------------------------------------------------

  /** Startup: ask every neighbor for its whole table, announce ours, arm the update timer. */
  start(): DvAction<A, Pkt, R>[] {
    const out: DvAction<A, Pkt, R>[] = []
    if (this.#stopped) return out
    const now = this.#opts.now()
    for (const i of this.#ifaces.values()) {
      if (i.passive) continue
      this.#emit(out, i, this.#destinations(i), 'request', [{ kind: 'whole-table' }])
      this.#sendUpdate(out, i, false)
    }
    this.#clearChanges()
    this.#started = true
    this.#triggerAt = undefined
    this.#nextUpdateAt = now + this.#jitteredInterval()
    this.#finish(out)
    return out
  }

  /** Sets the routes we originate (our own subnet); changes go out as a triggered update. */
  setLocalRoutes(routes: readonly DvLocalRoute<P>[]): DvAction<A, Pkt, R>[] {
    const out: DvAction<A, Pkt, R>[] = []
    if (this.#stopped) return out
    const now = this.#opts.now()
    const seen = new Set<string>()
    let changed = false
    for (const r of routes) {
      const key = this.#fam.prefixKey(r.prefix)
      seen.add(key)
      const metric = Math.min(Math.max(r.metric ?? 1, 1), RIP_INFINITY)
      const tag = (r.tag ?? 0) & 0xffff
      const cur = this.#local.get(key)
      if (!cur || cur.metric !== metric || cur.tag !== tag || cur.gcAt !== undefined) {
        const l: Local<P> = { prefix: r.prefix, metric, tag, gcAt: undefined }
        if (cur) this.#changedLocal.delete(cur)
        this.#local.set(key, l)
        this.#changedLocal.add(l)
        changed = true
      }
    }
    for (const [key, l] of this.#local) {
      if (seen.has(key) || l.gcAt !== undefined) continue
      l.metric = RIP_INFINITY
      this.#changedLocal.add(l)
      l.gcAt = now + this.#timers.garbage
      this.#sweepAt = Math.min(this.#sweepAt, l.gcAt)
      changed = true
    }
    // learned routes that are now our own subnet (or inside it) must go
    for (const [key, l] of this.#learned) {
      if (this.#isOwnSubnet(l.prefix)) {
        this.#uninstall(out, l)
        this.#forgetLearned(key, l)
      }
    }
    if (changed) this.#scheduleTriggered(now)
    this.#finish(out)
    return out
  }

  /** A datagram arrived on UDP port 520 of `ev.interface`. */
  receive(ev: DvReceived<A>): DvAction<A, Pkt, R>[] {
    const out: DvAction<A, Pkt, R>[] = []
    if (this.#stopped) return out
    const now = this.#opts.now()
    this.#count('rx-packets')
    const fam = this.#fam
    const from = fam.norm(ev.from)
    if (this.#own.has(from)) return this.#dropPacket(out, from, 'own-address')
    const iface = this.#ifaces.get(ev.interface)
    if (!iface) return this.#dropPacket(out, from, 'unknown-interface')
    const offLink = fam.senderProblem(iface, from)
    if (offLink !== undefined) return this.#dropPacket(out, from, offLink)
    const nb = this.#neighbor(from, iface, now)
    const decoded = fam.decode(ev.bytes, iface, now, this.#replay, fam.formatAddress(from))
    if (!decoded.ok) return this.#dropPacket(out, from, decoded.error.reason, nb, decoded.error.detail)
    const pkt = decoded.value
    if (pkt.command === 'request') {
      this.#count('rx-requests')
      if (nb) this.#heard(nb, now)
      this.#countRejected(out, from, pkt, nb)
      this.#answerRequest(out, iface, ev, pkt)
    } else {
      if (ev.port !== this.#port) return this.#dropPacket(out, from, 'bad-port', nb, `response from port ${ev.port}`)
      const responder = fam.responderProblem(iface, from)
      if (responder !== undefined) return this.#dropPacket(out, from, responder, nb, `response from ${fam.formatAddress(from)}`)
      this.#count('rx-responses')
      if (nb) this.#heard(nb, now)
      this.#countRejected(out, from, pkt, nb)
      this.#processResponse(out, iface, from, pkt, nb, now)
    }
    this.#finish(out)
    return out
  }

  /** The timer requested earlier fired (or any time: processes everything due at now()). */
  tick(): DvAction<A, Pkt, R>[] {
    const out: DvAction<A, Pkt, R>[] = []
    if (this.#stopped) return out
    const now = this.#opts.now()
    // the caller's timer has fired: always hand out the next one, even if unchanged
    this.#lastTimer = undefined
    if (this.#sweepAt <= now) this.#sweep(out, now)
    if (this.#nextUpdateAt !== undefined && now >= this.#nextUpdateAt) {
      for (const i of this.#ifaces.values()) {
        if (!i.passive && this.#sendUpdate(out, i, false)) this.#count('tx-regular-updates')
      }
      this.#clearChanges()
      // a regular update carries every change: a pending triggered update is moot
      this.#triggerAt = undefined
      this.#nextUpdateAt = now + this.#jitteredInterval()
    } else if (this.#triggerAt !== undefined && now >= this.#triggerAt) {
      for (const i of this.#ifaces.values()) {
        if (!i.passive && this.#sendUpdate(out, i, true)) this.#count('tx-triggered-updates')
      }
      this.#clearChanges()
      this.#triggerAt = undefined
    }
    this.#finish(out)
    return out
  }

  /**
   * Graceful exit: announce our own routes at metric 16 on every interface and
   * withdraw every learned route from the RIB. The engine is inert afterwards.
   */
  shutdown(): DvAction<A, Pkt, R>[] {
    const out: DvAction<A, Pkt, R>[] = []
    if (this.#stopped) return out
    for (const i of this.#ifaces.values()) {
      if (i.passive) continue
      const entries: DvRouteEntry<A, P>[] = [...this.#local.values()].map((l) => ({ kind: 'route', tag: l.tag, prefix: l.prefix, nextHop: this.#fam.zero, metric: RIP_INFINITY }))
      if (entries.length > 0) this.#emit(out, i, this.#destinations(i), 'response', entries)
    }
    for (const [key, l] of this.#learned) {
      this.#uninstall(out, l)
      this.#forgetLearned(key, l)
    }
    this.#stopped = true
    return out
  }

  /**
   * The neighbour is gone (BFD saw it die): every active route via it times
   * out now, as if its timeout had expired (withdrawn from the RIB, announced
   * at 16 through garbage collection, triggered update). Routes it sends
   * later are learned as usual. No-op for an unknown neighbour.
   */
  neighbourDown(address: A): DvAction<A, Pkt, R>[] {
    const out: DvAction<A, Pkt, R>[] = []
    if (this.#stopped) return out
    const now = this.#opts.now()
    const from = this.#fam.norm(address)
    let changed = false
    for (const l of this.#learned.values()) {
      if (l.from !== from || l.gcAt !== undefined) continue
      this.#startDeletion(out, l, now)
      this.#count('routes-timed-out')
      changed = true
    }
    if (changed) this.#scheduleTriggered(now)
    this.#finish(out)
    return out
  }

  /**
   * Replaces an interface's key chain (key rotation on reload). Sequence
   * numbers and replay state are kept. False for an unknown interface.
   */
  setAuth(name: string, auth: RipAuthConfig | undefined): boolean {
    const i = this.#ifaces.get(name)
    if (!i) return false
    const { auth: _old, ...rest } = i
    this.#ifaces.set(name, auth ? { ...rest, auth } : rest)
    return true
  }

  // ---- views ----------------------------------------------------------------

  /** Packet and entry counters, including every drop reason seen ('drop-packet:<reason>', 'drop-entry:<reason>'). */
  counters(): Readonly<Record<string, number>> {
    // plain code-unit order: localeCompare would fault ICU's collation data into the agent
    return Object.fromEntries([...this.#counters].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  }

  /** Neighbours announcing this host's own subnet as directly connected (a duplicate subnet), within the route timeout. */
  subnetConflicts(): { neighbor: A; prefix: P }[] {
    const now = this.#opts.now()
    const out: { neighbor: A; prefix: P }[] = []
    for (const n of this.#neighbors.values()) if (n.ownSubnetClaim && n.ownSubnetClaim.until > now) out.push({ neighbor: n.address, prefix: n.ownSubnetClaim.prefix })
    return out
  }

  /** O(neighbours): route counts are kept as routes change. */
  neighbors(): RipNeighborView[] {
    return [...this.#neighbors.values()].map((n) => neighborView(n, this.#fam.formatAddress))
  }

  /** One neighbour's view, O(1). */
  neighbor(address: A): RipNeighborView | undefined {
    const n = this.#neighbors.get(this.#fam.norm(address))
    return n ? neighborView(n, this.#fam.formatAddress) : undefined
  }

  /** The learned table, including routes being garbage-collected. */
  routes(): DvRouteView<A, P>[] {
    return [...this.#learned.values()].map((l) => ({
      prefix: l.prefix,
      metric: l.metric,
      nextHop: l.nextHop,
      tag: l.tag,
      from: this.#fam.formatAddress(l.from),
      interface: l.iface,
      state: l.gcAt === undefined ? 'active' : 'garbage',
      deadline: l.gcAt ?? l.expiresAt,
    }))
  }

  /** Next time tick() has work, if any. */
  nextTimer(): number | undefined {
    const t = Math.min(this.#nextUpdateAt ?? Infinity, this.#triggerAt ?? Infinity, this.#sweepAt)
    return Number.isFinite(t) ? t : undefined
  }

  // ---- input processing -----------------------------------------------------

  #processResponse(out: DvAction<A, Pkt, R>[], iface: DvInterfaceConfig<A, P>, from: A, pkt: DvDecoded<A, P>, nb: Neighbor<A, P> | undefined, now: number): void {
    const fam = this.#fam
    const cost = iface.cost ?? 1
    const pools = this.#opts.pools ?? []
    // the sender is the next hop of every entry without one: checked once per packet
    const senderProblem = fam.nextHopProblem(from, iface, pools)
    const drops = new Map<string, { count: number; detail: string }>()
    const drop = (reason: string, detail: string): void => {
      this.#count(`drop-entry:${reason}`)
      if (nb) {
        nb.badRoutes++
        nb.lastError = `${reason}: ${detail}`
      }
      const d = drops.get(reason)
      if (d) d.count++
      else drops.set(reason, { count: 1, detail })
    }
    let changed = false
    for (const e of pkt.entries) {
      if (e.kind !== 'route') continue
      this.#count('rx-routes')
      // our own subnet poisoned back to us (split horizon with poisoned reverse) is normal, not bad
      if (e.metric >= RIP_INFINITY && this.#isOwnSubnet(e.prefix)) continue
      const reason = this.#checkEntry(e)
      if (reason) {
        drop(reason, `${fam.formatPrefix(e.prefix)} metric ${e.metric}`)
        // metric 1: the neighbour has this subnet connected (an echo of ours would be 2 or more)
        if (reason === 'own-subnet' && e.metric === 1 && nb) nb.ownSubnetClaim = { prefix: e.prefix, until: now + this.#timers.timeout }
        continue
      }
      const hop = this.#nextHopOf(e, from, senderProblem, iface, pools)
      if (!hop.ok) {
        drop(`next-hop-${hop.problem}`, `${fam.formatPrefix(e.prefix)} via ${fam.formatAddress(e.nextHop === fam.zero ? from : e.nextHop)}: ${fam.nextHopProblemText(hop.problem)}`)
        continue
      }
      const nextHop = hop.addr
      const metric = Math.min(e.metric + cost, RIP_INFINITY)
      const key = fam.prefixKey(e.prefix)
      const cur = this.#learned.get(key)
      if (!cur) {
        if (metric >= RIP_INFINITY) continue
        if (this.#learned.size >= this.#maxRoutes) {
          drop('route-cap', `${fam.formatPrefix(e.prefix)}: ${this.#maxRoutes} routes held`)
          continue
        }
        const l: Learned<A, P, R> = { prefix: e.prefix, metric, nextHop, tag: e.tag, from, iface: iface.name, expiresAt: now + this.#timers.timeout, gcAt: undefined, installed: undefined, countedFor: undefined }
        this.#learned.set(key, l)
        this.#changedLearned.add(l)
        this.#recount(l)
        this.#sweepAt = Math.min(this.#sweepAt, l.expiresAt)
        this.#install(out, l)
        changed = true
        continue
      }
      if (cur.from === from && cur.iface === iface.name) {
        if (metric >= RIP_INFINITY) {
          if (cur.gcAt === undefined) {
            this.#startDeletion(out, cur, now)
            changed = true
          }
          continue
        }
        cur.expiresAt = now + this.#timers.timeout
        this.#sweepAt = Math.min(this.#sweepAt, cur.expiresAt)
        if (cur.gcAt !== undefined || metric !== cur.metric || nextHop !== cur.nextHop || e.tag !== cur.tag) {
          this.#replace(out, cur, metric, nextHop, e.tag, from, iface.name)
          changed = true
        }
        continue
      }
      // another router: take it if strictly better, or equal while ours is about to time out
      if (metric < cur.metric || (metric === cur.metric && this.#aboutToTimeOut(cur, now))) {
        cur.expiresAt = now + this.#timers.timeout
        this.#sweepAt = Math.min(this.#sweepAt, cur.expiresAt)
        this.#replace(out, cur, metric, nextHop, e.tag, from, iface.name)
        changed = true
      }
    }
    for (const [reason, d] of drops) out.push({ type: 'dropped', scope: 'entry', reason, from, count: d.count, detail: d.detail })
    if (changed) this.#scheduleTriggered(now)
  }

  /**
   * The RFC 2453 3.9.2 heuristic at equal metric (see
   * EQUAL_METRIC_MISSED_UPDATES): the existing route has gone unrefreshed
   * for half its timeout and for that many of the longest update intervals.
   */
  #aboutToTimeOut(cur: Learned<A, P, R>, now: number): boolean {
    if (cur.gcAt !== undefined || cur.metric >= RIP_INFINITY) return false
    const { timeout, update, updateJitter, triggeredMax } = this.#timers
    const silentFor = now - (cur.expiresAt - timeout)
    const longestUpdate = update * (1 + updateJitter) + triggeredMax
    return silentFor >= Math.max(timeout / 2, EQUAL_METRIC_MISSED_UPDATES * longestUpdate)
  }

  /**
   * The next hop of an entry: its next-hop field, or the sender when it is
   * zero or not directly reachable (RIPv2, RFC 2453 4.4: not on this
   * network, or one of our own addresses; RIPng, RFC 2080 2.1.1: not
   * link-local); or why the entry is refused (net/next-hop.ts,
   * net/ipv6.ts: inside the pool, not unicast, ...; for the field or for
   * the sender, whose packet is then refused entry by entry).
   */
  #nextHopOf(e: DvRouteEntry<A, P>, from: A, senderProblem: string | undefined, iface: DvInterfaceConfig<A, P>, pools: readonly P[]): { ok: true; addr: A } | { ok: false; problem: string } {
    // a sender that cannot be a next hop (e.g. the underlay's network address) is refused for every entry
    if (senderProblem !== undefined) return { ok: false, problem: senderProblem }
    const fam = this.#fam
    const nh = fam.norm(e.nextHop)
    if (nh !== fam.zero && !this.#own.has(nh) && !fam.ignoresField(nh)) {
      const problem = fam.nextHopProblem(nh, iface, pools)
      if (problem === undefined) return { ok: true, addr: nh }
      if (!fam.fieldFallsBack(problem)) return { ok: false, problem }
    }
    return { ok: true, addr: from }
  }

  #checkEntry(e: DvRouteEntry<A, P>): string | undefined {
    const fam = this.#fam
    if (fam.isMartian(e.prefix)) return 'martian'
    if (this.#isOwnSubnet(e.prefix)) return 'own-subnet'
    for (const i of this.#ifaces.values()) if (i.subnet !== undefined && fam.containsPrefix(i.subnet, e.prefix)) return 'connected'
    if (!this.#allowed(e.prefix)) return 'not-allowed'
    return undefined
  }

  #isOwnSubnet(p: P): boolean {
    for (const l of this.#local.values()) if (l.gcAt === undefined && this.#fam.containsPrefix(l.prefix, p)) return true
    return false
  }

  #answerRequest(out: DvAction<A, Pkt, R>[], iface: DvInterfaceConfig<A, P>, ev: DvReceived<A>, pkt: DvDecoded<A, P>): void {
    const fam = this.#fam
    const to: DvDestination<A> = { kind: 'unicast', address: fam.norm(ev.from), port: ev.port }
    const first = pkt.entries[0]
    if (pkt.entries.length === 1 && first?.kind === 'whole-table') {
      // RFC 2453 3.9.1: a router's (port 520) request gets a normal update, split horizon included;
      // a query from elsewhere (diagnostics) gets the unfiltered table
      const entries = this.#tableEntries(iface, false, ev.port === this.#port)
      if (entries.length > 0) this.#emit(out, iface, [to], 'response', entries)
      this.#count('tx-request-replies')
      return
    }
    const entries: DvRouteEntry<A, P>[] = []
    for (const e of pkt.entries) {
      if (e.kind !== 'route') continue
      const key = fam.prefixKey(e.prefix)
      const local = this.#local.get(key)
      const learned = this.#learned.get(key)
      const metric = local ? local.metric : learned ? learned.metric : RIP_INFINITY
      const tag = local ? local.tag : learned ? learned.tag : e.tag
      entries.push({ kind: 'route', tag, prefix: e.prefix, nextHop: fam.zero, metric })
    }
    if (entries.length > 0) this.#emit(out, iface, [to], 'response', entries)
    this.#count('tx-request-replies')
  }

  // ---- route state ----------------------------------------------------------

  #routeOf(l: Learned<A, P, R>): R {
    return this.#fam.route(l)
  }

  #install(out: DvAction<A, Pkt, R>[], l: Learned<A, P, R>): void {
    const route = this.#routeOf(l)
    l.installed = route
    out.push({ type: 'route-add', route })
    this.#count('routes-added')
  }

  #uninstall(out: DvAction<A, Pkt, R>[], l: Learned<A, P, R>): void {
    if (!l.installed) return
    out.push({ type: 'route-withdraw', route: l.installed })
    l.installed = undefined
    this.#count('routes-withdrawn')
  }

  #replace(out: DvAction<A, Pkt, R>[], l: Learned<A, P, R>, metric: number, nextHop: A, tag: number, from: A, iface: string): void {
    // the RIB keys candidates by (prefix, source, peer): a new peer means withdraw the old candidate
    if (l.installed && l.from !== from) this.#uninstall(out, l)
    l.metric = metric
    l.nextHop = nextHop
    l.tag = tag
    l.from = from
    l.iface = iface
    l.gcAt = undefined
    this.#changedLearned.add(l)
    this.#recount(l)
    this.#install(out, l)
  }

  #startDeletion(out: DvAction<A, Pkt, R>[], l: Learned<A, P, R>, now: number): void {
    l.metric = RIP_INFINITY
    l.gcAt = now + this.#timers.garbage
    this.#changedLearned.add(l)
    this.#recount(l)
    this.#sweepAt = Math.min(this.#sweepAt, l.gcAt)
    this.#uninstall(out, l)
  }

  #sweep(out: DvAction<A, Pkt, R>[], now: number): void {
    let next = Infinity
    let changed = false
    for (const [key, l] of this.#learned) {
      if (l.gcAt === undefined && now >= l.expiresAt) {
        this.#startDeletion(out, l, now)
        this.#count('routes-timed-out')
        changed = true
      }
      if (l.gcAt !== undefined && now >= l.gcAt) {
        this.#forgetLearned(key, l)
        continue
      }
      next = Math.min(next, l.gcAt ?? l.expiresAt)
    }
    for (const [key, l] of this.#local) {
      if (l.gcAt === undefined) continue
      if (now >= l.gcAt) {
        this.#local.delete(key)
        this.#changedLocal.delete(l)
      } else next = Math.min(next, l.gcAt)
    }
    const forgetAfter = this.#timers.timeout + this.#timers.garbage
    const busy = new Set<A>()
    for (const l of this.#learned.values()) busy.add(l.from)
    for (const [addr, n] of this.#neighbors) {
      if (busy.has(addr)) continue
      if (now >= n.lastHeard + forgetAfter) {
        this.#neighbors.delete(addr)
        this.#replay.forget(this.#fam.formatAddress(addr))
      } else {
        next = Math.min(next, n.lastHeard + forgetAfter)
      }
    }
    this.#sweepAt = next
    if (changed) this.#scheduleTriggered(now)
  }

  #scheduleTriggered(now: number): void {
    // before start() nothing is sent: start() announces the whole table
    if (!this.#started || this.#triggerAt !== undefined) return
    const { triggeredMin: lo, triggeredMax: hi } = this.#timers
    this.#triggerAt = now + Math.round(lo + this.#opts.random() * Math.max(0, hi - lo))
  }

  #clearChanges(): void {
    this.#changedLearned.clear()
    this.#changedLocal.clear()
  }

  /** Keeps the neighbours' active-route counts in step with a learned route. */
  #recount(l: Learned<A, P, R>): void {
    const want = l.gcAt === undefined && l.metric < RIP_INFINITY ? l.from : undefined
    if (l.countedFor === want) return
    if (l.countedFor !== undefined) {
      const n = this.#neighbors.get(l.countedFor)
      if (n) n.routes = Math.max(0, n.routes - 1)
    }
    const n = want === undefined ? undefined : this.#neighbors.get(want)
    if (n) n.routes++
    l.countedFor = n ? want : undefined
  }

  #forgetLearned(key: string, l: Learned<A, P, R>): void {
    l.gcAt ??= this.#opts.now()
    this.#recount(l)
    this.#learned.delete(key)
    this.#changedLearned.delete(l)
  }

  #jitteredInterval(): number {
    const { update, updateJitter } = this.#timers
    return Math.max(1, Math.round(update * (1 - updateJitter + 2 * updateJitter * this.#opts.random())))
  }

  // ---- neighbors and counters ---------------------------------------------

  #neighbor(addr: A, iface: DvInterfaceConfig<A, P>, now: number): Neighbor<A, P> | undefined {
    let n = this.#neighbors.get(addr)
    if (!n) {
      if (this.#neighbors.size >= this.#maxNeighbors) {
        this.#count('neighbor-cap')
        return undefined
      }
      n = { address: addr, iface: iface.name, firstHeard: now, lastHeard: now, packets: 0, badPackets: 0, badRoutes: 0, lastError: undefined, routes: 0 }
      this.#neighbors.set(addr, n)
      this.#sweepAt = Math.min(this.#sweepAt, now + this.#timers.timeout + this.#timers.garbage)
    }
    return n
  }

  #heard(n: Neighbor<A, P>, now: number): void {
    n.packets++
    n.lastHeard = now
  }

  #count(name: string, by = 1): void {
    this.#counters.set(name, (this.#counters.get(name) ?? 0) + by)
  }

  /** Entries the decoder set aside (RFC 2453 3.9.2: bad metric) are dropped one by one. */
  #countRejected(out: DvAction<A, Pkt, R>[], from: A, pkt: DvDecoded<A, P>, nb: Neighbor<A, P> | undefined): void {
    const rejected = pkt.rejected ?? []
    for (const r of rejected) {
      this.#count('rx-routes')
      this.#count(`drop-entry:${r.kind}`)
      if (nb) {
        nb.badRoutes++
        nb.lastError = `${r.kind}: ${r.reason}`
      }
    }
    const last = rejected[rejected.length - 1]
    if (last) out.push({ type: 'dropped', scope: 'entry', reason: last.kind, from, count: rejected.length, detail: last.reason })
  }

  #dropPacket(out: DvAction<A, Pkt, R>[], from: A, reason: string, nb?: Neighbor<A, P>, detail?: string): DvAction<A, Pkt, R>[] {
    this.#count(`drop-packet:${reason}`)
    if (nb) {
      nb.badPackets++
      nb.lastError = detail ? `${reason}: ${detail}` : reason
    }
    out.push({ type: 'dropped', scope: 'packet', reason, from, count: 1, ...(detail !== undefined ? { detail } : {}) })
    this.#finish(out)
    return out
  }

  // ---- output ---------------------------------------------------------------

  #destinations(i: DvInterfaceConfig<A, P>): DvDestination<A>[] {
    if (i.neighbors && i.neighbors.length > 0) return i.neighbors.map((address) => ({ kind: 'unicast', address: this.#fam.norm(address), port: this.#port }))
    return [{ kind: 'multicast' }]
  }

  /** Entries for an update on `iface`: local and learned routes, split horizon applied when asked. */
  #tableEntries(iface: DvInterfaceConfig<A, P>, onlyChanged: boolean, splitHorizon: boolean): DvRouteEntry<A, P>[] {
    const fam = this.#fam
    const entries: DvRouteEntry<A, P>[] = []
    for (const l of onlyChanged ? this.#changedLocal : this.#local.values()) {
      entries.push({ kind: 'route', tag: l.tag, prefix: l.prefix, nextHop: fam.zero, metric: l.metric })
    }
    const mode = iface.splitHorizon ?? 'poisoned-reverse'
    for (const l of onlyChanged ? this.#changedLearned : this.#learned.values()) {
      let metric = l.metric
      if (splitHorizon && l.iface === iface.name && mode !== 'off') {
        if (mode === 'simple') continue
        metric = RIP_INFINITY
      }
      // a next hop on the outgoing link lets receivers skip us (RFC 2453 4.4, RFC 2080 2.1.1)
      const nextHop = metric < RIP_INFINITY ? fam.advertisedNextHop(iface, l) : fam.zero
      entries.push({ kind: 'route', tag: l.tag, prefix: l.prefix, nextHop, metric })
    }
    return entries
  }

  /** Sends a regular (all routes) or triggered (changed routes) update; false when there was nothing to send. */
  #sendUpdate(out: DvAction<A, Pkt, R>[], iface: DvInterfaceConfig<A, P>, onlyChanged: boolean): boolean {
    const entries = this.#tableEntries(iface, onlyChanged, true)
    if (entries.length === 0) return false
    this.#emit(out, iface, this.#destinations(iface), 'response', entries)
    return true
  }

  /** Splits entries into packets (family.chunk: RIPv2 25, 24 with auth; RIPng from the MTU), signs and queues them for each destination. */
  #emit(out: DvAction<A, Pkt, R>[], iface: DvInterfaceConfig<A, P>, to: readonly DvDestination<A>[], command: 'request' | 'response', entries: readonly DvEntry<A, P>[]): void {
    const now = this.#opts.now()
    const seq = () => this.#nextSeq(iface.name, now)
    for (const chunk of this.#fam.chunk(iface, entries)) {
      for (const dest of to) {
        const encoded = this.#fam.encode(iface, command, chunk, now, seq)
        if (!encoded.ok) {
          this.#count(`drop-tx:${encoded.error.kind}`)
          continue
        }
        out.push({ type: 'send', interface: iface.name, to: dest, packet: encoded.value.packet, bytes: encoded.value.bytes })
        this.#count('tx-packets')
      }
    }
  }

  /** Crypto sequence: seconds since the epoch or more, strictly increasing, so it survives restarts. */
  #nextSeq(iface: string, now: number): number {
    const prev = this.#seq.get(iface)
    const next = Math.max(prev === undefined ? 0 : prev + 1, Math.floor(now / 1000)) % 0x100000000
    this.#seq.set(iface, next)
    return next
  }

  #finish(out: DvAction<A, Pkt, R>[]): void {
    const at = this.nextTimer()
    if (at !== undefined && at !== this.#lastTimer) {
      this.#lastTimer = at
      out.push({ type: 'timer', at })
    }
  }
}

function neighborView<A, P>(n: Neighbor<A, P>, formatAddress: (a: A) => string): RipNeighborView {
  return {
    address: formatAddress(n.address),
    interface: n.iface,
    firstHeard: n.firstHeard,
    lastHeard: n.lastHeard,
    packets: n.packets,
    badPackets: n.badPackets,
    badRoutes: n.badRoutes,
    routes: n.routes,
    ...(n.lastError !== undefined ? { lastError: n.lastError } : {}),
  }
}

/** The RIPv2 (IPv4) engine: the distance-vector engine with ipv4Family (family.ts). */
export class RipEngine extends DistanceVectorEngine<number, Prefix, RipPacket, Route> {
  constructor(opts: RipEngineOptions) {
    super(opts, ipv4Family(opts.decode, opts.port))
  }
}
