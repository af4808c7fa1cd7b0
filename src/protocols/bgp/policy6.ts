/**
 * IPv6 import policy of the BGP speaker (MP-BGP, AFI 2 SAFI 1): the IPv4
 * rules of policy.ts for the other family. A prefix is accepted when it is
 * inside pool6 or an `allow6` prefix (not shorter than it), is not this
 * host's subnet6 nor inside it, is not longer than `max-prefix-length6`, and
 * is not an IPv6 martian (net/ipv6.ts isMartian6: multicast, link-local,
 * IPv4-mapped, ::/128, ::1/128). IPv6 tables are small: text prefixes.
 */
import { type Prefix6, containsPrefix6, isMartian6 } from '../../net/ipv6.js'
import type { ImportRejection } from './policy.js'

export interface ImportPolicy6Options {
  /** the IPv6 container pool (pool6) */
  readonly pool6: Prefix6
  /** prefixes accepted besides pool6 ([bgp] allow6) */
  readonly allow6: readonly Prefix6[]
  /** this host's subnet6: never learned from a peer (nor anything inside it); undefined: none (listening only) */
  readonly ownSubnet6: Prefix6 | undefined
  /** longest prefix accepted (1..128) */
  readonly maxPrefixLength6: number
}

export interface ImportPolicy6 {
  check(p: Prefix6): ImportRejection | undefined
}

export function createImportPolicy6(o: ImportPolicy6Options): ImportPolicy6 {
  const accepted = [o.pool6, ...o.allow6]
  const own = o.ownSubnet6
  const max = o.maxPrefixLength6
  return {
    check(p: Prefix6): ImportRejection | undefined {
      if (p.len > max) return 'too-specific'
      // our own subnet6 or anything inside it would steal our containers' traffic
      if (own && containsPrefix6(own, p)) return 'own-subnet'
      if (!accepted.some((r) => containsPrefix6(r, p))) return 'outside-pool'
      if (isMartian6(p)) return 'martian'
      return undefined
    },
  }
}
