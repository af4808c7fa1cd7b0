/**
 * MP-BGP IPv6 unicast (RFC 4760 AFI 2 SAFI 1, next hops per RFC 2545) in the
 * speaker: the IPv6 Adj-RIBs-In and Loc-RIB, import policy, next-hop choice,
 * announcements in MP_REACH_NLRI / withdrawals in MP_UNREACH_NLRI, End-of-RIB,
 * route reflection and graceful restart for the family. The Speaker
 * (speaker.ts) owns one when the host is dual-stack and hands it the IPv6
 * parts of every UPDATE and every session event.
 *
 * IPv6 tables are a subnet per host: plain objects and text-keyed maps
 * (net/ipv6.ts PrefixMap6), no interning, so the memory-tuned IPv4
 * structures (paths.ts, loc-rib.ts, peer-rib.ts) are not touched. Best path
 * selection and what goes to which peer are the IPv4 rules, shared:
 * loc-rib.ts comparePaths and export-policy.ts exportable().
 */
import { type NextHopProblem6, type NextHopScope6, NEXT_HOP_PROBLEM_TEXT6, type Prefix6, PrefixMap6, formatPrefix6, nextHopProblem6, samePrefix6 } from '../../net/ipv6.js'
import type { RibRoute6 } from '../../rib/rib6.js'
import type { RouteSink6 } from '../../rib/source.js'
import { asPathLength, attributesEncodingLength, ipv6NextHops } from './codec/attributes.js'
import { AFI_IPV6, HEADER_LENGTH, SAFI_UNICAST } from './codec/constants.js'
import { maxMessageLength } from './codec/message.js'
import type { AsPathSegment, MpReach, PathAttribute, UpdateMessage } from './codec/types.js'
import { chunkPrefixes, makeEndOfRib } from './codec/update.js'
import { type ExportablePath, type ExportPolicy, exportedAttributes } from './export-policy.js'
import { comparePaths } from './loc-rib.js'
import { DEFAULT_LOCAL_PREF, type Origin } from './paths.js'
import type { PeerRib, SpeakerPeer, StaleMark } from './peer-rib.js'
import type { ImportRejection } from './policy.js'
import type { ImportPolicy6 } from './policy6.js'
import { readReceivedPath, receivedPathProblem } from './as-path.js'

/** Why an IPv6 prefix was dropped (counted in `filtered6`). */
export type DropReason6 =
  | ImportRejection
  | 'as-loop' | 'originator-loop' | 'cluster-loop' | 'treat-as-withdraw'
  | 'as-path-empty' | 'first-as-mismatch' | 'as-confed'
  | `next-hop-${NextHopProblem6}`
  | 'next-hop-missing'
  | 'unencodable'

const ORIGIN_NAMES = ['igp', 'egp', 'incomplete'] as const

/** Display attributes of an IPv6 route (RibRoute6.attrs); `stale` is written in place in helper mode, as for IPv4. */
interface Attrs6 {
  asPath: number[]
  localPref: number
  origin: 'igp' | 'egp' | 'incomplete'
  ibgp: boolean
  med?: number
  stale?: StaleMark
  [k: string]: unknown
}

/** One set of IPv6 path attributes from one UPDATE (shared by its prefixes). */
export interface Path6 extends ExportablePath {
  /** the peer it was learned from; undefined for our own subnet6 */
  readonly from: PeerRib | undefined
  /** the global next hop as received (RFC 2545: first 16 octets) */
  readonly nextHop: string
  /** the link-local next hop as received (32-octet form with an fe80::/10 second half) */
  readonly linkLocal: string | undefined
  /** what the kernel route uses: the global next hop when it is on underlay6, else the link-local one */
  readonly hop: string
  readonly ibgp: boolean
  readonly asPathLen: number
  readonly neighborAs: number
  readonly attrs: Attrs6
  /** the attributes as text: an unchanged re-announcement is recognised and changes nothing */
  readonly key: string
}

interface Route6 {
  readonly prefix: Prefix6
  readonly path: Path6
  readonly rib: RibRoute6
  /** helper mode: learned in the previous session and not re-announced yet */
  stale: boolean
}

/** The IPv6 side of one peer: counters, End-of-RIB per family, pending Adj-RIB-Out changes. */
interface Peer6 {
  received: number
  accepted: number
  filtered: number
  sent: number
  /** IPv4 / IPv6 End-of-RIB of the current session */
  eor4: boolean
  eor6: boolean
  ownSubnetClaim: Prefix6 | undefined
  readonly pending: PrefixMap6<Path6 | null>
  readonly unencodable: WeakSet<Path6>
}

export interface Speaker6Log {
  info(event: string, fields?: Record<string, unknown>): void
  warn(event: string, fields?: Record<string, unknown>): void
  limited(level: 'info' | 'warn' | 'error', event: string, key: string, fields?: Record<string, unknown>): void
}

/** The IPv6 side of the speaker (dual-stack host): what speaker6.ts needs besides the IPv4 options. */
export interface SpeakerIpv6Options {
  /** our global underlay IPv6 address: the next hop we announce */
  readonly address6: string
  /** the underlay interface's link-local address (RFC 2545 second next hop to on-link peers) */
  readonly linkLocal?: string
  /** the underlay interface: every IPv6 route learned goes out of it */
  readonly interface: string
  /** our subnet6 (undefined: announce nothing, listening only) */
  readonly ownSubnet6?: Prefix6
  readonly policy: ImportPolicy6
  /** which next hops are acceptable: underlay6, our own addresses, pool6 */
  readonly nextHop: NextHopScope6
  readonly sink6: RouteSink6
  /** whether a peer shares our underlay link (then the link-local next hop goes with the global one) */
  readonly onLink: (peer: SpeakerPeer) => boolean
}

/** What the IPv6 speaker gets: the IPv6 options plus what it shares with the IPv4 speaker. */
export interface Speaker6Options extends SpeakerIpv6Options {
  readonly asn: number
  readonly routerId: number
  readonly clusterId: number
  /** the speaker's export policy (split horizon, reflection rules) */
  readonly exports: ExportPolicy
  readonly log: Speaker6Log
  /** the Established peers (the speaker's set) */
  readonly peers: () => Iterable<PeerRib>
  readonly scheduleFlush: () => void
}

/** Octets of the longest IPv6 NLRI entry (a /128): an UPDATE must have room for one. */
const MAX_NLRI6_LENGTH = 17

function nlri6Length(p: Prefix6): number {
  return 1 + Math.ceil(p.len / 8)
}

export class Speaker6 {
  private readonly table = new PrefixMap6<Route6[]>()
  private readonly state = new Map<PeerRib, Peer6>()
  private local: Path6 | undefined
  private policy: ImportPolicy6
  readonly filtered: Partial<Record<DropReason6, number>> = {}

  constructor(private readonly o: Speaker6Options) {
    this.policy = o.policy
    if (o.ownSubnet6) this.local = this.makePath(undefined, o.address6, o.linkLocal, o.address6, 0, [], undefined, DEFAULT_LOCAL_PREF, undefined, [], [])
  }

  private peer6(p: PeerRib): Peer6 {
    let s = this.state.get(p)
    if (!s) {
      s = { received: 0, accepted: 0, filtered: 0, sent: 0, eor4: false, eor6: false, ownSubnetClaim: undefined, pending: new PrefixMap6(), unencodable: new WeakSet() }
      this.state.set(p, s)
    }
    return s
  }

  private count(reason: DropReason6, n: number): void {
    this.filtered[reason] = (this.filtered[reason] ?? 0) + n
  }

  // ------------------------------------------------------------ sessions

  /** A session is Established (new or resumed): End-of-RIB of both families awaited again. */
  up(p: PeerRib): void {
    const s = this.peer6(p)
    s.eor4 = false
    s.eor6 = false
    s.pending.clear()
    s.ownSubnetClaim = undefined
  }

  /**
   * End-of-RIB of one family from p. Returns true once every family the
   * session negotiated has sent it (then the peer's table is complete).
   */
  endOfRib(p: PeerRib, afi: 1 | 2): boolean {
    const s = this.peer6(p)
    if (afi === 1) s.eor4 = true
    else if (!s.eor6) {
      s.eor6 = true
      this.o.log.info('end-of-rib-received', { peer: p.peer.key, family: 'ipv6-unicast', accepted: s.accepted, filtered: s.filtered })
    }
    return (s.eor4 || p.peer.withoutIpv4 === true) && (s.eor6 || !p.peer.ipv6)
  }

  /** Helper mode: keep p's IPv6 routes stale when its graceful restart listed IPv6 unicast, else withdraw them now. */
  stale(p: PeerRib, mark: StaleMark, listed: boolean): number {
    const s = this.peer6(p)
    s.pending.clear()
    s.ownSubnetClaim = undefined
    if (!listed) {
      this.down(p)
      return 0
    }
    let n = 0
    for (const r of this.routesOf(p)) {
      r.stale = true
      r.path.attrs.stale = { ...mark }
      n++
    }
    return n
  }

  /** Updates the stale marks of p's stale IPv6 routes. */
  markStale(p: PeerRib, mark: StaleMark): void {
    for (const r of this.routesOf(p)) if (r.stale) r.path.attrs.stale = { ...mark }
  }

  /** The restarted peer is back: without IPv6, or without F for IPv6 in its new OPEN, its stale IPv6 routes go now. */
  resume(p: PeerRib): number {
    this.up(p)
    if (p.peer.ipv6 && p.peer.gracefulRestart6?.forwarding) return 0
    return this.sweep(p)
  }

  /** Removes p's IPv6 routes still stale (End-of-RIB, stale path time). Returns how many. */
  sweep(p: PeerRib): number {
    const gone = this.routesOf(p).filter((r) => r.stale).map((r) => r.prefix)
    for (const n of gone) this.remove(p, n)
    if (gone.length > 0) this.o.scheduleFlush()
    return gone.length
  }

  /** p's IPv6 routes still stale (helper mode). */
  staleCount(p: PeerRib): number {
    let n = 0
    for (const r of this.routesOf(p)) if (r.stale) n++
    return n
  }

  /** The session is gone for good: every IPv6 route of p is withdrawn (the new bests added first). */
  down(p: PeerRib): number {
    const s = this.state.get(p)
    const gone: Prefix6[] = []
    for (const [prefix, e] of this.table.entries()) if (e.some((r) => r.path.from === p)) gone.push(prefix)
    for (const n of gone) this.remove(p, n, false)
    if (gone.length > 0) this.o.sink6.withdrawPeer('bgp', p.peer.key)
    if (s) {
      s.accepted = 0
      s.pending.clear()
      s.ownSubnetClaim = undefined
    }
    this.state.delete(p)
    if (gone.length > 0) this.o.scheduleFlush()
    return gone.length
  }

  private routesOf(p: PeerRib): Route6[] {
    const out: Route6[] = []
    for (const e of this.table.values()) for (const r of e) if (r.path.from === p) out.push(r)
    return out
  }

  // ------------------------------------------------------------ receiving

  /** accepted IPv6 prefixes of p (the speaker adds them to the IPv4 count for the prefix limit) */
  accepted(p: PeerRib): number {
    return this.state.get(p)?.accepted ?? 0
  }

  /**
   * The IPv6 parts of an UPDATE from p (which negotiated IPv6): withdrawals
   * in MP_UNREACH_NLRI, announcements in MP_REACH_NLRI with the UPDATE's
   * attributes (already normalized to 4-octet ASNs).
   */
  receive(p: PeerRib, reach: Extract<MpReach, { afi: 2 }> | undefined, withdrawn: readonly Prefix6[] | undefined, attrs: readonly PathAttribute[], treatAsWithdraw: boolean, limit: () => boolean): void {
    const s = this.peer6(p)
    if (withdrawn) for (const w of withdrawn) this.remove(p, w)
    if (!reach || reach.nlri.length === 0) return
    s.received += reach.nlri.length
    if (treatAsWithdraw) {
      this.count('treat-as-withdraw', reach.nlri.length)
      s.filtered += reach.nlri.length
      for (const n of reach.nlri) this.remove(p, n)
      return
    }
    const path = this.buildPath(p, attrs, reach)
    if (typeof path === 'string') {
      this.count(path, reach.nlri.length)
      s.filtered += reach.nlri.length
      for (const n of reach.nlri) this.remove(p, n)
      return
    }
    for (const n of reach.nlri) {
      const why = this.policy.check(n)
      if (why !== undefined) {
        this.count(why, 1)
        s.filtered++
        this.remove(p, n)
        if (why === 'own-subnet') {
          s.ownSubnetClaim = { addr: n.addr, len: n.len }
          this.o.log.limited('warn', 'bgp-subnet-conflict6', p.peer.key, {
            peer: p.peer.key, prefix: formatPrefix6(n), subnet6: this.o.ownSubnet6 ? formatPrefix6(this.o.ownSubnet6) : undefined,
            note: "another host announces this host's subnet6 (or a part of it): refused; two hosts have the same IPv6 subnet",
          })
        }
        continue
      }
      this.insert(p, n, path)
      if (limit()) return
    }
  }

  /** The path of an IPv6 announcement, or why it is refused (the IPv4 checks of speaker.ts buildPath, RFC 2545 next hops). */
  private buildPath(p: PeerRib, attrs: readonly PathAttribute[], reach: Extract<MpReach, { afi: 2 }>): Path6 | DropReason6 {
    const r = readReceivedPath(attrs)
    const peer = p.peer
    const hops = ipv6NextHops(reach)
    const hop = this.chooseNextHop(peer.key, hops.global, hops.linkLocal)
    if (hop.problem !== undefined) return hop.problem
    const problem = receivedPathProblem(r, peer, this.o, this.o.log, { family: 'ipv6-unicast' })
    if (problem !== undefined) return problem
    return this.makePath(p, hops.global, hops.linkLocal, hop.hop, r.origin, r.segments, r.med, r.localPref ?? DEFAULT_LOCAL_PREF, r.originatorId, r.clusterList, r.transitive)
  }

  /**
   * RFC 2545: the global next hop when it is a host on underlay6 (not us,
   * not a container), else the link-local one (then the route goes via that
   * address on the underlay interface), else the path is refused
   * (treat-as-withdraw, RFC 7606 7.3), counted and logged.
   */
  private chooseNextHop(peerKey: string, global: string, linkLocal: string | undefined): { hop: string; problem?: undefined } | { problem: DropReason6 } {
    const g = global === '::' ? undefined : nextHopProblem6(global, this.o.nextHop)
    if (global !== '::' && g === undefined) return { hop: global }
    if (linkLocal !== undefined && nextHopProblem6(linkLocal, this.o.nextHop) === undefined) return { hop: linkLocal }
    const problem: DropReason6 = g === undefined ? 'next-hop-missing' : `next-hop-${g}`
    this.o.log.limited('warn', 'bgp-next-hop-refused', `${peerKey} ${problem}6`, {
      peer: peerKey, family: 'ipv6-unicast', nextHop: global, ...(linkLocal !== undefined ? { linkLocalNextHop: linkLocal } : {}),
      problem: g === undefined ? 'no usable next hop' : NEXT_HOP_PROBLEM_TEXT6[g], note: 'treat-as-withdraw (RFC 7606 7.3)',
    })
    return { problem }
  }

  private makePath(from: PeerRib | undefined, nextHop: string, linkLocal: string | undefined, hop: string, origin: Origin, segments: readonly AsPathSegment[],
    med: number | undefined, localPref: number, originatorId: number | undefined, clusterList: readonly number[], transitive: readonly PathAttribute[]): Path6 {
    const first = segments[0]
    const ibgp = from ? from.peer.ibgp : false
    const flat: number[] = []
    for (const s of segments) for (const a of s.asns) flat.push(a)
    const key = JSON.stringify([nextHop, linkLocal, hop, origin, segments, med, localPref, originatorId, clusterList, transitive], (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))
    return {
      key, from, nextHop, linkLocal, hop, origin, segments, med, localPref, originatorId, clusterList, transitive, ibgp,
      asPathLen: asPathLength(segments),
      neighborAs: first && first.type === 'sequence' && first.asns.length > 0 ? first.asns[0]! : 0,
      attrs: { asPath: flat, localPref, origin: ORIGIN_NAMES[origin], ibgp, ...(med !== undefined ? { med } : {}) },
    }
  }

  private insert(p: PeerRib, n: Prefix6, path: Path6): void {
    const s = this.peer6(p)
    const rib: RibRoute6 = {
      prefix: n, nextHop: path.hop, interface: this.o.interface, peer: p.peer.key, metric: path.med ?? 0, source: 'bgp', preference: 0,
      since: Math.floor(Date.now() / 1000), attrs: path.attrs,
    }
    const route: Route6 = { prefix: n, path, rib, stale: false }
    const e = this.table.get(n)
    if (!e) {
      this.table.set(n, [route])
      s.accepted++
      this.bestChanged(n, undefined, route, true)
      return
    }
    const old = e[0]!
    const i = e.findIndex((r) => r.path.from === p)
    // an unchanged re-announcement keeps the route (and its age); a stale one is replaced (helper mode: it was re-announced)
    if (i >= 0 && !e[i]!.stale && e[i]!.path.key === path.key) return
    if (i >= 0) e[i] = route
    else {
      e.push(route)
      s.accepted++
    }
    e.sort((a, b) => comparePaths(a.path, b.path))
    if (e[0] !== old) this.bestChanged(n, old, e[0]!, true)
  }

  /** Removes p's route for n, if any; withdrawOld false: the caller withdraws the peer from the sink as a whole. */
  private remove(p: PeerRib, n: Prefix6, withdrawOld = true): void {
    const s = this.state.get(p)
    if (s?.ownSubnetClaim && samePrefix6(s.ownSubnetClaim, n)) s.ownSubnetClaim = undefined
    const e = this.table.get(n)
    if (!e) return
    const i = e.findIndex((r) => r.path.from === p)
    if (i < 0) return
    const old = e[0]!
    e.splice(i, 1)
    if (s) s.accepted--
    if (e.length === 0) this.table.delete(n)
    if (i === 0) this.bestChanged(n, old, e[0], withdrawOld)
  }

  /** The Loc-RIB best of n changed: the RIB learns it (add before withdraw) and every peer's Adj-RIB-Out follows. */
  private bestChanged(n: Prefix6, old: Route6 | undefined, neu: Route6 | undefined, withdrawOld: boolean): void {
    const sink = this.o.sink6
    if (neu) {
      sink.add(neu.rib)
      if (withdrawOld && old && old.rib.peer !== neu.rib.peer) sink.withdraw(old.prefix, 'bgp', old.rib.peer)
    } else if (withdrawOld && old) sink.withdraw(old.prefix, 'bgp', old.rib.peer)
    let queued = false
    for (const q of this.o.peers()) {
      if (!q.peer.ipv6) continue
      const s = this.peer6(q)
      const was = old !== undefined && this.advertisable(q, old.path)
      const now = neu !== undefined && this.advertisable(q, neu.path)
      if (now) {
        s.pending.set(n, neu!.path)
        if (!was) s.sent++
        queued = true
      } else if (was) {
        s.pending.set(n, null)
        s.sent--
        queued = true
      }
    }
    if (queued) this.o.scheduleFlush()
  }

  /** A new import policy (reload): IPv6 routes it refuses are withdrawn. Returns how many. */
  setPolicy(policy: ImportPolicy6): number {
    this.policy = policy
    const refused: Array<[PeerRib, Prefix6]> = []
    for (const [prefix, e] of this.table.entries()) {
      for (const r of e) {
        const from = r.path.from
        const why = from ? policy.check(prefix) : undefined
        if (from && why !== undefined) {
          refused.push([from, prefix])
          this.count(why, 1)
          this.peer6(from).filtered++
        }
      }
    }
    for (const [p, n] of refused) this.remove(p, n)
    return refused.length
  }

  // ------------------------------------------------------------ sending

  /** Whether the path goes to q: the IPv4 export rules, and room for one /128 in an UPDATE. */
  private advertisable(q: PeerRib, path: Path6): boolean {
    if (!this.o.exports.exportable(q, path)) return false
    const room = this.nlriRoom(q, path)
    if (room >= MAX_NLRI6_LENGTH) return true
    const s = this.peer6(q)
    if (!s.unencodable.has(path)) {
      s.unencodable.add(path)
      this.count('unencodable', 1)
      this.o.log.limited('warn', 'bgp-path-unencodable', q.peer.key, {
        peer: q.peer.key, family: 'ipv6-unicast', maxMessage: maxMessageLength(q.peer.ctx), from: path.from?.peer.key ?? 'local',
        note: 'not sent to this peer (RFC 8654 4, RFC 7606): the path attributes leave no room for NLRI',
      })
    }
    return false
  }

  /** Octets left for IPv6 NLRI in one UPDATE with this path's attributes to q (one more for an extended-length MP_REACH_NLRI). */
  private nlriRoom(q: PeerRib, path: Path6): number {
    return maxMessageLength(q.peer.ctx) - HEADER_LENGTH - 4 - attributesEncodingLength(this.exportAttributes(q, path, []), q.peer.ctx) - 1
  }

  /**
   * The attributes path is sent with to q, MP_REACH_NLRI carrying nlri
   * (RFC 4271 9.2, RFC 4456 as for IPv4): eBGP gets our AS prepended and
   * next hop self, no LOCAL_PREF / MED / reflection attributes; iBGP keeps
   * the next hop (ours for our own subnet6), LOCAL_PREF, MED, and on
   * reflection ORIGINATOR_ID and our cluster id in CLUSTER_LIST. The
   * link-local next hop (RFC 2545 32-octet form) goes only to a peer on our
   * underlay link.
   */
  exportAttributes(q: PeerRib, path: Path6, nlri: readonly Prefix6[]): PathAttribute[] {
    const onLink = this.o.onLink(q.peer)
    const own = !q.peer.ibgp || path.from === undefined
    const global = own ? this.o.address6 : path.nextHop
    const linkLocal = onLink ? (own ? this.o.linkLocal : path.linkLocal) : undefined
    return exportedAttributes(q, path, this.o, { type: 'mpReach', afi: 2, safi: 1, nextHop: global, ...(linkLocal !== undefined ? { linkLocalNextHop: linkLocal } : {}), nlri })
  }

  /** UPDATEs announcing these prefixes with path to q, as few as fit q's message size. */
  private announcements(q: PeerRib, path: Path6, prefixes: readonly Prefix6[]): UpdateMessage[] {
    return chunkPrefixes(prefixes, this.nlriRoom(q, path), nlri6Length).map((group) => ({ type: 'update', withdrawn: [], nlri: [], attributes: this.exportAttributes(q, path, group) }))
  }

  private withdrawals(q: PeerRib, prefixes: readonly Prefix6[]): UpdateMessage[] {
    // header, two length fields, an extended-length MP_UNREACH_NLRI header (4) and AFI/SAFI (3)
    const room = maxMessageLength(q.peer.ctx) - HEADER_LENGTH - 4 - 4 - 3
    return chunkPrefixes(prefixes, room, nlri6Length).map((group) => ({ type: 'update', withdrawn: [], nlri: [], attributes: [{ type: 'mpUnreach', afi: 2, safi: 1, withdrawn: group }] }))
  }

  /** The whole IPv6 Adj-RIB-Out of q (our subnet6 first), then the IPv6 End-of-RIB if asked. */
  tableMessages(q: PeerRib, endOfRib: boolean): UpdateMessage[] {
    if (!q.peer.ipv6) return []
    const s = this.peer6(q)
    const groups = new Map<Path6, Prefix6[]>()
    let n = 0
    if (this.local && this.o.ownSubnet6 && this.advertisable(q, this.local)) {
      groups.set(this.local, [this.o.ownSubnet6])
      n++
    }
    for (const e of this.table.values()) {
      const best = e[0]!
      if (!this.advertisable(q, best.path)) continue
      let g = groups.get(best.path)
      if (!g) groups.set(best.path, (g = []))
      g.push(best.prefix)
      n++
    }
    s.pending.clear()
    s.sent = n
    const out: UpdateMessage[] = []
    for (const [path, prefixes] of groups) out.push(...this.announcements(q, path, prefixes))
    if (endOfRib) out.push(makeEndOfRib(AFI_IPV6, SAFI_UNICAST))
    return out
  }

  hasPending(q: PeerRib): boolean {
    return (this.state.get(q)?.pending.size ?? 0) > 0
  }

  /** q's queued IPv6 changes as UPDATEs: withdrawals first. */
  pendingMessages(q: PeerRib): UpdateMessage[] {
    const s = this.state.get(q)
    if (!s || s.pending.size === 0) return []
    const withdrawn: Prefix6[] = []
    const groups = new Map<Path6, Prefix6[]>()
    for (const [prefix, path] of s.pending.entries()) {
      if (path === null) withdrawn.push(prefix)
      else {
        let g = groups.get(path)
        if (!g) groups.set(path, (g = []))
        g.push(prefix)
      }
    }
    s.pending.clear()
    const out = withdrawn.length > 0 ? this.withdrawals(q, withdrawn) : []
    for (const [path, prefixes] of groups) out.push(...this.announcements(q, path, prefixes))
    return out
  }

  /** `fabric leave`: our subnet6 is withdrawn from every peer (queued; the speaker flushes). */
  withdrawLocal(): void {
    const own = this.o.ownSubnet6
    if (!this.local || !own) return
    const local = this.local
    for (const q of this.o.peers()) {
      if (!q.peer.ipv6 || !this.o.exports.exportable(q, local)) continue
      const s = this.peer6(q)
      s.pending.set(own, null)
      s.sent--
    }
    this.local = undefined
  }

  // ------------------------------------------------------------ views

  /** Peers announcing this host's subnet6 now. */
  subnetConflicts(): { peer: string; prefix: Prefix6 }[] {
    const out: { peer: string; prefix: Prefix6 }[] = []
    for (const p of this.o.peers()) {
      const c = this.state.get(p)?.ownSubnetClaim
      if (p.up && c) out.push({ peer: p.peer.key, prefix: c })
    }
    return out
  }

  /** `fabric peers` details of p's IPv6 unicast. */
  peerView(p: PeerRib): { received: number; accepted: number; filtered: number; sent: number; endOfRib: boolean } | undefined {
    const s = this.state.get(p)
    if (!s || !p.peer.ipv6) return undefined
    return { received: s.received, accepted: s.accepted, filtered: s.filtered, sent: s.sent, endOfRib: s.eor6 }
  }

  /** Loc-RIB best of an IPv6 prefix (tests, CLI). */
  best(n: Prefix6): RibRoute6 | undefined {
    return this.table.get(n)?.[0]?.rib
  }

  /** Every route (all peers) of an IPv6 prefix, best first. */
  routes(n: Prefix6): RibRoute6[] {
    return (this.table.get(n) ?? []).map((r) => r.rib)
  }

  get size(): number {
    return this.table.size
  }
}
