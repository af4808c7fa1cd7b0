/**
 * RIPng's hop-limit check (RFC 2080 2.4.2): multicast datagrams to
 * ff02::9 UDP 521 (periodic and triggered updates) must arrive with hop
 * limit 255, so one from beyond the link never reaches the engine. Unicast
 * answers to requests are not covered by the RFC's check: FRR ripngd sends
 * them with hop limit 64 (seen in test/fixtures/ripng), and they are
 * accepted (the engine still requires a link-local source and port 521).
 *
 * Node's dgram cannot read a received packet's hop limit (no recvmsg()
 * ancillary data, no IPV6_RECVHOPLIMIT, no setsockopt), so, as BFD does for
 * the IPv4 TTL (protocols/bfd/gtsm.ts, same code shape), the check is one
 * rule in a chain fabric owns, in ip6tables' raw table:
 *
 *   -t raw -A FABRIC-RIPNG -d ff02::9/128 -p udp --dport 521 -m hl ! --hl-eq 255 -j DROP
 *   -t raw -I PREROUTING 1 -j FABRIC-RIPNG
 *
 * Only that chain and the single jump to it are ever written. Planning is
 * pure (ip6tables-save text in, ip6tables-restore input out); the rule's
 * packet counter is the drop count reported in stats.
 */
import { type OwnedRawChain, installRawChain, rawChainDrops, removeRawChain } from '../raw-chain.js'

export { type OwnedRawChain, planRawChain, planRawChainRemoval, rawChainDropsOf } from '../raw-chain.js'

export const HOP_LIMIT_CHAIN = 'FABRIC-RIPNG'

export function hopLimitChain(port: number): OwnedRawChain {
  return { chain: HOP_LIMIT_CHAIN, rule: `-d ff02::9/128 -p udp -m udp --dport ${port} -m hl ! --hl-eq 255 -j DROP` }
}

/** Installs the hop-limit check in ip6tables (idempotent). Throws with ip6tables' message when it cannot. */
export function installHopLimitCheck(port: number): Promise<void> {
  return installRawChain('ip6tables', hopLimitChain(port))
}

export function removeHopLimitCheck(): Promise<void> {
  return removeRawChain('ip6tables', HOP_LIMIT_CHAIN)
}

export function hopLimitDrops(port: number): Promise<number> {
  return rawChainDrops('ip6tables', hopLimitChain(port))
}
