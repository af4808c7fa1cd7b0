/**
 * Which addresses may be a learned route's next hop. A host's subnet is only
 * ever reached via another host's underlay address: a unicast address on
 * this host's underlay network, never that network's own (network) or
 * broadcast address, never this host's address, never an address inside the
 * container pool (that would hijack another host's subnet into a container).
 * BGP and RIP refuse such next hops on import; FIB sync refuses them again
 * before the kernel sees them.
 */
import { type Prefix, containsAddress, maskOf } from './ipv4.js'

export type NextHopProblem =
  | 'not-unicast'
  | 'not-on-underlay'
  | 'underlay-network-address'
  | 'underlay-broadcast-address'
  | 'own-address'
  | 'inside-pool'

export interface NextHopScope {
  /** this host's underlay network (the interface's connected prefix) */
  underlay: Prefix
  /** this host's underlay address */
  self: number
  /** container pools (fabric pool, networks): next hops there face containers */
  pools?: readonly Prefix[]
}

export const NEXT_HOP_PROBLEM_TEXT: Record<NextHopProblem, string> = {
  'not-unicast': 'not a unicast address (0/8, 127/8, 169.254/16, multicast or reserved)',
  'not-on-underlay': 'not on the underlay network',
  'underlay-network-address': "the underlay network's own address",
  'underlay-broadcast-address': "the underlay network's broadcast address",
  'own-address': "this host's own address",
  'inside-pool': 'inside the container pool (a container, not a host)',
}

/** undefined when `addr` is an acceptable next hop; else why not. */
export function nextHopProblem(addr: number, scope: NextHopScope): NextHopProblem | undefined {
  const first = addr >>> 24
  if (first === 0 || first === 127 || first >= 224 || (addr >>> 16) === 0xa9fe) return 'not-unicast'
  for (const p of scope.pools ?? []) if (containsAddress(p, addr)) return 'inside-pool'
  if (!containsAddress(scope.underlay, addr)) return 'not-on-underlay'
  if (addr === scope.self) return 'own-address'
  const len = scope.underlay.len
  // a /31 (RFC 3021) and a /32 have no network or broadcast address
  if (len <= 30) {
    if (addr === scope.underlay.addr) return 'underlay-network-address'
    if (addr === ((scope.underlay.addr | ~maskOf(len)) >>> 0)) return 'underlay-broadcast-address'
  }
  return undefined
}
