/**
 * BGP sessions over TCP: one `PeerSession` per neighbour, holding up to two
 * `Connection`s (ours and the peer's, RFC 4271 6.8 collision detection), each
 * driven by its own pure FSM (fsm.ts). Sockets, timers and the framer live
 * here; routing decisions live in the speaker. Nothing thrown inside a socket
 * or timer callback leaves this file: a failing connection is dropped, other
 * sessions are not disturbed.
 */
import { type Socket, connect } from 'node:net'
import { formatAddress } from '../../net/ipv4.js'
import { localCapabilities } from './capabilities.js'
import { createFramer, type BgpFramer } from './codec/framer.js'
import { decodeMessage, encodeMessage } from './codec/message.js'
import { describeNotification } from './codec/errors.js'
import { AFI_IPV4, CeaseSubcode, ErrorCode, SAFI_UNICAST } from './codec/constants.js'
import type { BgpDecodeError } from './codec/errors.js'
import { makeCease } from './codec/notification.js'
import type { Capability, CodecContext, Message } from './codec/types.js'
import {
  type BgpFsm, type Clock, type FsmAction, type FsmEvent, type FsmStateName, type Negotiated, type TimerName,
  createFsm, eventForDecodeError, eventForMessage, resolveCollision,
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
}

export interface SessionOptions {
  readonly localAs: number
  readonly routerId: number
  /** our underlay address: the source address of outgoing connections */
  readonly localAddress: number
  readonly port: number
  readonly holdTime: number
  readonly keepaliveTime: number
  readonly connectRetryTime: number
  readonly gracefulRestartTime: number
  readonly speaker: Speaker
  readonly log: SessionLog
  readonly clock: Clock
  /** a peer's End-of-RIB arrived or a session changed: readiness may change */
  readonly onChange: () => void
  /** seconds an accepted connection has to send a valid OPEN (default PRE_OPEN_TIMEOUT_S) */
  readonly preOpenTimeout?: number
  /** drop counters, shared with the source */
  readonly drops: SessionDrops
}

const TIMER_EVENT: Record<TimerName, FsmEvent['type']> = {
  connectRetry: 'ConnectRetryTimer_Expires',
  hold: 'HoldTimer_Expires',
  keepalive: 'KeepaliveTimer_Expires',
  delayOpen: 'DelayOpenTimer_Expires',
  idleHold: 'IdleHoldTimer_Expires',
}

const STATE_RANK: Record<FsmStateName, number> = { Idle: 0, Connect: 1, Active: 1, OpenSent: 2, OpenConfirm: 3, Established: 4 }

export function capabilitiesFor(o: Pick<SessionOptions, 'localAs' | 'gracefulRestartTime'>): Capability[] {
  return localCapabilities(o)
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
  ctx: CodecContext = { as4: false }
  discarded = false
  /** an internal error is being handled: a second one abandons the connection */
  failing = false

  constructor(readonly session: PeerSession, readonly initiator: 'local' | 'remote') {
    const s = session.spec
    const o = session.opts
    this.fsm = createFsm({
      localAs: o.localAs,
      localId: o.routerId,
      ...(s.asn !== undefined ? { peerAs: s.asn } : {}),
      ...(s.acceptAs ? { acceptPeerAs: s.acceptAs } : {}),
      holdTime: o.holdTime,
      keepaliveTime: o.keepaliveTime,
      connectRetryTime: o.connectRetryTime,
      // an accepted connection is unauthenticated until its OPEN: a short wait for it
      ...(initiator === 'remote' ? { largeHoldTime: o.preOpenTimeout ?? PRE_OPEN_TIMEOUT_S } : {}),
      // an accepted connection never restarts itself; ours retries every connect-retry-time (backing off up to 8x)
      idleHoldTime: initiator === 'remote' ? 0 : o.connectRetryTime,
      passive: initiator === 'remote' || s.passive,
      capabilities: capabilitiesFor(o),
    }, o.clock)
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
    try {
      actions = this.fsm.handle(event)
    } catch (e) {
      this.session.internalError(this, e)
      return
    }
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
        this.clearTimer(a.timer)
        const event = TIMER_EVENT[a.timer]
        const t = setTimeout(() => {
          this.timers.delete(a.timer)
          this.session.guard('timer', () => this.feed({ type: event } as FsmEvent))
        }, a.ms)
        this.timers.set(a.timer, t)
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
    s.cork()
    try {
      for (const m of messages) s.write(encodeMessage(m, this.ctx))
    } finally {
      s.uncork()
    }
  }

  private connectOut(): void {
    this.drop()
    const sp = this.session.spec
    const o = this.session.opts
    const s = connect({ host: formatAddress(sp.address), port: o.port, localAddress: formatAddress(o.localAddress) })
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
    s.on('data', (chunk: Buffer) => {
      if (this.socket !== s) return
      try {
        this.onData(chunk)
      } catch (e) {
        this.session.internalError(this, e)
      }
    })
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

  constructor(readonly spec: PeerSpec, readonly opts: SessionOptions) {
    this.key = formatAddress(spec.address)
    this.log = opts.log
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

  /** Administrative stop: Cease/Administrative Shutdown with an RFC 9003 message on every connection. */
  stop(shutdownMessage: string): void {
    this.stopped = true
    if (this.restartTimer) clearTimeout(this.restartTimer)
    for (const c of this.connections()) {
      c.feed({ type: 'ManualStop', shutdownMessage })
      c.discard()
    }
    this.incoming.length = 0
    this.out = undefined
    this.finishDown('administratively stopped')
    this.setView('Idle')
  }

  /** Stops with another Cease subcode (peer de-configured, ...). */
  cease(subcode: number, reason: string): void {
    this.stopped = true
    if (this.restartTimer) clearTimeout(this.restartTimer)
    for (const c of this.connections()) {
      c.feed({ type: 'AutomaticStop', subcode, reason })
      c.discard()
    }
    this.incoming.length = 0
    this.out = undefined
    this.finishDown(reason)
    this.setView('Idle')
  }

  connections(): Connection[] {
    return [...(this.out ? [this.out] : []), ...this.incoming]
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
    // (Cease/Connection Collision Resolution); the Established one is kept
    if (this.current && this.current.state === 'Established') {
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
    if (this.out && (this.out.state === 'Connect' || this.out.state === 'Active') && this.out.socket && this.out.socket.connecting) {
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

  private forget(c: Connection): void {
    c.discard()
    const i = this.incoming.indexOf(c)
    if (i >= 0) this.incoming.splice(i, 1)
    // the routes of a connection that goes away are always withdrawn
    if (c === this.current) this.lose(c, 'connection discarded')
  }

  /** The connection carrying the session is gone, however: withdraw its routes. */
  private lose(c: Connection, reason: string): void {
    if (c !== this.current) return
    this.current = undefined
    this.lastError = reason
    this.flaps++
    this.finishDown(reason)
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
    if (to === 'OpenConfirm') this.collide(c)
    this.refreshView()
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
      asn: n.peerAs,
      ibgp: n.ibgp,
      routerId: n.peerId,
      rrClient: this.spec.rrClient,
      ctx: n.ctx,
      maxPrefixes: this.spec.maxPrefixes,
      send(messages) {
        if (session.current === c) c.write(messages)
      },
      cease(subcode, reason) {
        // after the UPDATE being processed: the FSM sends Cease and drops the connection
        setImmediate(() => session.guard('cease', () => {
          if (session.current === c) c.feed({ type: 'AutomaticStop', subcode, reason })
        }))
      },
    }
    this.log.info('session-up', {
      peer: this.key, name: this.spec.name, asn: n.peerAs, type: n.ibgp ? 'ibgp' : 'ebgp', routerId: formatAddress(n.peerId),
      holdTime: n.holdTime, connection: c.initiator === 'local' ? 'outgoing' : 'incoming',
    })
    this.rib = this.opts.speaker.peerUp(peer)
    this.refreshView()
    this.opts.onChange()
  }

  down(c: Connection, a: Extract<FsmAction, { type: 'down' }>): void {
    if (c === this.current) {
      this.lose(c, a.reason)
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

  private finishDown(reason: string): void {
    const rib = this.rib
    this.rib = undefined
    this.negotiated = undefined
    if (!rib) return
    const removed = this.opts.speaker.peerDown(rib)
    this.log.warn('session-down', { peer: this.key, name: this.spec.name, reason, withdrawn: removed })
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
  requestRouteRefresh(): boolean {
    const c = this.current
    if (!c || !this.negotiated?.routeRefresh || c.state !== 'Established') return false
    c.write([{ type: 'routeRefresh', afi: AFI_IPV4, subtype: 0, safi: SAFI_UNICAST }])
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
    for (const c of this.connections()) if (!c.discarded && STATE_RANK[c.state] > STATE_RANK[best]) best = c.state
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
