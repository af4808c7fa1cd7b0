/**
 * What a received path carries and whether it may be used, both families
 * (speaker.ts for IPv4 NLRI, speaker6.ts for MP_REACH_NLRI): the attributes
 * a Path keeps, the eBGP AS_PATH rule (RFC 4271 6.3, RFC 7606 7.2) and the
 * loop checks (RFC 4271 9.1.2, RFC 4456 8).
 */
import type { Logger } from '../../core/log.js'
import { AS_TRANS } from './codec/constants.js'
import type { AsPathSegment, PathAttribute } from './codec/types.js'
import type { SpeakerPeer } from './peer-rib.js'
import type { Origin } from './paths.js'

/** Why an AS_PATH from an eBGP peer of this AS is refused, if it is. */
export function ebgpAsPathProblem(segments: readonly AsPathSegment[], peerAs: number): 'as-path-empty' | 'first-as-mismatch' | 'as-confed' | undefined {
  if (segments.length === 0) return 'as-path-empty'
  for (const s of segments) if (s.type === 'confedSequence' || s.type === 'confedSet') return 'as-confed'
  const first = segments[0]!
  if (first.type !== 'sequence' || first.asns[0] !== peerAs) return 'first-as-mismatch'
  return undefined
}

/** The attributes of a received UPDATE that a path keeps; the optional transitive ones are passed on as they came. */
export interface ReceivedPath {
  origin: Origin
  segments: readonly AsPathSegment[]
  med: number | undefined
  localPref: number | undefined
  originatorId: number | undefined
  clusterList: readonly number[]
  transitive: PathAttribute[]
}

export function readReceivedPath(attrs: readonly PathAttribute[]): ReceivedPath {
  const r: ReceivedPath = { origin: 0, segments: [], med: undefined, localPref: undefined, originatorId: undefined, clusterList: [], transitive: [] }
  for (const a of attrs) {
    switch (a.type) {
      case 'origin': r.origin = a.origin; break
      case 'asPath': r.segments = a.segments; break
      case 'med': r.med = a.med; break
      case 'localPref': r.localPref = a.localPref; break
      case 'originatorId': r.originatorId = a.id; break
      case 'clusterList': r.clusterList = a.ids; break
      case 'atomicAggregate':
      case 'aggregator':
      case 'communities':
      case 'unknown':
        r.transitive.push(a)
        break
      default:
        break
    }
  }
  return r
}

export type ReceivedPathProblem = 'originator-loop' | 'cluster-loop' | 'as-loop' | 'as-path-empty' | 'first-as-mismatch' | 'as-confed'

/**
 * iBGP: our own ORIGINATOR_ID or CLUSTER_ID coming back is a loop (RFC 4456
 * 8). eBGP: the AS_PATH starts with the peer's AS and carries no
 * confederation segments (RFC 4271 6.3, RFC 7606 7.2: BIRD's and FRR's
 * enforce-first-as; RFC 5065 5: we are in no confederation; a 2-octet peer
 * of a 4-octet AS is AS_TRANS in its OPEN and its path starts with the real
 * AS), our AS in it is a loop, and LOCAL_PREF, ORIGINATOR_ID and
 * CLUSTER_LIST, meaning nothing across an AS border, are cleared from `r`.
 * A refused AS_PATH is logged (rate-limited) with `fields`.
 */
export function receivedPathProblem(
  r: ReceivedPath, peer: SpeakerPeer, local: { asn: number; routerId: number; clusterId: number },
  log: Pick<Logger, 'limited'>, fields: Record<string, unknown> = {},
): ReceivedPathProblem | undefined {
  if (peer.ibgp) {
    if (r.originatorId !== undefined && r.originatorId >>> 0 === local.routerId >>> 0) return 'originator-loop'
    if (r.clusterList.includes(local.clusterId)) return 'cluster-loop'
    return undefined
  }
  const why = peer.asn === AS_TRANS && !peer.ctx.as4 ? undefined : ebgpAsPathProblem(r.segments, peer.asn)
  if (why !== undefined) {
    log.limited('warn', 'bgp-as-path-refused', `${peer.key} ${why}`, { peer: peer.key, ...fields, problem: why, note: 'treat-as-withdraw (RFC 7606 7.2)' })
    return why
  }
  for (const s of r.segments) if (s.asns.includes(local.asn)) return 'as-loop'
  r.localPref = undefined
  r.originatorId = undefined
  r.clusterList = []
  return undefined
}
