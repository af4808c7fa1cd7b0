/**
 * Which [host.*] of fabric.ini is this host, and where its underlay is: the
 * pure part of host identification, shared by the agent (which refuses to
 * start when it is ambiguous) and `fabric doctor` (which reports it). Works
 * on interface addresses as rtnetlink reports them.
 */
import type { HostEntry } from '../config/fabric-config.js'
import { type Prefix, prefix } from '../net/ipv4.js'

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
