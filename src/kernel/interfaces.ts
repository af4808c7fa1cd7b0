/**
 * The one way fabric reads the host's interfaces: rtnetlink dumps of links
 * and addresses (not os.networkInterfaces(), not `ip -j addr`). IPv4 for now.
 */
import { IFF, type KernelAddress, type KernelLink } from './rtnl-codec.js'
import { Rtnl } from './rtnl.js'

export interface NetInterface {
  index: number
  name: string
  up: boolean
  mtu: number
  /** index of the bridge or bond the link is enslaved to */
  master?: number
  addresses: { address: number; prefixLen: number; scope: number }[]
}

/** What readInterfaces needs of an rtnetlink socket. */
export type InterfaceDumps = Pick<Rtnl, 'dumpLinks' | 'dumpAddresses'>

/** Links with their IPv4 addresses, by link index; addresses of unknown links are left out. */
export function assembleInterfaces(links: readonly KernelLink[], addrs: readonly KernelAddress[]): NetInterface[] {
  const byIndex = new Map<number, NetInterface>()
  for (const l of links) {
    byIndex.set(l.index, {
      index: l.index,
      name: l.name,
      up: (l.flags & IFF.UP) !== 0,
      mtu: l.mtu ?? 0,
      ...(l.master !== undefined && l.master !== 0 ? { master: l.master } : {}),
      addresses: [],
    })
  }
  for (const a of addrs) byIndex.get(a.index)?.addresses.push({ address: a.address, prefixLen: a.prefixLen, scope: a.scope })
  return [...byIndex.values()].sort((a, b) => a.index - b.index)
}

/** The interfaces of the current network namespace (through `port`, or a socket opened and closed for the call). */
export async function readInterfaces(port?: InterfaceDumps): Promise<NetInterface[]> {
  const own = port === undefined ? new Rtnl() : undefined
  const p = port ?? own!
  try {
    const [links, addrs] = await Promise.all([p.dumpLinks(), p.dumpAddresses()])
    return assembleInterfaces(links, addrs)
  } finally {
    own?.close()
  }
}
