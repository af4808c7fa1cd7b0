/**
 * The BGP-4 finite state machine (RFC 4271 section 8) as a pure function:
 * events in, actions and timer requests out. No sockets, no timers: the
 * caller performs the actions (connect, send, start/stop timers, drop the
 * connection) and feeds socket events, decoded messages and timer expiries
 * back as events. The clock is injected and only used to timestamp state.
 *
 * Timer expiry events for a timer the FSM does not consider running (stopped
 * or restarted since) are ignored, so a late callback cannot do harm.
 */
import { type Result, err, ok } from '../../util/result.js'
import { AFI_IPV4, AS_TRANS, CeaseSubcode, ErrorCode, FsmSubcode, OpenSubcode, SAFI_UNICAST } from './codec/constants.js'

/** Hold Timer Expired has no subcodes. */
const HOLD_TIMER_NO_SUBCODE = 0
import { describeNotification, type BgpDecodeError } from './codec/errors.js'
import { localCapabilities } from './capabilities.js'
import { findCapability, makeOpen } from './codec/open.js'
import { makeCease, makeNotification } from './codec/notification.js'
import type { Capability, CodecContext, Message, NotificationMessage, OpenMessage } from './codec/types.js'

export type FsmStateName = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established'
export type TimerName = 'connectRetry' | 'hold' | 'keepalive' | 'delayOpen' | 'idleHold'

export interface Clock {
  /** milliseconds, monotonic */
  now(): number
}

export interface FsmOptions {
  readonly localAs: number
  /** our BGP identifier (uint32, non-zero) */
  readonly localId: number
  /** the configured peer AS; leave undefined for a dynamic neighbour and use acceptPeerAs */
  readonly peerAs?: number
  /** accepts the AS of a dynamic neighbour (used when peerAs is undefined; default: any) */
  readonly acceptPeerAs?: (asn: number) => boolean
  /** seconds, 0 or >= 3 (default 9) */
  readonly holdTime?: number
  /** seconds (default 3); never more than a third of the negotiated hold time */
  readonly keepaliveTime?: number
  /** seconds (default 5) */
  readonly connectRetryTime?: number
  /** hold time while waiting for the peer's OPEN, seconds (default 240) */
  readonly largeHoldTime?: number
  /** RFC 4271 DelayOpen, seconds; 0 (default) sends OPEN as soon as TCP is up */
  readonly delayOpenTime?: number
  /**
   * seconds in Idle after a failure before an automatic restart (default 5),
   * doubled per consecutive failure up to 8x; 0 disables automatic restart
   */
  readonly idleHoldTime?: number
  /** never initiate connections: wait in Active for the peer */
  readonly passive?: boolean
  /** capabilities we advertise (default: IPv4 unicast, route refresh, 4-octet AS) */
  readonly capabilities?: readonly Capability[]
  /**
   * the capabilities of each OPEN as it is sent, when they change over time
   * (the graceful restart R bit); negotiation still uses `capabilities`
   */
  readonly openCapabilities?: () => readonly Capability[]
  /** deterministic jitter hook: returns the duration to use for a timer */
  readonly jitter?: (timer: TimerName, ms: number) => number
}

/** What both OPENs agreed on; the session uses ctx for the codec from now on. */
export interface Negotiated {
  readonly peerAs: number
  readonly peerId: number
  readonly ibgp: boolean
  /** seconds; 0 = no hold timer, no keepalives */
  readonly holdTime: number
  readonly keepaliveMs: number
  readonly as4: boolean
  readonly routeRefresh: boolean
  readonly enhancedRouteRefresh: boolean
  readonly extendedMessage: boolean
  /** AFI/SAFI both sides support (IPv4 unicast when the peer sent no multiprotocol capability) */
  readonly families: ReadonlyArray<{ readonly afi: number; readonly safi: number }>
  /** the peer's graceful restart capability, if any */
  readonly gracefulRestart?: Extract<Capability, { kind: 'gracefulRestart' }>
  readonly ctx: CodecContext
}

export type FsmEvent =
  | { readonly type: 'ManualStart' }
  | { readonly type: 'ManualStart_with_PassiveTcpEstablishment' }
  | { readonly type: 'AutomaticStart' }
  | { readonly type: 'AutomaticStart_with_PassiveTcpEstablishment' }
  /** operator stop; the message goes out as an RFC 9003 shutdown communication */
  | { readonly type: 'ManualStop'; readonly shutdownMessage?: string }
  /**
   * local policy stop (e.g. maximum prefixes): Cease with this subcode (default 4, Administrative
   * Reset), or this whole NOTIFICATION (RFC 8538 Hard Reset, an RFC 9003 message);
   * silent: no NOTIFICATION, just the TCP close (graceful restart without N)
   */
  | { readonly type: 'AutomaticStop'; readonly subcode?: number; readonly reason?: string; readonly notification?: NotificationMessage; readonly silent?: boolean }
  | { readonly type: 'ConnectRetryTimer_Expires' }
  | { readonly type: 'HoldTimer_Expires' }
  | { readonly type: 'KeepaliveTimer_Expires' }
  | { readonly type: 'DelayOpenTimer_Expires' }
  | { readonly type: 'IdleHoldTimer_Expires' }
  | { readonly type: 'TcpConnection_Valid' }
  | { readonly type: 'Tcp_CR_Invalid' }
  /** our outgoing connection was established */
  | { readonly type: 'Tcp_CR_Acked' }
  /** an incoming connection was accepted */
  | { readonly type: 'TcpConnectionConfirmed' }
  | { readonly type: 'TcpConnectionFails'; readonly reason?: string }
  | { readonly type: 'BGPOpen'; readonly message: OpenMessage }
  | { readonly type: 'BGPHeaderErr'; readonly error: BgpDecodeError }
  | { readonly type: 'BGPOpenMsgErr'; readonly error: BgpDecodeError }
  /** the collision detection (resolveCollision) chose to close this connection */
  | { readonly type: 'OpenCollisionDump' }
  | { readonly type: 'NotifMsgVerErr'; readonly message: NotificationMessage }
  | { readonly type: 'NotifMsg'; readonly message: NotificationMessage }
  | { readonly type: 'KeepAliveMsg' }
  | { readonly type: 'UpdateMsg' }
  /** an UPDATE (or ROUTE-REFRESH) error that RFC 7606 says resets the session */
  | { readonly type: 'UpdateMsgErr'; readonly error: BgpDecodeError }
  | { readonly type: 'RouteRefreshMsg' }
  /** we sent an UPDATE: restarts the keepalive timer (RFC 4271 4.4) */
  | { readonly type: 'UpdateSent' }

export type FsmAction =
  | { readonly type: 'connect' }
  | { readonly type: 'dropConnection' }
  | { readonly type: 'send'; readonly message: Message }
  | { readonly type: 'startTimer'; readonly timer: TimerName; readonly ms: number }
  | { readonly type: 'stopTimer'; readonly timer: TimerName }
  | { readonly type: 'stateChange'; readonly from: FsmStateName; readonly to: FsmStateName }
  | { readonly type: 'established'; readonly negotiated: Negotiated; readonly peerOpen: OpenMessage }
  | {
      readonly type: 'down'
      readonly reason: string
      /** the session had reached Established: its routes must be withdrawn */
      readonly wasEstablished: boolean
      readonly notification?: { readonly direction: 'sent' | 'received'; readonly code: number; readonly subcode: number; readonly shutdownMessage?: string }
    }

/** Immutable FSM state. */
export interface FsmData {
  readonly state: FsmStateName
  readonly connectRetryCounter: number
  /** running timers and their deadlines (clock ms) */
  readonly timers: Readonly<Partial<Record<TimerName, number>>>
  readonly stateSince: number
  readonly establishedAt?: number
  readonly peerOpen?: OpenMessage
  readonly negotiated?: Negotiated
  readonly lastError?: string
  /** false after ManualStop: no automatic restart */
  readonly autoRestart: boolean
}

export interface ResolvedOptions {
  readonly localAs: number
  readonly localId: number
  readonly peerAs?: number
  readonly acceptPeerAs?: (asn: number) => boolean
  readonly holdTime: number
  readonly keepaliveTime: number
  readonly connectRetryTime: number
  readonly largeHoldTime: number
  readonly delayOpenTime: number
  readonly idleHoldTime: number
  readonly passive: boolean
  readonly capabilities: readonly Capability[]
  readonly openCapabilities?: () => readonly Capability[]
  readonly jitter: (timer: TimerName, ms: number) => number
}

export const FSM_DEFAULTS = {
  holdTime: 9,
  keepaliveTime: 3,
  connectRetryTime: 5,
  largeHoldTime: 240,
  delayOpenTime: 0,
  idleHoldTime: 5,
} as const

/** What we advertise by default: the supported list of capabilities.ts (no graceful restart). */
export function defaultCapabilities(localAs: number): Capability[] {
  return localCapabilities({ localAs })
}

export function resolveFsmOptions(o: FsmOptions): ResolvedOptions {
  const holdTime = o.holdTime ?? FSM_DEFAULTS.holdTime
  if (holdTime !== 0 && holdTime < 3) throw new RangeError(`hold time ${holdTime} s: must be 0 or at least 3`)
  // one shape for every FSM (absent options as undefined, no spreads): a thousand connections
  // build this, and the code reading it sees one object layout
  return {
    localAs: o.localAs,
    localId: o.localId,
    peerAs: o.peerAs,
    acceptPeerAs: o.acceptPeerAs,
    holdTime,
    keepaliveTime: o.keepaliveTime ?? FSM_DEFAULTS.keepaliveTime,
    connectRetryTime: o.connectRetryTime ?? FSM_DEFAULTS.connectRetryTime,
    largeHoldTime: o.largeHoldTime ?? FSM_DEFAULTS.largeHoldTime,
    delayOpenTime: o.delayOpenTime ?? FSM_DEFAULTS.delayOpenTime,
    idleHoldTime: o.idleHoldTime ?? FSM_DEFAULTS.idleHoldTime,
    passive: o.passive ?? false,
    capabilities: o.capabilities ?? defaultCapabilities(o.localAs),
    openCapabilities: o.openCapabilities,
    jitter: o.jitter ?? noJitter,
  }
}

const noJitter = (_t: TimerName, ms: number): number => ms

export function initialFsmData(clock: Clock): FsmData {
  return { state: 'Idle', connectRetryCounter: 0, timers: {}, stateSince: clock.now(), autoRestart: true }
}

/** Our OPEN message for these options. */
export function buildOpen(o: ResolvedOptions): OpenMessage {
  return makeOpen({ asn: o.localAs, holdTime: o.holdTime, bgpId: o.localId, capabilities: o.openCapabilities?.() ?? o.capabilities })
}

export interface OpenRejection {
  readonly code: number
  readonly subcode: number
  readonly data: Buffer
  readonly message: string
}

function reject(subcode: number, message: string, data: Buffer = Buffer.alloc(0)): { ok: false; error: OpenRejection } {
  return err({ code: ErrorCode.OPEN_MESSAGE, subcode, data, message })
}

/**
 * Validates the peer's OPEN against our options (RFC 4271 6.2, RFC 6286,
 * RFC 6793) and negotiates hold time and capabilities.
 */
export function validateOpen(open: OpenMessage, o: ResolvedOptions): Result<Negotiated, OpenRejection> {
  if (open.version !== 4) return reject(OpenSubcode.UNSUPPORTED_VERSION, `version ${open.version}`, Buffer.from([0, 4]))
  const localAs4 = findCapability(o.capabilities, 'as4') !== undefined
  const as4Cap = findCapability(open.capabilities, 'as4')
  let peerAs = open.myAs
  if (as4Cap && localAs4) {
    peerAs = as4Cap.asn
    const expectedField = as4Cap.asn > 0xffff ? AS_TRANS : as4Cap.asn
    if (open.myAs !== expectedField) return reject(OpenSubcode.BAD_PEER_AS, `My AS ${open.myAs} does not match the 4-octet AS capability ${as4Cap.asn}`)
  }
  if (o.peerAs !== undefined) {
    if (peerAs !== o.peerAs) return reject(OpenSubcode.BAD_PEER_AS, `peer AS ${peerAs}, configured ${o.peerAs}`)
  } else if (o.acceptPeerAs && !o.acceptPeerAs(peerAs)) {
    return reject(OpenSubcode.BAD_PEER_AS, `peer AS ${peerAs} not accepted for this dynamic neighbour`)
  }
  const ibgp = peerAs === o.localAs
  if (open.bgpId === 0) return reject(OpenSubcode.BAD_BGP_IDENTIFIER, 'BGP identifier 0.0.0.0')
  if (ibgp && open.bgpId >>> 0 === o.localId >>> 0) return reject(OpenSubcode.BAD_BGP_IDENTIFIER, 'iBGP peer uses our BGP identifier')
  if (open.holdTime === 1 || open.holdTime === 2) return reject(OpenSubcode.UNACCEPTABLE_HOLD_TIME, `hold time ${open.holdTime} s`)
  const holdTime = Math.min(o.holdTime, open.holdTime)
  const keepaliveMs = holdTime === 0 ? 0 : Math.min(o.keepaliveTime * 1000, Math.floor((holdTime * 1000) / 3))
  const has = (caps: readonly Capability[], kind: Capability['kind']) => caps.some((c) => c.kind === kind)
  const mp = (caps: readonly Capability[]) => {
    const list = caps.filter((c): c is Extract<Capability, { kind: 'multiprotocol' }> => c.kind === 'multiprotocol')
    return list.length > 0 ? list.map((c) => ({ afi: c.afi, safi: c.safi })) : [{ afi: AFI_IPV4, safi: SAFI_UNICAST }]
  }
  const remoteFamilies = mp(open.capabilities)
  const families = mp(o.capabilities).filter((f) => remoteFamilies.some((r) => r.afi === f.afi && r.safi === f.safi))
  const as4 = localAs4 && as4Cap !== undefined
  const extendedMessage = has(o.capabilities, 'extendedMessage') && has(open.capabilities, 'extendedMessage')
  const gr = findCapability(open.capabilities, 'gracefulRestart')
  return ok({
    peerAs,
    peerId: open.bgpId >>> 0,
    ibgp,
    holdTime,
    keepaliveMs,
    as4,
    routeRefresh: has(o.capabilities, 'routeRefresh') && has(open.capabilities, 'routeRefresh'),
    enhancedRouteRefresh: has(o.capabilities, 'enhancedRouteRefresh') && has(open.capabilities, 'enhancedRouteRefresh'),
    extendedMessage,
    families,
    ...(gr ? { gracefulRestart: gr } : {}),
    ctx: extendedMessage ? { as4, extendedMessage } : { as4 },
  })
}

/** The KEEPALIVE message (immutable: one object for every send). */
const KEEPALIVE_MESSAGE: Message = Object.freeze({ type: 'keepalive' })
const SEND_KEEPALIVE: FsmAction = Object.freeze({ type: 'send', message: KEEPALIVE_MESSAGE })

/**
 * Whether a KEEPALIVE received in Established is answered with ours at once
 * (our keepalive timer restarted): when ours is due within half the keepalive
 * time anyway, and at least a second after our last one (RFC 4271 4.4: not
 * more often than one per second). Two speakers then send in the same
 * moment: the answer carries the TCP ACK of the peer's KEEPALIVE (no pure
 * ACK) and an idle session wakes each side about once per keepalive time
 * instead of twice. Our KEEPALIVEs still come at most a keepalive time apart.
 */
export function answerKeepaliveNow(due: number | undefined, keepaliveMs: number, o: Pick<ResolvedOptions, 'jitter'>, now: number): boolean {
  if (due === undefined || keepaliveMs <= 0) return false
  const remaining = due - now
  // the timer ran for what the jitter hook made of keepaliveMs
  const started = Math.max(0, Math.round(o.jitter('keepalive', keepaliveMs)))
  return remaining <= keepaliveMs / 2 && started - remaining >= 1000
}

/** The event of every KEEPALIVE received (immutable). */
export const KEEPALIVE_EVENT: FsmEvent = Object.freeze({ type: 'KeepAliveMsg' })

/** Maps a decoded message to its FSM event. */
export function eventForMessage(msg: Message): FsmEvent {
  switch (msg.type) {
    case 'open': return { type: 'BGPOpen', message: msg }
    case 'update': return { type: 'UpdateMsg' }
    case 'keepalive': return KEEPALIVE_EVENT
    case 'routeRefresh': return { type: 'RouteRefreshMsg' }
    case 'notification':
      return msg.code === ErrorCode.OPEN_MESSAGE && msg.subcode === OpenSubcode.UNSUPPORTED_VERSION
        ? { type: 'NotifMsgVerErr', message: msg }
        : { type: 'NotifMsg', message: msg }
  }
}

/** Maps a decode error (from the framer or decodeMessage) to its FSM event. */
export function eventForDecodeError(error: BgpDecodeError): FsmEvent {
  if (error.code === ErrorCode.MESSAGE_HEADER) return { type: 'BGPHeaderErr', error }
  if (error.code === ErrorCode.OPEN_MESSAGE) return { type: 'BGPOpenMsgErr', error }
  return { type: 'UpdateMsgErr', error }
}

const TIMER_EVENTS: Partial<Record<FsmEvent['type'], TimerName>> = {
  ConnectRetryTimer_Expires: 'connectRetry',
  HoldTimer_Expires: 'hold',
  KeepaliveTimer_Expires: 'keepalive',
  DelayOpenTimer_Expires: 'delayOpen',
  IdleHoldTimer_Expires: 'idleHold',
}

const UNEXPECTED_SUBCODE: Partial<Record<FsmStateName, number>> = {
  OpenSent: FsmSubcode.UNEXPECTED_IN_OPENSENT,
  OpenConfirm: FsmSubcode.UNEXPECTED_IN_OPENCONFIRM,
  Established: FsmSubcode.UNEXPECTED_IN_ESTABLISHED,
}

/**
 * One FSM step: the new state and the actions to perform, in order.
 * Pure: the same inputs always give the same outputs.
 */
export function fsmStep(prev: FsmData, event: FsmEvent, o: ResolvedOptions, clock: Clock): { data: FsmData; actions: FsmAction[] } {
  const timerName = TIMER_EVENTS[event.type]
  if (timerName !== undefined && prev.timers[timerName] === undefined) return { data: prev, actions: [] }

  const now = clock.now()
  const actions: FsmAction[] = []
  const timers: Partial<Record<TimerName, number>> = { ...prev.timers }
  if (timerName !== undefined) delete timers[timerName]
  let d: { -readonly [K in keyof FsmData]: FsmData[K] } = { ...prev, timers }

  const start = (timer: TimerName, ms: number) => {
    const t = Math.max(0, Math.round(o.jitter(timer, ms)))
    timers[timer] = now + t
    actions.push({ type: 'startTimer', timer, ms: t })
  }
  const stop = (timer: TimerName) => {
    if (timers[timer] !== undefined) {
      delete timers[timer]
      actions.push({ type: 'stopTimer', timer })
    }
  }
  const to = (state: FsmStateName) => {
    if (state !== d.state) {
      actions.push({ type: 'stateChange', from: d.state, to: state })
      d.state = state
      d.stateSince = now
    }
  }
  const send = (message: Message) => actions.push({ type: 'send', message })
  const sendOpen = () => send(buildOpen(o))
  const holdMs = () => (d.negotiated?.holdTime ?? 0) * 1000
  const restartHold = () => { if (holdMs() > 0) start('hold', holdMs()) }

  interface IdleOpts {
    reason: string
    sent?: NotificationMessage
    received?: NotificationMessage
    counter: 'increment' | 'reset' | 'keep'
    restart: boolean
  }
  const goIdle = (x: IdleOpts) => {
    const wasEstablished = d.state === 'Established'
    if (x.sent) send(x.sent)
    for (const t of ['connectRetry', 'hold', 'keepalive', 'delayOpen', 'idleHold'] as const) stop(t)
    actions.push({ type: 'dropConnection' })
    if (x.counter === 'increment') d.connectRetryCounter += 1
    if (x.counter === 'reset') d.connectRetryCounter = 0
    to('Idle')
    const n = x.sent ?? x.received
    const notification = n
      ? { direction: x.sent ? ('sent' as const) : ('received' as const), code: n.code, subcode: n.subcode, ...(n.shutdownMessage !== undefined ? { shutdownMessage: n.shutdownMessage } : {}) }
      : undefined
    const reason = n ? `${x.reason}: ${describeNotification(n.code, n.subcode)}${n.shutdownMessage ? ` "${n.shutdownMessage}"` : ''}` : x.reason
    actions.push(notification ? { type: 'down', reason, wasEstablished, notification } : { type: 'down', reason, wasEstablished })
    d.lastError = reason
    delete d.negotiated
    delete d.peerOpen
    delete d.establishedAt
    if (!x.restart) d.autoRestart = false
    if (x.restart && d.autoRestart && o.idleHoldTime > 0) {
      const factor = Math.min(2 ** Math.max(0, d.connectRetryCounter - 1), 8)
      start('idleHold', o.idleHoldTime * 1000 * factor)
    }
  }
  const fail = (reason: string, sent?: NotificationMessage) => goIdle({ reason, ...(sent ? { sent } : {}), counter: 'increment', restart: true })
  const notif = (e: { code: number; subcode: number; data: Buffer }) => makeNotification(e.code, e.subcode, e.data)
  const fsmError = () => fail(`unexpected ${event.type} in ${d.state}`, makeNotification(ErrorCode.FSM, UNEXPECTED_SUBCODE[d.state] ?? FsmSubcode.UNSPECIFIED))
  const tcpUp = () => {
    stop('connectRetry')
    if (o.delayOpenTime > 0) {
      start('delayOpen', o.delayOpenTime * 1000)
      return
    }
    sendOpen()
    start('hold', o.largeHoldTime * 1000)
    to('OpenSent')
  }
  const acceptOpen = (open: OpenMessage, alsoSendOpen: boolean) => {
    const v = validateOpen(open, o)
    if (!v.ok) {
      if (alsoSendOpen) sendOpen()
      return fail(`rejected OPEN: ${v.error.message}`, notif(v.error))
    }
    stop('delayOpen')
    stop('connectRetry')
    if (alsoSendOpen) sendOpen()
    send({ type: 'keepalive' })
    d.negotiated = v.value
    d.peerOpen = open
    if (v.value.holdTime > 0) {
      start('keepalive', v.value.keepaliveMs)
      start('hold', v.value.holdTime * 1000)
    } else {
      stop('hold')
    }
    to('OpenConfirm')
  }
  const manualStop = (withNotification: boolean) => {
    const msg = event.type === 'ManualStop' ? event.shutdownMessage : undefined
    goIdle({
      reason: 'administratively stopped',
      ...(withNotification ? { sent: makeCease(CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, msg) } : {}),
      counter: 'reset',
      restart: false,
    })
  }
  const automaticStop = () => {
    const subcode = event.type === 'AutomaticStop' ? (event.subcode ?? CeaseSubcode.ADMINISTRATIVE_RESET) : CeaseSubcode.ADMINISTRATIVE_RESET
    const reason = event.type === 'AutomaticStop' && event.reason ? event.reason : 'automatic stop'
    if (event.type === 'AutomaticStop' && event.silent) return fail(reason)
    fail(reason, (event.type === 'AutomaticStop' ? event.notification : undefined) ?? makeNotification(ErrorCode.CEASE, subcode))
  }

  switch (d.state) {
    case 'Idle':
      switch (event.type) {
        case 'ManualStart':
        case 'AutomaticStart':
        case 'ManualStart_with_PassiveTcpEstablishment':
        case 'AutomaticStart_with_PassiveTcpEstablishment':
        case 'IdleHoldTimer_Expires': {
          const manual = event.type === 'ManualStart' || event.type === 'ManualStart_with_PassiveTcpEstablishment'
          if (manual) {
            d.connectRetryCounter = 0
            d.autoRestart = true
          }
          stop('idleHold')
          const passive = o.passive || event.type.endsWith('PassiveTcpEstablishment')
          start('connectRetry', o.connectRetryTime * 1000)
          if (passive) to('Active')
          else {
            actions.push({ type: 'connect' })
            to('Connect')
          }
          break
        }
        case 'ManualStop':
          stop('idleHold')
          d.autoRestart = false
          break
        case 'Tcp_CR_Acked':
        case 'TcpConnectionConfirmed':
          // Idle refuses connections
          actions.push({ type: 'dropConnection' })
          break
        default:
          break
      }
      break

    case 'Connect':
    case 'Active': {
      const delayOpenRunning = timers.delayOpen !== undefined
      switch (event.type) {
        case 'ManualStart':
        case 'AutomaticStart':
        case 'ManualStart_with_PassiveTcpEstablishment':
        case 'AutomaticStart_with_PassiveTcpEstablishment':
        case 'TcpConnection_Valid':
        case 'Tcp_CR_Invalid':
        case 'UpdateSent':
          break
        case 'ManualStop':
          manualStop(false)
          break
        case 'AutomaticStop':
          goIdle({ reason: event.reason ?? 'automatic stop', counter: 'increment', restart: true })
          break
        case 'ConnectRetryTimer_Expires':
          if (d.state === 'Connect') {
            stop('delayOpen')
            actions.push({ type: 'dropConnection' })
            start('connectRetry', o.connectRetryTime * 1000)
            actions.push({ type: 'connect' })
          } else if (o.passive) {
            start('connectRetry', o.connectRetryTime * 1000)
          } else {
            start('connectRetry', o.connectRetryTime * 1000)
            actions.push({ type: 'connect' })
            to('Connect')
          }
          break
        case 'DelayOpenTimer_Expires':
          sendOpen()
          start('hold', o.largeHoldTime * 1000)
          to('OpenSent')
          break
        case 'Tcp_CR_Acked':
        case 'TcpConnectionConfirmed':
          tcpUp()
          break
        case 'TcpConnectionFails':
          if (d.state === 'Connect' && delayOpenRunning) {
            stop('delayOpen')
            start('connectRetry', o.connectRetryTime * 1000)
            to('Active')
          } else {
            fail(`TCP connection failed${event.reason ? `: ${event.reason}` : ''}`)
          }
          break
        case 'BGPOpen':
          if (delayOpenRunning) acceptOpen(event.message, true)
          else fail(`unexpected OPEN in ${d.state}`)
          break
        case 'BGPHeaderErr':
        case 'BGPOpenMsgErr':
          fail(event.error.message, notif(event.error))
          break
        case 'NotifMsgVerErr':
          goIdle({ reason: 'peer does not support BGP-4', received: event.message, counter: delayOpenRunning ? 'keep' : 'increment', restart: true })
          break
        case 'NotifMsg':
          goIdle({ reason: 'NOTIFICATION received', received: event.message, counter: 'increment', restart: true })
          break
        default:
          fail(`unexpected ${event.type} in ${d.state}`)
      }
      break
    }

    case 'OpenSent':
      switch (event.type) {
        case 'ManualStart':
        case 'AutomaticStart':
        case 'ManualStart_with_PassiveTcpEstablishment':
        case 'AutomaticStart_with_PassiveTcpEstablishment':
        case 'TcpConnection_Valid':
        case 'Tcp_CR_Invalid':
        case 'Tcp_CR_Acked':
        case 'TcpConnectionConfirmed':
        case 'UpdateSent':
          break
        case 'ManualStop':
          manualStop(true)
          break
        case 'AutomaticStop':
          automaticStop()
          break
        case 'HoldTimer_Expires':
          fail('hold timer expired waiting for OPEN', makeNotification(ErrorCode.HOLD_TIMER_EXPIRED, HOLD_TIMER_NO_SUBCODE))
          break
        case 'TcpConnectionFails':
          stop('hold')
          actions.push({ type: 'dropConnection' })
          start('connectRetry', o.connectRetryTime * 1000)
          d.lastError = `TCP connection failed in OpenSent${event.reason ? `: ${event.reason}` : ''}`
          to('Active')
          break
        case 'BGPOpen':
          acceptOpen(event.message, false)
          break
        case 'BGPHeaderErr':
        case 'BGPOpenMsgErr':
          fail(event.error.message, notif(event.error))
          break
        case 'OpenCollisionDump':
          goIdle({ reason: 'connection collision', sent: makeNotification(ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION), counter: 'increment', restart: false })
          break
        case 'NotifMsgVerErr':
          goIdle({ reason: 'peer does not support BGP-4', received: event.message, counter: 'keep', restart: true })
          break
        case 'NotifMsg':
          goIdle({ reason: 'NOTIFICATION received', received: event.message, counter: 'increment', restart: true })
          break
        default:
          fsmError()
      }
      break

    case 'OpenConfirm':
    case 'Established':
      switch (event.type) {
        case 'ManualStart':
        case 'AutomaticStart':
        case 'ManualStart_with_PassiveTcpEstablishment':
        case 'AutomaticStart_with_PassiveTcpEstablishment':
        case 'TcpConnection_Valid':
        case 'Tcp_CR_Invalid':
        case 'Tcp_CR_Acked':
        case 'TcpConnectionConfirmed':
          break
        case 'ManualStop':
          manualStop(true)
          break
        case 'AutomaticStop':
          automaticStop()
          break
        case 'HoldTimer_Expires':
          fail('hold timer expired', makeNotification(ErrorCode.HOLD_TIMER_EXPIRED, HOLD_TIMER_NO_SUBCODE))
          break
        case 'KeepaliveTimer_Expires':
          send(KEEPALIVE_MESSAGE)
          if (d.negotiated && d.negotiated.keepaliveMs > 0) start('keepalive', d.negotiated.keepaliveMs)
          break
        case 'UpdateSent':
          if (d.state === 'Established' && d.negotiated && d.negotiated.keepaliveMs > 0) start('keepalive', d.negotiated.keepaliveMs)
          break
        case 'TcpConnectionFails':
          fail(`TCP connection failed${event.reason ? `: ${event.reason}` : ''}`)
          break
        case 'NotifMsgVerErr':
        case 'NotifMsg':
          goIdle({ reason: 'NOTIFICATION received', received: event.message, counter: 'increment', restart: true })
          break
        case 'BGPHeaderErr':
        case 'BGPOpenMsgErr':
          fail(event.error.message, notif(event.error))
          break
        case 'OpenCollisionDump':
          goIdle({ reason: 'connection collision', sent: makeNotification(ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION), counter: 'increment', restart: false })
          break
        case 'KeepAliveMsg':
          restartHold()
          if (d.state === 'OpenConfirm') {
            to('Established')
            d.establishedAt = now
            if (d.negotiated && d.peerOpen) actions.push({ type: 'established', negotiated: d.negotiated, peerOpen: d.peerOpen })
          } else if (d.negotiated && answerKeepaliveNow(timers.keepalive, d.negotiated.keepaliveMs, o, now)) {
            send(KEEPALIVE_MESSAGE)
            start('keepalive', d.negotiated.keepaliveMs)
          }
          break
        case 'UpdateMsg':
        case 'RouteRefreshMsg':
          if (d.state === 'Established') restartHold()
          else fsmError()
          break
        case 'UpdateMsgErr':
          if (d.state === 'Established') fail(event.error.message, notif(event.error))
          else fsmError()
          break
        default:
          fsmError()
      }
      break
  }
  d = { ...d, timers }
  return { data: d, actions }
}

/** A convenience wrapper holding the FSM state. */
export interface BgpFsm {
  readonly options: ResolvedOptions
  state(): FsmStateName
  data(): FsmData
  /** Applies an event; returns the actions to perform, in order. */
  handle(event: FsmEvent): FsmAction[]
}

/**
 * The two events an Established session sees every few seconds (a KEEPALIVE
 * received, the keepalive timer expiring), computed without fsmStep's
 * general machinery: the same data and actions as fsmStep (test/unit/
 * protocols/bgp/fsm.test.ts compares them), fewer objects. undefined: any
 * other event or state (fsmStep decides).
 */
export function fsmFastStep(prev: FsmData, event: FsmEvent, o: ResolvedOptions, clock: Clock): { data: FsmData; actions: FsmAction[] } | undefined {
  if (prev.state !== 'Established') return handshakeStep(prev, event, o, clock)
  const n = prev.negotiated
  if (n === undefined) return undefined
  if (event.type === 'KeepAliveMsg') {
    const now = clock.now()
    if (n.holdTime <= 0) return { data: { ...prev, timers: { ...prev.timers } }, actions: [] }
    const ms = Math.max(0, Math.round(o.jitter('hold', n.holdTime * 1000)))
    if (answerKeepaliveNow(prev.timers.keepalive, n.keepaliveMs, o, now)) {
      const ka = Math.max(0, Math.round(o.jitter('keepalive', n.keepaliveMs)))
      return {
        data: { ...prev, timers: { ...prev.timers, hold: now + ms, keepalive: now + ka } },
        actions: [{ type: 'startTimer', timer: 'hold', ms }, SEND_KEEPALIVE, { type: 'startTimer', timer: 'keepalive', ms: ka }],
      }
    }
    return { data: { ...prev, timers: { ...prev.timers, hold: now + ms } }, actions: [{ type: 'startTimer', timer: 'hold', ms }] }
  }
  if (event.type === 'KeepaliveTimer_Expires') {
    if (prev.timers.keepalive === undefined) return { data: prev, actions: [] }
    if (n.keepaliveMs <= 0) return undefined
    const ms = Math.max(0, Math.round(o.jitter('keepalive', n.keepaliveMs)))
    const { keepalive: _expired, ...others } = prev.timers
    return { data: { ...prev, timers: { ...others, keepalive: clock.now() + ms } }, actions: [SEND_KEEPALIVE, { type: 'startTimer', timer: 'keepalive', ms }] }
  }
  return undefined
}

/**
 * The four steps of a session coming up the usual way, computed without
 * fsmStep's general machinery (a reflector takes a thousand connections in
 * a second): an accepted connection's start (Idle -> Active), the TCP
 * connection up (Connect/Active -> OpenSent, OPEN sent), a valid OPEN
 * (OpenSent -> OpenConfirm, KEEPALIVE sent), the first KEEPALIVE
 * (OpenConfirm -> Established). Only when no other timer runs than the
 * one the usual way has; the same data and actions as fsmStep (test/unit/
 * protocols/bgp/fsm.test.ts compares them). undefined: fsmStep decides
 * (an invalid OPEN, DelayOpen, any other event or state).
 */
function handshakeStep(prev: FsmData, event: FsmEvent, o: ResolvedOptions, clock: Clock): { data: FsmData; actions: FsmAction[] } | undefined {
  const t = prev.timers
  switch (event.type) {
    case 'ManualStart_with_PassiveTcpEstablishment': {
      if (prev.state !== 'Idle' || t.idleHold !== undefined) return undefined
      const now = clock.now()
      const ms = Math.max(0, Math.round(o.jitter('connectRetry', o.connectRetryTime * 1000)))
      return {
        data: { ...prev, connectRetryCounter: 0, autoRestart: true, state: 'Active', stateSince: now, timers: { ...t, connectRetry: now + ms } },
        actions: [{ type: 'startTimer', timer: 'connectRetry', ms }, { type: 'stateChange', from: 'Idle', to: 'Active' }],
      }
    }
    case 'TcpConnectionConfirmed':
    case 'Tcp_CR_Acked': {
      // the usual way: only the connect-retry timer runs (replaced by the hold timer)
      if ((prev.state !== 'Active' && prev.state !== 'Connect') || o.delayOpenTime > 0 || t.connectRetry === undefined ||
          t.hold !== undefined || t.keepalive !== undefined || t.delayOpen !== undefined || t.idleHold !== undefined) return undefined
      const now = clock.now()
      const ms = Math.max(0, Math.round(o.jitter('hold', o.largeHoldTime * 1000)))
      return {
        data: { ...prev, state: 'OpenSent', stateSince: now, timers: { hold: now + ms } },
        actions: [{ type: 'stopTimer', timer: 'connectRetry' }, { type: 'send', message: buildOpen(o) }, { type: 'startTimer', timer: 'hold', ms }, { type: 'stateChange', from: prev.state, to: 'OpenSent' }],
      }
    }
    case 'BGPOpen': {
      if (prev.state !== 'OpenSent' || t.connectRetry !== undefined || t.delayOpen !== undefined) return undefined
      const v = validateOpen(event.message, o)
      if (!v.ok) return undefined
      const n = v.value
      const now = clock.now()
      const timers: Partial<Record<TimerName, number>> = { ...t }
      const actions: FsmAction[] = [SEND_KEEPALIVE]
      if (n.holdTime > 0) {
        const ka = Math.max(0, Math.round(o.jitter('keepalive', n.keepaliveMs)))
        const hold = Math.max(0, Math.round(o.jitter('hold', n.holdTime * 1000)))
        timers.keepalive = now + ka
        timers.hold = now + hold
        actions.push({ type: 'startTimer', timer: 'keepalive', ms: ka }, { type: 'startTimer', timer: 'hold', ms: hold })
      } else if (timers.hold !== undefined) {
        delete timers.hold
        actions.push({ type: 'stopTimer', timer: 'hold' })
      }
      actions.push({ type: 'stateChange', from: 'OpenSent', to: 'OpenConfirm' })
      return { data: { ...prev, timers, negotiated: n, peerOpen: event.message, state: 'OpenConfirm', stateSince: now }, actions }
    }
    case 'KeepAliveMsg': {
      const n = prev.negotiated
      if (prev.state !== 'OpenConfirm' || n === undefined || prev.peerOpen === undefined) return undefined
      const now = clock.now()
      const actions: FsmAction[] = []
      let timers = t
      if (n.holdTime > 0) {
        const ms = Math.max(0, Math.round(o.jitter('hold', n.holdTime * 1000)))
        timers = { ...t, hold: now + ms }
        actions.push({ type: 'startTimer', timer: 'hold', ms })
      } else timers = { ...t }
      actions.push({ type: 'stateChange', from: 'OpenConfirm', to: 'Established' }, { type: 'established', negotiated: n, peerOpen: prev.peerOpen })
      return { data: { ...prev, timers, state: 'Established', stateSince: now, establishedAt: now }, actions }
    }
    default:
      return undefined
  }
}

export function createFsm(options: FsmOptions, clock: Clock): BgpFsm {
  const o = resolveFsmOptions(options)
  let current = initialFsmData(clock)
  return {
    options: o,
    state: () => current.state,
    data: () => current,
    handle(event) {
      const r = fsmFastStep(current, event, o, clock) ?? fsmStep(current, event, o, clock)
      current = r.data
      return r.actions
    },
  }
}

// ---------------------------------------------------------------- collisions (RFC 4271 6.8)

export type Initiator = 'local' | 'remote'

export interface CollisionConnection {
  readonly state: FsmStateName
  /** who opened the TCP connection */
  readonly initiator: Initiator
}

/**
 * Connection collision detection: given two connections to the same peer and
 * both BGP identifiers, returns the connection to close (send Cease/7 on it,
 * i.e. feed it OpenCollisionDump), or undefined when there is nothing to
 * resolve yet (a connection not in OpenSent/OpenConfirm/Established).
 * An Established connection always wins. Equal identifiers (possible for
 * eBGP, RFC 6286) are broken by AS number: the larger AS's connection stays.
 */
export function resolveCollision<C extends CollisionConnection>(
  a: C,
  b: C,
  ids: { readonly localId: number; readonly remoteId: number; readonly localAs?: number; readonly remoteAs?: number },
): C | undefined {
  const live = (s: FsmStateName) => s === 'OpenSent' || s === 'OpenConfirm' || s === 'Established'
  if (!live(a.state) || !live(b.state) || a.initiator === b.initiator) return undefined
  if (a.state === 'Established' && b.state === 'Established') return undefined
  if (a.state === 'Established') return b
  if (b.state === 'Established') return a
  const localId = ids.localId >>> 0
  const remoteId = ids.remoteId >>> 0
  let loser: Initiator
  if (localId !== remoteId) loser = localId < remoteId ? 'local' : 'remote'
  else loser = (ids.localAs ?? 0) < (ids.remoteAs ?? 0) ? 'local' : 'remote'
  return a.initiator === loser ? a : b
}
