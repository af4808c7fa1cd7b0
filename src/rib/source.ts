import type { Logger } from '../core/log.js'
import type { SelfInfo } from '../core/self.js'
import type { BfdAuthType } from '../config/bfd-config.js'
import type { FabricConfig } from '../config/fabric-config.js'
import type { Prefix } from '../net/ipv4.js'
import type { Prefix6 } from '../net/ipv6.js'
import type { BestSink, BestSource } from './rib.js'
import type { RibRoute6 } from './rib6.js'
import type { Route, SourceKind } from './route.js'

/** Where a source emits its routes (the RIB). */
export interface RouteSink {
  add(route: Route): void
  withdraw(prefix: Prefix, source: SourceKind, peer: string): void
  withdrawPeer(source: SourceKind, peer: string): number
  /**
   * A source with its own table of best routes (BGP's Loc-RIB) attaches it
   * instead of adding and withdrawing (rib.ts); a sink without it gets
   * add/withdraw.
   */
  attach?(source: SourceKind, table: BestSource): BestSink
}

/**
 * Where a source emits its IPv6 routes (the agent's Rib6; present only on a
 * dual-stack host, i.e. when SelfInfo.subnet6 is set). Candidates are keyed
 * (prefix, source, peer) as in the IPv4 sink; `source` is the source's kind
 * ('static', 'bgp') or 'ripng'.
 */
export interface RouteSink6 {
  add(route: RibRoute6): void
  withdraw(prefix: Prefix6, source: string, peer: string): void
  withdrawPeer(source: string, peer: string): number
}

/** Per-peer view a source reports for `fabric peers` / status. */
export interface PeerStatus {
  peer: string
  address: string
  /** BGP: peer AS; RIP: undefined */
  asn?: number
  /** Idle/Connect/Active/OpenSent/OpenConfirm/Established (BGP), up/down (RIP), configured (static) */
  state: string
  /** ms since epoch of the last state change */
  since?: number
  received?: number
  accepted?: number
  sent?: number
  lastError?: string
  /** source-specific extras (negotiated hold time, capabilities, drop counters...) */
  details?: Record<string, unknown>
}

/** A way of learning routes. Sources never touch the kernel. */
export interface RouteSource {
  readonly kind: SourceKind
  /** sink6: the IPv6 RIB, given only on a dual-stack host (self.subnet6 set); IPv4-only sources ignore it */
  start(sink: RouteSink, sink6?: RouteSink6): Promise<void>
  /** stop, leaving learned routes in place (agent restart must not black-hole) */
  stop(): Promise<void>
  /**
   * True once the source has its initial table (static: at once; BGP: after
   * End-of-RIB from every established peer or a grace time; RIP: after the
   * first update interval). Until every source is ready, FIB sync adopts the
   * kernel's routes and deletes none.
   */
  ready(): boolean
  peers(): PeerStatus[]
  /** counters for status/metrics: packets received/dropped by reason, ... */
  stats?(): Record<string, unknown>
  /**
   * Peers announcing this host's own subnet now: two hosts with the same
   * subnet. Such routes are never installed; the agent reports the conflict.
   */
  subnetConflicts?(): { peer: string; prefix: Prefix }[]
  /** the same for this host's subnet6 (RIPng, MP-BGP) */
  subnetConflicts6?(): { peer: string; prefix: Prefix6 }[]
  /** `fabric leave`: withdraw this host's subnet from peers (RIP: metric 16; BGP: withdraw + Cease) */
  leave?(): Promise<void>
  /** SIGHUP with a valid new config; return a one-line summary of what changed */
  reload?(config: FabricConfig): Promise<string>
}

/** A BFD session state (RFC 5880 4.1). */
export type BfdStateName = 'AdminDown' | 'Down' | 'Init' | 'Up'

/** A BFD session to run: what a source asks of BfdPort.add (protocols/bfd/messages.ts re-exports it for the worker). */
export interface BfdSessionSpec {
  /** the caller's name for the session (e.g. the BGP peer name), unique */
  key: string
  /** local address (dotted), the source of our packets; BFD listens on it */
  local: string
  /** the neighbour's address (dotted) */
  remote: string
  /** label only: Node cannot bind a UDP socket to a device, see transport notes in protocols/bfd/worker.ts */
  interface?: string
  /** ms */
  desiredMinTx: number
  /** ms */
  requiredMinRx: number
  /** 1..255 */
  multiplier: number
  auth?: { type: BfdAuthType; keys: { id: number; secret: Uint8Array }[] }
  /** start administratively down */
  adminDown?: boolean
}

/**
 * BFD as sources use it: the agent's one BfdService (src/protocols/bfd/
 * service.ts implements this), started on first use. Keys are the source's
 * own names for sessions (e.g. `bgp/PEER`, `rip/NEIGHBOUR`). Intervals in ms.
 */
export interface BfdPort {
  add(spec: BfdSessionSpec): Promise<void>
  remove(key: string): Promise<void>
  /** every session's state and counters (answered by the BFD worker; the main thread does not block) */
  status(): Promise<{ sessions: BfdSessionView[] }>
  on(event: 'up', listener: (key: string) => void): unknown
  /**
   * `remote`: the neighbour's state that caused the down, as the BFD thread saw
   * it then ('AdminDown' with diag 3 is an administrative down, no failure:
   * RFC 5882 3.2). A status() read later may show a newer session of the neighbour.
   */
  on(event: 'down', listener: (key: string, diag: number, remote: BfdStateName) => void): unknown
  off(event: 'up' | 'down', listener: (...args: never[]) => void): unknown
}

/** One BFD session as status() reports it (the fields sources show; BfdService gives more). */
export interface BfdSessionView {
  key: string
  state: BfdStateName
  remoteState: BfdStateName
  /** ms; 0 before the first packet from the remote */
  detectionTime: number
  packetsIn: number
  packetsOut: number
  /** ms since the last accepted packet, or null */
  lastRxAgo: number | null
  /** diag of the last transition to Down (0: never) */
  lastDownDiag: number
}

/** `details.bfd` of a BGP peer or RIP neighbour in /v1/peers (null there: no BFD session for it). */
export interface PeerBfdDetails {
  state: BfdStateName
  remoteState: BfdStateName
  detectionTimeMs: number
  packetsIn: number
  packetsOut: number
  lastRxAgoMs: number | null
  /** RFC 5880 diagnostic of the last transition to Down, as text (null: never went down) */
  lastDownDiag: string | null
}

/** One interface of this host as sources see it (kernel/interfaces.ts NetInterface is one). */
export interface HostInterface {
  name: string
  up: boolean
  /** the link MTU, when read (RIPng sizes its packets from it) */
  mtu?: number
  /** IPv4 addresses with their prefix length */
  addresses: readonly { address: number; prefixLen: number }[]
  /** IPv6 addresses (RFC 5952 text) with prefix length and scope ('link': fe80::/10; host-scope ::1 and failed-DAD addresses left out); absent when not read */
  addresses6?: readonly { address: string; prefixLen: number; scope: 'link' | 'global' }[]
}

/** What a source factory gets from the agent. */
export interface SourceContext {
  config: FabricConfig
  self: SelfInfo
  log: Logger
  stateDir: string
  /** this host's interfaces, read once through rtnetlink at start (the one way fabric reads them) */
  interfaces?: readonly HostInterface[]
  /** the agent's BFD service, started on the first call (absent: BFD unavailable) */
  bfd?: () => Promise<BfdPort>
  /** call when ready() turns true, so FIB sync may delete stale routes */
  onReady: () => void
  /**
   * Learn only: announce nothing (not even this host's subnet) and treat no
   * prefix as this host's own. Used before automatic subnet allocation, to
   * learn which subnets other hosts already use.
   */
  listenOnly?: boolean
}

/**
 * Each mode's module `src/protocols/<mode>/source.ts` exports
 * `createSource: CreateSource`; the agent imports it by mode.
 */
export type CreateSource = (ctx: SourceContext) => RouteSource | Promise<RouteSource>
