/**
 * BGP sessions over TCP: one `PeerSession` per neighbour, holding up to two
 * `Connection`s (ours and the peer's, RFC 4271 6.8 collision detection), each
 * driven by its own pure FSM (fsm.ts). Sockets, timers and the framer live
 * here; routing decisions live in the speaker. Nothing thrown inside a socket
 * or timer callback leaves this file: a failing connection is dropped, other
 * sessions are not disturbed.
 */
import { type Socket, connect } from 'node:net'
import type { BfdConfig } from '../../config/bfd-config.js'
import { formatAddress } from '../../net/ipv4.js'
import { hasIpv6Unicast, localCapabilities } from './capabilities.js'
import { createFramer, type BgpFramer } from './codec/framer.js'
import { decodeMessage, encodeMessage } from './codec/message.js'
import { describeNotification } from './codec/errors.js'
import { AFI_IPV4, AFI_IPV6, CeaseSubcode, ErrorCode, SAFI_UNICAST } from './codec/constants.js'
import type { BgpDecodeError } from './codec/errors.js'
import { makeCease, makeNotification } from './codec/notification.js'
import type { Capability, CodecContext, Message } from './codec/types.js'
import {
  GrHelper, type GrTimers, type HelperEndReason, type PeerGracefulRestart, helperDecision, makeHardReset, peerGracefulRestart, realTimers,
} from './graceful-restart.js'
import {
  type BgpFsm, type Clock, type FsmAction, type FsmEvent, type FsmStateName, type Negotiated, type TimerName,
  KEEPALIVE_EVENT, createFsm, eventForDecodeError, eventForMessage, resolveCollision,
} from './fsm.js'
import type { Logger } from '../../core/log.js'
import type { PeerRib, Speaker, SpeakerPeer } from './speaker.js'

/** What a session logs through: the agent's Logger, or a test's stand-in. */
export type SessionLog = Pick<Logger, 'debug' | 'info' | 'warn' | 'error' | 'limited'>

/** Counts by reason, exposed in the source's stats(). */
export type Counts = Record<string, number>

export function bump(c: Counts, reason: string, n = 1): void {
  c[reason] = (c[reason] ?? 0) + n
}

/**
 * Unauthenticated (pre-OPEN) connections: an accepted connection must bring
 * a valid OPEN within this many seconds, far sooner than the 240 s large
 * hold time of RFC 4271 8 (BIRD and FRR peers send OPEN at once; 15 s is
 * their connect-retry order of magnitude).
 */
export const PRE_OPEN_TIMEOUT_S = 15
/** accepted connections without a valid OPEN yet, per peer address */
export const PRE_OPEN_PER_SOURCE = 2

/** What the session layer drops, by reason (shared by every session of a source). */
export interface SessionDrops {
  /** received messages refused (decode errors), by NOTIFICATION reason */
  readonly messages: Counts
  /** connections closed or refused, by reason */
  readonly connections: Counts
}

export interface PeerSpec {
  /** config name ([peer.NAME], host name, or the address) */
  readonly name: string
  readonly address: number
  /** a peer reached over IPv6 (RFC 5952 text): the session runs over IPv6; `address` is then 0 */
  readonly address6?: string
  /** expected AS; undefined for a dynamic neighbour (then acceptAs decides) */
  readonly asn?: number
  readonly acceptAs?: (asn: number) => boolean
  readonly passive: boolean
  readonly rrClient: boolean
  readonly maxPrefixes: number
  /** accepted through a listen range; removed when its session ends */
  readonly dynamic: boolean
  /** where it was configured (peer section, --peer, host mesh, listen range) */
  readonly origin: string
  /** BFD with this peer (absent or disabled: none) */
  readonly bfd?: BfdConfig
}

export interface SessionOptions {
  readonly localAs: number
  readonly routerId: number
  /** our underlay address: the source address of outgoing connections */
  readonly localAddress: number
  /** our global underlay IPv6 address: the source address of connections to IPv6 peers */
  readonly localAddress6?: string
  readonly port: number
  readonly holdTime: number
  readonly keepaliveTime: number
  readonly connectRetryTime: number
  readonly gracefulRestartTime: number
  /** a dual-stack host: advertise IPv6 unicast (RFC 4760 AFI 2 SAFI 1) besides IPv4 */
  readonly ipv6?: boolean
  /** R bit in the OPENs we send now (restarting side, until the deferral ends) */
  readonly restarting?: () => boolean
  /** helper: seconds a resumed peer has to send End-of-RIB before its stale routes go (default 360) */
  readonly stalePathTime?: number
  /** graceful restart helper timers (default: real ones) */
  readonly grTimers?: GrTimers
  readonly speaker: Speaker
  readonly log: SessionLog
  readonly clock: Clock
  /** a peer's End-of-RIB arrived or a session changed: readiness may change */
  readonly onChange: () => void
  /** seconds an accepted connection has to send a valid OPEN (default PRE_OPEN_TIMEOUT_S) */
  readonly preOpenTimeout?: number
  /** drop counters, shared with the source */
  readonly drops: SessionDrops
  /**
   * One buffer outgoing connections read into (net.Socket's `onread`: no
   * Readable stream, no buffer allocated per read). Shared by every
   * connection of a source: a read is handled before the next one is made,
   * and the framer copies what it keeps. Absent: 'data' events.
   */
  readonly readBuffer?: Buffer
  /** what every session of a source shares (pre-OPEN count, our capabilities and OPEN bytes); absent: per session */
  readonly shared?: SessionShared
}

/**
 * State shared by a source's sessions, so per-session work stays O(1) with
 * a thousand of them: the count of accepted connections without a valid
 * OPEN (the source's total bound), our capability lists and the encoded
 * OPENs (the same octets for every session).
 */
export class SessionShared {
  /** accepted connections without a valid OPEN yet, over every session */
  preOpen = 0
  private readonly caps = new Map<string, Capability[]>()
  private readonly opens = new WeakMap<readonly Capability[], { holdTime: number; bgpId: number; myAs: number; bytes: Buffer }>()

  /** Our capabilities for these options (one list per distinct options: never modified). */
  capabilities(o: Pick<SessionOptions, 'localAs' | 'gracefulRestartTime' | 'ipv6'> & { restarting?: boolean }): Capability[] {
    const key = `${o.localAs} ${o.gracefulRestartTime} ${o.ipv6 === true} ${o.restarting === true}`
    let c = this.caps.get(key)
    if (!c) {
      c = capabilitiesFor(o)
      this.caps.set(key, c)
    }
    return c
  }

  /** The octets of an OPEN whose capability list came from capabilities() (encoded once per list). */
  openBytes(m: Extract<Message, { type: 'open' }>): Buffer {
    const hit = this.opens.get(m.capabilities)
    if (hit && hit.holdTime === m.holdTime && hit.bgpId === m.bgpId && hit.myAs === m.myAs && m.version === 4) return hit.bytes
    const bytes = encodeMessage(m, { as4: false })
    if (m.version === 4) this.opens.set(m.capabilities, { holdTime: m.holdTime, bgpId: m.bgpId, myAs: m.myAs, bytes })
    return bytes
  }
}

/** octets gathered into one socket write */
const WRITE_CHUNK = 64 * 1024

/** The event of each timer's expiry (immutable: one object per timer name). */
const TIMER_EVENT: Record<TimerName, FsmEvent> = {
  connectRetry: Object.freeze({ type: 'ConnectRetryTimer_Expires' }),
  hold: Object.freeze({ type: 'HoldTimer_Expires' }),
  keepalive: Object.freeze({ type: 'KeepaliveTimer_Expires' }),
  delayOpen: Object.freeze({ type: 'DelayOpenTimer_Expires' }),
  idleHold: Object.freeze({ type: 'IdleHoldTimer_Expires' }),
}

/** A KEEPALIVE on the wire (never written to: every session sends these same 19 octets). */
const KEEPALIVE_BYTES = encodeMessage({ type: 'keepalive' }, { as4: false })
const KEEPALIVE_LENGTH = KEEPALIVE_BYTES.length

/** Whether buf[0, len) is nothing but whole KEEPALIVE messages (marker, length 19, type 4). */
export function onlyKeepalives(buf: Uint8Array, len: number): boolean {
  if (len === 0 || len % KEEPALIVE_LENGTH !== 0) return false
  for (let at = 0; at < len; at += KEEPALIVE_LENGTH) {
    for (let i = 0; i < 16; i++) if (buf[at + i] !== 0xff) return false
    if (buf[at + 16] !== 0 || buf[at + 17] !== KEEPALIVE_LENGTH || buf[at + 18] !== 4) return false
  }
  return true
}

const STATE_RANK: Record<FsmStateName, number> = { Idle: 0, Connect: 1, Active: 1, OpenSent: 2, OpenConfirm: 3, Established: 4 }

export function capabilitiesFor(o: Pick<SessionOptions, 'localAs' | 'gracefulRestartTime' | 'ipv6'> & { restarting?: boolean }): Capability[] {
  return localCapabilities(o)
}

/** Our OPEN advertises the N bit whenever it advertises graceful restart. */
function localNotificationBit(o: Pick<SessionOptions, 'gracefulRestartTime'>): boolean {
  return o.gracefulRestartTime > 0
}

/** A peer's key (Route.peer, `fabric peers` address, the source's session map): its address as text. */
export function peerKey(spec: Pick<PeerSpec, 'address' | 'address6'>): string {
  return spec.address6 ?? formatAddress(spec.address)
}

/** The IPv6 side of a session as the speaker sees it: negotiated, and how the peer's graceful restart lists it. */
function ipv6View(n: Negotiated): Pick<SpeakerPeer, 'ipv6' | 'gracefulRestart6' | 'withoutIpv4'> {
  if (!hasIpv6Unicast(n)) return {}
  const f = n.gracefulRestart?.families.find((x) => x.afi === AFI_IPV6 && x.safi === SAFI_UNICAST)
  const v4 = n.families.some((x) => x.afi === AFI_IPV4 && x.safi === SAFI_UNICAST)
  return { ipv6: true, ...(f ? { gracefulRestart6: { forwarding: f.forwarding } } : {}), ...(v4 ? {} : { withoutIpv4: true }) }
}

/** Sends a Cease NOTIFICATION on a connection that has no FSM (refused before OPEN) and closes it. */
export function closeWithCease(s: Socket, subcode: number): void {
  s.on('error', () => undefined)
  try {
    s.end(encodeMessage(makeCease(subcode), { as4: false }))
  } catch {
    s.destroy()
    return
  }
  const t = setTimeout(() => s.destroy(), 2000)
  t.unref()
  s.once('close', () => clearTimeout(t))
}

/** One TCP connection (outgoing or accepted) and its FSM. */
class Connection {
  readonly fsm: BgpFsm
  socket: Socket | undefined
  private framer: BgpFramer = createFramer()
  private readonly timers = new Map<TimerName, NodeJS.Timeout>()
  /** the duration each running timer was started with */
  private readonly timerMs = new Map<TimerName, number>()
  ctx: CodecContext = { as4: false }
  /**
   * While one read is handled before Established: what it makes us send,
   * written as one piece at its end (the peer's OPEN and KEEPALIVE read
   * together: our KEEPALIVE, the table and End-of-RIB in one write).
   */
  private gathered: Buffer[] | undefined
  discarded = false
  /** an internal error is being handled: a second one abandons the connection */
  failing = false

  constructor(readonly session: PeerSession, readonly initiator: 'local' | 'remote') {
    const s = session.spec
    const o = session.opts
    const caps = (restarting: boolean) => {
      const c = { localAs: o.localAs, gracefulRestartTime: o.gracefulRestartTime, ipv6: o.ipv6, restarting }
      return o.shared ? o.shared.capabilities(c) : capabilitiesFor(c)
    }
    this.fsm = createFsm({
      localAs: o.localAs,
      localId: o.routerId,
      peerAs: s.asn,
      acceptPeerAs: s.acceptAs,
      holdTime: o.holdTime,
      keepaliveTime: o.keepaliveTime,
      connectRetryTime: o.connectRetryTime,
      // an accepted connection is unauthenticated until its OPEN: a short wait for it (ours: the default)
      largeHoldTime: initiator === 'remote' ? (o.preOpenTimeout ?? PRE_OPEN_TIMEOUT_S) : undefined,
      // an accepted connection never restarts itself; ours retries every connect-retry-time (backing off up to 8x)
      idleHoldTime: initiator === 'remote' ? 0 : o.connectRetryTime,
      passive: initiator === 'remote' || s.passive,
      capabilities: caps(false),
      openCapabilities: () => caps(o.restarting?.() ?? false),
    }, o.clock)
    // an accepted connection counts against the source's bound on connections without OPEN until it has one
    if (initiator === 'remote' && o.shared) o.shared.preOpen++
  }

  get state(): FsmStateName {
    return this.fsm.state()
  }

  /** accepted, and no valid OPEN received yet */
  get preOpen(): boolean {
    const st = this.state
    return !this.discarded && this.initiator === 'remote' && st !== 'OpenConfirm' && st !== 'Established'
  }

  /** Feeds one event and performs the resulting actions. Never throws. */
  feed(event: FsmEvent): void {
    if (this.discarded) return
    let actions: FsmAction[]
    const shared = this.initiator === 'remote' ? this.session.opts.shared : undefined
    const wasPreOpen = shared !== undefined && this.preOpen
    try {
      actions = this.fsm.handle(event)
    } catch (e) {
      this.session.internalError(this, e)
      return
    }
    if (shared !== undefined && wasPreOpen !== this.preOpen) shared.preOpen += wasPreOpen ? -1 : 1
    for (const a of actions) {
      try {
        this.perform(a)
      } catch (e) {
        this.session.internalError(this, e)
      }
    }
  }

  private perform(a: FsmAction): void {
    switch (a.type) {
      case 'connect':
        this.connectOut()
        break
      case 'dropConnection':
        this.drop()
        break
      case 'send':
        this.write([a.message])
        if (a.message.type === 'notification') this.session.notificationSent(a.message.code, a.message.subcode, a.message.shutdownMessage)
        break
      case 'startTimer': {
        const known = this.timers.get(a.timer)
        if (known !== undefined && this.timerMs.get(a.timer) === a.ms) {
          // the same timer restarted with the same duration: rescheduled in place (the hold timer on
          // every message; the keepalive timer, which has just fired, re-armed: no new Timeout)
          known.refresh()
          break
        }
        this.clearTimer(a.timer)
        this.timerMs.set(a.timer, a.ms)
        const event = TIMER_EVENT[a.timer]
        const fire = () => this.feed(event)
        // the Timeout stays in `timers` after it fires, so a restart with the same duration can refresh it
        this.timers.set(a.timer, setTimeout(() => this.session.guard('timer', fire), a.ms))
        break
      }
      case 'stopTimer':
        this.clearTimer(a.timer)
        break
      case 'stateChange':
        this.session.stateChanged(this, a.from, a.to)
        break
      case 'established':
        this.session.established(this, a.negotiated)
        break
      case 'down':
        this.session.down(this, a)
        break
    }
  }

  private clearTimer(name: TimerName): void {
    const t = this.timers.get(name)
    if (t) {
      clearTimeout(t)
      this.timers.delete(name)
    }
  }

  /** Encodes and writes messages (corked: one syscall for a batch). */
  write(messages: readonly Message[]): void {
    const s = this.socket
    if (!s || s.destroyed || !s.writable) return
    const gathered = this.gathered
    if (gathered) {
      for (const m of messages) gathered.push(this.encode(m))
      return
    }
    if (messages.length === 1) {
      // one message (a KEEPALIVE, mostly: the same 19 octets every time): one write
      s.write(this.encode(messages[0]!))
      return
    }
    // many small messages (a reflector's UPDATEs carry one prefix each) go out as few writes of up to 64 KiB
    const parts: Buffer[] = []
    let size = 0
    for (const m of messages) {
      const b = encodeMessage(m, this.ctx)
      parts.push(b)
      size += b.length
      if (size >= WRITE_CHUNK) {
        s.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts, size))
        parts.length = 0
        size = 0
      }
    }
    if (parts.length > 0) s.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts, size))
  }

  private encode(m: Message): Buffer {
    const shared = this.session.opts.shared
    return m.type === 'keepalive' ? KEEPALIVE_BYTES : m.type === 'open' && shared ? shared.openBytes(m) : encodeMessage(m, this.ctx)
  }

  /** Writes what was gathered while a read was handled (one write), and stops gathering. */
  private flushGathered(): void {
    const g = this.gathered
    if (!g) return
    this.gathered = undefined
    const s = this.socket
    if (g.length === 0 || !s || s.destroyed || !s.writable) return
    s.write(g.length === 1 ? g[0]! : Buffer.concat(g))
  }

  private connectOut(): void {
    this.drop()
    const sp = this.session.spec
    const o = this.session.opts
    // read into the source's one buffer (no stream machinery per read); the callback is bound to this socket
    let s: Socket | undefined
    const buffer = o.readBuffer
    const onread = buffer
      ? { onread: { buffer, callback: (n: number, buf: Uint8Array): boolean => { if (s !== undefined) this.onRead(s, buf, n); return true } } }
      : {}
    s = sp.address6 !== undefined
      ? connect({ host: sp.address6, port: o.port, family: 6, ...(o.localAddress6 !== undefined ? { localAddress: o.localAddress6 } : {}), ...onread })
      : connect({ host: formatAddress(sp.address), port: o.port, localAddress: formatAddress(o.localAddress), ...onread })
    this.attach(s)
    s.once('connect', () => {
      if (this.socket === s) this.session.guard('connect', () => this.feed({ type: 'Tcp_CR_Acked' }))
    })
  }

  /** Takes an accepted socket (incoming connection). */
  accept(s: Socket): void {
    this.attach(s)
    this.feed({ type: 'ManualStart_with_PassiveTcpEstablishment' })
    this.feed({ type: 'TcpConnectionConfirmed' })
  }

  private attach(s: Socket): void {
    this.socket = s
    this.framer = createFramer()
    this.ctx = { as4: false }
    s.setNoDelay(true)
    // a socket made with `onread` delivers its bytes to onRead, never as 'data'
    s.on('data', (chunk: Buffer) => this.onRead(s, chunk, chunk.length))
    s.on('error', (e: Error) => {
      if (this.socket === s) this.session.lastSocketError = e.message
    })
    s.on('close', () => {
      if (this.socket !== s) return
      this.socket = undefined
      this.session.guard('close', () => this.feed({ type: 'TcpConnectionFails', reason: this.session.lastSocketError ?? 'connection closed by peer' }))
      this.session.lastSocketError = undefined
    })
  }

  /** Bytes read from socket s: buf[0, len), valid only during this call (a shared read buffer). */
  private onRead(s: Socket, buf: Uint8Array, len: number): void {
    if (this.socket !== s) return
    // a session coming up: the answers to this read go out together
    if (this.state !== 'Established') this.gathered = []
    try {
      // the steady state of an idle session: whole KEEPALIVEs, nothing half-read; no framer, no decode
      if (this.framer.buffered() === 0 && onlyKeepalives(buf, len)) {
        for (let at = 0; at < len; at += KEEPALIVE_LENGTH) {
          if (this.socket !== s || this.discarded) return
          this.feed(KEEPALIVE_EVENT)
        }
        return
      }
      this.onData(Buffer.isBuffer(buf) && buf.length === len ? buf : Buffer.from(buf.buffer, buf.byteOffset, len))
    } catch (e) {
      this.session.internalError(this, e)
    } finally {
      this.flushGathered()
    }
  }

  private onData(chunk: Buffer): void {
    const s = this.socket
    const r = this.framer.push(chunk)
    for (const buf of r.messages) {
      if (this.socket !== s || this.discarded) return
      this.onMessage(buf)
    }
    if (r.error && this.socket === s) {
      this.session.decodeError(r.error)
      this.feed(eventForDecodeError(r.error))
    }
  }

  private onMessage(buf: Buffer): void {
    const m = decodeMessage(buf, this.ctx)
    if (!m.ok) {
      this.session.decodeError(m.error)
      this.feed(eventForDecodeError(m.error))
      return
    }
    const msg = m.value
    const wasEstablished = this.state === 'Established'
    if (msg.type === 'notification') this.session.notificationReceived(msg.code, msg.subcode, msg.shutdownMessage)
    this.feed(eventForMessage(msg))
    if (!wasEstablished || this.state !== 'Established') return
    if (msg.type === 'update') this.session.update(this, msg)
    else if (msg.type === 'routeRefresh') this.session.routeRefresh(this, msg.afi, msg.safi)
  }

  /** Closes the socket after pending writes (a NOTIFICATION) are flushed. */
  private drop(): void {
    // what this read made us send (a NOTIFICATION) goes before the close
    this.flushGathered()
    const s = this.socket
    if (!s) return
    this.socket = undefined
    s.removeAllListeners('data')
    s.on('error', () => undefined)
    s.end()
    const t = setTimeout(() => s.destroy(), 2000)
    t.unref()
    s.once('close', () => clearTimeout(t))
  }

  setNegotiated(n: Negotiated): void {
    this.ctx = n.ctx
    if (n.extendedMessage) this.framer.setExtendedMessage(true)
  }

  discard(): void {
    if (!this.discarded && this.initiator === 'remote' && this.session.opts.shared && this.preOpen) this.session.opts.shared.preOpen--
    this.discarded = true
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
    this.drop()
  }
}

/** A neighbour: configuration, its connections and, once Established, its speaker state. */
export class PeerSession {
  private out: Connection | undefined
  private readonly incoming: Connection[] = []
  private current: Connection | undefined
  rib: PeerRib | undefined
  negotiated: Negotiated | undefined
  lastError: string | undefined
  lastSocketError: string | undefined
  lastNotification: string | undefined
  since = Date.now()
  private viewState: FsmStateName = 'Idle'
  private stopped = false
  private restartTimer: NodeJS.Timeout | undefined
  readonly key: string
  private readonly log: SessionLog
  flaps = 0
  decodeErrors = 0
  internalErrors = 0
  /** graceful restart helper state (RFC 4724 4.2) */
  readonly helper: GrHelper
  /** helper mode, peer restarting: its previous session's routes, kept stale */
  private staleRib: PeerRib | undefined
  /** the peer's graceful restart capability from its last OPEN (kept while it restarts) */
  peerGr: PeerGracefulRestart | null = null
  /** sessions lost without helper mode although the peer had graceful restart, by reason */
  readonly notHelped: Partial<Record<HelperEndReason, number>> = {}
  /** set while we close the session ourselves: how the loss is treated (never helped) */
  private closing: HelperEndReason | undefined

  constructor(readonly spec: PeerSpec, readonly opts: SessionOptions) {
    this.key = peerKey(spec)
    this.log = opts.log
    this.helper = new GrHelper(opts.grTimers ?? realTimers, (reason) => this.guard('graceful-restart-timer', () => this.endHelper(reason)))
  }

  start(): void {
    this.stopped = false
    if (this.spec.passive || this.spec.dynamic) {
      this.setView('Active')
      return
    }
    this.out ??= new Connection(this, 'local')
    this.out.feed({ type: 'ManualStart' })
  }

  /**
   * Administrative stop, every connection closed:
   * - 'shutdown' (`fabric leave`, peer removed): Cease/Administrative Shutdown with an RFC 9003
   *   message; wrapped in Cease/Hard Reset (RFC 8538) when N was negotiated, so a helper drops our routes;
   * - 'restart' (SIGTERM: the agent restarts, graceful restart): the Established session of a peer
   *   that negotiated graceful restart ends without ending it: with N, Cease/Administrative Reset
   *   with the message (RFC 8538 4: the peer stays helper); without N, a TCP close without
   *   NOTIFICATION (RFC 4724 4.2). Peers without graceful restart get the 'shutdown' Cease.
   */
  stop(shutdownMessage: string, how: 'shutdown' | 'restart' = 'shutdown'): void {
    this.stopped = true
    this.closing = 'stopped'
    if (this.restartTimer) clearTimeout(this.restartTimer)
    const n = this.negotiated
    const gr = n ? peerGracefulRestart(n) : null
    const withN = gr?.notification && localNotificationBit(this.opts)
    for (const c of this.connections()) {
      if (c === this.current && c.state === 'Established' && gr && this.opts.gracefulRestartTime > 0) {
        if (how === 'restart') {
          c.feed(withN
            ? { type: 'AutomaticStop', reason: 'agent restarting (graceful restart)', notification: makeCease(CeaseSubcode.ADMINISTRATIVE_RESET, shutdownMessage) }
            : { type: 'AutomaticStop', reason: 'agent restarting (graceful restart)', silent: true })
        } else if (withN) {
          c.feed({ type: 'AutomaticStop', reason: 'administratively stopped', notification: makeHardReset(makeCease(CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, shutdownMessage)) })
        } else c.feed({ type: 'ManualStop', shutdownMessage })
      } else c.feed({ type: 'ManualStop', shutdownMessage })
      c.discard()
    }
    this.incoming.length = 0
    this.out = undefined
    this.finishDown('administratively stopped')
    if (this.staleRib) this.endHelper('stopped')
    this.helper.dispose()
    this.closing = undefined
    this.setView('Idle')
  }

  /** Stops with another Cease subcode (peer de-configured, ...); Cease/Hard Reset around it with N. */
  cease(subcode: number, reason: string): void {
    this.stopped = true
    this.closing = 'stopped'
    if (this.restartTimer) clearTimeout(this.restartTimer)
    for (const c of this.connections()) {
      c.feed(this.hardStop(c, subcode, reason))
      c.discard()
    }
    this.incoming.length = 0
    this.out = undefined
    this.finishDown(reason)
    if (this.staleRib) this.endHelper('stopped')
    this.helper.dispose()
    this.closing = undefined
    this.setView('Idle')
  }

  /** The AutomaticStop that ends graceful restart for sure: Cease/Hard Reset (RFC 8538) when N is negotiated. */
  private hardStop(c: Connection, subcode: number, reason: string): FsmEvent {
    const n = c === this.current ? this.negotiated : undefined
    const gr = n ? peerGracefulRestart(n) : null
    if (c.state === 'Established' && gr?.notification && localNotificationBit(this.opts)) {
      return { type: 'AutomaticStop', reason, notification: makeHardReset(makeNotification(ErrorCode.CEASE, subcode)) }
    }
    return { type: 'AutomaticStop', subcode, reason }
  }

  /**
   * BFD says the peer is gone (RFC 5882 4.3): no graceful restart, its
   * forwarding is gone too. The session is reset (Cease/BFD Down, RFC 9384,
   * inside a Hard Reset with N) and every route of the peer withdrawn at once,
   * stale ones included.
   */
  bfdDown(diag: string): void {
    if (this.staleRib) this.endHelper('bfd-down')
    this.closing = 'bfd-down'
    try {
      for (const c of this.connections()) {
        if (c.state === 'Idle' || c.state === 'Connect' || c.state === 'Active') continue
        c.feed(this.hardStop(c, CeaseSubcode.BFD_DOWN, `BFD down (${diag})`))
      }
      // a helper state left by a session that was resumed (stale-until-eor) goes with the session
      if (this.rib) this.finishDown(`BFD down (${diag})`)
    } finally {
      this.closing = undefined
    }
    this.refreshView()
    this.opts.onChange()
  }

  /** BFD is Up again: connect now instead of waiting for the connect-retry or idle-hold timer. */
  bfdUp(): void {
    if (this.stopped || this.current || this.spec.passive || this.spec.dynamic || !this.out) return
    const st = this.out.state
    if (st === 'Idle') this.out.feed({ type: 'ManualStart' })
    else if (st === 'Connect' || st === 'Active') this.out.feed({ type: 'ConnectRetryTimer_Expires' })
  }

  connections(): Connection[] {
    return this.out ? [this.out, ...this.incoming] : [...this.incoming]
  }

  /** Sockets not yet closed (stop waits for them so the NOTIFICATION goes out). */
  openSockets(): number {
    return this.connections().filter((c) => c.socket && !c.socket.destroyed).length
  }

  /** An accepted TCP connection from this peer's address. */
  accept(s: Socket): void {
    if (this.stopped) {
      s.destroy()
      return
    }
    // RFC 4271 6.8: a connection that collides with an Established one is closed
    // (Cease/Connection Collision Resolution); the Established one is kept. Except from a
    // peer with graceful restart: a new connection means it restarted (RFC 4724 4.2); its
    // OPEN decides (collide())
    if (this.current && this.current.state === 'Established' && !this.helpable()) {
      bump(this.opts.drops.connections, 'collision-with-established')
      this.log.limited('info', 'bgp-collision', this.key, { peer: this.key, closing: 'new incoming', note: 'a session with this peer is Established (RFC 4271 6.8)' })
      closeWithCease(s, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)
      return
    }
    // an older accepted connection that never got anywhere is replaced
    for (const c of [...this.incoming]) {
      if (c !== this.current && STATE_RANK[c.state] < 2) this.forget(c)
    }
    // unauthenticated connections from one address are bounded: the oldest gives way
    const waiting = this.incoming.filter((c) => c !== this.current && c.preOpen)
    for (let i = 0; i <= waiting.length - PRE_OPEN_PER_SOURCE; i++) {
      bump(this.opts.drops.connections, 'pre-open-per-source')
      this.log.limited('warn', 'bgp-pre-open-limit', this.key, { peer: this.key, limit: PRE_OPEN_PER_SOURCE, note: 'oldest connection without OPEN closed' })
      this.forget(waiting[i]!)
    }
    const c = new Connection(this, 'remote')
    this.incoming.push(c)
    // our own attempt that is still connecting gives way to the accepted connection
    if (this.out && (this.out.state === 'Connect' || this.out.state === 'Active') && this.out.socket?.connecting) {
      this.out.socket.destroy()
    }
    c.accept(s)
  }

  /** Accepted connections still waiting for a valid OPEN. */
  preOpenCount(): number {
    let n = 0
    for (const c of this.incoming) if (c.preOpen) n++
    return n
  }

  /** Whether losing the Established session now would keep the peer's routes (helper mode). */
  private helpable(): boolean {
    const n = this.negotiated
    return helperDecision({ localRestartTime: this.opts.gracefulRestartTime, localNotification: localNotificationBit(this.opts), peer: n ? peerGracefulRestart(n) : null }).help
  }

  private forget(c: Connection): void {
    c.discard()
    const i = this.incoming.indexOf(c)
    if (i >= 0) this.incoming.splice(i, 1)
    // the routes of a connection that goes away are always withdrawn
    if (c === this.current) this.lose(c, 'connection discarded')
  }

  /**
   * The connection carrying the session is gone: withdraw its routes, or keep
   * them stale (graceful restart helper) when `how` says it was a TCP failure
   * or a NOTIFICATION that allows it. Without `how` (discarded, internal
   * error) the routes are withdrawn.
   */
  private lose(c: Connection, reason: string, how?: { notification?: { code: number; subcode: number; direction?: 'sent' | 'received' } | undefined }): void {
    if (c !== this.current) return
    this.current = undefined
    this.lastError = reason
    this.flaps++
    this.finishDown(reason, how ?? { forced: 'stopped' })
  }

  /** Runs a callback body (timer, socket, immediate): nothing thrown leaves it. */
  guard(where: string, fn: () => void): void {
    try {
      fn()
    } catch (e) {
      this.internalErrors++
      this.log.error('bgp-internal-error', { peer: this.key, where, error: e instanceof Error ? (e.stack ?? e.message) : String(e) })
    }
  }

  // ---------------------------------------------------------------- connection callbacks

  stateChanged(c: Connection, from: FsmStateName, to: FsmStateName): void {
    this.log.debug('bgp-state', { peer: this.key, from, to, connection: c.initiator === 'local' ? 'outgoing' : 'incoming' })
    if (to === 'OpenConfirm') this.restartedPeer(c)
    if (to === 'OpenConfirm' && c.state === 'OpenConfirm') this.collide(c)
    this.refreshView()
  }

  /**
   * RFC 4724 4.2: a valid OPEN on a new connection while the old session is
   * Established means the peer restarted (it crashed and came back before our
   * hold timer noticed): the old session ends as a TCP failure would, its
   * routes kept stale when the peer has graceful restart.
   */
  private restartedPeer(c: Connection): void {
    const old = this.current
    if (!old || old === c || old.state !== 'Established' || !this.helpable()) return
    this.log.info('bgp-peer-restarted', { peer: this.key, note: 'new OPEN while the session was Established: the peer restarted (RFC 4724 4.2)' })
    // as a TCP failure: no NOTIFICATION, the FSM goes Idle and the session's routes are kept stale
    old.feed({ type: 'AutomaticStop', reason: 'peer restarted (new connection)', silent: true })
  }

  /** RFC 4271 6.8: with two connections past OpenSent, one is closed with Cease/7. */
  private collide(c: Connection): void {
    const peerOpen = c.fsm.data().peerOpen
    if (!peerOpen) return
    for (const other of this.connections()) {
      if (other === c) continue
      const loser = resolveCollision(c, other, { localId: this.opts.routerId, remoteId: peerOpen.bgpId, localAs: this.opts.localAs, remoteAs: c.fsm.data().negotiated?.peerAs })
      if (loser) {
        this.log.info('bgp-collision', { peer: this.key, closing: loser.initiator === 'local' ? 'outgoing' : 'incoming' })
        loser.feed({ type: 'OpenCollisionDump' })
        if (loser === c) return
      }
    }
  }

  established(c: Connection, n: Negotiated): void {
    c.setNegotiated(n)
    // never two sessions' routes: whatever carried the session before is gone now
    if (this.current && this.current !== c) this.lose(this.current, 'replaced by another connection')
    this.current = c
    this.negotiated = n
    this.peerGr = peerGracefulRestart(n)
    this.lastError = undefined
    // any other connection is now surplus: a collision loser or our own retrying attempt
    for (const other of this.connections()) {
      if (other === c) continue
      if (other.state === 'OpenSent' || other.state === 'OpenConfirm') other.feed({ type: 'OpenCollisionDump' })
      else if (other === this.out) other.feed({ type: 'ManualStop' })
      if (other !== this.out) this.forget(other)
    }
    const session = this
    const peer: SpeakerPeer = {
      key: this.key,
      address: this.spec.address,
      ...(this.spec.address6 !== undefined ? { address6: this.spec.address6 } : {}),
      asn: n.peerAs,
      ibgp: n.ibgp,
      routerId: n.peerId,
      rrClient: this.spec.rrClient,
      ctx: n.ctx,
      maxPrefixes: this.spec.maxPrefixes,
      ...ipv6View(n),
      send(messages) {
        if (session.current === c) c.write(messages)
      },
      cease(subcode, reason) {
        // after the UPDATE being processed: the FSM sends Cease (a Hard Reset with N: no helper
        // keeps what made us close) and drops the connection
        setImmediate(() => session.guard('cease', () => {
          if (session.current === c) c.feed(session.hardStop(c, subcode, reason))
        }))
      },
    }
    this.log.info('session-up', {
      peer: this.key, name: this.spec.name, asn: n.peerAs, type: n.ibgp ? 'ibgp' : 'ebgp', routerId: formatAddress(n.peerId),
      holdTime: n.holdTime, connection: c.initiator === 'local' ? 'outgoing' : 'incoming', origin: this.spec.dynamic ? this.spec.origin : undefined,
    })
    this.rib = this.resumeOrUp(peer)
    this.refreshView()
    this.opts.onChange()
  }

  /** A new session: resumes the stale routes of a restarted peer (helper), else a fresh PeerRib. */
  private resumeOrUp(peer: SpeakerPeer): PeerRib {
    const stale = this.staleRib
    if (!stale) return this.opts.speaker.peerUp(peer)
    // RFC 4724 4.2: without the capability, or without F for IPv4, in the new OPEN the stale routes go now
    const gr = this.peerGr
    if (!gr?.forwarding) {
      this.endHelper(gr ? 'no-forwarding' : 'no-graceful-restart')
      return this.opts.speaker.peerUp(peer)
    }
    this.staleRib = undefined
    const rib = this.opts.speaker.peerResume(stale, peer)
    this.helper.resumed(this.opts.stalePathTime ?? 360)
    const mark = { since: this.helper.since ?? Date.now(), reason: 'awaiting-end-of-rib' as const, until: this.helper.deadline ?? Date.now() }
    this.opts.speaker.markStale(rib, mark)
    this.log.info('graceful-restart-resumed', { peer: this.key, stale: rib.staleCount, stalePathTime: this.opts.stalePathTime ?? 360, note: 'stale routes kept until End-of-RIB' })
    return rib
  }

  /** End-of-RIB from the peer: a resumed peer's routes it did not re-announce are removed. */
  endOfRib(): void {
    const rib = this.rib
    if (!rib || this.helper.state !== 'stale-until-eor') return
    const swept = this.opts.speaker.sweepStale(rib)
    const since = this.helper.since
    this.helper.finished(swept)
    this.log.info('graceful-restart-done', { peer: this.key, swept, accepted: rib.accepted, ms: since === undefined ? undefined : Date.now() - since })
  }

  /** Helper mode ends early: every stale route of the peer is withdrawn (stale path time: only the stale ones). */
  private endHelper(reason: HelperEndReason): void {
    if (!this.helper.active) return
    const stale = this.staleRib
    this.staleRib = undefined
    let withdrawn = 0
    if (stale) withdrawn = this.opts.speaker.peerDown(stale)
    else if (this.rib && reason === 'stale-path-time-expired') withdrawn = this.opts.speaker.sweepStale(this.rib)
    else if (this.rib) withdrawn = this.opts.speaker.peerDown(this.rib)
    this.helper.end(reason)
    this.log.warn('graceful-restart-ended', { peer: this.key, reason, withdrawn })
    this.opts.onChange()
  }

  down(c: Connection, a: Extract<FsmAction, { type: 'down' }>): void {
    if (c === this.current) {
      this.lose(c, a.reason, { notification: a.notification })
      // ours was stopped while the accepted connection carried the session: try again
      if (c !== this.out && this.out && !this.stopped && !this.spec.passive && this.out.state === 'Idle') {
        this.restartTimer = setTimeout(() => this.guard('restart', () => {
          this.restartTimer = undefined
          if (!this.stopped && this.out && this.out.state === 'Idle' && !this.current) this.out.feed({ type: 'ManualStart' })
        }), this.opts.connectRetryTime * 1000)
        this.restartTimer.unref()
      }
    } else if (!this.current) {
      this.lastError = a.reason
      this.log.debug('bgp-connection-failed', { peer: this.key, reason: a.reason })
    }
    if (c !== this.out) setImmediate(() => this.guard('forget', () => this.forget(c)))
    this.refreshView()
    this.opts.onChange()
  }

  private finishDown(reason: string, how: { notification?: { code: number; subcode: number; direction?: 'sent' | 'received' } | undefined; forced?: HelperEndReason } = { forced: 'stopped' }): void {
    const rib = this.rib
    const n = this.negotiated
    this.rib = undefined
    this.negotiated = undefined
    if (!rib) return
    const forced = this.closing ?? how.forced
    // a session lost again before End-of-RIB: no second round of helping (RFC 4724 leaves it open; FRR and BIRD drop too)
    if (this.helper.state === 'stale-until-eor') {
      this.helper.end(forced === 'bfd-down' ? 'bfd-down' : forced === 'stopped' ? 'stopped' : 'consecutive-restart')
      const removed = this.opts.speaker.peerDown(rib)
      this.log.warn('session-down', { peer: this.key, name: this.spec.name, reason, withdrawn: removed, gracefulRestart: 'ended: lost again before End-of-RIB' })
      return
    }
    const peer = n ? peerGracefulRestart(n) : null
    const d = helperDecision({ localRestartTime: this.opts.gracefulRestartTime, localNotification: localNotificationBit(this.opts), peer, notification: how.notification, forced })
    if (d.help && peer) {
      const now = Date.now()
      this.helper.begin(peer.restartTime)
      const kept = this.opts.speaker.peerStale(rib, { since: this.helper.since ?? now, reason: 'peer-restarting', until: this.helper.deadline ?? now })
      this.staleRib = rib
      this.log.warn('session-down', { peer: this.key, name: this.spec.name, reason, kept, gracefulRestart: `helper: routes kept stale for up to ${peer.restartTime} s` })
      return
    }
    if (peer && !d.help && d.why !== 'stopped') this.notHelped[d.why] = (this.notHelped[d.why] ?? 0) + 1
    const removed = this.opts.speaker.peerDown(rib)
    this.log.warn('session-down', { peer: this.key, name: this.spec.name, reason, withdrawn: removed, ...(peer && !d.help ? { gracefulRestart: `not helped: ${d.why}` } : {}) })
  }

  /** Routes kept stale for this peer now (helper mode). */
  get staleRoutes(): number {
    const rib = this.staleRib ?? this.rib
    if (!rib) return 0
    return rib.staleCount + (this.opts.speaker.v6?.staleCount(rib) ?? 0)
  }

  update(c: Connection, msg: Parameters<Speaker['receiveUpdate']>[1]): void {
    if (c !== this.current || !this.rib) return
    this.opts.speaker.receiveUpdate(this.rib, msg)
  }

  routeRefresh(c: Connection, afi: number, safi: number): void {
    if (c !== this.current || !this.rib) return
    this.opts.speaker.routeRefresh(this.rib, afi, safi)
  }

  notificationSent(code: number, subcode: number, shutdownMessage?: string): void {
    const text = `${describeNotification(code, subcode)}${shutdownMessage ? ` "${shutdownMessage}"` : ''}`
    this.lastNotification = `sent ${text}`
    // collisions and our own stops are routine
    const routine = code === ErrorCode.CEASE && (subcode === CeaseSubcode.CONNECTION_COLLISION_RESOLUTION || subcode === CeaseSubcode.ADMINISTRATIVE_SHUTDOWN)
    this.log.limited(routine ? 'info' : 'warn', 'notification-sent', this.key, { peer: this.key, code, subcode, notification: text })
  }

  notificationReceived(code: number, subcode: number, shutdownMessage?: string): void {
    const text = `${describeNotification(code, subcode)}${shutdownMessage ? ` "${shutdownMessage}"` : ''}`
    this.lastNotification = `received ${text}`
    this.log.limited('warn', 'notification-received', this.key, { peer: this.key, code, subcode, notification: text })
  }

  decodeError(error: BgpDecodeError): void {
    this.decodeErrors++
    bump(this.opts.drops.messages, error.reason)
    this.log.limited('warn', 'message-error', this.key, { peer: this.key, reason: error.reason, error: error.message })
  }

  /**
   * Something in this connection's handling threw: the connection is reset
   * with Cease/Out of Resources; other sessions are untouched. If that reset
   * throws again (a broken FSM), the connection is abandoned outright, so
   * this never recurses (feed -> internalError -> feed ...).
   */
  internalError(c: Connection, e: unknown): void {
    this.internalErrors++
    this.log.limited('error', 'bgp-internal-error', this.key, { peer: this.key, error: e instanceof Error ? (e.stack ?? e.message) : String(e) })
    if (c.failing || c.discarded) {
      this.abandon(c)
      return
    }
    c.failing = true
    try {
      c.feed({ type: 'AutomaticStop', subcode: CeaseSubcode.OUT_OF_RESOURCES, reason: 'internal error' })
    } catch {
      this.abandon(c)
    } finally {
      c.failing = false
    }
  }

  /** Drops a connection without its FSM (which failed); the session starts over if it should. */
  private abandon(c: Connection): void {
    if (c.discarded && c !== this.current && c !== this.out && !this.incoming.includes(c)) return
    c.discard()
    bump(this.opts.drops.connections, 'internal-error')
    const i = this.incoming.indexOf(c)
    if (i >= 0) this.incoming.splice(i, 1)
    this.lose(c, 'internal error')
    if (c === this.out) {
      this.out = undefined
      if (!this.stopped && !this.spec.passive && !this.spec.dynamic && !this.restartTimer) {
        this.restartTimer = setTimeout(() => this.guard('restart', () => {
          this.restartTimer = undefined
          if (this.stopped || this.out) return
          this.out = new Connection(this, 'local')
          this.out.feed({ type: 'ManualStart' })
        }), this.opts.connectRetryTime * 1000)
        this.restartTimer.unref()
      }
    }
    this.refreshView()
    this.opts.onChange()
  }

  /** Asks the peer to send its table again (RFC 2918); false when it did not negotiate route refresh. */
  requestRouteRefresh(afi: number = AFI_IPV4): boolean {
    const c = this.current
    if (!c || !this.negotiated?.routeRefresh || c.state !== 'Established') return false
    if (!this.negotiated.families.some((f) => f.afi === afi && f.safi === SAFI_UNICAST)) return false
    c.write([{ type: 'routeRefresh', afi, subtype: 0, safi: SAFI_UNICAST }])
    return true
  }

  private setView(s: FsmStateName): void {
    if (s !== this.viewState) {
      this.viewState = s
      this.since = Date.now()
    }
  }

  /** The state shown for the peer: the most advanced of its connections. */
  private refreshView(): void {
    let best: FsmStateName = this.spec.passive || this.spec.dynamic ? 'Active' : 'Idle'
    if (this.stopped) best = 'Idle'
    // (no array of the connections: this runs on every state change of every session)
    const out = this.out
    if (out && !out.discarded && STATE_RANK[out.state] > STATE_RANK[best]) best = out.state
    for (const c of this.incoming) if (!c.discarded && STATE_RANK[c.state] > STATE_RANK[best]) best = c.state
    if (this.current && !this.current.discarded) best = this.current.state
    this.setView(best)
  }

  get state(): FsmStateName {
    return this.viewState
  }

  get isIdleDynamic(): boolean {
    return this.spec.dynamic && !this.current && this.incoming.length === 0
  }
}
