/**
 * Which [host.*] of fabric.ini is this host, and where its underlay is: the
 * pure part of host identification, shared by the agent (which refuses to
 * start when it is ambiguous) and `fabric doctor` (which reports it). Works
 * on interface addresses as rtnetlink reports them.
 */
import type { HostEntry } from '../config/fabric-config.js'
import { type Prefix, prefix } from '../net/ipv4.js'
import { type Prefix6, bytesOf6, classify6, prefix6 } from '../net/ipv6.js'

/** RT_SCOPE_HOST: loopback-like addresses, never an underlay address */
export const SCOPE_HOST = 254

/** An IPv4 address of an interface (kernel/rtnl's KernelAddress and kernel/interfaces' NetInterface addresses fit). */
export interface LocalAddress {
  /** interface index */
  index: number
  address: number
  prefixLen: number
  scope: number
}

export interface LocalLink {
  index: number
  name: string
}

/** The addresses that may be an underlay address: all but host-scoped ones. */
export function underlayCandidates(addrs: readonly LocalAddress[]): LocalAddress[] {
  return addrs.filter((a) => a.scope !== SCOPE_HOST)
}

/** The interface holding an address and its connected network: this host's underlay. */
export function placeOf(addr: LocalAddress, links: readonly LocalLink[]): { interface: string; underlay: Prefix } {
  const link = links.find((l) => l.index === addr.index)
  return { interface: link?.name ?? `if${addr.index}`, underlay: prefix(addr.address, addr.prefixLen) }
}

export type HostMatch =
  | { kind: 'one'; entry: HostEntry; addr: LocalAddress }
  | { kind: 'none' }
  | { kind: 'several'; names: string[] }

/** The [host.*] whose address is one of this host's (at most one may be). */
export function matchHostEntry(hosts: readonly HostEntry[], addrs: readonly LocalAddress[]): HostMatch {
  const local = underlayCandidates(addrs)
  const matches = hosts.filter((h) => local.some((a) => a.address === h.address))
  if (matches.length === 0) return { kind: 'none' }
  if (matches.length > 1) return { kind: 'several', names: matches.map((m) => m.name) }
  const entry = matches[0]!
  return { kind: 'one', entry, addr: local.find((a) => a.address === entry.address)! }
}

/** An IPv6 address of an interface (kernel/rtnl's KernelAddress6 fits). */
export interface LocalAddress6 {
  index: number
  /** RFC 5952 text */
  address: string
  prefixLen: number
  scope: number
  flags?: number
}

/** IFA_F_DADFAILED: an address the kernel will not use */
const IFA_F_DADFAILED = 0x08

export type Address6Choice = { ok: true; address6: string; underlay6: Prefix6 } | { ok: false; error: string }

/**
 * This host's underlay IPv6 address on its underlay interface (`index`,
 * named `iface`) and its connected prefix: `given` (--address6 or the
 * [host.*] address6) when it is on that interface, else the one global or
 * unique-local address there. Several, none, or one without an on-link
 * prefix (/128) are refused with what to do.
 */
export function chooseAddress6(addrs6: readonly LocalAddress6[], index: number, iface: string, given?: { address6: string; from: string }): Address6Choice {
  const usable = (a: LocalAddress6): boolean => {
    const c = classify6(a.address)
    return (c === 'global' || c === 'unique-local') && ((a.flags ?? 0) & IFA_F_DADFAILED) === 0
  }
  const here = addrs6.filter((a) => a.index === index && usable(a))
  const list = (xs: readonly LocalAddress6[]): string => xs.map((a) => `${a.address}/${a.prefixLen}`).join(', ') || 'none'
  let pick: LocalAddress6 | undefined
  if (given !== undefined) {
    pick = here.find((a) => a.address === given.address6)
    if (pick === undefined) {
      const elsewhere = addrs6.find((a) => a.address === given.address6)
      return { ok: false, error: `${given.from} ${given.address6} is not assigned to the underlay interface ${iface}${elsewhere ? ` (it is on interface index ${elsewhere.index})` : ''}; ${iface} has ${list(here)}` }
    }
  } else if (here.length === 0) {
    return { ok: false, error: `pool6 is set but the underlay interface ${iface} has no global IPv6 address (link-local ones cannot be an IPv6 next hop for other hosts): add one, or pass --address6 / set [host.*] address6 to an address on ${iface}` }
  } else if (here.length > 1) {
    return { ok: false, error: `the underlay interface ${iface} has several global IPv6 addresses (${list(here)}); say which one is this host's with --address6 or [host.*] address6` }
  } else pick = here[0]!
  if (pick.prefixLen >= 128) return { ok: false, error: `${pick.address}/128 on ${iface} has no on-link prefix, so no other host's IPv6 address is directly reachable through it; give the address its prefix length (e.g. /64)` }
  return { ok: true, address6: pick.address, underlay6: prefix6(bytesOf6(pick.address), pick.prefixLen) }
}
