/**
 * BGP graceful restart (RFC 4724, with RFC 8538's N bit): the pieces that
 * are not sockets.
 *
 * Restarting side: the agent's SIGTERM writes a marker (the time it stopped)
 * into the state directory; a start within the restart time sets the R bit
 * and defers its announcements until End-of-RIB from the peers.
 *
 * Helper side: `helperDecision()` says whether a lost session keeps its
 * routes (marked stale) and `GrHelper` is one peer's helper state with its
 * timers (clock and timers injected, so tests need no waiting):
 *
 *   none --session lost, helped--> restarting --new session, F kept--> stale-until-eor
 *     ^                               |                                      |
 *     +------ restart time over, ----+    End-of-RIB (sweep), stale-path  ---+
 *             BFD down, hard reset,       time over, second loss, BFD down
 *             new OPEN without GR/F
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AFI_IPV4, CeaseSubcode, ErrorCode, SAFI_UNICAST } from './codec/constants.js'
import { makeNotification } from './codec/notification.js'
import type { NotificationMessage } from './codec/types.js'
import type { Negotiated } from './fsm.js'

export const RESTART_MARKER_FILE = 'bgp-graceful-restart.json'

/** SIGTERM (not `fabric leave`): remember when we stopped, so the next start knows it is a restart. */
export function writeRestartMarker(stateDir: string, restartTime: number, now = Date.now()): void {
  writeFileSync(join(stateDir, RESTART_MARKER_FILE), `${JSON.stringify({ stoppedAt: now, restartTime })}\n`, { mode: 0o600 })
}

export function removeRestartMarker(stateDir: string): void {
  rmSync(join(stateDir, RESTART_MARKER_FILE), { force: true })
}

/**
 * Reads and removes the marker. `restarting` when the agent stopped less
 * than the restart time ago (then the peers still hold our routes and the R
 * bit is right). A missing or unreadable marker is a fresh start.
 */
export function takeRestartMarker(stateDir: string, restartTime: number, now = Date.now()): { restarting: boolean; stoppedAgoMs?: number } {
  let text: string
  try {
    text = readFileSync(join(stateDir, RESTART_MARKER_FILE), 'utf8')
  } catch {
    return { restarting: false }
  }
  try {
    removeRestartMarker(stateDir)
  } catch {
    // read-only state dir: the age check still protects a later start
  }
  let stoppedAt: unknown
  try {
    stoppedAt = (JSON.parse(text) as { stoppedAt?: unknown }).stoppedAt
  } catch {
    return { restarting: false }
  }
  if (typeof stoppedAt !== 'number' || !Number.isFinite(stoppedAt)) return { restarting: false }
  const ago = now - stoppedAt
  return { restarting: restartTime > 0 && ago >= 0 && ago < restartTime * 1000, stoppedAgoMs: ago }
}

/** RFC 8538 3: Cease/Hard Reset carrying the code, subcode and data of the reason. */
export function makeHardReset(inner: NotificationMessage): NotificationMessage {
  const data = Buffer.concat([Buffer.from([inner.code, inner.subcode]), inner.data])
  return makeNotification(ErrorCode.CEASE, CeaseSubcode.HARD_RESET, data)
}

/** The peer's graceful restart capability as the helper needs it. */
export interface PeerGracefulRestart {
  readonly advertised: boolean
  readonly restartTime: number
  /** IPv4 unicast is listed in the capability: its routes are kept when the session is lost (RFC 4724 4.2) */
  readonly ipv4: boolean
  /**
   * F bit for IPv4 unicast. Only the F bit of the OPEN after a restart decides
   * (it kept its forwarding state across the restart); in the OPEN before, it
   * says nothing (BIRD sends F only in the OPEN of a `bird -R` recovery)
   */
  readonly forwarding: boolean
  /** N bit (RFC 8538) */
  readonly notification: boolean
  /** R bit */
  readonly restarting: boolean
}

export function peerGracefulRestart(n: Negotiated): PeerGracefulRestart | null {
  const gr = n.gracefulRestart
  if (!gr) return null
  const v4 = gr.families.find((f) => f.afi === AFI_IPV4 && f.safi === SAFI_UNICAST)
  return { advertised: true, restartTime: gr.restartTime, ipv4: v4 !== undefined, forwarding: v4?.forwarding ?? false, notification: gr.notification, restarting: gr.restarting }
}

/** Why helper mode ended (or was not entered): the counters' reasons. */
export type HelperEndReason =
  | 'restart-time-expired' | 'stale-path-time-expired' | 'consecutive-restart' | 'hard-reset' | 'bfd-down'
  | 'notification' | 'hold-timer-expired' | 'no-graceful-restart' | 'no-ipv4' | 'no-forwarding' | 'stopped'

/**
 * Whether a session that went down keeps the peer's routes (RFC 4724 4.2,
 * RFC 8538 4): both sides advertised graceful restart, the peer with IPv4
 * unicast listed in its capability and a restart time, and the session ended
 * by a TCP close or reset, or (N negotiated) by any NOTIFICATION but
 * Cease/Hard Reset. The F bit of the OPEN before the loss is not required:
 * RFC 4724 4.2 retains the routes of every address family listed, and the F
 * bit of the peer's NEW OPEN decides whether they stay (session.ts
 * resumeOrUp). BIRD 2 sends F=0 in every OPEN but a `bird -R` recovery's.
 * `forced` (BFD down, an administrative stop) never helps.
 *
 * Not our own hold timer expiring, although RFC 8538 would allow it with N:
 * a peer that falls silent is as likely a dead host (power, link) as a
 * restarting agent, and a restarting fabric agent closes its sessions itself
 * (SIGTERM; a crash closes the socket too, and a crash-and-return within the
 * hold time is seen as a new OPEN). Keeping a dead host's routes for its
 * restart time would black-hole traffic for minutes instead of the hold time.
 */
export function helperDecision(o: {
  localRestartTime: number
  localNotification: boolean
  peer: PeerGracefulRestart | null
  notification?: { code: number; subcode: number; direction?: 'sent' | 'received' } | undefined
  forced?: HelperEndReason | undefined
}): { help: true } | { help: false; why: HelperEndReason } {
  if (o.forced) return { help: false, why: o.forced }
  if (o.localRestartTime <= 0 || !o.peer || o.peer.restartTime <= 0) return { help: false, why: 'no-graceful-restart' }
  if (!o.peer.ipv4) return { help: false, why: 'no-ipv4' }
  const n = o.notification
  if (n) {
    if (n.code === ErrorCode.CEASE && n.subcode === CeaseSubcode.HARD_RESET) return { help: false, why: 'hard-reset' }
    if (n.code === ErrorCode.HOLD_TIMER_EXPIRED && n.direction === 'sent') return { help: false, why: 'hold-timer-expired' }
    if (!(o.localNotification && o.peer.notification)) return { help: false, why: 'notification' }
  }
  return { help: true }
}

/** Timers and the clock the helper uses (tests inject a fake). now(): ms since the epoch. */
export interface GrTimers {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const realTimers: GrTimers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms)
    t.unref()
    return t
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
}

export type HelperState = 'none' | 'restarting' | 'stale-until-eor'

/** One peer's helper state and timer. The owner removes or sweeps routes; this only keeps time and counts. */
export class GrHelper {
  state: HelperState = 'none'
  /** restarts helped (helper mode entered) */
  helped = 0
  /** stale routes removed at End-of-RIB */
  swept = 0
  /** helper mode ended early (routes withdrawn), by reason */
  readonly ended: Partial<Record<HelperEndReason, number>> = {}
  /** ms since the epoch: when helper mode began, and when the current timer fires */
  since: number | undefined
  deadline: number | undefined
  private timer: unknown

  constructor(private readonly timers: GrTimers, private readonly onExpire: (reason: HelperEndReason) => void) {}

  get active(): boolean {
    return this.state !== 'none'
  }

  /** The session was lost and helper mode begins: the peer has restartTime seconds to come back. */
  begin(restartTime: number): void {
    this.helped++
    this.since = this.timers.now()
    this.arm('restarting', restartTime, 'restart-time-expired')
  }

  /** The peer is back (with F): its End-of-RIB is awaited for at most stalePathTime seconds. */
  resumed(stalePathTime: number): void {
    this.arm('stale-until-eor', stalePathTime, 'stale-path-time-expired')
  }

  /** End-of-RIB arrived and `swept` stale routes were removed: a restart helped to its end. */
  finished(swept: number): void {
    this.swept += swept
    this.reset()
  }

  /** Helper mode ends early; the owner withdraws the stale routes. */
  end(reason: HelperEndReason): void {
    this.ended[reason] = (this.ended[reason] ?? 0) + 1
    this.reset()
  }

  secondsLeft(): number | null {
    return this.deadline === undefined ? null : Math.max(0, Math.ceil((this.deadline - this.timers.now()) / 1000))
  }

  /** Stops the timer without counting (the agent stops). */
  dispose(): void {
    this.reset()
  }

  private arm(state: HelperState, seconds: number, reason: HelperEndReason): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    this.state = state
    this.deadline = this.timers.now() + seconds * 1000
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined
      if (this.state !== state) return
      this.onExpire(reason)
    }, seconds * 1000)
  }

  private reset(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    this.timer = undefined
    this.state = 'none'
    this.deadline = undefined
    this.since = undefined
  }
}
