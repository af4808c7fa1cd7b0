/** The message API between BfdService (main thread) and the BFD worker thread. Plain structured-clone data. */
import type { BfdSessionSpec } from '../../rib/source.js'
import type { BfdState } from './codec.js'

/** One session to run: defined once, with the port sources use (rib/source.ts). */
export type { BfdSessionSpec } from '../../rib/source.js'

export interface BfdSessionStatus {
  key: string
  local: string
  remote: string
  interface?: string
  state: BfdState
  remoteState: BfdState
  localDiscriminator: number
  remoteDiscriminator: number
  /** our periodic tx interval before jitter, ms (0: the remote asked for none) */
  txInterval: number
  /** negotiated receive interval: max(our Required Min RX, remote Desired Min TX), ms */
  rxInterval: number
  /** ms; 0 before the first packet from the remote */
  detectionTime: number
  /** diag of the last transition to Down/AdminDown (0 = never went down) */
  lastDownDiag: number
  /** diag we currently send */
  diag: number
  packetsIn: number
  packetsOut: number
  /** this session's dropped packets by reason (auth-*, discriminator-mismatch, admin-down) and tx-error */
  drops: Record<string, number>
  /** ms since the last accepted packet, or null */
  lastRxAgo: number | null
  /** source port of our packets */
  sourcePort: number
}

/** The worker thread's own figures (cumulative since it started). */
export interface BfdLoopStatus {
  /** timers by how late they fired: < 10, < 50, < 100, < 200, >= 200 ms */
  timerLate: number[]
  /** detection expiries undone by a packet read after the timer fired (the thread had stalled) */
  heldSaved: number
}

export type ToWorker =
  | { op: 'add'; id: number; spec: BfdSessionSpec }
  | { op: 'remove'; id: number; key: string }
  | { op: 'admin'; id: number; key: string; down: boolean }
  | { op: 'status'; id: number }
  | { op: 'close'; id: number }

export type FromWorker =
  | { ev: 'reply'; id: number; error?: string; status?: BfdSessionStatus[]; unmatched?: Record<string, Record<string, number>>; loop?: BfdLoopStatus }
  | { ev: 'state'; key: string; from: BfdState; to: BfdState; diag: number; remote: BfdState }
  | { ev: 'error'; where: string; message: string }
  /** timers fired >= LATE_REPORT_MS late (worker.ts): `timers` of them since the last report, the worst `worstMs` late */
  | { ev: 'late'; timers: number; worstMs: number }

export interface BfdWorkerOptions {
  /** UDP port to listen on (default 3784) */
  port: number
  /** TTL of sent packets (default 255, RFC 5881 5) */
  ttl: number
  /** source ports are picked from this range (default 49152..65535) */
  sourcePortMin: number
  sourcePortMax: number
}
