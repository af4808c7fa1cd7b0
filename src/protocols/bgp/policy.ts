/**
 * Import policy of the BGP speaker: which prefixes a peer may teach this
 * host. Pure; the speaker calls it once per received prefix, so it works on
 * numbers only (no strings, no allocation).
 */
import { type Prefix, isMartian, maskOf } from '../../net/ipv4.js'

export interface ImportPolicyOptions {
  /** the fabric pool: container subnets are cut from it */
  readonly pool: Prefix
  /** prefixes accepted besides the pool */
  readonly allow: readonly Prefix[]
  /** this host's own subnet: never learned from a peer (nor anything inside it) */
  readonly ownSubnet: Prefix
  /** longest prefix accepted */
  readonly maxPrefixLength: number
  /** fabric networks: their pools accepted like `pool`, this host's subnets in them refused like `ownSubnet` */
  readonly networks?: { readonly pools: readonly Prefix[]; readonly ownSubnets: readonly Prefix[] }
}

/** Why a prefix was refused; undefined when accepted. */
export type ImportRejection = 'outside-pool' | 'own-subnet' | 'too-specific' | 'martian'

export interface ImportPolicy {
  check(addr: number, len: number): ImportRejection | undefined
}

interface Range {
  readonly addr: number
  readonly mask: number
  readonly len: number
}

function range(p: Prefix): Range {
  return { addr: p.addr >>> 0, mask: maskOf(p.len), len: p.len }
}

function inside(r: Range, addr: number, len: number): boolean {
  return len >= r.len && ((addr & r.mask) >>> 0) === r.addr
}

export function createImportPolicy(o: ImportPolicyOptions): ImportPolicy {
  const accepted = [range(o.pool), ...(o.networks?.pools ?? []).map(range), ...o.allow.map(range)]
  const own = range(o.ownSubnet)
  const ownMore = (o.networks?.ownSubnets ?? []).map(range)
  const max = o.maxPrefixLength
  return {
    check(addr: number, len: number): ImportRejection | undefined {
      if (len > max) return 'too-specific'
      // our own subnet or anything inside it would steal our containers' traffic
      // (a covering aggregate is harmless: the connected subnet is more specific)
      if (inside(own, addr, len)) return 'own-subnet'
      for (const r of ownMore) if (inside(r, addr, len)) return 'own-subnet'
      let ok = false
      for (const r of accepted) {
        if (inside(r, addr, len)) {
          ok = true
          break
        }
      }
      if (!ok) return 'outside-pool'
      if (isMartian({ addr, len })) return 'martian'
      return undefined
    },
  }
}

/** True when p is accepted by the policy (convenience for tests and tools). */
export function accepts(policy: ImportPolicy, p: Prefix): boolean {
  return policy.check(p.addr, p.len) === undefined
}
