/**
 * What goes to which peer, and with which attributes (RFC 4271 9.2, RFC 4456):
 * iBGP split horizon, route reflection to and from clients, eBGP attribute
 * rewriting (AS prepend, next-hop-self, no LOCAL_PREF / MED / reflection
 * attributes across the AS border), 2-octet AS peers (RFC 6793), and the check
 * that a path's attributes leave room for NLRI in one UPDATE to the peer.
 */
import type { Logger } from '../../core/log.js'
import { as2Attributes, attributesEncodingLength } from './codec/attributes.js'
import { AttrType, HEADER_LENGTH } from './codec/constants.js'
import { maxMessageLength } from './codec/message.js'
import type { AsPathSegment, PathAttribute } from './codec/types.js'
import type { PeerRib } from './peer-rib.js'
import type { ExportedAttributes, Path } from './paths.js'

/** octets of the longest IPv4 NLRI entry (a /32): an UPDATE must have room for one */
const MAX_NLRI_LENGTH = 5

const ATTR_CODE: Record<PathAttribute['type'], number> = {
  origin: AttrType.ORIGIN, asPath: AttrType.AS_PATH, nextHop: AttrType.NEXT_HOP, med: AttrType.MULTI_EXIT_DISC,
  localPref: AttrType.LOCAL_PREF, atomicAggregate: AttrType.ATOMIC_AGGREGATE, aggregator: AttrType.AGGREGATOR,
  communities: AttrType.COMMUNITIES, originatorId: AttrType.ORIGINATOR_ID, clusterList: AttrType.CLUSTER_LIST,
  mpReach: AttrType.MP_REACH_NLRI, mpUnreach: AttrType.MP_UNREACH_NLRI, as4Path: AttrType.AS4_PATH,
  as4Aggregator: AttrType.AS4_AGGREGATOR, unknown: 255,
}

/** The attribute's type code: attributes are sent in this order. */
export function codeOf(a: PathAttribute): number {
  return a.type === 'unknown' ? a.code : ATTR_CODE[a.type]
}

/** What the export of a path reads, IPv4 (paths.ts Path) or IPv6 (speaker6.ts Path6) alike. */
export interface ExportablePath {
  readonly from: PeerRib | undefined
  readonly origin: Path['origin']
  readonly segments: readonly AsPathSegment[]
  readonly med: number | undefined
  readonly localPref: number
  readonly originatorId: number | undefined
  readonly clusterList: readonly number[]
  readonly transitive: readonly PathAttribute[]
}

/**
 * The attributes a path goes to q with (RFC 4271 9.2, RFC 4456 8), in type
 * code order and, to a 2-octet AS peer, with AS4_PATH (RFC 6793): to an
 * eBGP peer our AS prepended and no LOCAL_PREF, MED or reflection
 * attributes; to an iBGP peer LOCAL_PREF and MED, and on reflection
 * ORIGINATOR_ID and our cluster id in front of CLUSTER_LIST. `nextHop` is the
 * family's next-hop attribute (NEXT_HOP, or MP_REACH_NLRI for IPv6), chosen
 * by the caller.
 */
export function exportedAttributes(q: PeerRib, path: ExportablePath, local: { asn: number; clusterId: number }, nextHop: PathAttribute): PathAttribute[] {
  const ebgp = !q.peer.ibgp
  const out: PathAttribute[] = [{ type: 'origin', origin: path.origin }, nextHop]
  if (ebgp) out.push({ type: 'asPath', segments: prependAs(local.asn, path.segments) })
  else {
    out.push({ type: 'asPath', segments: path.segments })
    if (path.med !== undefined) out.push({ type: 'med', med: path.med })
    out.push({ type: 'localPref', localPref: path.localPref })
    const from = path.from
    if (from?.peer.ibgp) {
      out.push({ type: 'originatorId', id: path.originatorId ?? from.peer.routerId })
      out.push({ type: 'clusterList', ids: [local.clusterId, ...path.clusterList] })
    }
  }
  out.push(...path.transitive)
  return (q.peer.ctx.as4 ? out : as2Attributes(out)).sort((a, b) => codeOf(a) - codeOf(b))
}

/** The AS_PATH with asn in front (a new leading AS_SEQUENCE when the first is full or not a sequence). */
export function prependAs(asn: number, segments: readonly AsPathSegment[]): AsPathSegment[] {
  const first = segments[0]
  if (first && first.type === 'sequence' && first.asns.length < 255) {
    return [{ type: 'sequence', asns: [asn, ...first.asns] }, ...segments.slice(1)]
  }
  return [{ type: 'sequence', asns: [asn] }, ...segments]
}

export interface ExportPolicyOptions {
  readonly asn: number
  /** RFC 4456 cluster id */
  readonly clusterId: number
  /** every iBGP peer is a route-reflector client */
  readonly routeReflector: boolean
  /** NEXT_HOP of next-hop-self (eBGP) exports: the underlay address */
  readonly localAddress: number
  readonly log: Pick<Logger, 'limited'>
  /** a path was found too long for a peer (once per path and peer) */
  readonly onUnencodable: () => void
}

export class ExportPolicy {
  constructor(private readonly o: ExportPolicyOptions) {}

  get routeReflector(): boolean {
    return this.o.routeReflector
  }

  /** Whether we reflect routes to and from p (RFC 4456): the value applied, shown by `fabric peers`. */
  isClient(p: PeerRib): boolean {
    return p.peer.ibgp && (this.o.routeReflector || p.peer.rrClient)
  }

  /** Whether the Loc-RIB path goes to peer q (RFC 4271 9.2, RFC 4456 6). */
  exportable(q: PeerRib, path: Pick<Path, 'from' | 'originatorId'>): boolean {
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
   * (the speaker's bestChanged), and the path is logged and counted once per path and peer.
   */
  advertisable(q: PeerRib, path: Path): boolean {
    if (!this.exportable(q, path)) return false
    const room = maxMessageLength(q.peer.ctx) - HEADER_LENGTH - 4 - this.exportAttributes(q, path).length
    if (room >= MAX_NLRI_LENGTH) return true
    if (!q.unencodable.has(path)) {
      q.unencodable.add(path)
      this.o.onUnencodable()
      this.o.log.limited('warn', 'bgp-path-unencodable', q.peer.key, {
        peer: q.peer.key, attributeOctets: this.exportAttributes(q, path).length, maxMessage: maxMessageLength(q.peer.ctx),
        from: path.from?.peer.key ?? 'local', note: 'not sent to this peer (RFC 8654 4, RFC 7606): the path attributes leave no room for NLRI',
      })
    }
    return false
  }

  /**
   * The attributes we send for this path to q, cached on the path per kind
   * of peer (eBGP, iBGP reflected, iBGP; 2- or 4-octet AS numbers): what
   * exportedAttributes depends on.
   */
  exportAttributes(q: PeerRib, path: Path): ExportedAttributes {
    const as4 = q.peer.ctx.as4
    const ebgp = !q.peer.ibgp
    const reflect = !ebgp && path.from !== undefined && path.from.peer.ibgp
    const kind = (ebgp ? 0 : reflect ? 2 : 4) + (as4 ? 1 : 0)
    const known = path.exportFor(kind)
    if (known !== undefined) return known
    const list = exportedAttributes(q, path, this.o, { type: 'nextHop', nextHop: ebgp ? this.o.localAddress : path.nextHop })
    return path.keepExport(kind, { attributes: list, length: attributesEncodingLength(list, q.peer.ctx) })
  }
}
