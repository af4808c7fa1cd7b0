/**
 * The BGP speaker's routing logic, without sockets or timers: Adj-RIB-In,
 * Loc-RIB (best path per RFC 4271 9.1), Adj-RIB-Out (computed), route
 * reflection (RFC 4456), import policy, per-peer prefix limits, End-of-RIB
 * (RFC 4724) and route refresh (RFC 2918).
 *
 * Memory is the design constraint (a million prefixes from one peer):
 * - every UPDATE's attributes become one shared `Path` (interned per peer,
 *   so equal attribute sets are one object) that also carries the display
 *   attributes the RIB shows;
 * - per prefix and peer there is exactly one object, the `Route` handed to
 *   the RIB, which is at the same time the Adj-RIB-In entry (its path is
 *   found through a symbol on its shared attrs);
 * - the Loc-RIB is the first route of each prefix's entry; the Adj-RIB-Out
 *   is not stored: what a peer was sent is export(peer, Loc-RIB best), so it
 *   is recomputed for route refresh, new peers and changes.
 * Only the Loc-RIB best of each prefix is emitted to the RIB (preference 0):
 * when the best changes, the new route is added before the old one is
 * withdrawn, so the kernel never loses the prefix in between.
 */
import type { Logger } from '../../core/log.js'
import { type Prefix, formatAddress } from '../../net/ipv4.js'
import { type NextHopScope, NEXT_HOP_PROBLEM_TEXT, nextHopProblem } from '../../net/next-hop.js'
import { PrefixMap } from '../../net/prefix-map.js'
import type { Route, RouteAttrs } from '../../rib/route.js'
import type { RouteSink } from '../../rib/source.js'
import { as2Attributes, asPathLength, encodeAttributes, normalizeAs4 } from './codec/attributes.js'
import { AFI_IPV4, AS_TRANS, AttrType, CeaseSubcode, HEADER_LENGTH, SAFI_UNICAST } from './codec/constants.js'
import { maxMessageLength } from './codec/message.js'
import type { AsPathSegment, CodecContext, PathAttribute, UpdateMessage } from './codec/types.js'
import { endOfRib, makeEndOfRib, packUpdates, packWithdrawals } from './codec/update.js'
import type { ImportPolicy, ImportRejection } from './policy.js'

/** Where a route's shared Path hides on its (shared) display attributes; JSON ignores symbols. */
export const PATH = Symbol('bgp-path')

export const DEFAULT_LOCAL_PREF = 100

/** An Established session, as the speaker sees it. */
export interface SpeakerPeer {
  /** Route.peer of routes learned from it: the peer address as text */
  readonly key: string
  readonly address: number
  /** negotiated peer AS */
  readonly asn: number
  readonly ibgp: boolean
  /** the peer's BGP identifier */
  readonly routerId: number
  /** we reflect routes to and from it as its route reflector */
  readonly rrClient: boolean
  readonly ctx: CodecContext
  readonly maxPrefixes: number
  /** sends UPDATEs (already packed) */
  send(messages: UpdateMessage[]): void
  /** closes the session with a Cease NOTIFICATION of this subcode (RFC 4486) */
  cease(subcode: number, reason: string): void
}

type Origin = 0 | 1 | 2

/** The attributes a path is exported with to one kind of peer, and their encoded length. */
export interface ExportedAttributes {
  readonly attributes: PathAttribute[]
  /** octets of the encoded path attributes */
  readonly length: number
}
const ORIGIN_NAMES = ['igp', 'egp', 'incomplete'] as const

interface DisplayAttrs extends RouteAttrs {
  [PATH]: Path
}

/** One set of path attributes, shared by every prefix announced with it. */
export class Path {
  refs = 0
  /** intern key (per peer) */
  key = ''
  readonly display: DisplayAttrs
  private exportCache: Map<string, ExportedAttributes> | undefined

  constructor(
    /** the peer it was learned from; undefined for our own subnet */
    readonly from: PeerRib | undefined,
    readonly nextHop: number,
    readonly origin: Origin,
    readonly segments: readonly AsPathSegment[],
    readonly med: number | undefined,
    readonly localPref: number,
    readonly originatorId: number | undefined,
    readonly clusterList: readonly number[],
    /** transitive attributes passed on unchanged: ATOMIC_AGGREGATE, AGGREGATOR, COMMUNITIES, unknown */
    readonly transitive: readonly PathAttribute[],
  ) {
    this.asPathLen = asPathLength(segments)
    const first = segments[0]
    this.neighborAs = first && first.type === 'sequence' && first.asns.length > 0 ? first.asns[0]! : 0
    this.ibgp = from ? from.peer.ibgp : false
    const flat: number[] = []
    for (const s of segments) for (const a of s.asns) flat.push(a)
    const display: DisplayAttrs = {
      asPath: flat, localPref, origin: ORIGIN_NAMES[origin], ibgp: this.ibgp,
      ...(med !== undefined ? { med } : {}),
      [PATH]: this,
    }
    this.display = display
  }

  readonly asPathLen: number
  /** first AS of the path (0 when empty: learned inside our AS) */
  readonly neighborAs: number
  readonly ibgp: boolean

  cached(key: string, make: () => ExportedAttributes): ExportedAttributes {
    this.exportCache ??= new Map()
    let v = this.exportCache.get(key)
    if (v === undefined) {
      v = make()
      this.exportCache.set(key, v)
    }
    return v
  }
}

/**
 * A route learned from a peer: the Adj-RIB-In entry and the RIB candidate in
 * one small object (address, length and the shared attributes); everything
 * else is read from the shared Path. It is its own `prefix`.
 */
export class BgpRoute implements Route {
  /** seconds since the epoch (a small integer to V8: no boxed number) */
  readonly since = Math.floor(Date.now() / 1000)
  constructor(readonly addr: number, readonly len: number, readonly attrs: DisplayAttrs) {}
  get prefix(): Prefix {
    return this
  }
  get nextHop(): number {
    return this.attrs[PATH].nextHop
  }
  get source(): 'bgp' {
    return 'bgp'
  }
  get peer(): string {
    return this.attrs[PATH].from?.peer.key ?? 'local'
  }
  get metric(): number {
    return this.attrs[PATH].med ?? 0
  }
  get preference(): number {
    return 0
  }
  toJSON(): Record<string, unknown> {
    return { prefix: { addr: this.addr, len: this.len }, nextHop: this.nextHop, source: 'bgp', peer: this.peer, metric: this.metric, preference: 0, attrs: this.attrs }
  }
}

export function pathOf(r: Route): Path {
  return (r.attrs as DisplayAttrs)[PATH]
}

/** Why a helper keeps a peer's routes (RouteAttrs.stale; graceful-restart.ts). */
export interface StaleMark {
  /** ms since the epoch: helper mode began */
  since: number
  reason: 'peer-restarting' | 'awaiting-end-of-rib'
  /** ms since the epoch: when the routes go unless the peer comes back / sends End-of-RIB */
  until: number
}

/**
 * The speaker's per-session state. In graceful restart helper mode (RFC
 * 4724 4.2) it outlives its session: the routes stay, their paths marked
 * stale, and the peer's next session resumes it (peerResume).
 */
export class PeerRib {
  up = true
  /** End-of-RIB received (IPv4 unicast) */
  eor = false
  /** NLRI received (cumulative) */
  received = 0
  /** prefixes currently accepted into the Adj-RIB-In */
  accepted = 0
  /** prefixes refused by policy or loop checks (cumulative) */
  filtered = 0
  /** paths found too long to send to this peer (each counted and logged once) */
  readonly unencodable = new WeakSet<Path>()
  /** prefixes currently advertised */
  sent = 0
  updatesIn = 0
  updatesOut = 0
  attributeErrors = 0
  overLimit = false
  /** this peer announces this host's own subnet (or a part of it): two hosts with one subnet */
  ownSubnetClaim: Prefix | undefined
  /** Adj-RIB-Out changes not sent yet: prefix -> path (announce) or null (withdraw) */
  readonly pending = new PrefixMap<Path | null>()
  /** the paths of the current session, interned by attributes */
  paths = new Map<string, Path>()
  /** helper mode: the paths of the previous session still in use; what End-of-RIB has not replaced is swept */
  stalePaths: Set<Path> | undefined

  /** the session's view; a resumed session (graceful restart) replaces it */
  constructor(public peer: SpeakerPeer) {}

  /** routes of the previous session not re-announced yet (0 outside helper mode) */
  get staleCount(): number {
    if (!this.stalePaths) return 0
    let n = 0
    for (const path of this.stalePaths) n += path.refs
    return n
  }
}

export type SpeakerLog = Pick<Logger, 'debug' | 'info' | 'warn' | 'error' | 'limited'>

export interface SpeakerOptions {
  readonly asn: number
  readonly routerId: number
  /** RFC 4456 cluster id (default: the router id) */
  readonly clusterId?: number
  /** every iBGP peer is a route-reflector client */
  readonly routeReflector: boolean
  /** NEXT_HOP of what we originate and of next-hop-self exports: the underlay address */
  readonly localAddress: number
  /** our subnet, announced to every peer (undefined: announce nothing) */
  readonly ownSubnet?: Prefix
  /** our subnets of the fabric networks ([network.NAME]), announced with ownSubnet */
  readonly ownNetworks?: readonly Prefix[]
  readonly policy: ImportPolicy
  /** which NEXT_HOPs are acceptable (net/next-hop.ts): the underlay, not the pool */
  readonly nextHop: NextHopScope
  readonly sink: RouteSink
  readonly log: SpeakerLog
  /** runs fn soon (default setImmediate); tests pass a manual scheduler */
  readonly schedule?: (fn: () => void) => void
  /** called when a peer's End-of-RIB arrives */
  readonly onEndOfRib?: (peer: PeerRib) => void
  /**
   * graceful restart, restarting side: send nothing to peers (no table, no
   * End-of-RIB) until endDeferral() (RFC 4724 4.1 selection deferral)
   */
  readonly deferring?: boolean
}

type Entry = Route | Route[]

/** RFC 4271 9.1.2.2 (and RFC 4456 9): negative when a is preferred over b. */
export function comparePaths(a: Path, b: Path): number {
  if (a.localPref !== b.localPref) return b.localPref - a.localPref
  if (a.asPathLen !== b.asPathLen) return a.asPathLen - b.asPathLen
  if (a.origin !== b.origin) return a.origin - b.origin
  // MED only between paths from the same neighbouring AS; absent MED is 0
  if (a.neighborAs === b.neighborAs && (a.med ?? 0) !== (b.med ?? 0)) return (a.med ?? 0) - (b.med ?? 0)
  if (a.ibgp !== b.ibgp) return a.ibgp ? 1 : -1
  const ida = (a.originatorId ?? a.from?.peer.routerId ?? 0) >>> 0
  const idb = (b.originatorId ?? b.from?.peer.routerId ?? 0) >>> 0
  if (ida !== idb) return ida - idb
  if (a.clusterList.length !== b.clusterList.length) return a.clusterList.length - b.clusterList.length
  return (a.from?.peer.address ?? 0) - (b.from?.peer.address ?? 0)
}

function compareRoutes(a: Route, b: Route): number {
  return comparePaths(pathOf(a), pathOf(b))
}

/** octets of the longest IPv4 NLRI entry (a /32): an UPDATE must have room for one */
const MAX_NLRI_LENGTH = 5

const ATTR_CODE: Record<PathAttribute['type'], number> = {
  origin: AttrType.ORIGIN, asPath: AttrType.AS_PATH, nextHop: AttrType.NEXT_HOP, med: AttrType.MULTI_EXIT_DISC,
  localPref: AttrType.LOCAL_PREF, atomicAggregate: AttrType.ATOMIC_AGGREGATE, aggregator: AttrType.AGGREGATOR,
  communities: AttrType.COMMUNITIES, originatorId: AttrType.ORIGINATOR_ID, clusterList: AttrType.CLUSTER_LIST,
  mpReach: AttrType.MP_REACH_NLRI, mpUnreach: AttrType.MP_UNREACH_NLRI, as4Path: AttrType.AS4_PATH,
  as4Aggregator: AttrType.AS4_AGGREGATOR, unknown: 255,
}

function codeOf(a: PathAttribute): number {
  return a.type === 'unknown' ? a.code : ATTR_CODE[a.type]
}

function prepend(asn: number, segments: readonly AsPathSegment[]): AsPathSegment[] {
  const first = segments[0]
  if (first && first.type === 'sequence' && first.asns.length < 255) {
    return [{ type: 'sequence', asns: [asn, ...first.asns] }, ...segments.slice(1)]
  }
  return [{ type: 'sequence', asns: [asn] }, ...segments]
}

/** Why an AS_PATH from an eBGP peer of this AS is refused, if it is. */
export function ebgpAsPathProblem(segments: readonly AsPathSegment[], peerAs: number): 'as-path-empty' | 'first-as-mismatch' | 'as-confed' | undefined {
  if (segments.length === 0) return 'as-path-empty'
  for (const s of segments) if (s.type === 'confedSequence' || s.type === 'confedSet') return 'as-confed'
  const first = segments[0]!
  if (first.type !== 'sequence' || first.asns[0] !== peerAs) return 'first-as-mismatch'
  return undefined
}

function bufferKey(_k: string, v: unknown): unknown {
  return v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v
}

/**
 * Why a received prefix (or, for 'unencodable', a path towards one peer) was
 * dropped: import policy, loop checks, RFC 7606 outcomes, next-hop checks.
 */
export type DropReason =
  | ImportRejection
  | 'as-loop' | 'originator-loop' | 'cluster-loop'
  | 'treat-as-withdraw'
  /** RFC 7606 7.2 / RFC 4271 6.3 from an eBGP peer: treat-as-withdraw */
  | 'as-path-empty' | 'first-as-mismatch' | 'as-confed'
  | `next-hop-${import('../../net/next-hop.js').NextHopProblem}`
  /** a path too long for one UPDATE to a peer (counted once per path and peer) */
  | 'unencodable'
  /** attributes discarded (RFC 7606 attribute-discard), per UPDATE */
  | 'attribute-discard'

export interface SpeakerStats {
  prefixes: number
  paths: number
  updatesIn: number
  updatesOut: number
  filtered: Partial<Record<DropReason, number>>
}

export class Speaker {
  /** Adj-RIB-In of every peer and the Loc-RIB: per prefix id, the route(s), best first */
  private readonly table = new PrefixMap<Entry>()
  private readonly peers = new Set<PeerRib>()
  private local: Path | undefined
  private flushScheduled = false
  private readonly clusterId: number
  private readonly schedule: (fn: () => void) => void
  readonly filtered: SpeakerStats['filtered'] = {}
  private updatesIn = 0
  private updatesOut = 0
  private policy: ImportPolicy
  private deferring: boolean

  constructor(private readonly o: SpeakerOptions) {
    this.clusterId = (o.clusterId ?? o.routerId) >>> 0
    this.schedule = o.schedule ?? ((fn) => setImmediate(fn))
    this.policy = o.policy
    this.deferring = o.deferring ?? false
    if (o.ownSubnet) this.local = this.localPath()
  }

  private localPath(): Path {
    return new Path(undefined, this.o.localAddress, 0, [], undefined, DEFAULT_LOCAL_PREF, undefined, [], [])
  }

  // ------------------------------------------------------------ sessions

  /** A session reached Established: send it our table and End-of-RIB (after the deferral, when restarting). */
  peerUp(peer: SpeakerPeer): PeerRib {
    const p = new PeerRib(peer)
    this.peers.add(p)
    if (!this.deferring) this.sendTable(p, true)
    return p
  }

  /** Restarting side: whether announcements still wait (RFC 4724 4.1). */
  get isDeferring(): boolean {
    return this.deferring
  }

  /** Restarting side: the deferral is over; every Established peer gets our table and End-of-RIB now. */
  endDeferral(): void {
    if (!this.deferring) return
    this.deferring = false
    for (const p of this.peers) this.sendTable(p, true)
  }

  /**
   * Helper mode (RFC 4724 4.2): the session is gone but its routes stay,
   * marked stale; nothing is sent to the peer. Returns the number of routes kept.
   */
  peerStale(p: PeerRib, mark: StaleMark): number {
    if (!p.up && !p.stalePaths) return 0
    p.up = false
    this.peers.delete(p)
    p.pending.clear()
    p.ownSubnetClaim = undefined
    const stale = p.stalePaths ?? new Set<Path>()
    for (const path of p.paths.values()) stale.add(path)
    p.stalePaths = stale
    p.paths = new Map()
    this.markStale(p, mark)
    return p.staleCount
  }

  /** Updates the stale marks (reason, deadline) of a peer's stale routes: one write per shared path. */
  markStale(p: PeerRib, mark: StaleMark): void {
    if (!p.stalePaths) return
    for (const path of p.stalePaths) path.display.stale = { ...mark }
  }

  /**
   * The restarted peer is Established again (with F for IPv4): the kept
   * routes stay until its End-of-RIB (sweepStale) and are replaced as it
   * re-announces them; it gets our table as any new peer.
   */
  peerResume(p: PeerRib, peer: SpeakerPeer): PeerRib {
    p.peer = peer
    p.up = true
    p.eor = false
    p.overLimit = false
    this.peers.add(p)
    if (!this.deferring) this.sendTable(p, true)
    return p
  }

  /** End-of-RIB from a resumed peer: removes what it did not re-announce. Returns how many. */
  sweepStale(p: PeerRib): number {
    const stale = p.stalePaths
    if (!stale) return 0
    const gone: Prefix[] = []
    if (p.staleCount > 0) {
      for (const e of this.table.values()) {
        for (const r of Array.isArray(e) ? e : [e]) if (stale.has(pathOf(r))) gone.push(r.prefix)
      }
    }
    for (const n of gone) this.remove(p, n)
    p.stalePaths = undefined
    this.scheduleFlush()
    return gone.length
  }

  /** Peers announcing this host's own subnet now (a duplicate subnet in the fabric). */
  subnetConflicts(): { peer: string; prefix: Prefix }[] {
    const out: { peer: string; prefix: Prefix }[] = []
    for (const p of this.peers) if (p.up && p.ownSubnetClaim) out.push({ peer: p.peer.key, prefix: p.ownSubnetClaim })
    return out
  }

  /** A session left Established (or helper mode ended): everything learned from it is withdrawn. */
  peerDown(p: PeerRib): number {
    if (!p.up && !p.stalePaths) return 0
    p.stalePaths = undefined
    p.up = false
    this.peers.delete(p)
    p.pending.clear()
    let removed = 0
    if (p.accepted > 0) {
      const deleted: Prefix[] = []
      for (const [prefix, e] of this.table.entries()) {
        if (Array.isArray(e)) {
          const i = e.findIndex((r) => pathOf(r).from === p)
          if (i < 0) continue
          const old = e[0]!
          e.splice(i, 1)
          removed++
          if (i === 0) this.select(e)
          if (e.length === 1) this.table.set(prefix, e[0]!)
          // the new best is added to the RIB before the old peer's routes go (withdrawPeer below)
          if (i === 0) this.bestChanged(prefix, old, e[0]!, false)
        } else if (pathOf(e).from === p) {
          deleted.push(prefix)
          removed++
          this.bestChanged(prefix, e, undefined, false)
        }
      }
      for (const d of deleted) this.table.delete(d)
      this.o.sink.withdrawPeer('bgp', p.peer.key)
    }
    p.accepted = 0
    p.paths.clear()
    this.scheduleFlush()
    return removed
  }

  // ------------------------------------------------------------ receiving

  /** Applies an UPDATE from an Established peer. */
  receiveUpdate(p: PeerRib, msg: UpdateMessage): void {
    if (!p.up || p.overLimit) return
    p.updatesIn++
    this.updatesIn++
    const eor = endOfRib(msg)
    if (eor) {
      if (eor.afi === AFI_IPV4 && eor.safi === SAFI_UNICAST && !p.eor) {
        p.eor = true
        this.o.log.info('end-of-rib-received', { peer: p.peer.key, accepted: p.accepted, filtered: p.filtered })
        this.o.onEndOfRib?.(p)
      }
      return
    }
    let attrs = msg.attributes
    let mpNlri: readonly Prefix[] | undefined
    let mpNextHop = 0
    let mpWithdrawn: readonly Prefix[] | undefined
    let nextHop: number | undefined
    for (const a of attrs) {
      if (a.type === 'mpReach' && a.afi === AFI_IPV4 && a.safi === SAFI_UNICAST && !('raw' in a)) {
        mpNlri = a.nlri as readonly Prefix[]
        mpNextHop = a.nextHop as number
      } else if (a.type === 'mpUnreach' && a.afi === AFI_IPV4 && a.safi === SAFI_UNICAST && !('raw' in a)) {
        mpWithdrawn = a.withdrawn as readonly Prefix[]
      } else if (a.type === 'nextHop') nextHop = a.nextHop
    }
    let treatAsWithdraw = false
    if (msg.errors) {
      p.attributeErrors++
      let discarded = false
      for (const e of msg.errors) {
        // RFC 7606 7.5: a malformed LOCAL_PREF from an external peer is discarded
        // (it would be ignored anyway, RFC 4271 5.1.5), not treat-as-withdraw
        if (e.action === 'treat-as-withdraw' && !(e.attrType === AttrType.LOCAL_PREF && !p.peer.ibgp)) treatAsWithdraw = true
        else discarded = true
      }
      if (discarded) this.count('attribute-discard', 1)
      this.o.log.limited('warn', 'update-error', p.peer.key, {
        peer: p.peer.key, count: p.attributeErrors,
        errors: msg.errors.slice(0, 4).map((e) => `${e.action}: ${e.message}`),
      })
    }
    for (const w of msg.withdrawn) this.remove(p, w)
    if (mpWithdrawn) for (const w of mpWithdrawn) this.remove(p, w)
    const announced = msg.nlri.length + (mpNlri?.length ?? 0)
    if (announced === 0) return
    p.received += announced
    if (treatAsWithdraw) {
      // RFC 7606 treat-as-withdraw: the prefixes are withdrawn, the session stays up
      this.count('treat-as-withdraw', announced)
      p.filtered += announced
      for (const n of msg.nlri) this.remove(p, n)
      if (mpNlri) for (const n of mpNlri) this.remove(p, n)
      return
    }
    if (!p.peer.ctx.as4) attrs = normalizeAs4(attrs)
    if (msg.nlri.length > 0 && nextHop !== undefined) this.announceAll(p, msg.nlri, attrs, nextHop)
    if (mpNlri && mpNlri.length > 0) this.announceAll(p, mpNlri, attrs, mpNextHop)
  }

  private count(reason: DropReason, n: number): void {
    this.filtered[reason] = (this.filtered[reason] ?? 0) + n
  }

  private announceAll(p: PeerRib, nlri: readonly Prefix[], attrs: readonly PathAttribute[], nextHop: number): void {
    const path = this.buildPath(p, attrs, nextHop)
    if (typeof path === 'string') {
      this.count(path, nlri.length)
      p.filtered += nlri.length
      for (const n of nlri) this.remove(p, n)
      return
    }
    const policy = this.policy
    for (const n of nlri) {
      const why = policy.check(n.addr, n.len)
      if (why !== undefined) {
        this.count(why, 1)
        p.filtered++
        this.remove(p, n)
        // our own routes come back only through loops, refused before the policy: this is another host
        if (why === 'own-subnet') p.ownSubnetClaim = { addr: n.addr, len: n.len }
        continue
      }
      this.insert(p, n, path)
      if (p.accepted > p.peer.maxPrefixes) {
        p.overLimit = true
        this.o.log.warn('prefix-limit', { peer: p.peer.key, limit: p.peer.maxPrefixes, note: 'closing the session with Cease/Maximum Number of Prefixes Reached' })
        p.peer.cease(CeaseSubcode.MAX_PREFIXES, `more than ${p.peer.maxPrefixes} prefixes`)
        return
      }
    }
    if (path.refs === 0) p.paths.delete(path.key)
  }

  /** The shared Path for these attributes from this peer, or why they are refused. */
  private buildPath(p: PeerRib, attrs: readonly PathAttribute[], nextHop: number): Path | DropReason {
    let origin: Origin = 0
    let segments: readonly AsPathSegment[] = []
    let med: number | undefined
    let localPref: number | undefined
    let originatorId: number | undefined
    let clusterList: readonly number[] = []
    const transitive: PathAttribute[] = []
    for (const a of attrs) {
      switch (a.type) {
        case 'origin': origin = a.origin; break
        case 'asPath': segments = a.segments; break
        case 'med': med = a.med; break
        case 'localPref': localPref = a.localPref; break
        case 'originatorId': originatorId = a.id; break
        case 'clusterList': clusterList = a.ids; break
        case 'atomicAggregate':
        case 'aggregator':
        case 'communities':
        case 'unknown':
          transitive.push(a)
          break
        default:
          break
      }
    }
    const peer = p.peer
    // RFC 7606 7.3: a semantically wrong NEXT_HOP is treat-as-withdraw for the path;
    // only another host's underlay address may carry traffic for its subnet
    const hop = nextHopProblem(nextHop, this.o.nextHop)
    if (hop !== undefined) {
      this.o.log.limited('warn', 'bgp-next-hop-refused', `${peer.key} ${hop}`, {
        peer: peer.key, nextHop: formatAddress(nextHop), problem: NEXT_HOP_PROBLEM_TEXT[hop], note: 'treat-as-withdraw (RFC 7606 7.3)',
      })
      return `next-hop-${hop}`
    }
    if (peer.ibgp) {
      if (originatorId !== undefined && originatorId >>> 0 === this.o.routerId >>> 0) return 'originator-loop'
      if (clusterList.includes(this.clusterId)) return 'cluster-loop'
    } else {
      // RFC 4271 6.3 and RFC 7606 7.2 (BIRD's and FRR's enforce-first-as): from an
      // external peer the AS_PATH starts with its AS and carries no confederation
      // segments (RFC 5065 5: we are in no confederation); else treat-as-withdraw
      // (a 2-octet peer of a 4-octet AS is AS_TRANS in its OPEN: its path starts with the real AS)
      const why = peer.asn === AS_TRANS && !peer.ctx.as4 ? undefined : ebgpAsPathProblem(segments, peer.asn)
      if (why !== undefined) {
        this.o.log.limited('warn', 'bgp-as-path-refused', `${peer.key} ${why}`, { peer: peer.key, problem: why, note: 'treat-as-withdraw (RFC 7606 7.2)' })
        return why
      }
      for (const s of segments) if (s.asns.includes(this.o.asn)) return 'as-loop'
      // LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST mean nothing across an AS border
      localPref = undefined
      originatorId = undefined
      clusterList = []
    }
    const key = JSON.stringify([nextHop, origin, segments, med, localPref, originatorId, clusterList, transitive], bufferKey)
    const known = p.paths.get(key)
    if (known) return known
    const path = new Path(p, nextHop, origin, segments, med, localPref ?? DEFAULT_LOCAL_PREF, originatorId, clusterList, transitive)
    path.key = key
    p.paths.set(key, path)
    return path
  }

  private release(path: Path): void {
    // a stale path (graceful restart) is no longer in its peer's intern map
    if (--path.refs === 0 && path.from && path.from.paths.get(path.key) === path) path.from.paths.delete(path.key)
  }

  /** Adds or replaces p's route for prefix n. */
  private insert(p: PeerRib, n: Prefix, path: Path): void {
    const cur = this.table.get(n)
    if (cur !== undefined && !Array.isArray(cur) && pathOf(cur) === path) return // unchanged re-announcement
    const route: Route = new BgpRoute(n.addr, n.len, path.display)
    path.refs++
    if (cur === undefined) {
      this.table.set(n, route)
      p.accepted++
      this.bestChanged(n, undefined, route, true)
      return
    }
    if (Array.isArray(cur)) {
      const old = cur[0]!
      const i = cur.findIndex((r) => pathOf(r).from === p)
      if (i >= 0) {
        const was = pathOf(cur[i]!)
        if (was === path) {
          path.refs--
          return
        }
        this.release(was)
        cur[i] = route
      } else {
        cur.push(route)
        p.accepted++
      }
      this.select(cur)
      if (cur[0] !== old) this.bestChanged(n, old, cur[0]!, true)
      return
    }
    const was = pathOf(cur)
    if (was.from === p) {
      this.release(was)
      this.table.set(n, route)
      this.bestChanged(n, cur, route, true)
      return
    }
    p.accepted++
    const both = compareRoutes(route, cur) < 0 ? [route, cur] : [cur, route]
    this.table.set(n, both)
    if (both[0] !== cur) this.bestChanged(n, cur, route, true)
  }

  /** Removes p's route for prefix n, if any. */
  private remove(p: PeerRib, n: Prefix): void {
    const claim = p.ownSubnetClaim
    if (claim !== undefined && claim.addr === n.addr && claim.len === n.len) p.ownSubnetClaim = undefined
    const cur = this.table.get(n)
    if (cur === undefined) return
    if (Array.isArray(cur)) {
      const i = cur.findIndex((r) => pathOf(r).from === p)
      if (i < 0) return
      const old = cur[0]!
      this.release(pathOf(cur[i]!))
      cur.splice(i, 1)
      p.accepted--
      if (i === 0) this.select(cur)
      if (cur.length === 1) this.table.set(n, cur[0]!)
      if (i === 0) this.bestChanged(n, old, cur[0]!, true)
      return
    }
    if (pathOf(cur).from !== p) return
    this.release(pathOf(cur))
    this.table.delete(n)
    p.accepted--
    this.bestChanged(n, cur, undefined, true)
  }

  /** Moves the best route of an entry to the front. */
  private select(e: Route[]): void {
    let best = 0
    for (let i = 1; i < e.length; i++) if (compareRoutes(e[i]!, e[best]!) < 0) best = i
    if (best !== 0) {
      const r = e[best]!
      e.splice(best, 1)
      e.unshift(r)
    }
  }

  /**
   * The Loc-RIB best of a prefix changed: tell the RIB (add before withdraw)
   * and queue the Adj-RIB-Out change for every peer.
   */
  private bestChanged(prefix: Prefix, old: Route | undefined, neu: Route | undefined, withdrawOld: boolean): void {
    const sink = this.o.sink
    if (neu) {
      sink.add(neu)
      if (withdrawOld && old && old.peer !== neu.peer) sink.withdraw(old.prefix, 'bgp', old.peer)
    } else if (withdrawOld && old) sink.withdraw(old.prefix, 'bgp', old.peer)
    if (this.peers.size === 0) return
    const oldPath = old ? pathOf(old) : undefined
    const newPath = neu ? pathOf(neu) : undefined
    let queued = false
    for (const q of this.peers) {
      const was = oldPath !== undefined && this.advertisable(q, oldPath)
      const now = newPath !== undefined && this.advertisable(q, newPath)
      if (now) {
        q.pending.set(prefix, newPath!)
        if (!was) q.sent++
        queued = true
      } else if (was) {
        q.pending.set(prefix, null)
        q.sent--
        queued = true
      }
    }
    if (queued) this.scheduleFlush()
  }

  // ------------------------------------------------------------ sending

  /** Whether we reflect routes to and from p (RFC 4456): the value applied, shown by `fabric peers`. */
  isClient(p: PeerRib): boolean {
    return p.peer.ibgp && (this.o.routeReflector || p.peer.rrClient)
  }

  get routeReflector(): boolean {
    return this.o.routeReflector
  }

  /**
   * A new import policy (reload): every Adj-RIB-In route is checked again and
   * those it refuses are withdrawn (O(table), once per reload). Returns how
   * many were withdrawn. Prefixes the old policy refused are not stored: the
   * caller asks the peers for them again (route refresh).
   */
  setPolicy(policy: ImportPolicy): number {
    this.policy = policy
    const refused: Array<[PeerRib, Prefix]> = []
    for (const e of this.table.values()) {
      for (const r of Array.isArray(e) ? e : [e]) {
        const from = pathOf(r).from
        const why = from ? policy.check(r.prefix.addr, r.prefix.len) : undefined
        if (from && why !== undefined) {
          refused.push([from, r.prefix])
          this.count(why, 1)
          from.filtered++
        }
      }
    }
    for (const [p, n] of refused) this.remove(p, n)
    return refused.length
  }

  /** Whether the Loc-RIB path goes to peer q (RFC 4271 9.2, RFC 4456 6). */
  exportable(q: PeerRib, path: Path): boolean {
    const from = path.from
    if (from === undefined) return true
    if (from === q) return false
    if (from.peer.ibgp && q.peer.ibgp) {
      if (!this.isClient(from) && !this.isClient(q)) return false
      if (path.originatorId !== undefined ? path.originatorId === q.peer.routerId : from.peer.routerId === q.peer.routerId) return false
    }
    return true
  }

  /**
   * Whether the path goes to q: exportable, and its attributes fit one UPDATE
   * for q. A path that does not fit (e.g. a 4,040-octet optional transitive
   * attribute learned over eBGP, plus the LOCAL_PREF an iBGP export adds, over
   * 4,096 octets without RFC 8654 extended messages) is not sent to q: RFC 8654
   * 4 says a speaker that cannot fit an UPDATE for a peer must not send it
   * and must not reset the session; RFC 7606 leaves the session up for
   * attribute trouble. q gets a withdrawal instead if it had the prefix
   * (bestChanged), and the path is logged and counted once per path and peer.
   */
  advertisable(q: PeerRib, path: Path): boolean {
    if (!this.exportable(q, path)) return false
    const room = maxMessageLength(q.peer.ctx) - HEADER_LENGTH - 4 - this.exportAttributes(q, path).length
    if (room >= MAX_NLRI_LENGTH) return true
    if (!q.unencodable.has(path)) {
      q.unencodable.add(path)
      this.count('unencodable', 1)
      this.o.log.limited('warn', 'bgp-path-unencodable', q.peer.key, {
        peer: q.peer.key, attributeOctets: this.exportAttributes(q, path).length, maxMessage: maxMessageLength(q.peer.ctx),
        from: path.from?.peer.key ?? 'local', note: 'not sent to this peer (RFC 8654 4, RFC 7606): the path attributes leave no room for NLRI',
      })
    }
    return false
  }

  /** The attributes we send for this path to q. */
  exportAttributes(q: PeerRib, path: Path): ExportedAttributes {
    const as4 = q.peer.ctx.as4
    const ebgp = !q.peer.ibgp
    const reflect = !ebgp && path.from !== undefined && path.from.peer.ibgp
    const kind = `${ebgp ? 'e' : reflect ? 'r' : 'i'}${as4 ? 4 : 2}`
    return path.cached(kind, () => {
      const out: PathAttribute[] = [{ type: 'origin', origin: path.origin }]
      if (ebgp) {
        out.push({ type: 'asPath', segments: prepend(this.o.asn, path.segments) })
        out.push({ type: 'nextHop', nextHop: this.o.localAddress })
      } else {
        out.push({ type: 'asPath', segments: path.segments })
        out.push({ type: 'nextHop', nextHop: path.nextHop })
        if (path.med !== undefined) out.push({ type: 'med', med: path.med })
        out.push({ type: 'localPref', localPref: path.localPref })
        if (reflect) {
          out.push({ type: 'originatorId', id: path.originatorId ?? path.from!.peer.routerId })
          out.push({ type: 'clusterList', ids: [this.clusterId, ...path.clusterList] })
        }
      }
      out.push(...path.transitive)
      const list = (as4 ? out : as2Attributes(out)).sort((a, b) => codeOf(a) - codeOf(b))
      return { attributes: list, length: encodeAttributes(list, q.peer.ctx).length }
    })
  }

  private sendTable(p: PeerRib, endOfRibToo: boolean): void {
    const groups = new Map<Path, Prefix[]>()
    let n = 0
    if (this.local && this.o.ownSubnet) {
      groups.set(this.local, [this.o.ownSubnet, ...(this.o.ownNetworks ?? [])])
      n += 1 + (this.o.ownNetworks?.length ?? 0)
    }
    for (const e of this.table.values()) {
      const best = Array.isArray(e) ? e[0]! : e
      const path = pathOf(best)
      if (!this.advertisable(p, path)) continue
      let g = groups.get(path)
      if (g === undefined) groups.set(path, (g = []))
      g.push(best.prefix)
      n++
    }
    p.pending.clear()
    p.sent = n
    const messages: UpdateMessage[] = []
    const max = maxMessageLength(p.peer.ctx)
    for (const [path, prefixes] of groups) messages.push(...packUpdates(this.exportAttributes(p, path).attributes, prefixes, p.peer.ctx, max))
    if (endOfRibToo) messages.push(makeEndOfRib())
    this.emit(p, messages)
  }

  /** ROUTE-REFRESH from the peer: the whole Adj-RIB-Out again (RFC 2918). */
  routeRefresh(p: PeerRib, afi: number, safi: number): void {
    // while deferring, the whole table goes at the end of the deferral anyway
    if (!p.up || this.deferring || afi !== AFI_IPV4 || safi !== SAFI_UNICAST) return
    this.o.log.info('route-refresh-received', { peer: p.peer.key })
    this.sendTable(p, false)
  }

  private emit(p: PeerRib, messages: UpdateMessage[]): void {
    if (messages.length === 0) return
    p.updatesOut += messages.length
    this.updatesOut += messages.length
    p.peer.send(messages)
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    // an immediate callback: nothing thrown in it may reach the process
    this.schedule(() => {
      try {
        this.flush()
      } catch (e) {
        this.flushScheduled = false
        this.o.log.error('bgp-internal-error', { where: 'flush', error: e instanceof Error ? (e.stack ?? e.message) : String(e) })
      }
    })
  }

  /** Sends every queued Adj-RIB-Out change. */
  flush(): void {
    this.flushScheduled = false
    if (this.deferring) return
    for (const p of this.peers) {
      if (p.pending.size === 0) continue
      try {
        this.flushPeer(p)
      } catch (e) {
        // an internal error resets only this peer's session
        p.pending.clear()
        this.o.log.error('bgp-internal-error', { peer: p.peer.key, where: 'flush', error: e instanceof Error ? (e.stack ?? e.message) : String(e) })
        p.peer.cease(CeaseSubcode.OUT_OF_RESOURCES, 'internal error while sending UPDATEs')
      }
    }
  }

  private flushPeer(p: PeerRib): void {
    const withdrawn: Prefix[] = []
    const groups = new Map<Path, Prefix[]>()
    for (const [prefix, path] of p.pending.entries()) {
      if (path === null) withdrawn.push(prefix)
      else {
        let g = groups.get(path)
        if (g === undefined) groups.set(path, (g = []))
        g.push(prefix)
      }
    }
    p.pending.clear()
    const max = maxMessageLength(p.peer.ctx)
    const messages: UpdateMessage[] = withdrawn.length > 0 ? packWithdrawals(withdrawn, max) : []
    for (const [path, prefixes] of groups) messages.push(...packUpdates(this.exportAttributes(p, path).attributes, prefixes, p.peer.ctx, max))
    this.emit(p, messages)
  }

  // ------------------------------------------------------------ own subnet

  /** Withdraws our own subnet from every peer (fabric leave). */
  withdrawLocal(): void {
    if (!this.local || !this.o.ownSubnet) return
    this.local = undefined
    for (const q of this.peers) {
      for (const own of [this.o.ownSubnet, ...(this.o.ownNetworks ?? [])]) {
        q.pending.set(own, null)
        q.sent--
      }
    }
    this.flush()
  }

  // ------------------------------------------------------------ views

  /** Loc-RIB best route of a prefix (tests, CLI). */
  best(p: Prefix): Route | undefined {
    const e = this.table.get(p)
    return e === undefined ? undefined : Array.isArray(e) ? e[0] : e
  }

  /** Every route (all peers) of a prefix, best first. */
  routes(p: Prefix): Route[] {
    const e = this.table.get(p)
    return e === undefined ? [] : Array.isArray(e) ? [...e] : [e]
  }

  get size(): number {
    return this.table.size
  }

  stats(): SpeakerStats {
    let paths = 0
    for (const p of this.peers) paths += p.paths.size
    return { prefixes: this.table.size, paths, updatesIn: this.updatesIn, updatesOut: this.updatesOut, filtered: { ...this.filtered } }
  }
}
