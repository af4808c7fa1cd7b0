/**
 * The one way fabric reads the host's interfaces: rtnetlink dumps of links
 * and addresses (not os.networkInterfaces(), not `ip -j addr`), IPv4 and,
 * when the IPv6 dump is given, IPv6 (HostInterface.addresses6).
 */
import { isLinkLocal6 } from '../net/ipv6.js'
import { IFA_F, IFF, type KernelAddress, type KernelAddress6, type KernelLink, RT_SCOPE } from './rtnl-codec.js'
import { Rtnl } from './rtnl.js'

/** An IPv6 address of an interface, as sources see it (rib/source.ts HostInterface.addresses6). */
export interface NetAddress6 {
  /** RFC 5952 text, no zone */
  address: string
  prefixLen: number
  /** 'link': fe80::/10 (or link scope); 'global': any other usable unicast address */
  scope: 'link' | 'global'
}

export interface NetInterface {
  index: number
  name: string
  up: boolean
  mtu: number
  /** index of the bridge or bond the link is enslaved to */
  master?: number
  addresses: { address: number; prefixLen: number; scope: number }[]
  /** IPv6 addresses; present when the IPv6 dump was read (empty: none on the link) */
  addresses6?: NetAddress6[]
}

/** What readInterfaces needs of an rtnetlink socket (the IPv6 dump is optional: without it addresses6 is left out). */
export type InterfaceDumps = Pick<Rtnl, 'dumpLinks' | 'dumpAddresses'> & Partial<Pick<Rtnl, 'dumpAddresses6'>>

/** RT_SCOPE_LINK (ifa_scope of fe80::/10 addresses) */
const SCOPE_LINK = 253

/**
 * The scope fabric gives an IPv6 address, or undefined when the address is
 * of no use to a source: host scope (::1) and a failed duplicate address
 * detection. A tentative address (DAD still running) is kept: it is the
 * interface's address a moment later.
 */
export function scope6Of(a: Pick<KernelAddress6, 'address' | 'scope' | 'flags'>): NetAddress6['scope'] | undefined {
  if (a.scope === RT_SCOPE.HOST || a.scope === RT_SCOPE.NOWHERE) return undefined
  if ((a.flags & IFA_F.DADFAILED) !== 0) return undefined
  return a.scope === SCOPE_LINK || isLinkLocal6(a.address) ? 'link' : 'global'
}

/**
 * Links with their IPv4 addresses (and IPv6 addresses when `addrs6` is
 * given), by link index; addresses of unknown links are left out.
 */
export function assembleInterfaces(links: readonly KernelLink[], addrs: readonly KernelAddress[], addrs6?: readonly KernelAddress6[]): NetInterface[] {
  const byIndex = new Map<number, NetInterface>()
  for (const l of links) {
    byIndex.set(l.index, {
      index: l.index,
      name: l.name,
      up: (l.flags & IFF.UP) !== 0,
      mtu: l.mtu ?? 0,
      ...(l.master !== undefined && l.master !== 0 ? { master: l.master } : {}),
      addresses: [],
      ...(addrs6 !== undefined ? { addresses6: [] } : {}),
    })
  }
  for (const a of addrs) byIndex.get(a.index)?.addresses.push({ address: a.address, prefixLen: a.prefixLen, scope: a.scope })
  for (const a of addrs6 ?? []) {
    const scope = scope6Of(a)
    if (scope !== undefined) byIndex.get(a.index)?.addresses6?.push({ address: a.address, prefixLen: a.prefixLen, scope })
  }
  return [...byIndex.values()].sort((a, b) => a.index - b.index)
}

/** The interfaces of the current network namespace (through `port`, or a socket opened and closed for the call). */
export async function readInterfaces(port?: InterfaceDumps): Promise<NetInterface[]> {
  const own = port === undefined ? new Rtnl() : undefined
  const p = port ?? own!
  try {
    const [links, addrs, addrs6] = await Promise.all([p.dumpLinks(), p.dumpAddresses(), p.dumpAddresses6?.()])
    return assembleInterfaces(links, addrs, addrs6)
  } finally {
    own?.close()
  }
}
