/**
 * The speaker's per-peer state: the session's view (SpeakerPeer), its
 * counters, its intern map of paths (paths.ts), its pending Adj-RIB-Out
 * changes and, in graceful restart helper mode, the stale paths it keeps.
 */
import type { Prefix } from '../../net/ipv4.js'
import { PrefixMap } from '../../net/prefix-map.js'
import type { CodecContext, UpdateMessage } from './codec/types.js'
import type { Path } from './paths.js'

/** An Established session, as the speaker sees it. */
export interface SpeakerPeer {
  /** Route.peer of routes learned from it: the peer address as text */
  readonly key: string
  /** the peer's IPv4 address; 0 for a peer reached over IPv6 */
  readonly address: number
  /** the peer's IPv6 address when the session runs over IPv6 */
  readonly address6?: string
  /** negotiated peer AS */
  readonly asn: number
  readonly ibgp: boolean
  /** the peer's BGP identifier */
  readonly routerId: number
  /** we reflect routes to and from it as its route reflector */
  readonly rrClient: boolean
  readonly ctx: CodecContext
  readonly maxPrefixes: number
  /** IPv6 unicast (AFI 2 SAFI 1) negotiated on this session (speaker6.ts); absent: IPv4 only */
  readonly ipv6?: boolean
  /** IPv4 unicast not negotiated (a session that carries IPv6 only): no IPv4 UPDATE, no IPv4 End-of-RIB awaited */
  readonly withoutIpv4?: boolean
  /** the peer's graceful restart capability lists IPv6 unicast, with this F bit */
  readonly gracefulRestart6?: { readonly forwarding: boolean }
  /** sends UPDATEs (already packed) */
  send(messages: UpdateMessage[]): void
  /** closes the session with a Cease NOTIFICATION of this subcode (RFC 4486) */
  cease(subcode: number, reason: string): void
}

/** Why a helper keeps a peer's routes (RouteAttrs.stale; graceful-restart.ts). */
export interface StaleMark {
  /** ms since the epoch: helper mode began */
  since: number
  reason: 'peer-restarting' | 'awaiting-end-of-rib'
  /** ms since the epoch: when the routes go unless the peer comes back / sends End-of-RIB */
  until: number
}

/**
 * The speaker's per-session state. In graceful restart helper mode (RFC
 * 4724 4.2) it outlives its session: the routes stay, their paths marked
 * stale, and the peer's next session resumes it (peerResume).
 */
export class PeerRib {
  up = true
  /** End-of-RIB received (IPv4 unicast) */
  eor = false
  /** NLRI received (cumulative) */
  received = 0
  /** prefixes currently accepted into the Adj-RIB-In */
  accepted = 0
  /** prefixes refused by policy or loop checks (cumulative) */
  filtered = 0
  /** paths found too long to send to this peer (each counted and logged once) */
  readonly unencodable = new WeakSet<Path>()
  /** prefixes currently advertised */
  sent = 0
  updatesIn = 0
  updatesOut = 0
  attributeErrors = 0
  overLimit = false
  /** this peer announces this host's own subnet (or a part of it): two hosts with one subnet */
  ownSubnetClaim: Prefix | undefined
  /** Adj-RIB-Out changes not sent yet: prefix -> path (announce) or null (withdraw) */
  readonly pending = new PrefixMap<Path | null>()
  /** the paths of the current session, interned by attributes */
  paths = new Map<string, Path>()
  /** helper mode: the paths of the previous session still in use; what End-of-RIB has not replaced is swept */
  stalePaths: Set<Path> | undefined

  /** the session's view; a resumed session (graceful restart) replaces it */
  constructor(public peer: SpeakerPeer) {}

  /** routes of the previous session not re-announced yet (0 outside helper mode) */
  get staleCount(): number {
    if (!this.stalePaths) return 0
    let n = 0
    for (const path of this.stalePaths) n += path.refs
    return n
  }
}
