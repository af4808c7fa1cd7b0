/**
 * Mode bgp's route source: a BGP-4 speaker announcing this host's subnet and
 * feeding what its peers announce into the RIB. Peers: [peer.NAME] sections,
 * --peer flags, every other [host.*] (iBGP full mesh) and, with listen
 * ranges, any neighbour that connects from inside one.
 */
import { type Server, type Socket, createServer } from 'node:net'
import type { FabricConfig } from '../../config/fabric-config.js'
import type { BgpConfig } from '../../config/bgp-config.js'
import { extraSubnets } from '../../core/self.js'
import { type Prefix, containsAddress, formatAddress, formatPrefix, parseAddress } from '../../net/ipv4.js'
import type { CreateSource, PeerStatus, RouteSink, RouteSource, SourceContext } from '../../rib/source.js'
import { negotiatedCapabilities } from './capabilities.js'
import { CeaseSubcode } from './codec/constants.js'
import type { Clock } from './fsm.js'
import { type ImportPolicy, createImportPolicy } from './policy.js'
import { type PeerSpec, PeerSession, type SessionDrops, bump, closeWithCease } from './session.js'
import { Speaker } from './speaker.js'

export interface BgpSourceOptions {
  /** address to listen on (default all IPv4 addresses of the namespace) */
  readonly listenHost?: string
  readonly clock?: Clock
  /** seconds an accepted connection has to send a valid OPEN (default PRE_OPEN_TIMEOUT_S) */
  readonly preOpenTimeout?: number
  /** accepted connections without a valid OPEN, all peers together (default PRE_OPEN_TOTAL) */
  readonly maxPreOpen?: number
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
      maxPrefixes: p.maxPrefixes ?? b.maxPrefixes, dynamic: false, origin: p.where,
    })
  }
  for (const h of config.hosts) {
    if (h.name === selfName || seen.has(h.address)) continue
    seen.add(h.address)
    out.push({ name: h.name, address: h.address, asn: b.asn, passive: false, rrClient: false, maxPrefixes: b.maxPrefixes, dynamic: false, origin: `[host.${h.name}]` })
  }
  return out
}

export class BgpSource implements RouteSource {
  readonly kind = 'bgp' as const
  private speaker!: Speaker
  private readonly sessions = new Map<number, PeerSession>()
  private server: Server | undefined
  private isReady = false
  private graceOver = false
  private graceTimer: NodeJS.Timeout | undefined
  private bgp: BgpConfig
  private readonly routerId: number
  private readonly clock: Clock
  private rejected = 0
  private listenError: string | undefined
  private readonly drops: SessionDrops = { messages: {}, connections: {} }
  /** accepted sockets not closed yet: stop() closes what a peer leaves half-open */
  private readonly accepted = new Set<Socket>()

  constructor(private readonly ctx: SourceContext, private readonly options: BgpSourceOptions = {}) {
    this.bgp = ctx.config.bgp
    this.routerId = (this.bgp.routerId ?? ctx.self.address) >>> 0
    this.clock = options.clock ?? monotonic
  }

  async start(sink: RouteSink): Promise<void> {
    const { config, self, log } = this.ctx
    const b = this.bgp
    this.speaker = new Speaker({
      asn: b.asn, routerId: this.routerId, clusterId: b.clusterId, routeReflector: b.routeReflector,
      localAddress: self.address, ownSubnet: this.ctx.listenOnly ? undefined : self.subnet,
      ownNetworks: this.ctx.listenOnly ? undefined : extraSubnets(self),
      // listening only: no own subnet to protect (0.0.0.0/32 contains nothing in any pool)
      policy: this.importPolicy(b),
      nextHop: { underlay: self.underlay, self: self.address, pools: [config.pool, ...config.networks.map((n) => n.pool)] },
      sink, log,
      onEndOfRib: () => this.checkReady(),
    })
    if (b.listen) await this.listen()
    for (const spec of peerSpecs(config, self.name, self.address)) this.addSession(spec)
    log.info('bgp-started', {
      asn: b.asn, routerId: formatAddress(this.routerId), peers: this.sessions.size, listen: b.listen ? `${this.options.listenHost ?? '0.0.0.0'}:${b.port}` : 'no',
      listenRanges: b.listenRanges.map(formatPrefix), routeReflector: b.routeReflector, announce: this.ctx.listenOnly ? 'nothing (listening only)' : [self.subnet, ...extraSubnets(self)].map(formatPrefix).join(' '),
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
  }

  private importPolicy(b: BgpConfig): ImportPolicy {
    const { config, self } = this.ctx
    // listening only: no own subnet to protect (0.0.0.0/32 contains nothing in any pool)
    return createImportPolicy({ pool: config.pool, allow: b.allow, ownSubnet: this.ctx.listenOnly ? { addr: 0, len: 32 } : self.subnet, maxPrefixLength: b.maxPrefixLength,
      networks: { pools: config.networks.map((n) => n.pool), ownSubnets: this.ctx.listenOnly ? [] : extraSubnets(self) } })
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
      const a = parseAddress(text)
      if (!a.ok) {
        s.destroy()
        return
      }
      let session = this.sessions.get(a.value)
      if (!session) {
        const range = this.bgp.listenRanges.find((r) => containsAddress(r, a.value))
        if (!range || a.value === this.ctx.self.address) {
          this.rejected++
          bump(this.drops.connections, 'not-a-peer')
          this.ctx.log.limited('warn', 'bgp-connection-refused', text, { from: text, note: 'not a configured peer nor inside a listen range' })
          s.destroy()
          return
        }
      }
      if (!this.preOpenRoom()) {
        this.rejected++
        bump(this.drops.connections, 'pre-open-total')
        this.ctx.log.limited('warn', 'bgp-pre-open-limit', 'total', { from: text, limit: this.options.maxPreOpen ?? PRE_OPEN_TOTAL, note: 'too many connections without OPEN: refused (Cease/Connection Rejected)' })
        closeWithCease(s, CeaseSubcode.CONNECTION_REJECTED)
        return
      }
      if (!session) {
        const range = this.bgp.listenRanges.find((r) => containsAddress(r, a.value))!
        const asn = this.bgp.listenRangeAsn ?? this.bgp.asn
        session = this.addSession({
          name: text, address: a.value, acceptAs: (n) => n === asn, passive: true, rrClient: false,
          maxPrefixes: this.bgp.maxPrefixes, dynamic: true, origin: `listen-range ${formatPrefix(range)}`,
        })
        this.ctx.log.limited('info', 'bgp-dynamic-peer', text, { peer: text, range: formatPrefix(range), asn })
      }
      session.accept(s)
    } catch (e) {
      this.ctx.log.limited('error', 'bgp-internal-error', 'accept', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) })
      s.destroy()
    }
  }

  /** Whether one more unauthenticated connection may be held. */
  private preOpenRoom(): boolean {
    let n = 0
    for (const s of this.sessions.values()) n += s.preOpenCount()
    return n < (this.options.maxPreOpen ?? PRE_OPEN_TOTAL)
  }

  private addSession(spec: PeerSpec): PeerSession {
    const session = new PeerSession(spec, {
      localAs: this.bgp.asn, routerId: this.routerId, localAddress: this.ctx.self.address, port: this.bgp.port,
      holdTime: this.bgp.holdTime, keepaliveTime: this.bgp.keepaliveTime, connectRetryTime: this.bgp.connectRetryTime,
      gracefulRestartTime: this.bgp.gracefulRestartTime, speaker: this.speaker, log: this.ctx.log, clock: this.clock,
      onChange: () => this.onSessionChange(spec.address), drops: this.drops,
      ...(this.options.preOpenTimeout !== undefined ? { preOpenTimeout: this.options.preOpenTimeout } : {}),
    })
    this.sessions.set(spec.address, session)
    session.start()
    return session
  }

  private onSessionChange(address: number): void {
    const s = this.sessions.get(address)
    // a dynamic neighbour disappears with its last connection
    if (s && s.isIdleDynamic) {
      setImmediate(() => s.guard('dynamic-peer-gone', () => {
        if (s.isIdleDynamic && this.sessions.get(address) === s) this.sessions.delete(address)
      }))
    }
    this.checkReady()
  }

  private checkReady(): void {
    if (this.isReady) return
    let configured = 0
    let done = 0
    let establishedPending = 0
    for (const s of this.sessions.values()) {
      if (s.spec.dynamic) {
        if (s.rib && !s.rib.eor) establishedPending++
        continue
      }
      configured++
      if (s.rib?.eor) done++
      else if (s.rib) establishedPending++
    }
    const all = configured > 0 && done === configured
    if (all || (this.graceOver && establishedPending === 0)) {
      this.isReady = true
      this.ctx.log.info('bgp-ready', { peers: configured, endOfRib: done, note: all ? 'End-of-RIB from every configured peer' : 'grace time over' })
      this.ctx.onReady()
    }
  }

  ready(): boolean {
    return this.isReady
  }

  async stop(): Promise<void> {
    await this.shutdown('fabric agent stopping')
  }

  private async shutdown(message: string): Promise<void> {
    if (this.graceTimer) clearTimeout(this.graceTimer)
    for (const s of this.sessions.values()) s.stop(message)
    const server = this.server
    this.server = undefined
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve()
    // let the NOTIFICATIONs reach the peers before the process exits
    const end = Date.now() + 1000
    while (Date.now() < end && [...this.sessions.values()].some((s) => s.openSockets() > 0)) await new Promise((r) => setTimeout(r, 20))
    // a peer that never closes its side must not keep the server open
    for (const s of this.accepted) s.destroy()
    await closed
  }

  /** `fabric leave`: withdraw our subnet, then close every session with an RFC 9003 message. */
  async leave(): Promise<void> {
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
    const wanted = new Map(peerSpecs(config, this.ctx.self.name, this.ctx.self.address).map((p) => [p.address, p]))
    const added: string[] = []
    const removed: string[] = []
    for (const [addr, s] of [...this.sessions]) {
      if (s.spec.dynamic) continue
      const w = wanted.get(addr)
      if (!w || w.asn !== s.spec.asn || w.passive !== s.spec.passive || w.rrClient !== s.spec.rrClient || w.maxPrefixes !== s.spec.maxPrefixes) {
        s.cease(CeaseSubcode.PEER_DECONFIGURED, 'peer removed or changed in the configuration')
        this.sessions.delete(addr)
        removed.push(formatAddress(addr))
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
    let policyNote = ''
    if (policyChanged) {
      const withdrawn = this.speaker.setPolicy(this.importPolicy(this.bgp))
      const refreshed: string[] = []
      const noRefresh: string[] = []
      for (const s of this.sessions.values()) {
        if (!s.rib) continue
        if (s.requestRouteRefresh()) refreshed.push(s.key)
        else noRefresh.push(s.key)
      }
      policyNote = `import policy re-applied: ${withdrawn} prefixes withdrawn, route refresh asked of ${refreshed.length} peers`
      if (noRefresh.length > 0) policyNote += ` (without route refresh, newly allowed prefixes come with their next announcement: ${noRefresh.join(', ')})`
    }
    for (const [addr, w] of wanted) {
      if (this.sessions.has(addr)) continue
      this.addSession(w)
      added.push(formatAddress(addr))
    }
    const parts = [`bgp peers added: ${added.join(', ') || 'none'}`, `removed: ${removed.join(', ') || 'none'}`]
    if (policyNote) parts.push(policyNote)
    if (fixed.length > 0) parts.push(`not applied until restart: ${fixed.join(', ')}`)
    return parts.join('; ')
  }

  subnetConflicts(): { peer: string; prefix: Prefix }[] {
    return this.speaker ? this.speaker.subnetConflicts() : []
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
            routeRefresh: n.routeRefresh, gracefulRestart: n.gracefulRestart ? n.gracefulRestart.restartTime : false,
            capabilities: negotiatedCapabilities(n),
          } : {}),
          ...(rib ? { endOfRib: rib.eor, filtered: rib.filtered, updatesIn: rib.updatesIn, updatesOut: rib.updatesOut, attributeErrors: rib.attributeErrors } : {}),
        },
      })
    }
    return out
  }

  private counters(filtered: Record<string, number>, updatesIn: number, updatesOut: number): Record<string, number> {
    const out: Record<string, number> = { 'rx-messages': updatesIn, 'tx-messages': updatesOut }
    for (const [k, v] of Object.entries(this.drops.messages)) out[`drop-packet:${k}`] = v
    for (const [k, v] of Object.entries(filtered)) out[`drop-route:${k}`] = v
    for (const [k, v] of Object.entries(this.drops.connections)) out[`drop-connection:${k}`] = v
    return out
  }

  stats(): Record<string, unknown> {
    const st = this.speaker?.stats()
    let established = 0
    for (const s of this.sessions.values()) if (s.state === 'Established') established++
    return {
      asn: this.bgp.asn, routerId: formatAddress(this.routerId), sessions: this.sessions.size, established,
      prefixes: st?.prefixes ?? 0, paths: st?.paths ?? 0, updatesIn: st?.updatesIn ?? 0, updatesOut: st?.updatesOut ?? 0,
      filtered: st?.filtered ?? {}, refusedConnections: this.rejected, ...(this.listenError ? { listenError: this.listenError } : {}),
      // every drop by reason: prefixes/paths (import), messages (decode errors), connections
      drops: {
        prefixes: { ...(st?.filtered ?? {}) },
        messages: { ...this.drops.messages },
        connections: { ...this.drops.connections },
        internalErrors: [...this.sessions.values()].reduce((n, x) => n + x.internalErrors, 0),
      },
      // the agent's common counter names (metrics, fabric status): drop-packet:<reason> for
      // refused messages, drop-route:<reason> for refused prefixes, drop-connection:<reason>
      counters: this.counters(st?.filtered ?? {}, st?.updatesIn ?? 0, st?.updatesOut ?? 0),
    }
  }
}

export const createSource: CreateSource = (ctx) => new BgpSource(ctx)
