/**
 * One BFD session (RFC 5880 asynchronous mode) as a pure state machine:
 * events in (a received packet, the clock reaching nextWake(), an admin or
 * parameter change), packets to send and state changes out. The clock is
 * injected (every method takes `now` in ms) and so is the jitter source, so
 * tests drive the RFC timers without waiting.
 *
 * Implemented (section numbers of RFC 5880):
 *   6.2 / 6.8.6  Down/Init/Up/AdminDown and the three-way handshake
 *   6.8.1        state variables (bfd.*), initial values
 *   6.8.2        timer negotiation: tx = max(bfd.DesiredMinTxInterval,
 *                bfd.RemoteMinRxInterval); detection time = remote Detect
 *                Mult * max(bfd.RequiredMinRxInterval, remote Desired Min TX)
 *   6.8.3        DesiredMinTxInterval >= 1 s while not Up; a change of either
 *                interval while Up starts a Poll Sequence; an increased tx
 *                interval / decreased rx interval takes effect only when the
 *                Final arrives
 *   6.8.4        detection time expiry: Down, diag 1, bfd.RemoteDiscr = 0;
 *                bfd.AuthSeqKnown reset after 2 x detection time of silence
 *   6.8.7        jitter 75..100% of the interval (75..90% with Detect Mult
 *                1); no periodic packets while bfd.RemoteMinRxInterval is 0
 *                or the remote is in Demand mode with both sides Up; Final
 *                sent at once in answer to a Poll, never P and F together
 *   6.7          authentication through auth.ts (sequence per packet)
 * Not implemented: Demand mode for ourselves (never set D), the Echo function
 * (Required Min Echo RX is always 0), passive role (we always send).
 *
 * Besides the periodic packets, a packet is sent at once when the state
 * changes (as BIRD and FRR do), so the handshake does not wait for the 1 s
 * slow-start interval.
 */
import { type AuthSeqState, type BfdAuthConfig, checkAuth, signPacket } from './auth.js'
import { type BfdControlPacket, type BfdState, Diag, encodePacket } from './codec.js'

/** Intervals in microseconds, as on the wire. */
export interface BfdTimers {
  desiredMinTx: number
  requiredMinRx: number
  detectMult: number
}

export interface BfdSessionOptions extends BfdTimers {
  /** bfd.LocalDiscr, non-zero, unique on this system */
  localDiscriminator: number
  auth?: BfdAuthConfig
  /** start in AdminDown */
  adminDown?: boolean
  /** [0,1) jitter source (default Math.random) */
  random?: () => number
  /** first bfd.XmitAuthSeq (default random) */
  initialSequence?: number
}

export interface BfdStateChange {
  from: BfdState
  to: BfdState
  diag: number
  /**
   * the neighbour's state as this change saw it: the state in the packet that
   * caused it ('AdminDown' with diag 3: an administrative down, RFC 5882 3.2;
   * 'Down' with diag 3: the neighbour declared a failure), 'Down' after a
   * detection time expiry
   */
  remote: BfdState
}

export interface BfdOutput {
  /** encoded (and signed) packets to send, in order */
  packets: Buffer[]
  changes: BfdStateChange[]
}

export type BfdDropReason = 'admin-down' | 'discriminator-mismatch' | 'auth-missing' | 'auth-unexpected' | 'auth-type' | 'auth-key-id' | 'auth-password' | 'auth-digest' | 'auth-sequence'

/** 1 s in us: the minimum DesiredMinTxInterval while not Up (6.8.3) */
export const SLOW_TX_US = 1_000_000

export class BfdSession {
  #state: BfdState
  #remoteState: BfdState = 'Down'
  readonly localDiscr: number
  #remoteDiscr = 0
  #diag: number = Diag.None
  #lastDownDiag: number = Diag.None
  /** configured values */
  #cfg: BfdTimers
  /** advertised bfd.DesiredMinTxInterval / bfd.RequiredMinRxInterval */
  #desiredTx: number
  #requiredRx: number
  /** values in force for our tx timer / the remote's detection (differ during a Poll Sequence) */
  #txInUse: number
  #rxInUse: number
  #remoteMinRx = 1
  #remoteDesiredTx = 0
  #remoteDetectMult = 0
  #remoteDemand = false
  #poll = false
  readonly #auth: BfdAuthConfig | undefined
  #xmitSeq: number
  #rcvSeq: AuthSeqState = { known: false, seq: 0 }
  readonly #random: () => number
  /** absolute ms */
  #nextTx: number
  #detectAt = Infinity
  #authSeqResetAt = Infinity
  #lastRx = -Infinity
  readonly counters = { rx: 0, tx: 0, drops: {} as Partial<Record<BfdDropReason, number>> }

  constructor(opts: BfdSessionOptions, now: number) {
    this.localDiscr = opts.localDiscriminator >>> 0
    this.#cfg = { desiredMinTx: opts.desiredMinTx, requiredMinRx: opts.requiredMinRx, detectMult: opts.detectMult }
    this.#state = opts.adminDown ? 'AdminDown' : 'Down'
    if (opts.adminDown) this.#diag = Diag.AdministrativelyDown
    this.#desiredTx = Math.max(opts.desiredMinTx, SLOW_TX_US)
    this.#requiredRx = opts.requiredMinRx
    this.#txInUse = this.#desiredTx
    this.#rxInUse = this.#requiredRx
    this.#auth = opts.auth && opts.auth.keys.length > 0 ? opts.auth : undefined
    this.#random = opts.random ?? Math.random
    this.#xmitSeq = (opts.initialSequence ?? Math.floor(Math.random() * 0x1_0000_0000)) >>> 0
    this.#nextTx = now
  }

  get state(): BfdState {
    return this.#state
  }
  get remoteState(): BfdState {
    return this.#remoteState
  }
  get remoteDiscr(): number {
    return this.#remoteDiscr
  }
  get diag(): number {
    return this.#diag
  }
  get lastDownDiag(): number {
    return this.#lastDownDiag
  }
  get pollActive(): boolean {
    return this.#poll
  }
  /** advertised Desired Min TX (us) */
  get desiredMinTx(): number {
    return this.#desiredTx
  }
  /** Our periodic tx interval before jitter (us); 0 = not sending periodically. */
  get txInterval(): number {
    if (this.#remoteMinRx === 0) return 0
    return Math.max(this.#txInUse, this.#remoteMinRx)
  }
  /** Negotiated receive interval (us): max(bfd.RequiredMinRxInterval, remote Desired Min TX) */
  get rxInterval(): number {
    return Math.max(this.#rxInUse, this.#remoteDesiredTx)
  }
  /** Detection time (us) for the remote's packets; 0 before any packet was received. */
  get detectionTime(): number {
    if (this.#remoteDetectMult === 0) return 0
    return this.#remoteDetectMult * Math.max(this.#rxInUse, this.#remoteDesiredTx)
  }
  /** The earliest time (ms) at which expire() has something to do. */
  nextWake(): number {
    return Math.min(this.#periodicSuppressed() ? Infinity : this.#nextTx, this.#detectAt, this.#authSeqResetAt)
  }

  #periodicSuppressed(): boolean {
    if (this.#remoteMinRx === 0) return true
    return this.#remoteDemand && this.#state === 'Up' && this.#remoteState === 'Up'
  }

  #jittered(intervalUs: number): number {
    const ms = intervalUs / 1000
    const span = this.#cfg.detectMult === 1 ? 0.15 : 0.25
    return ms * (0.75 + span * this.#random())
  }

  #packet(final: boolean): Buffer {
    const pkt: BfdControlPacket = {
      diag: this.#diag,
      state: this.#state,
      poll: this.#poll && !final,
      final,
      cpi: false,
      demand: false,
      detectMult: this.#cfg.detectMult,
      myDiscriminator: this.localDiscr,
      yourDiscriminator: this.#remoteDiscr,
      desiredMinTx: this.#desiredTx,
      requiredMinRx: this.#requiredRx,
      requiredMinEchoRx: 0,
    }
    this.counters.tx++
    if (!this.#auth) return encodePacket(pkt)
    const seq = this.#xmitSeq
    this.#xmitSeq = (this.#xmitSeq + 1) >>> 0
    return signPacket(pkt, this.#auth, seq)
  }

  #sendNow(out: BfdOutput, now: number, final = false): void {
    out.packets.push(this.#packet(final))
    if (!final) this.#nextTx = now + this.#jittered(this.txInterval || this.#txInUse)
  }

  #setState(to: BfdState, diag: number, out: BfdOutput, now: number): void {
    const from = this.#state
    if (from === to) return
    this.#state = to
    this.#diag = diag
    if (to === 'Down' || to === 'AdminDown') this.#lastDownDiag = diag
    out.changes.push({ from, to, diag, remote: this.#remoteState })
    if (to === 'Up') {
      // 6.8.3: the configured (faster) rate may be used now; the change is announced with a Poll
      if (this.#desiredTx !== this.#cfg.desiredMinTx) {
        this.#desiredTx = this.#cfg.desiredMinTx
        this.#txInUse = Math.min(this.#txInUse, this.#desiredTx)
        this.#poll = true
      }
    } else if (from === 'Up') {
      this.#desiredTx = Math.max(this.#cfg.desiredMinTx, SLOW_TX_US)
      this.#txInUse = this.#desiredTx
      this.#rxInUse = this.#requiredRx
      this.#poll = false
    }
    if (to !== 'AdminDown') this.#sendNow(out, now)
  }

  /** Sends the first packet (call once after construction). */
  start(now: number): BfdOutput {
    const out: BfdOutput = { packets: [], changes: [] }
    this.#sendNow(out, now)
    return out
  }

  /** Handles the clock reaching nextWake(): periodic transmission, detection time, auth sequence reset. */
  expire(now: number): BfdOutput {
    const out: BfdOutput = { packets: [], changes: [] }
    if (now >= this.#detectAt) {
      this.#detectAt = Infinity
      this.#remoteDiscr = 0
      this.#remoteState = 'Down'
      this.#remoteDemand = false
      if (this.#state === 'Init' || this.#state === 'Up') this.#setState('Down', Diag.ControlDetectionTimeExpired, out, now)
    }
    this.#otherTimers(out, now)
    return out
  }

  /** Whether the detection time has expired at `now` (expire() would act on it). */
  detectionDue(now: number): boolean {
    return now >= this.#detectAt
  }

  /**
   * What expire() does except the detection time: the periodic packet and the
   * auth sequence reset. For a transport that reads its sockets before it
   * decides on an expired detection time; expire() follows.
   */
  transmitDue(now: number): BfdOutput {
    const out: BfdOutput = { packets: [], changes: [] }
    this.#otherTimers(out, now)
    return out
  }

  #otherTimers(out: BfdOutput, now: number): void {
    if (now >= this.#authSeqResetAt) {
      this.#authSeqResetAt = Infinity
      this.#rcvSeq = { known: false, seq: 0 }
    }
    // AdminDown is still signalled (at the slow rate), so the remote learns the cause (6.8.16)
    if (now >= this.#nextTx && !this.#periodicSuppressed()) this.#sendNow(out, now)
  }

  /**
   * Handles a packet the transport demultiplexed to this session (codec
   * checks already passed). `bytes` are the received bytes, for auth.
   */
  receive(pkt: BfdControlPacket, bytes: Buffer, now: number): { output: BfdOutput; drop?: BfdDropReason } {
    const out: BfdOutput = { packets: [], changes: [] }
    const drop = (reason: BfdDropReason) => {
      this.counters.drops[reason] = (this.counters.drops[reason] ?? 0) + 1
      return { output: out, drop: reason }
    }
    if (pkt.yourDiscriminator !== 0 && pkt.yourDiscriminator !== this.localDiscr) return drop('discriminator-mismatch')
    const auth = checkAuth(bytes, pkt, this.#auth, this.#rcvSeq)
    if (!auth.ok) return drop(auth.error)
    this.#rcvSeq = auth.value
    this.counters.rx++
    this.#lastRx = now
    this.#remoteDiscr = pkt.myDiscriminator
    this.#remoteState = pkt.state
    this.#remoteDemand = pkt.demand
    const oldRemoteMinRx = this.#remoteMinRx
    this.#remoteMinRx = pkt.requiredMinRx
    this.#remoteDesiredTx = pkt.desiredMinTx
    this.#remoteDetectMult = pkt.detectMult
    if (pkt.final && this.#poll) {
      this.#poll = false
      this.#txInUse = this.#desiredTx
      this.#rxInUse = this.#requiredRx
    }
    const detectMs = this.detectionTime / 1000
    this.#detectAt = now + detectMs
    if (this.#auth && this.#auth.type !== 'simple') this.#authSeqResetAt = now + 2 * detectMs
    // a faster remote rx requirement may pull our next packet earlier; a slower one is honoured from the next send
    if (this.#remoteMinRx !== oldRemoteMinRx && oldRemoteMinRx === 0 && this.#remoteMinRx > 0) this.#nextTx = now
    else if (this.#remoteMinRx > 0) this.#nextTx = Math.min(this.#nextTx, now + this.txInterval / 1000)
    if (this.#state === 'AdminDown') return drop('admin-down')
    if (pkt.state === 'AdminDown') {
      if (this.#state !== 'Down') this.#setState('Down', Diag.NeighborSignaledDown, out, now)
    } else if (this.#state === 'Down') {
      if (pkt.state === 'Down') this.#setState('Init', Diag.None, out, now)
      else if (pkt.state === 'Init') this.#setState('Up', Diag.None, out, now)
    } else if (this.#state === 'Init') {
      if (pkt.state === 'Init' || pkt.state === 'Up') this.#setState('Up', Diag.None, out, now)
    } else if (pkt.state === 'Down') {
      this.#setState('Down', Diag.NeighborSignaledDown, out, now)
    }
    if (pkt.poll) out.packets.push(this.#packet(true))
    return { output: out }
  }

  /** Changes the configured timers (us); while Up this runs a Poll Sequence (6.8.3). */
  setTimers(t: BfdTimers, now: number): BfdOutput {
    const out: BfdOutput = { packets: [], changes: [] }
    this.#cfg = { ...t }
    const desired = this.#state === 'Up' ? t.desiredMinTx : Math.max(t.desiredMinTx, SLOW_TX_US)
    const changed = desired !== this.#desiredTx || t.requiredMinRx !== this.#requiredRx
    if (!changed) return out
    const up = this.#state === 'Up'
    // increases of tx / decreases of rx wait for the Final; the opposite directions are safe at once
    if (!up || desired < this.#txInUse) this.#txInUse = desired
    if (!up || t.requiredMinRx > this.#rxInUse) this.#rxInUse = t.requiredMinRx
    this.#desiredTx = desired
    this.#requiredRx = t.requiredMinRx
    if (up) {
      this.#poll = true
      this.#sendNow(out, now)
    }
    return out
  }

  /** Sets AdminDown (diag 7) or leaves it (to Down). */
  setAdminDown(adminDown: boolean, now: number): BfdOutput {
    const out: BfdOutput = { packets: [], changes: [] }
    if (adminDown && this.#state !== 'AdminDown') {
      this.#setState('AdminDown', Diag.AdministrativelyDown, out, now)
      this.#poll = false
      this.#detectAt = Infinity
      // tell the remote once at once; then at the slow rate
      out.packets.push(this.#packet(false))
      this.#nextTx = now + this.#jittered(SLOW_TX_US)
    } else if (!adminDown && this.#state === 'AdminDown') {
      this.#setState('Down', Diag.None, out, now)
    }
    return out
  }

  /** ms since the last accepted packet (Infinity if none) */
  sinceLastRx(now: number): number {
    return now - this.#lastRx
  }
}
