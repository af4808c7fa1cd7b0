import test from 'ava'
import { decodeError, makeOpen, type Capability, type NotificationMessage, type OpenMessage } from '../../../../src/protocols/bgp/codec/index.js'
import {
  createFsm, eventForDecodeError, eventForMessage, fsmFastStep, fsmStep, resolveCollision, validateOpen, resolveFsmOptions,
  type FsmAction, type FsmData, type FsmEvent, type FsmOptions, type FsmStateName, type Initiator,
} from '../../../../src/protocols/bgp/fsm.js'
import { ip } from './helpers.js'

function clock(start = 1000) {
  let t = start
  return { now: () => t, advance: (ms: number) => { t += ms } }
}

const LOCAL: FsmOptions = { localAs: 65001, localId: ip('10.0.0.1'), peerAs: 65002 }

function peerOpen(over: Partial<OpenMessage> & { asn?: number; caps?: Capability[] } = {}): OpenMessage {
  const asn = over.asn ?? 65002
  const base = makeOpen({ asn, holdTime: over.holdTime ?? 9, bgpId: over.bgpId ?? ip('10.0.0.2'), capabilities: over.caps ?? [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'as4', asn }] })
  return { ...base, ...(over.myAs !== undefined ? { myAs: over.myAs } : {}), ...(over.version !== undefined ? { version: over.version } : {}) }
}

const types = (acts: FsmAction[]) => acts.map((a) => a.type)
const sent = (acts: FsmAction[]) => acts.flatMap((a) => (a.type === 'send' ? [a.message] : []))
const timer = (acts: FsmAction[], name: string) => acts.find((a) => a.type === 'startTimer' && a.timer === name) as { ms: number } | undefined
const down = (acts: FsmAction[]) => acts.find((a) => a.type === 'down') as Extract<FsmAction, { type: 'down' }> | undefined

function established(opts: Partial<FsmOptions> = {}, open = peerOpen()) {
  const c = clock()
  const fsm = createFsm({ ...LOCAL, ...opts }, c)
  fsm.handle({ type: 'ManualStart' })
  fsm.handle({ type: 'Tcp_CR_Acked' })
  fsm.handle({ type: 'BGPOpen', message: open })
  const acts = fsm.handle({ type: 'KeepAliveMsg' })
  return { fsm, c, acts }
}

test('Idle -> Connect on ManualStart: connect and ConnectRetry timer', (t) => {
  const fsm = createFsm(LOCAL, clock())
  const acts = fsm.handle({ type: 'ManualStart' })
  t.is(fsm.state(), 'Connect')
  t.deepEqual(acts, [
    { type: 'startTimer', timer: 'connectRetry', ms: 5000 },
    { type: 'connect' },
    { type: 'stateChange', from: 'Idle', to: 'Connect' },
  ])
})

test('Idle ignores other events and refuses connections', (t) => {
  const fsm = createFsm(LOCAL, clock())
  t.deepEqual(fsm.handle({ type: 'KeepAliveMsg' }), [])
  t.deepEqual(fsm.handle({ type: 'TcpConnectionConfirmed' }), [{ type: 'dropConnection' }])
  t.deepEqual(fsm.handle({ type: 'ManualStop' }), [])
  t.is(fsm.state(), 'Idle')
})

test('Connect: ConnectRetry expiry retries the connection', (t) => {
  const fsm = createFsm(LOCAL, clock())
  fsm.handle({ type: 'ManualStart' })
  const acts = fsm.handle({ type: 'ConnectRetryTimer_Expires' })
  t.deepEqual(acts, [{ type: 'dropConnection' }, { type: 'startTimer', timer: 'connectRetry', ms: 5000 }, { type: 'connect' }])
  t.is(fsm.state(), 'Connect')
})

test('Connect -> OpenSent on TCP established: OPEN sent, large hold timer', (t) => {
  const fsm = createFsm(LOCAL, clock())
  fsm.handle({ type: 'ManualStart' })
  const acts = fsm.handle({ type: 'Tcp_CR_Acked' })
  t.is(fsm.state(), 'OpenSent')
  t.deepEqual(types(acts), ['stopTimer', 'send', 'startTimer', 'stateChange'])
  const open = sent(acts)[0] as OpenMessage
  t.deepEqual({ ...open }, { type: 'open', version: 4, myAs: 65001, holdTime: 9, bgpId: ip('10.0.0.1'), capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'routeRefresh', code: 2 }, { kind: 'as4', asn: 65001 }] })
  t.is(timer(acts, 'hold')?.ms, 240_000)
})

test('Connect: TCP failure goes Idle and schedules an automatic restart with backoff', (t) => {
  const c = clock()
  const fsm = createFsm(LOCAL, c)
  fsm.handle({ type: 'ManualStart' })
  const acts = fsm.handle({ type: 'TcpConnectionFails', reason: 'ECONNREFUSED' })
  t.is(fsm.state(), 'Idle')
  t.false(down(acts)!.wasEstablished)
  t.regex(down(acts)!.reason, /ECONNREFUSED/)
  t.is(timer(acts, 'idleHold')?.ms, 5000)
  const restart = fsm.handle({ type: 'IdleHoldTimer_Expires' })
  t.is(fsm.state(), 'Connect')
  t.true(types(restart).includes('connect'))
  const again = fsm.handle({ type: 'TcpConnectionFails' })
  t.is(timer(again, 'idleHold')?.ms, 10_000)
  t.is(fsm.data().connectRetryCounter, 2)
})

test('Active: passive start waits, ConnectRetry expiry does not connect', (t) => {
  const fsm = createFsm({ ...LOCAL, passive: true }, clock())
  const acts = fsm.handle({ type: 'ManualStart_with_PassiveTcpEstablishment' })
  t.is(fsm.state(), 'Active')
  t.false(types(acts).includes('connect'))
  t.deepEqual(fsm.handle({ type: 'ConnectRetryTimer_Expires' }), [{ type: 'startTimer', timer: 'connectRetry', ms: 5000 }])
  t.is(fsm.state(), 'Active')
  const up = fsm.handle({ type: 'TcpConnectionConfirmed' })
  t.is(fsm.state(), 'OpenSent')
  t.is(sent(up)[0]?.type, 'open')
})

test('Active -> Connect on ConnectRetry expiry for an active peer', (t) => {
  const fsm = createFsm(LOCAL, clock())
  fsm.handle({ type: 'AutomaticStart_with_PassiveTcpEstablishment' })
  t.is(fsm.state(), 'Active')
  const acts = fsm.handle({ type: 'ConnectRetryTimer_Expires' })
  t.is(fsm.state(), 'Connect')
  t.true(types(acts).includes('connect'))
})

test('OpenSent -> OpenConfirm on a valid OPEN: KEEPALIVE sent, negotiated timers', (t) => {
  const fsm = createFsm(LOCAL, clock())
  fsm.handle({ type: 'ManualStart' })
  fsm.handle({ type: 'Tcp_CR_Acked' })
  const acts = fsm.handle({ type: 'BGPOpen', message: peerOpen({ holdTime: 90 }) })
  t.is(fsm.state(), 'OpenConfirm')
  t.deepEqual(sent(acts), [{ type: 'keepalive' }])
  t.is(timer(acts, 'hold')?.ms, 9000)
  t.is(timer(acts, 'keepalive')?.ms, 3000)
  t.is(fsm.data().negotiated?.holdTime, 9)
  t.is(fsm.data().negotiated?.peerAs, 65002)
  t.true(fsm.data().negotiated?.as4)
})

test('hold time negotiation: the smaller wins, keepalive a third', (t) => {
  const o = resolveFsmOptions({ ...LOCAL, holdTime: 90, keepaliveTime: 30 })
  const r1 = validateOpen(peerOpen({ holdTime: 6 }), o)
  t.true(r1.ok && r1.value.holdTime === 6 && r1.value.keepaliveMs === 2000)
  const r2 = validateOpen(peerOpen({ holdTime: 180 }), o)
  t.true(r2.ok && r2.value.holdTime === 90 && r2.value.keepaliveMs === 30_000)
  const r3 = validateOpen(peerOpen({ holdTime: 3 }), o)
  t.true(r3.ok && r3.value.holdTime === 3 && r3.value.keepaliveMs === 1000)
})

test('hold time 0: no hold timer, no keepalives', (t) => {
  const { fsm, acts } = established({}, peerOpen({ holdTime: 0 }))
  t.is(fsm.state(), 'Established')
  t.is(fsm.data().negotiated?.holdTime, 0)
  t.is(timer(acts, 'hold'), undefined)
  t.is(fsm.data().timers.hold, undefined)
  t.is(fsm.data().timers.keepalive, undefined)
  // a stale keepalive expiry is ignored
  t.deepEqual(fsm.handle({ type: 'KeepaliveTimer_Expires' }), [])
})

test('hold time 1 or 2 refused with 2/6', (t) => {
  for (const holdTime of [1, 2]) {
    const fsm = createFsm(LOCAL, clock())
    fsm.handle({ type: 'ManualStart' })
    fsm.handle({ type: 'Tcp_CR_Acked' })
    const acts = fsm.handle({ type: 'BGPOpen', message: peerOpen({ holdTime }) })
    t.is(fsm.state(), 'Idle')
    const n = sent(acts)[0] as NotificationMessage
    t.deepEqual([n.code, n.subcode], [2, 6])
  }
  t.throws(() => createFsm({ ...LOCAL, holdTime: 2 }, clock()), { instanceOf: RangeError })
})

test('OPEN validation: bad peer AS 2/2, BGP identifier 2/3, version 2/1', (t) => {
  const o = resolveFsmOptions(LOCAL)
  const r1 = validateOpen(peerOpen({ asn: 65003 }), o)
  t.true(!r1.ok && r1.error.subcode === 2)
  const ibgp = resolveFsmOptions({ ...LOCAL, peerAs: 65001 })
  const r2 = validateOpen(peerOpen({ asn: 65001, bgpId: ip('10.0.0.1') }), ibgp)
  t.true(!r2.ok && r2.error.code === 2 && r2.error.subcode === 3)
  // eBGP may share the identifier (RFC 6286)
  t.true(validateOpen(peerOpen({ bgpId: ip('10.0.0.1') }), o).ok)
  const r3 = validateOpen(peerOpen({ version: 3 }), o)
  t.true(!r3.ok && r3.error.subcode === 1 && r3.error.data.equals(Buffer.from([0, 4])))
  // My AS must agree with the 4-octet capability
  const r4 = validateOpen(peerOpen({ myAs: 65009 }), o)
  t.true(!r4.ok && r4.error.subcode === 2)
})

test('OPEN validation: 4-octet ASN peers and dynamic neighbours', (t) => {
  const o = resolveFsmOptions({ ...LOCAL, peerAs: 4200000000 })
  const r = validateOpen(peerOpen({ asn: 4200000000 }), o)
  t.true(r.ok && r.value.peerAs === 4200000000 && r.value.ctx.as4)
  const dyn = resolveFsmOptions({ localAs: 65001, localId: 1, acceptPeerAs: (asn) => asn >= 65100 && asn < 65200 })
  t.true(validateOpen(peerOpen({ asn: 65150 }), dyn).ok)
  const bad = validateOpen(peerOpen({ asn: 65002 }), dyn)
  t.true(!bad.ok && bad.error.subcode === 2)
  // a 2-octet peer (no capability): 2-octet session
  const old = validateOpen(peerOpen({ caps: [] }), resolveFsmOptions(LOCAL))
  t.true(old.ok && !old.value.as4 && old.value.families.length === 1)
})

test('capability negotiation', (t) => {
  const o = resolveFsmOptions({ ...LOCAL, capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'multiprotocol', afi: 2, safi: 1 }, { kind: 'routeRefresh', code: 2 }, { kind: 'as4', asn: 65001 }, { kind: 'extendedMessage' }] })
  const r = validateOpen(peerOpen({ caps: [{ kind: 'multiprotocol', afi: 2, safi: 1 }, { kind: 'routeRefresh', code: 128 }, { kind: 'as4', asn: 65002 }, { kind: 'extendedMessage' }, { kind: 'gracefulRestart', restarting: false, notification: false, restartTime: 120, families: [] }] }), o)
  if (!r.ok) return t.fail()
  t.deepEqual(r.value.families, [{ afi: 2, safi: 1 }])
  t.true(r.value.routeRefresh)
  t.deepEqual(r.value.ctx, { as4: true, extendedMessage: true })
  t.is(r.value.gracefulRestart?.restartTime, 120)
})

test('OpenConfirm -> Established on KEEPALIVE', (t) => {
  const { fsm, acts } = established()
  t.is(fsm.state(), 'Established')
  const e = acts.find((a) => a.type === 'established') as Extract<FsmAction, { type: 'established' }>
  t.is(e.negotiated.peerAs, 65002)
  t.is(e.peerOpen.bgpId, ip('10.0.0.2'))
  t.is(timer(acts, 'hold')?.ms, 9000)
  t.is(fsm.data().establishedAt, 1000)
})

test('keepalive timer sends KEEPALIVE and restarts; received messages restart the hold timer', (t) => {
  const { fsm } = established()
  const ka = fsm.handle({ type: 'KeepaliveTimer_Expires' })
  t.deepEqual(ka, [{ type: 'send', message: { type: 'keepalive' } }, { type: 'startTimer', timer: 'keepalive', ms: 3000 }])
  t.deepEqual(fsm.handle({ type: 'KeepAliveMsg' }), [{ type: 'startTimer', timer: 'hold', ms: 9000 }])
  t.deepEqual(fsm.handle({ type: 'UpdateMsg' }), [{ type: 'startTimer', timer: 'hold', ms: 9000 }])
  t.deepEqual(fsm.handle({ type: 'UpdateSent' }), [{ type: 'startTimer', timer: 'keepalive', ms: 3000 }])
})

test('the fast path of an Established session (KEEPALIVE in, keepalive timer) gives exactly what fsmStep gives', (t) => {
  const cases: { name: string; opts: Partial<FsmOptions>; open?: OpenMessage }[] = [
    { name: 'defaults', opts: {} },
    { name: 'jitter', opts: { jitter: (timer, ms) => (timer === 'hold' ? ms * 0.9 + 0.4 : ms * 0.8) } },
    { name: 'hold time 0', opts: {}, open: peerOpen({ holdTime: 0 }) },
    { name: 'hold 240 s against our 90', opts: { holdTime: 90, keepaliveTime: 30 }, open: peerOpen({ holdTime: 240 }) },
  ]
  const events: FsmEvent[] = [{ type: 'KeepAliveMsg' }, { type: 'KeepaliveTimer_Expires' }]
  let compared = 0
  for (const k of cases) {
    const { fsm, c } = established(k.opts, k.open)
    t.is(fsm.state(), 'Established', k.name)
    const o = fsm.options
    c.advance(1234)
    const now = c.now()
    const base = fsm.data()
    // our keepalive timer just started, half-way, due soon (a KEEPALIVE received is then answered), and stopped (a late expiry)
    const datas: FsmData[] = [3000, 1600, 1400, 100].map((left) => ({ ...base, timers: { ...base.timers, keepalive: now + left } }))
    const { keepalive: _k, ...noKeepalive } = base.timers
    datas.push({ ...base, timers: noKeepalive })
    for (const d of datas) {
      for (const e of events) {
        const fast = fsmFastStep(d, e, o, c)
        const slow = fsmStep(d, e, o, c)
        if (fast === undefined) continue
        t.deepEqual(fast.actions, slow.actions, `${k.name}: ${e.type} actions`)
        t.deepEqual(fast.data, slow.data, `${k.name}: ${e.type} data`)
        compared++
      }
    }
  }
  t.true(compared >= 30, `${compared} comparisons`)
  // any other state or event: no fast path
  const idle = createFsm(LOCAL, clock())
  t.is(fsmFastStep(idle.data(), { type: 'KeepAliveMsg' }, idle.options, clock()), undefined)
  const { fsm, c } = established()
  t.is(fsmFastStep(fsm.data(), { type: 'UpdateMsg' }, fsm.options, c), undefined)
  t.is(fsmFastStep(fsm.data(), { type: 'HoldTimer_Expires' }, fsm.options, c), undefined)
})

test('keepalive timing with an injected clock: a KEEPALIVE every keepalive time, the hold deadline moved by each one received', (t) => {
  const { fsm, c } = established()
  const sends: number[] = []
  for (let i = 0; i < 5; i++) {
    const due = fsm.data().timers.keepalive!
    c.advance(due - c.now())
    const acts = fsm.handle({ type: 'KeepaliveTimer_Expires' })
    if (sent(acts).some((m) => m.type === 'keepalive')) sends.push(c.now())
    t.is(fsm.data().timers.keepalive, c.now() + 3000)
    c.advance(500)
    fsm.handle({ type: 'KeepAliveMsg' })
    t.is(fsm.data().timers.hold, c.now() + 9000, 'hold deadline moved by the KEEPALIVE received')
  }
  t.deepEqual(sends.map((x, i) => (i === 0 ? 0 : x - sends[i - 1]!)), [0, 3000, 3000, 3000, 3000])
  t.is(fsm.state(), 'Established')
  // without KEEPALIVEs from the peer the hold timer expires: NOTIFICATION 4, Idle
  c.advance(9000)
  const acts = fsm.handle({ type: 'HoldTimer_Expires' })
  t.is(fsm.state(), 'Idle')
  t.is((sent(acts)[0] as NotificationMessage).code, 4)
})

test('a KEEPALIVE received when ours is due within half the keepalive time is answered at once, never within a second of our last', (t) => {
  const { fsm, c } = established()
  // ours was sent when Established (timer 3 s): 1 s later the peer's is not answered, 1.6 s later it is
  c.advance(1000)
  t.deepEqual(sent(fsm.handle({ type: 'KeepAliveMsg' })), [])
  c.advance(600)
  const acts = fsm.handle({ type: 'KeepAliveMsg' })
  t.deepEqual(sent(acts), [{ type: 'keepalive' }])
  t.is(timer(acts, 'keepalive')?.ms, 3000)
  t.is(fsm.data().timers.keepalive, c.now() + 3000)
  // at once again: not answered (our last one was just now)
  t.deepEqual(sent(fsm.handle({ type: 'KeepAliveMsg' })), [])
  // keepalive time 1 s (hold 3): half of it is under a second, never answered early
  const short = established({ holdTime: 3, keepaliveTime: 1 }, peerOpen({ holdTime: 3 }))
  short.c.advance(600)
  t.deepEqual(sent(short.fsm.handle({ type: 'KeepAliveMsg' })), [])
})

test('two speakers that answer each other settle into sending at the same moments, at most a keepalive time apart', (t) => {
  for (const offset of [0, 400, 1000, 1499, 1501, 2000, 2900]) {
    const c = clock(0)
    const a = createFsm({ ...LOCAL }, c)
    const b = createFsm({ localAs: 65002, localId: ip('10.0.0.2'), peerAs: 65001 }, c)
    for (const f of [a, b]) {
      f.handle({ type: 'ManualStart' })
      f.handle({ type: 'Tcp_CR_Acked' })
    }
    a.handle({ type: 'BGPOpen', message: peerOpen() })
    b.handle({ type: 'BGPOpen', message: peerOpen({ asn: 65001, bgpId: ip('10.0.0.1') }) })
    a.handle({ type: 'KeepAliveMsg' })
    c.advance(offset)
    b.handle({ type: 'KeepAliveMsg' })
    const sends: Record<'a' | 'b', number[]> = { a: [], b: [] }
    // zero-latency wire: what one sends the other receives at once
    const deliver = (from: 'a' | 'b', acts: FsmAction[]): void => {
      if (!sent(acts).some((m) => m.type === 'keepalive')) return
      sends[from].push(c.now())
      const to = from === 'a' ? 'b' : 'a'
      deliver(to, (to === 'a' ? a : b).handle({ type: 'KeepAliveMsg' }))
    }
    while (c.now() < 30_000) {
      const da = a.data().timers.keepalive!
      const db = b.data().timers.keepalive!
      c.advance(Math.min(da, db) - c.now())
      if (da <= db) deliver('a', a.handle({ type: 'KeepaliveTimer_Expires' }))
      else deliver('b', b.handle({ type: 'KeepaliveTimer_Expires' }))
    }
    for (const side of ['a', 'b'] as const) {
      const gaps = sends[side].slice(1).map((x, i) => x - sends[side][i]!)
      t.true(gaps.every((g) => g >= 1000 && g <= 3000), `offset ${offset}, ${side}: gaps ${gaps.join(' ')}`)
      t.is(a.state(), 'Established')
    }
    // after the first 6 s every KEEPALIVE of one side goes at the same moment as one of the other
    const late = (xs: number[]) => xs.filter((x) => x >= 6000)
    t.deepEqual(late(sends.a), late(sends.b), `offset ${offset}: sends at the same moments`)
    t.true(late(sends.a).length >= 7 && late(sends.a).length <= 9, `offset ${offset}: ${late(sends.a).length} in 24 s`)
  }
})

test('OpenConfirm: keepalive timer sends KEEPALIVE', (t) => {
  const fsm = createFsm(LOCAL, clock())
  fsm.handle({ type: 'ManualStart' })
  fsm.handle({ type: 'Tcp_CR_Acked' })
  fsm.handle({ type: 'BGPOpen', message: peerOpen() })
  t.deepEqual(sent(fsm.handle({ type: 'KeepaliveTimer_Expires' })), [{ type: 'keepalive' }])
  t.is(fsm.state(), 'OpenConfirm')
})

test('hold timer expiry sends NOTIFICATION 4/0 and goes Idle', (t) => {
  const { fsm } = established()
  const acts = fsm.handle({ type: 'HoldTimer_Expires' })
  t.is(fsm.state(), 'Idle')
  t.deepEqual(sent(acts), [{ type: 'notification', code: 4, subcode: 0, data: Buffer.alloc(0) }])
  const d = down(acts)!
  t.true(d.wasEstablished)
  t.deepEqual(d.notification, { direction: 'sent', code: 4, subcode: 0 })
  t.true(types(acts).includes('dropConnection'))
  t.is(fsm.data().timers.keepalive, undefined)
  t.is(fsm.data().negotiated, undefined)
})

test('hold timer expiry in OpenSent (large hold time)', (t) => {
  const fsm = createFsm(LOCAL, clock())
  fsm.handle({ type: 'ManualStart' })
  fsm.handle({ type: 'Tcp_CR_Acked' })
  const acts = fsm.handle({ type: 'HoldTimer_Expires' })
  t.is(fsm.state(), 'Idle')
  t.is((sent(acts)[0] as NotificationMessage).code, 4)
})

test('stale timer expiries are ignored', (t) => {
  const fsm = createFsm(LOCAL, clock())
  fsm.handle({ type: 'ManualStart' })
  t.deepEqual(fsm.handle({ type: 'HoldTimer_Expires' }), [])
  t.is(fsm.state(), 'Connect')
})

test('NOTIFICATION received -> Idle, no NOTIFICATION sent back', (t) => {
  const { fsm } = established()
  const n: NotificationMessage = { type: 'notification', code: 6, subcode: 2, data: Buffer.from([3, 98, 121, 101]), shutdownMessage: 'bye' }
  const acts = fsm.handle(eventForMessage(n))
  t.is(fsm.state(), 'Idle')
  t.deepEqual(sent(acts), [])
  const d = down(acts)!
  t.deepEqual(d.notification, { direction: 'received', code: 6, subcode: 2, shutdownMessage: 'bye' })
  t.regex(d.reason, /Administrative Shutdown.*"bye"/)
})

test('unexpected messages: FSM error NOTIFICATION with RFC 6608 subcodes', (t) => {
  // OpenSent: KEEPALIVE before OPEN -> 5/1
  const a = createFsm(LOCAL, clock())
  a.handle({ type: 'ManualStart' })
  a.handle({ type: 'Tcp_CR_Acked' })
  const sa = sent(a.handle({ type: 'KeepAliveMsg' }))[0] as NotificationMessage
  t.deepEqual([sa.code, sa.subcode], [5, 1])
  t.is(a.state(), 'Idle')
  // OpenConfirm: UPDATE before KEEPALIVE -> 5/2
  const b = createFsm(LOCAL, clock())
  b.handle({ type: 'ManualStart' })
  b.handle({ type: 'Tcp_CR_Acked' })
  b.handle({ type: 'BGPOpen', message: peerOpen() })
  const sb = sent(b.handle({ type: 'UpdateMsg' }))[0] as NotificationMessage
  t.deepEqual([sb.code, sb.subcode], [5, 2])
  // Established: a second OPEN -> 5/3
  const { fsm: c } = established()
  const sc = sent(c.handle({ type: 'BGPOpen', message: peerOpen() }))[0] as NotificationMessage
  t.deepEqual([sc.code, sc.subcode], [5, 3])
  t.is(c.state(), 'Idle')
})

test('ManualStop sends Cease/Administrative Shutdown with the RFC 9003 message and stays down', (t) => {
  const { fsm } = established()
  const acts = fsm.handle({ type: 'ManualStop', shutdownMessage: 'maintenance' })
  t.is(fsm.state(), 'Idle')
  const n = sent(acts)[0] as NotificationMessage
  t.deepEqual([n.code, n.subcode, n.shutdownMessage], [6, 2, 'maintenance'])
  t.is(timer(acts, 'idleHold'), undefined)
  t.is(fsm.data().connectRetryCounter, 0)
  t.false(fsm.data().autoRestart)
})

test('ManualStop in Connect: no NOTIFICATION, no restart', (t) => {
  const fsm = createFsm(LOCAL, clock())
  fsm.handle({ type: 'ManualStart' })
  const acts = fsm.handle({ type: 'ManualStop' })
  t.deepEqual(sent(acts), [])
  t.is(fsm.state(), 'Idle')
  t.is(timer(acts, 'idleHold'), undefined)
})

test('decode errors map to events and their NOTIFICATIONs', (t) => {
  const { fsm } = established()
  const ev = eventForDecodeError(decodeError(3, 1, 'bad attribute list'))
  t.is(ev.type, 'UpdateMsgErr')
  const n = sent(fsm.handle(ev))[0] as NotificationMessage
  t.deepEqual([n.code, n.subcode], [3, 1])
  t.is(eventForDecodeError(decodeError(1, 2, 'x')).type, 'BGPHeaderErr')
  t.is(eventForDecodeError(decodeError(2, 4, 'x')).type, 'BGPOpenMsgErr')
  const o = createFsm(LOCAL, clock())
  o.handle({ type: 'ManualStart' })
  o.handle({ type: 'Tcp_CR_Acked' })
  const h = sent(o.handle(eventForDecodeError(decodeError(1, 1, 'marker'))))[0] as NotificationMessage
  t.deepEqual([h.code, h.subcode], [1, 1])
  t.is(eventForMessage({ type: 'notification', code: 2, subcode: 1, data: Buffer.from([0, 4]) }).type, 'NotifMsgVerErr')
})

test('TCP failure in OpenSent -> Active; in Established -> Idle with routes withdrawn', (t) => {
  const fsm = createFsm(LOCAL, clock())
  fsm.handle({ type: 'ManualStart' })
  fsm.handle({ type: 'Tcp_CR_Acked' })
  const acts = fsm.handle({ type: 'TcpConnectionFails' })
  t.is(fsm.state(), 'Active')
  t.is(timer(acts, 'connectRetry')?.ms, 5000)
  const { fsm: e } = established()
  t.true(down(e.handle({ type: 'TcpConnectionFails' }))!.wasEstablished)
})

test('DelayOpen: OPEN from the peer while delaying answers with OPEN + KEEPALIVE', (t) => {
  const fsm = createFsm({ ...LOCAL, delayOpenTime: 2 }, clock())
  fsm.handle({ type: 'ManualStart' })
  const up = fsm.handle({ type: 'Tcp_CR_Acked' })
  t.is(timer(up, 'delayOpen')?.ms, 2000)
  t.is(fsm.state(), 'Connect')
  const acts = fsm.handle({ type: 'BGPOpen', message: peerOpen() })
  t.deepEqual(sent(acts).map((m) => m.type), ['open', 'keepalive'])
  t.is(fsm.state(), 'OpenConfirm')
  const g = createFsm({ ...LOCAL, delayOpenTime: 2 }, clock())
  g.handle({ type: 'ManualStart' })
  g.handle({ type: 'Tcp_CR_Acked' })
  t.deepEqual(sent(g.handle({ type: 'DelayOpenTimer_Expires' })).map((m) => m.type), ['open'])
  t.is(g.state(), 'OpenSent')
})

test('AutomaticStop sends Cease with the given subcode and restarts later', (t) => {
  const { fsm } = established()
  const acts = fsm.handle({ type: 'AutomaticStop', subcode: 1, reason: 'maximum prefixes' })
  const n = sent(acts)[0] as NotificationMessage
  t.deepEqual([n.code, n.subcode], [6, 1])
  t.truthy(timer(acts, 'idleHold'))
})

test('OpenCollisionDump sends Cease/7', (t) => {
  const fsm = createFsm(LOCAL, clock())
  fsm.handle({ type: 'ManualStart' })
  fsm.handle({ type: 'Tcp_CR_Acked' })
  fsm.handle({ type: 'BGPOpen', message: peerOpen() })
  const acts = fsm.handle({ type: 'OpenCollisionDump' })
  const n = sent(acts)[0] as NotificationMessage
  t.deepEqual([n.code, n.subcode], [6, 7])
  t.is(fsm.state(), 'Idle')
  t.is(timer(acts, 'idleHold'), undefined)
})

test('jitter hook and configurable timers', (t) => {
  const fsm = createFsm({ ...LOCAL, connectRetryTime: 30, jitter: (_timer, ms) => ms * 0.75 }, clock())
  t.is(timer(fsm.handle({ type: 'ManualStart' }), 'connectRetry')?.ms, 22_500)
})

test('timer deadlines use the injected clock', (t) => {
  const c = clock(5000)
  const fsm = createFsm(LOCAL, c)
  fsm.handle({ type: 'ManualStart' })
  t.is(fsm.data().timers.connectRetry, 10_000)
  c.advance(3000)
  fsm.handle({ type: 'Tcp_CR_Acked' })
  t.is(fsm.data().stateSince, 8000)
  t.is(fsm.data().timers.hold, 8000 + 240_000)
})

test('collision detection (RFC 4271 6.8)', (t) => {
  interface Conn { state: FsmStateName; initiator: Initiator; name: string }
  const local: Conn = { state: 'OpenConfirm', initiator: 'local', name: 'out' }
  const remote: Conn = { state: 'OpenSent', initiator: 'remote', name: 'in' }
  // local id lower: close the connection we initiated
  t.is(resolveCollision(local, remote, { localId: ip('10.0.0.1'), remoteId: ip('10.0.0.2') })?.name, 'out')
  // local id higher: close the one the peer initiated
  t.is(resolveCollision(local, remote, { localId: ip('10.0.0.3'), remoteId: ip('10.0.0.2') })?.name, 'in')
  // unsigned comparison of identifiers
  t.is(resolveCollision(local, remote, { localId: ip('200.0.0.1'), remoteId: ip('10.0.0.2') })?.name, 'in')
  // Established wins
  t.is(resolveCollision({ ...local, state: 'Established' }, remote, { localId: 1, remoteId: 2 })?.name, 'in')
  // nothing to resolve before OpenSent
  t.is(resolveCollision({ ...local, state: 'Connect' }, remote, { localId: 1, remoteId: 2 }), undefined)
  // equal identifiers: larger AS keeps its connection
  t.is(resolveCollision(local, remote, { localId: 5, remoteId: 5, localAs: 65001, remoteAs: 65002 })?.name, 'out')
  t.is(resolveCollision(local, remote, { localId: 5, remoteId: 5, localAs: 65003, remoteAs: 65002 })?.name, 'in')
})

test('the handshake fast path gives what fsmStep gives, in every state it meets along passive and active starts', (t) => {
  const grCaps: Capability[] = [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'as4', asn: 65002 }, { kind: 'routeRefresh', code: 2 },
    { kind: 'gracefulRestart', restarting: false, notification: true, restartTime: 120, families: [{ afi: 1, safi: 1, forwarding: true }] }]
  const optionSets: { name: string; o: FsmOptions }[] = [
    { name: 'configured peer', o: LOCAL },
    { name: 'dynamic neighbour, short pre-OPEN hold', o: { localAs: 65001, localId: ip('10.0.0.1'), acceptPeerAs: (a) => a === 65002, largeHoldTime: 15, idleHoldTime: 0, passive: true } },
    { name: 'hold time 0 here', o: { ...LOCAL, holdTime: 0 } },
    { name: 'jitter hook', o: { ...LOCAL, jitter: (_n, ms) => Math.floor(ms * 0.8) + 1 } },
    { name: 'DelayOpen (no fast path for the TCP step)', o: { ...LOCAL, delayOpenTime: 2 } },
  ]
  const opens: { name: string; open: OpenMessage }[] = [
    { name: 'valid', open: peerOpen() },
    { name: 'hold time 0', open: peerOpen({ holdTime: 0 }) },
    { name: 'graceful restart', open: peerOpen({ caps: grCaps }) },
    { name: 'wrong AS (refused)', open: peerOpen({ asn: 65009 }) },
    { name: 'our identifier (refused)', open: peerOpen({ bgpId: ip('10.0.0.1'), asn: 65001 }) },
  ]
  let compared = 0
  const fastUsed = new Set<string>()
  for (const { name, o: opts } of optionSets) {
    for (const { name: oname, open } of opens) {
      for (const start of ['ManualStart_with_PassiveTcpEstablishment', 'ManualStart'] as const) {
        const c = clock()
        const o = resolveFsmOptions(opts)
        const all: FsmEvent[] = [
          { type: 'ManualStart_with_PassiveTcpEstablishment' }, { type: 'ManualStart' }, { type: 'TcpConnectionConfirmed' }, { type: 'Tcp_CR_Acked' },
          { type: 'BGPOpen', message: open }, { type: 'KeepAliveMsg' }, { type: 'UpdateMsg' }, { type: 'ConnectRetryTimer_Expires' }, { type: 'HoldTimer_Expires' },
          { type: 'TcpConnectionFails' }, { type: 'ManualStop' },
        ]
        const path: FsmEvent[] = [{ type: start }, { type: start === 'ManualStart' ? 'Tcp_CR_Acked' : 'TcpConnectionConfirmed' }, { type: 'BGPOpen', message: open }, { type: 'KeepAliveMsg' }]
        let data = createFsm(opts, c).data()
        for (const step of path) {
          // every event from this state: where the fast path answers, it answers as fsmStep does
          for (const e of all) {
            const fast = fsmFastStep(data, e, o, c)
            if (fast === undefined) continue
            const slow = fsmStep(data, e, o, c)
            t.deepEqual(fast.actions, slow.actions, `${name} / ${oname} / ${start}: ${e.type} in ${data.state}: actions`)
            t.deepEqual(fast.data, slow.data, `${name} / ${oname} / ${start}: ${e.type} in ${data.state}: data`)
            fastUsed.add(`${data.state} ${e.type}`)
            compared++
          }
          data = fsmStep(data, step, o, c).data
          c.advance(7)
        }
      }
    }
  }
  t.true(compared >= 100, `${compared} comparisons`)
  // each step of both ways up went through the fast path somewhere
  for (const k of ['Idle ManualStart_with_PassiveTcpEstablishment', 'Active TcpConnectionConfirmed', 'Connect Tcp_CR_Acked', 'OpenSent BGPOpen', 'OpenConfirm KeepAliveMsg']) {
    t.true(fastUsed.has(k), `fast path used for ${k}`)
  }
  // a refused OPEN, DelayOpen and a running idle-hold timer are left to fsmStep
  const o = resolveFsmOptions(LOCAL)
  const c = clock()
  const sent = fsmStep(fsmStep(fsmStep(createFsm(LOCAL, c).data(), { type: 'ManualStart_with_PassiveTcpEstablishment' }, o, c).data, { type: 'TcpConnectionConfirmed' }, o, c).data, { type: 'UpdateSent' }, o, c).data
  t.is(sent.state, 'OpenSent')
  t.is(fsmFastStep(sent, { type: 'BGPOpen', message: peerOpen({ asn: 65009 }) }, o, c), undefined)
  const delayed = resolveFsmOptions({ ...LOCAL, delayOpenTime: 2 })
  const active = fsmStep(createFsm(LOCAL, c).data(), { type: 'ManualStart_with_PassiveTcpEstablishment' }, delayed, c).data
  t.is(fsmFastStep(active, { type: 'TcpConnectionConfirmed' }, delayed, c), undefined)
  const idleHold: FsmData = { ...createFsm(LOCAL, c).data(), timers: { idleHold: 5000 } }
  t.is(fsmFastStep(idleHold, { type: 'ManualStart_with_PassiveTcpEstablishment' }, o, c), undefined)
})
