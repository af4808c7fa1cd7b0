/**
 * The BGP speaker's routing logic, without sockets or timers: the facade the
 * sessions talk to. It applies UPDATEs (RFC 7606 error handling, next-hop and
 * loop checks, import policy, per-peer prefix limits), keeps the Adj-RIB-Out
 * changes per peer and sends them, End-of-RIB (RFC 4724), graceful restart
 * helper mode and deferral, route refresh (RFC 2918). The parts:
 *
 * - paths.ts: attribute interning (one shared Path per attribute set and
 *   peer) and the BgpRoute view of a prefix's route, made on demand;
 * - peer-rib.ts: per-peer state (counters, intern map, pending changes);
 * - loc-rib.ts: Adj-RIBs-In and Loc-RIB, best path (RFC 4271 9.1, RFC 4456);
 * - export-policy.ts: what goes to which peer with which attributes;
 * - packing.ts: Adj-RIB-Out changes to UPDATE messages.
 *
 * The Adj-RIB-Out is not stored: what a peer was sent is export(peer,
 * Loc-RIB best), so it is recomputed for route refresh, new peers and
 * changes. Only the Loc-RIB best of each prefix goes to the RIB (preference
 * 0): a RIB that takes attached tables (rib.ts) reads it from the Loc-RIB
 * and is told of each change of best (no copy per prefix there); another
 * sink gets add and withdraw, the new route added before the old one is
 * withdrawn, so the kernel never loses the prefix in between.
 */
import type { Logger } from '../../core/log.js'
import { type Prefix, formatAddress } from '../../net/ipv4.js'
import { type NextHopScope, NEXT_HOP_PROBLEM_TEXT, nextHopProblem } from '../../net/next-hop.js'
import type { BestSink } from '../../rib/rib.js'
import type { Route } from '../../rib/route.js'
import type { Prefix6 } from '../../net/ipv6.js'
import type { RouteSink } from '../../rib/source.js'
import { readReceivedPath, receivedPathProblem } from './as-path.js'
import { normalizeAs4 } from './codec/attributes.js'
import { AFI_IPV4, AFI_IPV6, AttrType, CeaseSubcode, SAFI_UNICAST } from './codec/constants.js'
import type { MpReach, PathAttribute, UpdateMessage } from './codec/types.js'
import { endOfRib } from './codec/update.js'
import { ExportPolicy } from './export-policy.js'
import { LocRib } from './loc-rib.js'
import { addToGroup, packChanges, packTable, type PathGroups, SharedPacks } from './packing.js'
import { PeerRib, type SpeakerPeer, type StaleMark } from './peer-rib.js'
import { type Path, forgetUnused, internPath, localPath, pathOf } from './paths.js'
import type { ImportPolicy, ImportRejection } from './policy.js'
import type { ImportPolicy6 } from './policy6.js'
import { type DropReason6, Speaker6, type SpeakerIpv6Options } from './speaker6.js'

/** shortest time between two flushes while UPDATEs keep coming, ms */
const FLUSH_GAP_MS = 5
/** a peer's pending changes up to this many are packed once for every peer of a flush that has the same */
const SHARE_MAX = 10_000
/** a flush writes what it has packed once it holds this many UPDATEs (packing for many peers first, then their writes) */
const FLUSH_WRITE_BATCH = 4096

export { PeerRib, type SpeakerPeer, type StaleMark } from './peer-rib.js'
export { ebgpAsPathProblem } from './as-path.js'

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
  /** a dual-stack host: MP-BGP IPv6 unicast (speaker6.ts) with peers that negotiate it */
  readonly ipv6?: SpeakerIpv6Options
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
  /** IPv6 unicast (dual-stack host only) */
  prefixes6?: number
  filtered6?: Partial<Record<DropReason6, number>>
}

export class Speaker {
  /** Adj-RIB-In of every peer and the Loc-RIB */
  private readonly rib: LocRib
  private readonly exports: ExportPolicy
  private readonly peers = new Set<PeerRib>()
  private local: Path | undefined
  private flushScheduled = false
  private readonly clusterId: number
  private readonly schedule: (fn: () => void) => void
  /** a later flush while UPDATEs keep coming (absent with an injected schedule: tests flush at once) */
  private readonly later: ((fn: () => void, ms: number) => void) | undefined
  /** performance.now() of the last flush */
  private lastFlush = Number.NEGATIVE_INFINITY
  readonly filtered: SpeakerStats['filtered'] = {}
  private updatesIn = 0
  private updatesOut = 0
  private policy: ImportPolicy
  private deferring: boolean
  /** MP-BGP IPv6 unicast, on a dual-stack host */
  readonly v6: Speaker6 | undefined
  /** the RIB reads the Loc-RIB's bests (sink.attach); undefined: add/withdraw to the sink */
  private readonly attached: BestSink | undefined

  constructor(private readonly o: SpeakerOptions) {
    this.clusterId = (o.clusterId ?? o.routerId) >>> 0
    this.schedule = o.schedule ?? ((fn) => setImmediate(fn))
    this.later = o.schedule ? undefined : (fn, ms) => void setTimeout(fn, ms).unref()
    this.policy = o.policy
    this.deferring = o.deferring ?? false
    this.rib = new LocRib((prefix, old, neu, withdrawOld) => this.bestChanged(prefix, old, neu, withdrawOld))
    this.exports = new ExportPolicy({
      asn: o.asn, clusterId: this.clusterId, routeReflector: o.routeReflector, localAddress: o.localAddress,
      log: o.log, onUnencodable: () => this.count('unencodable', 1),
    })
    if (o.ownSubnet) this.local = localPath(o.localAddress)
    this.attached = o.sink.attach?.('bgp', this.rib)
    const v6 = o.ipv6
    this.v6 = v6 ? new Speaker6({
      ...v6, asn: o.asn, routerId: o.routerId, clusterId: this.clusterId, exports: this.exports, log: o.log,
      peers: () => this.peers, scheduleFlush: () => this.scheduleFlush(),
    }) : undefined
  }

  // ------------------------------------------------------------ sessions

  /** A session reached Established: send it our table and End-of-RIB (after the deferral, when restarting). */
  peerUp(peer: SpeakerPeer): PeerRib {
    const p = new PeerRib(peer)
    this.peers.add(p)
    this.v6?.up(p)
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
    // RFC 4724 4.2: a family not listed in the peer's graceful restart capability is withdrawn now
    const kept6 = this.v6 ? this.v6.stale(p, mark, p.peer.gracefulRestart6 !== undefined) : 0
    return p.staleCount + kept6
  }

  /** Updates the stale marks (reason, deadline) of a peer's stale routes: one write per shared path. */
  markStale(p: PeerRib, mark: StaleMark): void {
    if (!p.stalePaths) return
    for (const path of p.stalePaths) path.display.stale = { ...mark }
    this.v6?.markStale(p, mark)
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
    // without IPv6, or without F for IPv6, in the new OPEN its stale IPv6 routes go now
    this.v6?.resume(p)
    if (!this.deferring) this.sendTable(p, true)
    return p
  }

  /** End-of-RIB from a resumed peer: removes what it did not re-announce. Returns how many. */
  sweepStale(p: PeerRib): number {
    const swept6 = this.v6 ? this.v6.sweep(p) : 0
    const stale = p.stalePaths
    if (!stale) return swept6
    const gone: Prefix[] = []
    if (p.staleCount > 0) {
      this.rib.forEachPath((addr, len, path) => {
        if (stale.has(path)) gone.push({ addr, len })
      })
    }
    for (const n of gone) this.remove(p, n)
    p.stalePaths = undefined
    this.scheduleFlush()
    return gone.length + swept6
  }

  /** Peers announcing this host's own subnet now (a duplicate subnet in the fabric). */
  subnetConflicts(): { peer: string; prefix: Prefix }[] {
    const out: { peer: string; prefix: Prefix }[] = []
    for (const p of this.peers) if (p.up && p.ownSubnetClaim) out.push({ peer: p.peer.key, prefix: p.ownSubnetClaim })
    return out
  }

  /** Peers announcing this host's own subnet6 now (dual-stack host). */
  subnetConflicts6(): { peer: string; prefix: Prefix6 }[] {
    return this.v6 ? this.v6.subnetConflicts() : []
  }

  /** A session left Established (or helper mode ended): everything learned from it is withdrawn. */
  peerDown(p: PeerRib): number {
    if (!p.up && !p.stalePaths) return 0
    p.stalePaths = undefined
    p.up = false
    this.peers.delete(p)
    p.pending.clear()
    const removed6 = this.v6 ? this.v6.down(p) : 0
    let removed = 0
    if (p.accepted > 0) {
      // the new bests are added to the RIB before the old peer's routes go (withdrawPeer below)
      removed = this.rib.removePeer(p)
      if (!this.attached) this.o.sink.withdrawPeer('bgp', p.peer.key)
    }
    p.accepted = 0
    p.paths.clear()
    this.scheduleFlush()
    return removed + removed6
  }

  // ------------------------------------------------------------ receiving

  /** Applies an UPDATE from an Established peer. */
  receiveUpdate(p: PeerRib, msg: UpdateMessage): void {
    if (!p.up || p.overLimit) return
    p.updatesIn++
    this.updatesIn++
    const eor = endOfRib(msg)
    if (eor) {
      const v6 = this.v6 && p.peer.ipv6 ? this.v6 : undefined
      const family = eor.afi === AFI_IPV4 && eor.safi === SAFI_UNICAST ? 1 : eor.afi === AFI_IPV6 && eor.safi === SAFI_UNICAST && v6 ? 2 : 0
      // the peer's table is complete once every negotiated family has sent its End-of-RIB
      if (family !== 0 && !p.eor && (v6 ? v6.endOfRib(p, family) : family === 1)) {
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
    let reach6: Extract<MpReach, { afi: 2 }> | undefined
    let withdrawn6: readonly Prefix6[] | undefined
    for (const a of attrs) {
      if (a.type === 'mpReach' && a.afi === AFI_IPV4 && a.safi === SAFI_UNICAST && !('raw' in a)) {
        mpNlri = a.nlri as readonly Prefix[]
        mpNextHop = a.nextHop as number
      } else if (a.type === 'mpUnreach' && a.afi === AFI_IPV4 && a.safi === SAFI_UNICAST && !('raw' in a)) {
        mpWithdrawn = a.withdrawn as readonly Prefix[]
      } else if (a.type === 'mpReach' && a.afi === AFI_IPV6 && a.safi === SAFI_UNICAST && !('raw' in a)) {
        reach6 = a as Extract<MpReach, { afi: 2 }>
      } else if (a.type === 'mpUnreach' && a.afi === AFI_IPV6 && a.safi === SAFI_UNICAST && !('raw' in a)) {
        withdrawn6 = a.withdrawn as readonly Prefix6[]
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
    // IPv6 unicast from a peer that negotiated it (anything else of AFI 2 is ignored, as before)
    if ((reach6 || withdrawn6) && this.v6 && p.peer.ipv6) {
      this.v6.receive(p, reach6, withdrawn6, p.peer.ctx.as4 ? attrs : normalizeAs4(attrs), treatAsWithdraw, () => this.overLimit(p))
      if (p.overLimit) return
    }
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
      if (this.overLimit(p)) return
    }
    forgetUnused(path)
  }

  /** Over the peer's prefix limit (both families together): the session is closed with Cease 1. */
  private overLimit(p: PeerRib): boolean {
    if (p.overLimit) return true
    const accepted = p.accepted + (this.v6 ? this.v6.accepted(p) : 0)
    if (accepted <= p.peer.maxPrefixes) return false
    p.overLimit = true
    this.o.log.warn('prefix-limit', { peer: p.peer.key, limit: p.peer.maxPrefixes, note: 'closing the session with Cease/Maximum Number of Prefixes Reached' })
    p.peer.cease(CeaseSubcode.MAX_PREFIXES, `more than ${p.peer.maxPrefixes} prefixes`)
    return true
  }

  /** The shared Path for these attributes from this peer, or why they are refused. */
  private buildPath(p: PeerRib, attrs: readonly PathAttribute[], nextHop: number): Path | DropReason {
    const r = readReceivedPath(attrs)
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
    const problem = receivedPathProblem(r, peer, { asn: this.o.asn, routerId: this.o.routerId, clusterId: this.clusterId }, this.o.log)
    if (problem !== undefined) return problem
    return internPath(p, nextHop, r.origin, r.segments, r.med, r.localPref, r.originatorId, r.clusterList, r.transitive)
  }

  /** Adds or replaces p's route for prefix n. */
  private insert(p: PeerRib, n: Prefix, path: Path): void {
    this.rib.insert(p, n, path)
  }

  /** Removes p's route for prefix n, if any. */
  private remove(p: PeerRib, n: Prefix): void {
    const claim = p.ownSubnetClaim
    if (claim !== undefined && claim.addr === n.addr && claim.len === n.len) p.ownSubnetClaim = undefined
    this.rib.remove(p, n)
  }

  /**
   * The Loc-RIB best of a prefix changed: tell the RIB (add before withdraw)
   * and queue the Adj-RIB-Out change for every peer.
   */
  private bestChanged(prefix: Prefix, old: Route | undefined, neu: Route | undefined, withdrawOld: boolean): void {
    if (this.attached) this.attached(prefix, old, neu)
    else {
      const sink = this.o.sink
      if (neu) {
        sink.add(neu)
        if (withdrawOld && old && old.peer !== neu.peer) sink.withdraw(old.prefix, 'bgp', old.peer)
      } else if (withdrawOld && old) sink.withdraw(old.prefix, 'bgp', old.peer)
    }
    if (this.peers.size === 0) return
    const oldPath = old ? pathOf(old) : undefined
    const newPath = neu ? pathOf(neu) : undefined
    let queued = false
    for (const q of this.peers) {
      if (q.peer.withoutIpv4) continue
      const was = oldPath !== undefined && this.exports.advertisable(q, oldPath)
      const now = newPath !== undefined && this.exports.advertisable(q, newPath)
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
    return this.exports.isClient(p)
  }

  get routeReflector(): boolean {
    return this.exports.routeReflector
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
    this.rib.forEachPath((addr, len, path) => {
      const from = path.from
      const why = from ? policy.check(addr, len) : undefined
      if (from && why !== undefined) {
        refused.push([from, { addr, len }])
        this.count(why, 1)
        from.filtered++
      }
    })
    for (const [p, n] of refused) this.remove(p, n)
    return refused.length
  }

  /** The whole Adj-RIB-Out of p; ipv4Only: IPv4 unicast alone (a ROUTE-REFRESH for AFI 1). */
  private sendTable(p: PeerRib, endOfRibToo: boolean, ipv4Only = false): void {
    const groups: PathGroups = new Map()
    let n = 0
    if (this.local && this.o.ownSubnet) {
      groups.set(this.local, [this.o.ownSubnet, ...(this.o.ownNetworks ?? [])])
      n += 1 + (this.o.ownNetworks?.length ?? 0)
    }
    this.rib.forEachBestPath((addr, len, path) => {
      if (!this.exports.advertisable(p, path)) return
      addToGroup(groups, path, { addr, len })
      n++
    })
    p.pending.clear()
    p.sent = p.peer.withoutIpv4 ? 0 : n
    // a session without IPv4 unicast (IPv6 only) gets no IPv4 UPDATE nor IPv4 End-of-RIB
    const messages = p.peer.withoutIpv4 ? [] : packTable(groups, (path) => this.exports.exportAttributes(p, path).attributes, p.peer.ctx, endOfRibToo)
    // IPv6 unicast after IPv4's End-of-RIB, with its own End-of-RIB (RFC 4724 2: one per family)
    if (this.v6 && p.peer.ipv6 && !ipv4Only) messages.push(...this.v6.tableMessages(p, endOfRibToo))
    this.emit(p, messages)
  }

  /** A new IPv6 import policy (reload): IPv6 routes it refuses are withdrawn. Returns how many. */
  setPolicy6(policy: ImportPolicy6): number {
    return this.v6 ? this.v6.setPolicy(policy) : 0
  }

  /** ROUTE-REFRESH from the peer: the whole Adj-RIB-Out again (RFC 2918). */
  routeRefresh(p: PeerRib, afi: number, safi: number): void {
    // while deferring, the whole table goes at the end of the deferral anyway
    if (!p.up || this.deferring || safi !== SAFI_UNICAST) return
    if (afi === AFI_IPV6 && this.v6 && p.peer.ipv6) {
      this.o.log.info('route-refresh-received', { peer: p.peer.key, family: 'ipv6-unicast' })
      this.emit(p, this.v6.tableMessages(p, false))
      return
    }
    if (afi !== AFI_IPV4 || p.peer.withoutIpv4) return
    this.o.log.info('route-refresh-received', { peer: p.peer.key })
    this.sendTable(p, false, true)
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
    // an immediate (or timer) callback: nothing thrown in it may reach the process
    const run = (): void => {
      try {
        this.flush()
      } catch (e) {
        this.flushScheduled = false
        this.o.log.error('bgp-internal-error', { where: 'flush', error: e instanceof Error ? (e.stack ?? e.message) : String(e) })
      }
    }
    // the first change after a quiet spell goes out at once; while changes keep coming, at most one
    // flush per FLUSH_GAP_MS, so each peer gets its changes in fewer, fuller writes (a reflector with
    // 1,000 clients announcing at once would otherwise write to every client after every UPDATE read)
    const wait = this.later ? this.lastFlush + FLUSH_GAP_MS - performance.now() : 0
    if (wait > 0) this.later!(run, wait)
    else this.schedule(run)
  }

  /** Sends every queued Adj-RIB-Out change. */
  flush(): void {
    this.flushScheduled = false
    this.lastFlush = performance.now()
    if (this.deferring) return
    // the UPDATEs one change makes go to many peers: packed and encoded once (packing.ts SharedPacks)
    const share = this.peers.size > 1 ? new SharedPacks() : undefined
    // packed for many peers first, then written back to back: a reflector's flush of one change to
    // 999 clients took 15.0 ms this way against 17.3 ms with packing and writing in turn per peer
    // (docs/benchmarks.md, bench/rr-load)
    const readyPeers: PeerRib[] = []
    const batches: UpdateMessage[][] = []
    let held = 0
    for (const p of this.peers) {
      if (p.pending.size === 0 && !this.v6?.hasPending(p)) continue
      let messages: UpdateMessage[]
      try {
        messages = this.packPeer(p, share)
      } catch (e) {
        this.flushFailed(p, e)
        continue
      }
      if (messages.length === 0) continue
      readyPeers.push(p)
      batches.push(messages)
      held += messages.length
      if (held >= FLUSH_WRITE_BATCH) {
        this.sendReady(readyPeers, batches)
        held = 0
      }
    }
    this.sendReady(readyPeers, batches)
  }

  /** A peer's pending changes as UPDATEs (pending cleared). */
  private packPeer(p: PeerRib, share: SharedPacks | undefined): UpdateMessage[] {
    // a big batch (a table) is not kept for other peers: its messages would stay in memory until the flush ends
    const messages = p.pending.size > 0
      ? packChanges(p.pending, (path) => this.exports.exportAttributes(p, path).attributes, p.peer.ctx, p.pending.size <= SHARE_MAX ? share : undefined)
      : []
    p.pending.clear()
    if (this.v6) messages.push(...this.v6.pendingMessages(p))
    return messages
  }

  /** Sends what a flush packed (peers[i] gets batches[i]), peer after peer, and empties both lists. */
  private sendReady(peers: PeerRib[], batches: UpdateMessage[][]): void {
    for (let i = 0; i < peers.length; i++) {
      try {
        this.emit(peers[i]!, batches[i]!)
      } catch (e) {
        this.flushFailed(peers[i]!, e)
      }
    }
    peers.length = 0
    batches.length = 0
  }

  /** An internal error while flushing resets only this peer's session. */
  private flushFailed(p: PeerRib, e: unknown): void {
    p.pending.clear()
    this.o.log.error('bgp-internal-error', { peer: p.peer.key, where: 'flush', error: e instanceof Error ? (e.stack ?? e.message) : String(e) })
    p.peer.cease(CeaseSubcode.OUT_OF_RESOURCES, 'internal error while sending UPDATEs')
  }

  // ------------------------------------------------------------ own subnet

  /** Withdraws our own subnet from every peer (fabric leave). */
  withdrawLocal(): void {
    this.v6?.withdrawLocal()
    if (!this.local || !this.o.ownSubnet) {
      if (this.v6) this.flush()
      return
    }
    this.local = undefined
    for (const q of this.peers) {
      if (q.peer.withoutIpv4) continue
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
    return this.rib.best(p)
  }

  /** Every route (all peers) of a prefix, best first. */
  routes(p: Prefix): Route[] {
    return this.rib.routes(p)
  }

  get size(): number {
    return this.rib.size
  }

  stats(): SpeakerStats {
    let paths = 0
    for (const p of this.peers) paths += p.paths.size
    return {
      prefixes: this.rib.size, paths, updatesIn: this.updatesIn, updatesOut: this.updatesOut, filtered: { ...this.filtered },
      ...(this.v6 ? { prefixes6: this.v6.size, filtered6: { ...this.v6.filtered } } : {}),
    }
  }
}
