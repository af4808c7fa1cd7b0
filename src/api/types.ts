/**
 * The control API's wire types: what the agent answers on its Unix socket
 * (HTTP/JSON, docs/cli.md) and what the CLI, doctor and the lab read. One
 * declaration per response; nobody re-declares them.
 */
import type { PeerStatus } from '../rib/source.js'
import type { SourceKind } from '../rib/route.js'
import { type Result, err, ok } from '../util/result.js'

/** The endpoints. Those that change something are POST-only. */
export const API = {
  status: '/v1/status',
  routes: '/v1/routes',
  peers: '/v1/peers',
  events: '/v1/events',
  leave: '/v1/leave',
} as const

/** Every 4xx/5xx answer. */
export interface ErrorResponse {
  error: string
  /** on 404/405: the endpoints there are */
  endpoints?: string[]
}

export interface HostView {
  name: string
  address: string
  subnet: string
  interface: string
  underlay: string
  /** dual-stack host (pool6 set): its underlay IPv6 address, IPv6 container subnet and IPv6 underlay prefix; absent on an IPv4-only host */
  address6?: string
  subnet6?: string
  underlay6?: string
}

export interface KernelRouteCounts {
  wanted: number
  installed: number
  pending: number
  conflict: number
  notOnLink: number
  error: number
}

/** One family's kernel status (a FibSync or FibSync6); KernelStatus is IPv4's with the IPv6 one inside. */
export interface KernelStatus6 {
  inSync: boolean
  routes: KernelRouteCounts
  reconciles: number
  opsApplied: number
  opsFailed: number
  lastReconcileMs: number | null
  lastError: string | null
}

/** The kernel status: the IPv4 FIB sync's figures (routes: IPv4 routes), inSync for both families. */
export interface KernelStatus extends KernelStatus6 {
  /** false with [bgp] install-routes = no: a control-plane-only host that installs no route (wanted is 0) */
  installRoutes: boolean
  /** IPv6 routes (dual-stack host); absent on an IPv4-only host */
  ipv6?: KernelStatus6
}

import type { NetworkHostStatus } from '../core/host-status.js'
export type { NetworkHostStatus }

/**
 * Host integration (src/host/hooks.ts): `inSync: false` makes the agent
 * unhealthy. The known parts are typed; a host integration may add more.
 */
export interface HostIntegrationStatus {
  inSync: boolean
  /** the fabric networks ([network.NAME]) on this host */
  networks?: NetworkHostStatus[]
  ipForwarding?: boolean
  subnet?: string
  docker?: {
    mode: string
    version?: string | null
    network?: string
    bridge?: string | null
    created?: boolean
    bip?: string
    bridgeMatches?: boolean
    daemonJson?: string
    allowDirectRouting?: boolean
    [key: string]: unknown
  }
  firewall?: {
    enabled: boolean
    backend?: string | null
    chains?: string[]
    forwardJumpFrom?: string | null
    inSync?: boolean
    checks?: number
    restored?: number
    lastCheck?: string | null
    lastError?: string | null
    [key: string]: unknown
  }
  [key: string]: unknown
}

export interface SourceStatusView {
  kind: SourceKind
  ready: boolean
  peers: number
  /** the source's counters: rx-packets, tx-packets, drop-packet:<reason>, drop-entry:<reason>, ... (nested by part) */
  stats: Record<string, unknown>
}

/** /v1/events subscribers and the events left out for the slow ones. */
export interface EventsStatus {
  subscribers: number
  /** events not sent to a subscriber whose queue was full, since the agent started */
  dropped: number
  /** subscribers disconnected because they read nothing for too long */
  disconnected: number
}

export interface Conflict {
  prefix: string
  reason: string
}

/** GET /v1/status */
export interface StatusResponse {
  version: string
  healthy: boolean
  host: HostView
  mode: 'static' | 'rip' | 'bgp'
  routerId: string | null
  asn: number | null
  config: string | null
  pool: string
  /** [fabric] pool6, when the fabric is dual-stack */
  pool6?: string
  routeProtocol: number
  pid: number
  /** seconds */
  uptime: number
  /** bytes */
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number }
  kernel: KernelStatus
  hostIntegration: HostIntegrationStatus
  sources: SourceStatusView[]
  events: EventsStatus
  conflicts: Conflict[]
  warnings: string[]
  /** every fabric network, the default (docker0's) first; absent from agents older than fabric networks */
  networks?: NetworkStatusView[]
}

/** One fabric network in /v1/status: this host's part of it and the routes to the other hosts' parts. */
export interface NetworkStatusView {
  name: string
  pool: string
  /** this host's subnet of the network */
  subnet: string
  /** the Docker network, bridge and isolation rules (host integration); absent for the default network (see hostIntegration.docker) */
  host?: NetworkHostStatus
  /** routes to the other hosts' subnets of this network */
  routes: {
    /** installed in the kernel */
    installed: number
    /** the other hosts known to the fabric (static: fabric.ini; rip/bgp: every host a route was learned from) */
    peers: number
    /** those of them without an installed route in this network */
    missing: string[]
  }
  /** Docker network present and fitting (or Docker not used), bridge up, isolation rules in place */
  ok: boolean
}

export type RouteRowState = 'installed' | 'pending' | 'conflict' | 'not-on-link' | 'error' | 'stale' | 'kernel-only' | 'not-installed'

/** One row of `fabric routes` (schema in docs/cli.md; keep it stable). */
export interface RouteRow {
  /** the address family of the prefix */
  family: 4 | 6
  prefix: string
  nextHop: string | null
  device: string | null
  /** IPv6 rows: 'static', 'bgp' or 'ripng' (RIPng in mode rip) */
  source: SourceKind | 'ripng' | 'kernel'
  peer: string | null
  metric: number | null
  asPath: number[] | null
  /** seconds since this route became best (null when unknown) */
  age: number | null
  state: RouteRowState
  reason: string | null
  /** other candidates for the prefix (from other sources or peers) */
  alternatives: number
  /**
   * BGP graceful restart helper: the route is kept while its peer restarts
   * (peer-restarting) or until its End-of-RIB (awaiting-end-of-rib), for at
   * most secondsLeft more seconds; null for every other route
   */
  stale: { reason: 'peer-restarting' | 'awaiting-end-of-rib'; secondsLeft: number | null } | null
  /** the fabric network whose pool contains the prefix ('default' for [fabric] pool), null for none */
  network: string | null
}

/** GET /v1/routes */
export interface RoutesResponse {
  host: string
  routes: RouteRow[]
}

/** One row of `fabric peers`. */
export interface PeerRow extends PeerStatus {
  source: SourceKind
}

/** GET /v1/peers */
export interface PeersResponse {
  host: string
  peers: PeerRow[]
}

/** POST /v1/leave body: a JSON object with no fields (room for options later). */
export type LeaveRequest = Record<string, never>

/** POST /v1/leave answer */
export interface LeaveResponse {
  left: true
  host: string
  routesRemoved: number
  routesFailed: number
  /** fabric networks: the Docker networks fabric removed, and those kept because containers use them */
  networks?: { removed: string[]; kept: { name: string; containers: string[] }[] }
}

/** One check of `fabric doctor` (its --json output is `{ healthy, checks: DoctorCheck[] }`). */
export interface DoctorCheck {
  name: string
  result: 'pass' | 'warn' | 'fail' | 'skip'
  detail: string
  /** what to do about a warn/fail */
  fix?: string
}

/** Largest request body the control API reads. */
export const MAX_REQUEST_BODY = 4096

/** Validates a POST /v1/leave body: `{}` (JSON), nothing else. */
export function parseLeaveRequest(text: string): Result<LeaveRequest, string> {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return err('the body must be JSON: {}')
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return err('the body must be a JSON object: {}')
  const keys = Object.keys(v)
  if (keys.length > 0) return err(`unknown field${keys.length > 1 ? 's' : ''} ${keys.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}: the body must be {}`)
  return ok({})
}
