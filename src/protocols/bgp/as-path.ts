/** The AS_PATH rule for eBGP peers (RFC 4271 6.3, RFC 7606 7.2), both families. */
import type { AsPathSegment } from './codec/types.js'

/** Why an AS_PATH from an eBGP peer of this AS is refused, if it is. */
export function ebgpAsPathProblem(segments: readonly AsPathSegment[], peerAs: number): 'as-path-empty' | 'first-as-mismatch' | 'as-confed' | undefined {
  if (segments.length === 0) return 'as-path-empty'
  for (const s of segments) if (s.type === 'confedSequence' || s.type === 'confedSet') return 'as-confed'
  const first = segments[0]!
  if (first.type !== 'sequence' || first.asns[0] !== peerAs) return 'first-as-mismatch'
  return undefined
}
