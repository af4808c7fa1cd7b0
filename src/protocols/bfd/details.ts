/** A BFD session's status as sources show it in /v1/peers (`details.bfd`), one shape for BGP and RIP. */
import type { BfdSessionView, PeerBfdDetails } from '../../rib/source.js'
import { DIAG_TEXT } from './codec.js'

/**
 * `view` undefined: the session is configured but has no status yet (Down).
 * `ageMs`: how old the status reading is, added to the time since the last packet.
 */
export function peerBfdDetails(view: BfdSessionView | undefined, ageMs = 0): PeerBfdDetails {
  if (!view) return { state: 'Down', remoteState: 'Down', detectionTimeMs: 0, packetsIn: 0, packetsOut: 0, lastRxAgoMs: null, lastDownDiag: null }
  return {
    state: view.state, remoteState: view.remoteState, detectionTimeMs: view.detectionTime, packetsIn: view.packetsIn, packetsOut: view.packetsOut,
    lastRxAgoMs: view.lastRxAgo === null ? null : view.lastRxAgo + ageMs,
    lastDownDiag: view.lastDownDiag ? (DIAG_TEXT[view.lastDownDiag] ?? `diag ${view.lastDownDiag}`) : null,
  }
}
