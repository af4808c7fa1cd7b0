/**
 * Mode bgp's route source: a BGP-4 speaker announcing this host's subnet and
 * feeding what its peers announce into the RIB. Peers: [peer.NAME] sections,
 * --peer flags, every other [host.*] (iBGP full mesh) and, with listen
 * ranges, any neighbour that connects from inside one.
 */
import { type Server, type Socket, createServer } from 'node:net'
import type { FabricConfig } from '../../config/fabric-config.js'
import type { BgpConfig } from '../../config/bgp-config.js'
import { type BfdConfig, loadBfdKeyFile } from '../../config/bfd-config.js'
import { extraSubnets } from '../../core/self.js'
import { type Prefix, containsAddress, formatAddress, formatPrefix, parseAddress } from '../../net/ipv4.js'
import { type Prefix6, canonicalAddress6, containsAddress6, formatPrefix6 } from '../../net/ipv6.js'
import type { BfdPort, BfdSessionView, BfdStateName, CreateSource, PeerBfdDetails, PeerStatus, RouteSink, RouteSink6, RouteSource, SourceContext } from '../../rib/source.js'
import { peerBfdDetails } from '../bfd/details.js'
import { DIAG_TEXT, Diag } from '../bfd/codec.js'
import { negotiatedCapabilities } from './capabilities.js'
import { AFI_IPV6, CeaseSubcode } from './codec/constants.js'
import type { Clock } from './fsm.js'
import { type GrTimers, type HelperEndReason, removeRestartMarker, takeRestartMarker, writeRestartMarker } from './graceful-restart.js'
import { type ImportPolicy, createImportPolicy } from './policy.js'
import { type ImportPolicy6, createImportPolicy6 } from './policy6.js'
import { type PeerSpec, PeerSession, type SessionDrops, SessionShared, bump, closeWithCease, peerKey } from './session.js'
import { Speaker } from './speaker.js'
import type { SpeakerIpv6Options } from './speaker6.js'

export interface BgpSourceOptions {
  /** address to listen on (default all IPv4 addresses of the namespace) */
  readonly listenHost?: string
  /** IPv6 address to listen on for IPv6 peers (default all IPv6 addresses of the namespace; only with IPv6 peers) */
  readonly listenHost6?: string
  readonly clock?: Clock
  /** seconds an accepted connection has to send a valid OPEN (default PRE_OPEN_TIMEOUT_S) */
  readonly preOpenTimeout?: number
  /** accepted connections without a valid OPEN, all peers together (default PRE_OPEN_TOTAL) */
  readonly maxPreOpen?: number
  /** graceful restart helper timers (tests) */
  readonly grTimers?: GrTimers
}

/** How often the BFD sessions' status is fetched for `fabric peers` (status() never waits on BFD). */
const BFD_STATUS_INTERVAL_MS = 1000

/** BFD session key of a BGP peer (its session key, the address as text) */
function bfdKey(peer: string): string {
  return `bgp/${peer}`
}

/** unauthenticated (pre-OPEN) accepted connections held at once, all addresses together */
export const PRE_OPEN_TOTAL = 64

const monotonic: Clock = { now: () => performance.now() }

/** Peers of a config for this host: [peer.*], --peer, and the [host.*] mesh. */
export function peerSpecs(config: FabricConfig, selfName: string, selfAddress: number): PeerSpec[] {
  const b = config.bgp
  const out: PeerSpec[] = []
  const seen = new Set<number>([selfAddress])
  for (const p of b.peers) {
    if (seen.has(p.address)) continue
    seen.add(p.address)
    out.push({
      name: p.name, address: p.address, asn: p.asn, passive: p.passive, rrClient: p.rrClient,
      maxPrefixes: p.maxPrefixes ?? b.maxPrefixes, dynamic: false, origin: p.where, bfd: p.bfd,
    })
  }
  for (const h of config.hosts) {
    if (h.name === selfName || seen.has(h.address)) continue
    seen.add(h.address)
    out.push({ name: h.name, address: h.address, asn: b.asn, passive: false, rrClient: false, maxPrefixes: b.maxPrefixes, dynamic: false, origin: `[host.${h.name}]`, bfd: b.bfd })
  }
  // peers reached over IPv6 (a dual-stack host's sessions from its address6)
  for (const p of b.peers6 ?? []) {
    out.push({
      name: p.name, address: 0, address6: p.address6, asn: p.asn, passive: p.passive, rrClient: p.rrClient,
      maxPrefixes: p.maxPrefixes ?? b.maxPrefixes, dynamic: false, origin: p.where, bfd: p.bfd,
    })
  }
  return out
}

export class BgpSource implements RouteSource {
  readonly kind = 'bgp' as const
  private speaker!: Speaker
  /** by peer key (the address as text: IPv4 dotted, IPv6 RFC 5952) */
  private readonly sessions = new Map<string, PeerSession>()
  private server: Server | undefined
  /** the IPv6 listener (IPv6 peers on a dual-stack host) */
  private server6: Server | undefined
  private isReady = false
  private graceOver = false
  private graceTimer: NodeJS.Timeout | undefined
  private bgp: BgpConfig
  private readonly routerId: number
  private readonly clock: Clock
  private rejected = 0
  private listenError: string | undefined
  private readonly drops: SessionDrops = { messages: {}, connections: {} }
  /** what outgoing connections read into (one buffer for all: see SessionOptions.readBuffer) */
  private readonly readBuffer = Buffer.allocUnsafe(64 * 1024)
  /** what the sessions share: the pre-OPEN count, capability lists, OPEN octets */
  private readonly shared = new SessionShared()
  /** the configured (not dynamic) sessions: readiness waits for their End-of-RIB */
  private readonly configuredSessions = new Set<PeerSession>()
  /** accepted sockets not closed yet: stop() closes what a peer leaves half-open */
  private readonly accepted = new Set<Socket>()
  /** graceful restart, restarting side: started within the restart time of a SIGTERM */
  private restarting = false
  /** the selection-deferral timer: ends the deferral, and bounds the wait for End-of-RIB before stale kernel routes may go */
  private deferralTimer: NodeJS.Timeout | undefined
  private deferralExpired = false
  private leaving = false
  /** BFD: the agent's service once a peer needs it, key files read at construction, the last status */
  private bfd: BfdPort | undefined
  private bfdStarting: Promise<BfdPort | undefined> | undefined
  /** shutdown() began: a BFD port that arrives now is not taken */
  private stopped = false
  private readonly bfdKeys = new Map<string, { id: number; secret: Uint8Array }[]>()
  private bfdStatus = new Map<string, BfdSessionView>()
  private bfdTimer: NodeJS.Timeout | undefined
  private readonly bfdSessions = new Set<string>()
  private readonly onBfdUp = (key: string) => this.bfdEvent(key, true)
  private readonly onBfdDown = (key: string, diag: number, remote: BfdStateName) => this.bfdEvent(key, false, diag, remote)
  /** MP-BGP IPv6 unicast: a dual-stack host given the IPv6 RIB */
  private ipv6 = false
  /** whether our OPENs carry the R bit now (one function for every session) */
  private readonly restartingNow = (): boolean => this.speaker.isDeferring

  constructor(private readonly ctx: SourceContext, private readonly options: BgpSourceOptions = {}) {
    this.bgp = ctx.config.bgp
    this.routerId = (this.bgp.routerId ?? ctx.self.address) >>> 0
    this.clock = options.clock ?? monotonic
    // key files are read now: a bad one is a configuration error, before the host is changed
    for (const c of [this.bgp.bfd, ...this.bgp.peers.map((p) => p.bfd)]) this.loadKeys(c)
  }

  private loadKeys(c: BfdConfig): { id: number; secret: Uint8Array }[] | undefined {
    if (!c.enabled || c.auth === 'none' || c.keyFile === undefined) return undefined
    const k = `${c.auth} ${c.keyFile}`
    let keys = this.bfdKeys.get(k)
    if (!keys) {
      const loaded = loadBfdKeyFile(c.keyFile, c.auth)
      for (const w of loaded.warnings) this.ctx.log.warn('bfd-key-file-mode', { message: w })
      keys = loaded.keys
      this.bfdKeys.set(k, keys)
    }
    return keys
  }

  async start(sink: RouteSink, sink6?: RouteSink6): Promise<void> {
    const { config, self, log } = this.ctx
    const b = this.bgp
    const ipv6 = this.ipv6Options(sink6)
    this.ipv6 = ipv6 !== undefined
    if (b.gracefulRestartTime > 0 && !this.ctx.listenOnly) {
      const m = takeRestartMarker(this.ctx.stateDir, b.gracefulRestartTime)
      this.restarting = m.restarting
      if (m.stoppedAgoMs !== undefined) {
        log.info('bgp-graceful-restart', {
          restarting: m.restarting, stoppedAgoS: Math.round(m.stoppedAgoMs / 100) / 10, restartTime: b.gracefulRestartTime,
          note: m.restarting ? `R bit set; announcements deferred until End-of-RIB from every peer or ${b.gracefulRestartDeferral} s` : 'stopped longer ago than the restart time: a fresh start',
        })
      }
    }
    this.speaker = new Speaker({
      deferring: this.restarting,
      asn: b.asn, routerId: this.routerId, clusterId: b.clusterId, routeReflector: b.routeReflector,
      localAddress: self.address, ownSubnet: this.ctx.listenOnly ? undefined : self.subnet,
      ownNetworks: this.ctx.listenOnly ? undefined : extraSubnets(self),
      // listening only: no own subnet to protect (0.0.0.0/32 contains nothing in any pool)
      policy: this.importPolicy(b),
      nextHop: { underlay: self.underlay, self: self.address, pools: [config.pool, ...config.networks.map((n) => n.pool)] },
      sink, log,
      ...(ipv6 ? { ipv6 } : {}),
      onEndOfRib: (p) => {
        const s = this.sessions.get(p.peer.key)
        if (s?.rib === p) s.endOfRib()
        this.checkReady()
      },
    })
    if (this.restarting) {
      this.deferralTimer = setTimeout(() => {
        this.deferralTimer = undefined
        this.deferralExpired = true
        this.endDeferral('deferral time over')
        this.checkReady()
      }, b.gracefulRestartDeferral * 1000)
      this.deferralTimer.unref()
    }
    if (b.listen) await this.listen()
    const specs = this.usableSpecs(peerSpecs(config, self.name, self.address))
    if (b.listen && specs.some((p) => p.address6 !== undefined)) await this.listen6()
    for (const spec of specs) this.addSession(spec)
    log.info('bgp-started', {
      asn: b.asn, routerId: formatAddress(this.routerId), peers: this.sessions.size, listen: b.listen ? `${this.options.listenHost ?? '0.0.0.0'}:${b.port}` : 'no',
      listenRanges: b.listenRanges.map(formatPrefix), routeReflector: b.routeReflector, announce: this.ctx.listenOnly ? 'nothing (listening only)' : [self.subnet, ...extraSubnets(self)].map(formatPrefix).join(' '),
      ...(ipv6 ? { ipv6: 'unicast (RFC 4760) with peers that negotiate it', announce6: ipv6.ownSubnet6 ? formatPrefix6(ipv6.ownSubnet6) : 'nothing', nextHop6: [ipv6.address6, ...(ipv6.linkLocal ? [ipv6.linkLocal] : [])].join(' ') } : {}),
    })
    // readiness: End-of-RIB from every configured peer, or a grace time for peers that never come
    const grace = Math.min(60, Math.max(5, 2 * b.holdTime + b.connectRetryTime))
    this.graceTimer = setTimeout(() => {
      this.graceOver = true
      this.checkReady()
      // an Established peer still sending its table keeps us waiting; the agent's own cap ends that
    }, grace * 1000)
    this.graceTimer.unref()
    this.checkReady()
    await this.startBfd()
  }

  // ------------------------------------------------------------------ BFD

  private async startBfd(): Promise<void> {
    const wanted = [...this.sessions.values()].filter((s) => s.spec.bfd?.enabled)
    if (wanted.length === 0) return
    await this.ensureBfd()
    for (const s of wanted) await this.addBfd(s)
  }

  /**
   * The BFD port, started once: the first dynamic neighbours of a reflector
   * ask for it together, and each of them used to register its own listeners
   * and status timer (every BFD down then reset the session once per listener).
   */
  private ensureBfd(): Promise<BfdPort | undefined> {
    if (this.bfd) return Promise.resolve(this.bfd)
    this.bfdStarting ??= this.startBfdPort().finally(() => {
      this.bfdStarting = undefined
    })
    return this.bfdStarting
  }

  private async startBfdPort(): Promise<BfdPort | undefined> {
    if (!this.ctx.bfd) {
      this.ctx.log.warn('bfd-unavailable', { note: 'bfd = yes but this agent has no BFD service; sessions rely on the hold time' })
      return undefined
    }
    try {
      const port = await this.ctx.bfd()
      if (this.stopped) return undefined
      this.bfd = port
      port.on('up', this.onBfdUp)
      port.on('down', this.onBfdDown)
      this.bfdTimer = setInterval(() => void this.refreshBfdStatus(), BFD_STATUS_INTERVAL_MS)
      this.bfdTimer.unref()
      return port
    } catch (e) {
      this.ctx.log.error('bfd-unavailable', { error: (e as Error).message, note: 'sessions rely on the hold time' })
      return undefined
    }
  }

  private async addBfd(s: PeerSession): Promise<void> {
    const c = s.spec.bfd
    const port = this.bfd
    if (!c?.enabled || !port) return
    if (s.spec.address6 !== undefined) {
      this.ctx.log.warn('bfd-unavailable', { peer: s.key, note: 'BFD runs over IPv4 only (RFC 5881); this IPv6 session relies on the hold time' })
      return
    }
    const key = bfdKey(s.key)
    const auth = c.auth !== 'none' ? this.loadKeys(c) : undefined
    try {
      await port.add({
        key, local: formatAddress(this.ctx.self.address), remote: formatAddress(s.spec.address), interface: this.ctx.self.interface,
        desiredMinTx: c.interval, requiredMinRx: c.interval, multiplier: c.multiplier,
        ...(auth && c.auth !== 'none' ? { auth: { type: c.auth, keys: auth } } : {}),
      })
      this.bfdSessions.add(key)
      this.ctx.log.info('bfd-session-added', { peer: s.key, interval: c.interval, multiplier: c.multiplier, auth: c.auth })
    } catch (e) {
      this.ctx.log.error('bfd-session-failed', { peer: s.key, error: (e as Error).message })
    }
  }

  /**
   * BFD with a neighbour from a listen range ([bgp] bfd*), started with its
   * session; a neighbour gone before the BFD service was up gets none, one
   * gone while it was being added has it removed again.
   */
  private addDynamicBfd(session: PeerSession): void {
    const current = (): boolean => this.sessions.get(session.key) === session
    void (async () => {
      if (!(await this.ensureBfd()) || !current()) return
      await this.addBfd(session)
      if (!current()) await this.removeBfd(session.key)
    })().catch((e: unknown) => this.ctx.log.error('bfd-session-failed', { peer: session.key, error: e instanceof Error ? e.message : String(e) }))
  }

  private async removeBfd(peer: string): Promise<void> {
    const key = bfdKey(peer)
    if (!this.bfdSessions.delete(key) || !this.bfd) return
    this.bfdStatus.delete(key)
    await this.bfd.remove(key).catch(() => undefined)
  }

  private async refreshBfdStatus(): Promise<void> {
    const port = this.bfd
    if (!port) return
    try {
      const st = await port.status()
      this.bfdStatus = new Map(st.sessions.filter((x) => this.bfdSessions.has(x.key)).map((x) => [x.key, x]))
    } catch {
      // the service is closing: keep the last figures
    }
  }

  private bfdEvent(key: string, up: boolean, diag = 0, remote: BfdStateName = 'Down'): void {
    if (!this.bfdSessions.has(key)) return
    const s = this.sessions.get(key.slice('bgp/'.length))
    if (!s) return
    if (up) {
      this.ctx.log.info('bfd-up', { peer: s.key, note: s.state === 'Established' ? 'session Established' : 'connecting now' })
      s.guard('bfd-up', () => s.bfdUp())
      return
    }
    this.bfdDown(s, diag, remote)
  }

  private bfdDown(s: PeerSession, diag: number, remote: BfdStateName): void {
    // RFC 5882 3.2: the neighbour going AdminDown (its agent stopping, `fabric leave`, a reflector
    // closing a dynamic neighbour's session) is no failure of its forwarding: graceful restart
    // decides, not BFD. Decided on the state that caused the down: a status read later may show
    // the neighbour's next session already (Down, Init), which is no failure either.
    if (diag === Diag.NeighborSignaledDown && remote === 'AdminDown') {
      this.ctx.log.info('bfd-admin-down', { peer: s.key, note: 'the neighbour stopped BFD (AdminDown): not a failure (RFC 5882 3.2)' })
      return
    }
    if (this.sessions.get(s.key) !== s) return
    this.ctx.log.warn('bfd-down', { peer: s.key, diag: DIAG_TEXT[diag] ?? String(diag), note: 'session reset, routes withdrawn (no graceful restart)' })
    s.guard('bfd-down', () => s.bfdDown(DIAG_TEXT[diag] ?? `diag ${diag}`))
  }

  private bfdDetails(s: PeerSession): PeerBfdDetails | null {
    if (!s.spec.bfd?.enabled) return null
    return peerBfdDetails(this.bfdStatus.get(bfdKey(s.key)))
  }

  // ------------------------------------------------------------------ graceful restart (restarting side)

  /** Restarting: every configured peer has sent End-of-RIB (or is restarting itself / has no graceful restart). */
  private deferralDone(): boolean {
    for (const s of this.sessions.values()) {
      if (s.spec.dynamic) continue
      if (!s.rib) return false
      if (s.rib.eor) continue
      // RFC 4724 4.1: peers that restart too (R bit) or that do not have the capability are not waited for
      if (!s.peerGr || s.peerGr.restarting) continue
      return false
    }
    return true
  }

  /** Restarting: Established peers whose End-of-RIB has not come (also those the deferral did not wait for). */
  private endOfRibPending(): string[] {
    const pending: string[] = []
    for (const s of this.sessions.values()) if (s.rib && !s.rib.eor) pending.push(s.key)
    return pending
  }

  private endDeferral(why: string): void {
    if (!this.speaker.isDeferring) return
    this.speaker.endDeferral()
    const pending = this.endOfRibPending()
    this.ctx.log.info('bgp-deferral-ended', {
      reason: why,
      ...(pending.length > 0 && !this.deferralExpired ? { waitingForEndOfRib: pending } : {}),
      note: pending.length > 0 && !this.deferralExpired
        ? 'table and End-of-RIB sent to every peer; stale routes stay until End-of-RIB from the peers still sending their table (restarting themselves: R bit)'
        : 'table and End-of-RIB sent to every peer; stale routes may be removed',
    })
    this.checkReady()
  }

  /**
   * The IPv6 side on a dual-stack host (SelfInfo.subnet6 set, the agent hands
   * over its IPv6 RIB): next hops self.address6 and the underlay interface's
   * link-local address (from the agent's interface dump). Undefined on an
   * IPv4-only host: the speaker is as before, its OPEN unchanged.
   */
  private ipv6Options(sink6: RouteSink6 | undefined): SpeakerIpv6Options | undefined {
    const { self, log } = this.ctx
    if (self.subnet6 === undefined || self.address6 === undefined || self.underlay6 === undefined || self.pool6 === undefined) return undefined
    if (!sink6) {
      log.warn('bgp-ipv6-unavailable', { note: 'subnet6 is set but the agent gave BGP no IPv6 RIB: IPv6 unicast is not negotiated' })
      return undefined
    }
    const iface = this.ctx.interfaces?.find((i) => i.name === self.interface)
    const linkLocal = iface?.addresses6?.find((a) => a.scope === 'link')?.address
    if (linkLocal === undefined) {
      log.info('bgp-ipv6-no-link-local', { interface: self.interface, note: 'no link-local address known on the underlay interface: IPv6 next hops are announced as the global address alone (16 octets)' })
    }
    const underlay = self.underlay
    const underlay6 = self.underlay6
    return {
      address6: self.address6, ...(linkLocal !== undefined ? { linkLocal } : {}), interface: self.interface,
      ...(this.ctx.listenOnly ? {} : { ownSubnet6: self.subnet6 }),
      policy: this.importPolicy6(this.bgp),
      nextHop: { underlay: self.underlay6, self: [self.address6, ...(linkLocal !== undefined ? [linkLocal] : [])], pools: [self.pool6] },
      sink6,
      // a session over the underlay link (the peer's address on our underlay network): RFC 2545's link-local next hop applies
      onLink: (peer) => (peer.address6 !== undefined ? containsAddress6(underlay6, peer.address6) : containsAddress(underlay, peer.address)),
    }
  }

  private importPolicy6(b: BgpConfig): ImportPolicy6 {
    const { self } = this.ctx
    return createImportPolicy6({
      pool6: self.pool6!, allow6: b.allow6, ownSubnet6: this.ctx.listenOnly ? undefined : self.subnet6, maxPrefixLength6: b.maxPrefixLength6,
    })
  }

  private importPolicy(b: BgpConfig): ImportPolicy {
    const { config, self } = this.ctx
    // listening only: no own subnet to protect (0.0.0.0/32 contains nothing in any pool)
    return createImportPolicy({ pool: config.pool, allow: b.allow, ownSubnet: this.ctx.listenOnly ? { addr: 0, len: 32 } : self.subnet, maxPrefixLength: b.maxPrefixLength,
      networks: { pools: config.networks.map((n) => n.pool), ownSubnets: this.ctx.listenOnly ? [] : extraSubnets(self) } })
  }

  /** IPv6 peers: only a dual-stack host has sessions over IPv6 (from its address6). */
  private usableSpecs(specs: PeerSpec[]): PeerSpec[] {
    return specs.filter((p) => {
      if (p.address6 === undefined || this.ipv6) return true
      this.ctx.log.error('bgp-peer6-unavailable', { peer: p.address6, configured: p.origin, note: 'an IPv6 peer needs a dual-stack host (address6, subnet6, pool6): no session' })
      return false
    })
  }

  /** The IPv6 listener for IPv6 peers (IPv6 only: the IPv4 listener stays as it was). */
  private listen6(): Promise<void> {
    const server = createServer((s) => this.onIncoming(s))
    this.server6 = server
    return new Promise((resolve) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        this.ctx.log.error('bgp-listen-failed', { port: this.bgp.port, family: 6, error: `${e.code ?? e.message}`, note: 'only outgoing sessions to IPv6 peers will be made' })
        this.server6 = undefined
        resolve()
      })
      server.listen({ port: this.listenPort() ?? this.bgp.port, host: this.options.listenHost6 ?? '::', ipv6Only: true }, () => {
        server.on('error', (e) => this.ctx.log.error('bgp-listen-error', { family: 6, error: e.message }))
        resolve()
      })
    })
  }

  private listen(): Promise<void> {
    const server = createServer((s) => this.onIncoming(s))
    this.server = server
    return new Promise((resolve) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        // not fatal: outgoing sessions still work; reported in status and the log
        this.listenError = `${e.code ?? e.message}`
        this.ctx.log.error('bgp-listen-failed', { port: this.bgp.port, error: this.listenError, note: 'only outgoing sessions will be made' })
        this.server = undefined
        resolve()
      })
      server.listen({ port: this.bgp.port, host: this.options.listenHost ?? '0.0.0.0' }, () => {
        server.on('error', (e) => this.ctx.log.error('bgp-listen-error', { error: e.message }))
        resolve()
      })
    })
  }

  /** Port actually listened on (tests listen on port 0). */
  listenPort(): number | undefined {
    const a = this.server?.address()
    return a && typeof a === 'object' ? a.port : undefined
  }

  private onIncoming(s: Socket): void {
    s.on('error', () => undefined)
    this.accepted.add(s)
    s.once('close', () => this.accepted.delete(s))
    try {
      const text = (s.remoteAddress ?? '').replace(/^::ffff:/, '')
      if (text.includes(':')) {
        // IPv6: configured IPv6 peers only (listen ranges are IPv4)
        const t6 = canonicalAddress6(text)
        const session6 = t6.ok ? this.sessions.get(t6.value) : undefined
        if (!session6 || session6.spec.address6 === undefined) {
          this.refuseStranger(s, text, 'not a configured IPv6 peer')
          return
        }
        if (this.refusedOverPreOpen(s, text)) return
        session6.accept(s)
        return
      }
      const a = parseAddress(text)
      if (!a.ok) {
        s.destroy()
        return
      }
      let session = this.sessions.get(formatAddress(a.value))
      if (!session) {
        const range = this.bgp.listenRanges.find((r) => containsAddress(r, a.value))
        if (!range || a.value === this.ctx.self.address) {
          this.refuseStranger(s, text, 'not a configured peer nor inside a listen range')
          return
        }
      }
      if (this.refusedOverPreOpen(s, text)) return
      if (!session) {
        const range = this.bgp.listenRanges.find((r) => containsAddress(r, a.value))!
        const asn = this.bgp.listenRangeAsn ?? this.bgp.asn
        session = this.addSession({
          name: text, address: a.value, acceptAs: (n) => n === asn, passive: true, rrClient: false,
          maxPrefixes: this.bgp.maxPrefixes, dynamic: true, origin: `listen-range ${formatPrefix(range)}`, bfd: this.bgp.bfd,
        })
        if (this.bgp.bfd.enabled) this.addDynamicBfd(session)
        // debug (no rate limiter to feed per neighbour): its session-up line (info) names the range too
        this.ctx.log.debug('bgp-dynamic-peer', { peer: text, range: formatPrefix(range), asn })
      }
      session.accept(s)
    } catch (e) {
      this.ctx.log.limited('error', 'bgp-internal-error', 'accept', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) })
      s.destroy()
    }
  }

  /** A connection from an address that is no peer of ours: closed at once, counted, logged (rate-limited). */
  private refuseStranger(s: Socket, from: string, note: string): void {
    this.rejected++
    bump(this.drops.connections, 'not-a-peer')
    this.ctx.log.limited('warn', 'bgp-connection-refused', from, { from, note })
    s.destroy()
  }

  /** True when the connection was refused (Cease/Connection Rejected) for too many connections without OPEN. */
  private refusedOverPreOpen(s: Socket, from: string): boolean {
    if (this.preOpenRoom()) return false
    this.rejected++
    bump(this.drops.connections, 'pre-open-total')
    this.ctx.log.limited('warn', 'bgp-pre-open-limit', 'total', { from, limit: this.options.maxPreOpen ?? PRE_OPEN_TOTAL, note: 'too many connections without OPEN: refused (Cease/Connection Rejected)' })
    closeWithCease(s, CeaseSubcode.CONNECTION_REJECTED)
    return true
  }

  /** Whether one more unauthenticated connection may be held. */
  private preOpenRoom(): boolean {
    return this.shared.preOpen < (this.options.maxPreOpen ?? PRE_OPEN_TOTAL)
  }

  private addSession(spec: PeerSpec): PeerSession {
    const key = peerKey(spec)
    // one object layout for every session's options (absent ones undefined, no spreads)
    const session = new PeerSession(spec, {
      localAs: this.bgp.asn, routerId: this.routerId, localAddress: this.ctx.self.address, port: this.bgp.port,
      localAddress6: this.ctx.self.address6,
      holdTime: this.bgp.holdTime, keepaliveTime: this.bgp.keepaliveTime, connectRetryTime: this.bgp.connectRetryTime,
      gracefulRestartTime: this.bgp.gracefulRestartTime, ipv6: this.ipv6, speaker: this.speaker, log: this.ctx.log, clock: this.clock,
      restarting: this.restartingNow, stalePathTime: this.bgp.gracefulRestartStalepathTime,
      grTimers: this.options.grTimers,
      onChange: () => this.onSessionChange(key), drops: this.drops, readBuffer: this.readBuffer, shared: this.shared,
      preOpenTimeout: this.options.preOpenTimeout,
    })
    this.sessions.set(key, session)
    if (!spec.dynamic) this.configuredSessions.add(session)
    session.start()
    return session
  }

  private onSessionChange(address: string): void {
    const s = this.sessions.get(address)
    // a dynamic neighbour disappears with its last connection
    if (s?.isIdleDynamic) {
      setImmediate(() => s.guard('dynamic-peer-gone', () => {
        if (s.isIdleDynamic && this.sessions.get(address) === s) {
          this.sessions.delete(address)
          void this.removeBfd(address)
        }
      }))
    }
    this.checkReady()
  }

  private checkReady(): void {
    if (this.speaker?.isDeferring) {
      if (!this.deferralDone()) return
      this.endDeferral('End-of-RIB from every peer')
      return
    }
    if (this.isReady) return
    if (this.restarting) {
      // the deferral is over (End-of-RIB from every peer it waits for, or its timer); the kernel
      // routes adopted from before the restart go only once every Established peer has sent its
      // table: a peer with the R bit was not waited for (RFC 4724 4.1: no deadlock) but is still
      // sending (FRR sets R for its restart time after it starts), or the deferral time is over
      if (!this.deferralExpired && this.endOfRibPending().length > 0) return
      if (this.deferralTimer) clearTimeout(this.deferralTimer)
      this.deferralTimer = undefined
      this.isReady = true
      this.ctx.log.info('bgp-ready', { note: 'graceful restart: deferral over' })
      this.ctx.onReady()
      return
    }
    // the configured sessions first (a reflector with a thousand dynamic ones looks at none of
    // them on every session change until the grace time is over)
    let configured = 0
    let done = 0
    let establishedPending = 0
    for (const s of this.configuredSessions) {
      configured++
      if (s.rib?.eor) done++
      else if (s.rib) establishedPending++
    }
    const all = configured > 0 && done === configured
    if (!all && !this.graceOver) return
    if (!all) for (const s of this.sessions.values()) if (s.spec.dynamic && s.rib && !s.rib.eor) establishedPending++
    if (all || (this.graceOver && establishedPending === 0)) {
      this.isReady = true
      this.ctx.log.info('bgp-ready', { peers: configured, endOfRib: done, note: all ? 'End-of-RIB from every configured peer' : 'grace time over' })
      this.ctx.onReady()
    }
  }

  ready(): boolean {
    return this.isReady
  }

  /**
   * SIGTERM: a restart, as far as BGP is concerned (graceful restart: the
   * kernel keeps our routes, the peers keep them stale for the restart time).
   * The marker tells the next start it restarts.
   */
  async stop(): Promise<void> {
    const graceful = this.bgp.gracefulRestartTime > 0 && !this.leaving && !this.ctx.listenOnly
    if (graceful) {
      try {
        writeRestartMarker(this.ctx.stateDir, this.bgp.gracefulRestartTime)
      } catch (e) {
        this.ctx.log.warn('bgp-restart-marker-failed', { error: (e as Error).message, note: 'the next start will not set the R bit' })
      }
    }
    await this.shutdown(graceful ? 'fabric agent restarting' : 'fabric agent stopping', graceful ? 'restart' : 'shutdown')
  }

  private async shutdown(message: string, how: 'shutdown' | 'restart' = 'shutdown'): Promise<void> {
    this.stopped = true
    if (this.graceTimer) clearTimeout(this.graceTimer)
    if (this.deferralTimer) clearTimeout(this.deferralTimer)
    if (this.bfdTimer) clearInterval(this.bfdTimer)
    this.bfdTimer = undefined
    if (this.bfd) {
      this.bfd.off('up', this.onBfdUp as (...a: never[]) => void)
      this.bfd.off('down', this.onBfdDown as (...a: never[]) => void)
    }
    for (const s of this.sessions.values()) s.stop(message, how)
    const server = this.server
    const server6 = this.server6
    this.server = undefined
    this.server6 = undefined
    const closed = Promise.all([server, server6].map((x) => (x ? new Promise<void>((r) => x.close(() => r())) : Promise.resolve())))
    // let the NOTIFICATIONs reach the peers before the process exits
    const end = Date.now() + 1000
    while (Date.now() < end && [...this.sessions.values()].some((s) => s.openSockets() > 0)) await new Promise((r) => setTimeout(r, 20))
    // a peer that never closes its side must not keep the server open
    for (const s of this.accepted) s.destroy()
    await closed
  }

  /** `fabric leave`: withdraw our subnet, then close every session with an RFC 9003 message. */
  async leave(): Promise<void> {
    this.leaving = true
    try {
      removeRestartMarker(this.ctx.stateDir)
    } catch {
      // nothing to remove
    }
    this.speaker.withdrawLocal()
    await new Promise((r) => setTimeout(r, 100))
    await this.shutdown(`host ${this.ctx.self.name} is leaving the fabric`)
  }

  async reload(config: FabricConfig): Promise<string> {
    const next = config.bgp
    const fixed: string[] = []
    for (const k of ['asn', 'routerId', 'port', 'listen', 'routeReflector', 'clusterId', 'holdTime'] as const) {
      if (JSON.stringify(next[k]) !== JSON.stringify(this.bgp[k])) fixed.push(k)
    }
    const wanted = new Map(this.usableSpecs(peerSpecs(config, this.ctx.self.name, this.ctx.self.address)).map((p) => [peerKey(p), p]))
    const added: string[] = []
    const removed: string[] = []
    for (const [addr, s] of [...this.sessions]) {
      if (s.spec.dynamic) continue
      const w = wanted.get(addr)
      if (!w || w.asn !== s.spec.asn || w.passive !== s.spec.passive || w.rrClient !== s.spec.rrClient || w.maxPrefixes !== s.spec.maxPrefixes ||
          JSON.stringify(w.bfd ?? null) !== JSON.stringify(s.spec.bfd ?? null)) {
        s.cease(CeaseSubcode.PEER_DECONFIGURED, 'peer removed or changed in the configuration')
        this.sessions.delete(addr)
        this.configuredSessions.delete(s)
        await this.removeBfd(addr)
        removed.push(addr)
      }
    }
    // what needs a restart stays as it was, so what is reported is what is applied
    const old = this.bgp
    this.bgp = {
      ...next, asn: old.asn, routerId: old.routerId, port: old.port, listen: old.listen,
      routeReflector: old.routeReflector, clusterId: old.clusterId, holdTime: old.holdTime,
    }
    // import policy (allow list, max prefix length): re-evaluated now against the
    // Adj-RIB-In; what the old policy refused is asked for again (ROUTE-REFRESH)
    const policyChanged = JSON.stringify([next.allow, next.maxPrefixLength]) !== JSON.stringify([old.allow, old.maxPrefixLength])
    const policy6Changed = this.ipv6 && JSON.stringify([next.allow6, next.maxPrefixLength6]) !== JSON.stringify([old.allow6, old.maxPrefixLength6])
    let policyNote = ''
    if (policy6Changed) {
      const withdrawn = this.speaker.setPolicy6(this.importPolicy6(this.bgp))
      const refreshed: string[] = []
      for (const s of this.sessions.values()) if (s.rib?.peer.ipv6 && s.requestRouteRefresh(AFI_IPV6)) refreshed.push(s.key)
      policyNote = `IPv6 import policy re-applied: ${withdrawn} prefixes withdrawn, route refresh asked of ${refreshed.length} peers`
    }
    if (policyChanged) {
      const withdrawn = this.speaker.setPolicy(this.importPolicy(this.bgp))
      const refreshed: string[] = []
      const noRefresh: string[] = []
      for (const s of this.sessions.values()) {
        if (!s.rib) continue
        if (s.requestRouteRefresh()) refreshed.push(s.key)
        else noRefresh.push(s.key)
      }
      policyNote = `${policyNote ? `${policyNote}; ` : ''}import policy re-applied: ${withdrawn} prefixes withdrawn, route refresh asked of ${refreshed.length} peers`
      if (noRefresh.length > 0) policyNote += ` (without route refresh, newly allowed prefixes come with their next announcement: ${noRefresh.join(', ')})`
    }
    for (const [addr, w] of wanted) {
      if (this.sessions.has(addr)) continue
      // the first IPv6 peer: the IPv6 listener starts now
      if (w.address6 !== undefined && this.bgp.listen && !this.server6 && this.server) await this.listen6()
      const s = this.addSession(w)
      added.push(addr)
      if (w.bfd?.enabled) {
        try {
          this.loadKeys(w.bfd)
        } catch (e) {
          this.ctx.log.error('bfd-session-failed', { peer: s.key, error: (e as Error).message })
          continue
        }
        if (await this.ensureBfd()) await this.addBfd(s)
      }
    }
    const parts = [`bgp peers added: ${added.join(', ') || 'none'}`, `removed: ${removed.join(', ') || 'none'}`]
    if (policyNote) parts.push(policyNote)
    if (fixed.length > 0) parts.push(`not applied until restart: ${fixed.join(', ')}`)
    return parts.join('; ')
  }

  subnetConflicts(): { peer: string; prefix: Prefix }[] {
    return this.speaker ? this.speaker.subnetConflicts() : []
  }

  /** Peers announcing this host's subnet6 now (refused, logged as bgp-subnet-conflict6). */
  subnetConflicts6(): { peer: string; prefix: Prefix6 }[] {
    return this.speaker ? this.speaker.subnetConflicts6() : []
  }

  peers(): PeerStatus[] {
    const out: PeerStatus[] = []
    for (const s of this.sessions.values()) {
      const n = s.negotiated
      const rib = s.rib
      const lastError = s.lastNotification && s.lastError && !s.lastError.includes(s.lastNotification.replace(/^(sent|received) /, ''))
        ? `${s.lastError} (last NOTIFICATION ${s.lastNotification})`
        : (s.lastError ?? s.lastNotification)
      out.push({
        peer: s.spec.name,
        address: s.key,
        ...(n ? { asn: n.peerAs } : s.spec.asn !== undefined ? { asn: s.spec.asn } : {}),
        state: s.state,
        since: s.since,
        ...(rib ? { received: rib.received, accepted: rib.accepted, sent: rib.sent } : {}),
        ...(lastError ? { lastError } : {}),
        details: {
          type: n ? (n.ibgp ? 'ibgp' : 'ebgp') : (s.spec.asn === this.bgp.asn ? 'ibgp' : s.spec.asn === undefined ? 'dynamic' : 'ebgp'),
          configured: s.spec.origin,
          passive: s.spec.passive,
          dynamic: s.spec.dynamic,
          // the applied value: what the speaker reflects by (route-reflector is fixed until restart)
          rrClient: rib ? this.speaker.isClient(rib) : s.spec.rrClient || (this.speaker.routeReflector && s.spec.asn === this.bgp.asn),
          maxPrefixes: s.spec.maxPrefixes,
          flaps: s.flaps,
          messageErrors: s.decodeErrors,
          ...(s.lastNotification ? { lastNotification: s.lastNotification } : {}),
          ...(n ? {
            routerId: formatAddress(n.peerId), holdTime: n.holdTime, keepaliveTime: n.keepaliveMs / 1000, as4: n.as4,
            routeRefresh: n.routeRefresh,
            capabilities: negotiatedCapabilities(n),
          } : {}),
          gracefulRestart: {
            local: { advertised: this.bgp.gracefulRestartTime > 0, restartTime: this.bgp.gracefulRestartTime },
            peer: s.peerGr ? { advertised: true, restartTime: s.peerGr.restartTime, forwarding: s.peerGr.forwarding, notification: s.peerGr.notification } : null,
            state: s.helper.state,
            stale: s.staleRoutes,
            secondsLeft: s.helper.secondsLeft(),
            helped: s.helper.helped,
          },
          bfd: this.bfdDetails(s),
          ...(rib ? { endOfRib: rib.eor, filtered: rib.filtered, updatesIn: rib.updatesIn, updatesOut: rib.updatesOut, attributeErrors: rib.attributeErrors } : {}),
          // IPv6 unicast counters when the session negotiated it (endOfRib above: every negotiated family)
          ...(rib && this.speaker.v6?.peerView(rib) ? { ipv6: this.speaker.v6.peerView(rib) } : {}),
        },
      })
    }
    return out
  }

  private counters(filtered: Record<string, number>, updatesIn: number, updatesOut: number, filtered6: Record<string, number> = {}): Record<string, number> {
    const out: Record<string, number> = { 'rx-messages': updatesIn, 'tx-messages': updatesOut }
    for (const [k, v] of Object.entries(this.drops.messages)) out[`drop-packet:${k}`] = v
    for (const [k, v] of Object.entries(filtered)) out[`drop-route:${k}`] = v
    // IPv6 refusals under their own reasons (metrics: fabric_routes_rejected_total{reason="ipv6-..."})
    for (const [k, v] of Object.entries(filtered6)) out[`drop-route:ipv6-${k}`] = v
    for (const [k, v] of Object.entries(this.drops.connections)) out[`drop-connection:${k}`] = v
    return out
  }

  /** graceful restart counters, all peers together */
  private grStats(): Record<string, unknown> {
    let helped = 0
    let swept = 0
    let helping = 0
    let stale = 0
    const ended: Partial<Record<HelperEndReason, number>> = {}
    const notHelped: Partial<Record<HelperEndReason, number>> = {}
    for (const s of this.sessions.values()) {
      helped += s.helper.helped
      swept += s.helper.swept
      if (s.helper.active) helping++
      stale += s.staleRoutes
      for (const [k, v] of Object.entries(s.helper.ended) as [HelperEndReason, number][]) ended[k] = (ended[k] ?? 0) + v
      for (const [k, v] of Object.entries(s.notHelped) as [HelperEndReason, number][]) notHelped[k] = (notHelped[k] ?? 0) + v
    }
    return { restarting: this.speaker?.isDeferring ?? false, helping, staleRoutes: stale, restartsHelped: helped, staleSwept: swept, helperEnded: ended, notHelped }
  }

  stats(): Record<string, unknown> {
    const st = this.speaker?.stats()
    let established = 0
    for (const s of this.sessions.values()) if (s.state === 'Established') established++
    return {
      asn: this.bgp.asn, routerId: formatAddress(this.routerId), sessions: this.sessions.size, established,
      prefixes: st?.prefixes ?? 0, paths: st?.paths ?? 0, updatesIn: st?.updatesIn ?? 0, updatesOut: st?.updatesOut ?? 0,
      filtered: st?.filtered ?? {}, refusedConnections: this.rejected, ...(this.listenError ? { listenError: this.listenError } : {}),
      ...(st?.filtered6 ? { prefixes6: st.prefixes6 ?? 0, filtered6: st.filtered6 } : {}),
      gracefulRestart: this.grStats(),
      // every drop by reason: prefixes/paths (import), messages (decode errors), connections
      drops: {
        prefixes: { ...(st?.filtered ?? {}) },
        ...(st?.filtered6 ? { prefixes6: { ...st.filtered6 } } : {}),
        messages: { ...this.drops.messages },
        connections: { ...this.drops.connections },
        internalErrors: [...this.sessions.values()].reduce((n, x) => n + x.internalErrors, 0),
      },
      // the agent's common counter names (metrics, fabric status): drop-packet:<reason> for
      // refused messages, drop-route:<reason> for refused prefixes, drop-connection:<reason>
      counters: this.counters(st?.filtered ?? {}, st?.updatesIn ?? 0, st?.updatesOut ?? 0, st?.filtered6 ?? {}),
    }
  }
}

export const createSource: CreateSource = (ctx) => new BgpSource(ctx)
