/**
 * The interfaces of this network namespace with their IPv4 addresses, read
 * over rtnetlink (one link dump and one address dump on a short-lived socket).
 * Interfaces that are down are included (docker0 without containers is).
 */
import { Rtnl } from './rtnl.js'
import { IFF } from './rtnl-codec.js'

export interface NetInterface {
  index: number
  name: string
  up: boolean
  mtu: number
  /** the index of the bridge (or bond) this interface is enslaved to */
  master?: number
  addresses: { address: number; prefixLen: number; scope: number }[]
}

export async function readInterfaces(): Promise<NetInterface[]> {
  const rtnl = new Rtnl()
  try {
    const [links, addrs] = await Promise.all([rtnl.dumpLinks(), rtnl.dumpAddresses()])
    const out = links.map((l): NetInterface => ({
      index: l.index, name: l.name, up: (l.flags & IFF.UP) !== 0, mtu: l.mtu ?? 0, addresses: [],
      ...(l.master !== undefined && l.master !== 0 ? { master: l.master } : {}),
    }))
    const byIndex = new Map(out.map((i) => [i.index, i]))
    for (const a of addrs) byIndex.get(a.index)?.addresses.push({ address: a.address, prefixLen: a.prefixLen, scope: a.scope })
    return out
  } finally {
    rtnl.close()
  }
}
