/**
 * The BFD and graceful-restart parts of a /v1/peers row (`details.bfd`,
 * `details.gracefulRestart`; schema in docs/cli.md), read defensively: the
 * CLI and `fabric doctor` may talk to an agent of another version.
 */
import type { PeerBfdDetails } from '../rib/source.js'
import type { PeerRow } from './types.js'

/** `details.bfd` of a BGP peer or RIP neighbour in /v1/peers (the sources' contract, src/rib/source.ts) */
export type PeerBfd = PeerBfdDetails

/** `details.gracefulRestart` of a BGP peer in /v1/peers. */
export interface PeerGracefulRestart {
  local: { advertised: boolean; restartTime: number }
  peer: { advertised: boolean; restartTime: number; forwarding: boolean; notification: boolean } | null
  state: 'none' | 'restarting' | 'stale-until-eor'
  stale: number
  secondsLeft: number | null
  helped: number
}

/** The last-down diagnostic as text; undefined when it never went down. (Agents before 0.2 sent the RFC 5880 code.) */
export function bfdDiagText(d: number | string | null | undefined): string | undefined {
  if (d === null || d === undefined || d === 0 || d === '' || d === 'no diagnostic') return undefined
  return typeof d === 'number' ? `diag ${d}` : d
}

export function peerBfd(p: PeerRow): PeerBfd | null {
  const b = p.details?.bfd
  return b && typeof b === 'object' && typeof (b as PeerBfd).state === 'string' ? (b as PeerBfd) : null
}

export function peerGracefulRestart(p: PeerRow): PeerGracefulRestart | null {
  const g = p.details?.gracefulRestart
  return g && typeof g === 'object' && typeof (g as PeerGracefulRestart).state === 'string' ? (g as PeerGracefulRestart) : null
}

/** `details.ipv6` of a BGP peer with IPv6 unicast negotiated (MP-BGP, RFC 4760): its IPv6 prefix counts. */
export interface PeerIpv6 {
  received: number
  accepted: number
  filtered: number
  sent: number
  /** the peer's IPv6 End-of-RIB arrived */
  endOfRib: boolean
}

export function peerIpv6(p: PeerRow): PeerIpv6 | null {
  const v = p.details?.ipv6
  return v && typeof v === 'object' && typeof (v as PeerIpv6).received === 'number' ? (v as PeerIpv6) : null
}
