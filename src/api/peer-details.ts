/**
 * The BFD and graceful-restart parts of a /v1/peers row (`details.bfd`,
 * `details.gracefulRestart`; schema in docs/cli.md), read defensively: the
 * CLI and `fabric doctor` may talk to an agent of another version.
 */
import type { PeerRow } from './types.js'

/** `details.bfd` of a BGP peer or RIP neighbour in /v1/peers (null: no BFD session for it). */
export interface PeerBfd {
  state: 'AdminDown' | 'Down' | 'Init' | 'Up'
  remoteState: 'AdminDown' | 'Down' | 'Init' | 'Up'
  detectionTimeMs: number
  packetsIn: number
  packetsOut: number
  lastRxAgoMs: number | null
  /** RFC 5880 diag code (or its text) of the last transition to Down */
  lastDownDiag: number | string
}

/** `details.gracefulRestart` of a BGP peer in /v1/peers. */
export interface PeerGracefulRestart {
  local: { advertised: boolean; restartTime: number }
  peer: { advertised: boolean; restartTime: number; forwarding: boolean; notification: boolean } | null
  state: 'none' | 'restarting' | 'stale-until-eor'
  stale: number
  secondsLeft: number | null
  helped: number
}

/** RFC 5880 4.1 diagnostic texts (the same as protocols/bfd/codec.ts DIAG_TEXT; api does not import protocols). */
const BFD_DIAG: Record<number, string> = {
  1: 'control detection time expired', 2: 'echo function failed', 3: 'neighbor signaled session down', 4: 'forwarding plane reset',
  5: 'path down', 6: 'concatenated path down', 7: 'administratively down', 8: 'reverse concatenated path down',
}

export function bfdDiagText(d: number | string): string | undefined {
  if (typeof d === 'string') return d === '' || d === 'no diagnostic' ? undefined : d
  return d === 0 ? undefined : (BFD_DIAG[d] ?? `diag ${d}`)
}

export function peerBfd(p: PeerRow): PeerBfd | null {
  const b = p.details?.bfd
  return b && typeof b === 'object' && typeof (b as PeerBfd).state === 'string' ? (b as PeerBfd) : null
}

export function peerGracefulRestart(p: PeerRow): PeerGracefulRestart | null {
  const g = p.details?.gracefulRestart
  return g && typeof g === 'object' && typeof (g as PeerGracefulRestart).state === 'string' ? (g as PeerGracefulRestart) : null
}
