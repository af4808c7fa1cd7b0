import { type Prefix, prefix } from '../net/ipv4.js'
import { IFF, type KernelAddress, type KernelLink, RT_SCOPE } from './rtnl-codec.js'

/** A directly connected network: an address of an up interface and its prefix. */
export interface Connected {
  name: string
  net: Prefix
  local: number
}

/** The connected networks of up interfaces (host-scope and /32 addresses have none). */
export function connectedNetworks(addrs: KernelAddress[], links: KernelLink[]): Connected[] {
  const byIndex = new Map(links.map((l) => [l.index, l]))
  const out: Connected[] = []
  for (const a of addrs) {
    const link = byIndex.get(a.index)
    if (link === undefined || (link.flags & IFF.UP) === 0) continue // down
    if (a.scope === RT_SCOPE.HOST || a.prefixLen >= 32) continue
    out.push({ name: link.name, net: prefix(a.address, a.prefixLen), local: a.address })
  }
  return out
}
