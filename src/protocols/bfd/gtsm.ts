/**
 * The RFC 5881 5 TTL check (GTSM, RFC 5082): single-hop BFD packets must
 * arrive with TTL 255, so a packet sent from beyond the link (TTL decremented
 * by a router) cannot reach a session.
 *
 * Why a kernel rule: Node's dgram gives the application neither the received
 * TTL (no recvmsg() ancillary data, IP_RECVTTL) nor setsockopt() (IP_MINTTL,
 * a BPF socket filter); a native addon or a helper process in another
 * language would be the only other ways. So the check is one rule in a chain
 * fabric owns, in the raw table (before conntrack, the cheapest place):
 *
 *   -t raw -A FABRIC-BFD -p udp --dport 3784 -m ttl ! --ttl-eq 255 -j DROP
 *   -t raw -I PREROUTING 1 -j FABRIC-BFD
 *
 * Its packet counter is the drops.ttl figure of BfdService.status(). Only
 * the chain FABRIC-BFD and the single jump to it are ever written.
 * Planning is pure (iptables-save text in, iptables-restore input out).
 */
import { type OwnedRawChain, installRawChain, planRawChain, planRawChainRemoval, rawChainDrops, rawChainDropsOf, removeRawChain } from '../raw-chain.js'

export const GTSM_CHAIN = 'FABRIC-BFD'

export function gtsmChain(port: number): OwnedRawChain {
  return { chain: GTSM_CHAIN, rule: `-p udp -m udp --dport ${port} -m ttl ! --ttl-eq 255 -j DROP` }
}

/** iptables-restore --noflush input that puts the chain and its jump in place; '' when already there. */
export function planGtsm(save: string, port: number): string {
  return planRawChain(save, gtsmChain(port))
}

/** iptables-restore --noflush input that removes the chain and its jump(s); '' when absent. */
export function planGtsmRemoval(save: string): string {
  return planRawChainRemoval(save, GTSM_CHAIN)
}

/** Packets dropped by the rule, from `iptables-save -c` output (0 when the rule is absent). */
export function gtsmDropsOf(saveWithCounters: string, port: number): number {
  return rawChainDropsOf(saveWithCounters, gtsmChain(port))
}

/** Installs the TTL check (idempotent). Throws with iptables' message when it cannot. */
export function installGtsm(port: number): Promise<void> {
  return installRawChain('iptables', gtsmChain(port))
}

export function removeGtsm(): Promise<void> {
  return removeRawChain('iptables', GTSM_CHAIN)
}

export function gtsmDrops(port: number): Promise<number> {
  return rawChainDrops('iptables', gtsmChain(port))
}
