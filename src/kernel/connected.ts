import { type Prefix, prefix } from '../net/ipv4.js'
import { type Prefix6, isLinkLocal6, parseIpv6, prefix6 } from '../net/ipv6.js'
import { IFA_F, IFF, type KernelAddress, type KernelAddress6, type KernelLink, RT_SCOPE } from './rtnl-codec.js'

/** The addresses of up interfaces that are not host-scope (::1, 127.0.0.1), with their link. */
function* onUpLinks<A extends { index: number; scope: number }>(addrs: A[], links: KernelLink[]): Generator<[A, KernelLink]> {
  const byIndex = new Map(links.map((l) => [l.index, l]))
  for (const a of addrs) {
    const link = byIndex.get(a.index)
    if (link === undefined || (link.flags & IFF.UP) === 0) continue // down
    if (a.scope !== RT_SCOPE.HOST) yield [a, link]
  }
}

/** A directly connected network: an address of an up interface and its prefix. */
export interface Connected {
  name: string
  net: Prefix
  local: number
}

/** The connected networks of up interfaces (host-scope and /32 addresses have none). */
export function connectedNetworks(addrs: KernelAddress[], links: KernelLink[]): Connected[] {
  const out: Connected[] = []
  for (const [a, link] of onUpLinks(addrs, links)) {
    if (a.prefixLen >= 32) continue
    out.push({ name: link.name, net: prefix(a.address, a.prefixLen), local: a.address })
  }
  return out
}

/**
 * An IPv6 address of an up interface: a global (or unique local) one with
 * its on-link prefix, or a link-local one (fe80::/10, which makes link-local
 * next hops reachable through that interface).
 */
export interface Connected6 {
  name: string
  index: number
  /** the on-link prefix (for a link-local address: fe80::/64 or its own length) */
  net: Prefix6
  /** RFC 5952 text */
  local: string
  linkLocal: boolean
}

/** The IPv6 connected networks of up interfaces; host-scope (::1), tentative and failed-DAD addresses have none. */
export function connectedNetworks6(addrs: KernelAddress6[], links: KernelLink[]): Connected6[] {
  const out: Connected6[] = []
  for (const [a, link] of onUpLinks(addrs, links)) {
    if ((a.flags & (IFA_F.TENTATIVE | IFA_F.DADFAILED)) !== 0) continue
    const bytes = parseIpv6(a.address)
    if (bytes === undefined) continue
    const linkLocal = isLinkLocal6(bytes)
    // a /128 has no on-link prefix, but a link-local /128 still makes the link usable
    if (a.prefixLen >= 128 && !linkLocal) continue
    out.push({ name: link.name, index: link.index, net: prefix6(bytes, Math.min(a.prefixLen, 128)), local: a.address, linkLocal })
  }
  return out
}
