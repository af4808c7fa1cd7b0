import test from 'ava'
import type { Prefix } from '../../../../src/net/ipv4.js'
import { formatPrefix } from '../../../../src/net/ipv4.js'
import { type RipAuthConfig, signPacket, verifyPacket } from '../../../../src/protocols/rip/auth.js'
import { type RipEntry, type RipPacket, type RipRouteEntry, decodePacket, encodePacket } from '../../../../src/protocols/rip/codec.js'
import { type RipAction, RipEngine, type RipEngineOptions, type RipInterfaceConfig } from '../../../../src/protocols/rip/engine.js'
import { A as ip } from '../../../helpers/net.js'

const pfx = (s: string): Prefix => {
  const [a, l] = s.split('/')
  return { addr: ip(a!), len: Number(l) }
}
const T0 = 1_700_000_000_000
const ETH0: RipInterfaceConfig = { name: 'eth0', address: ip('10.255.0.1'), subnet: pfx('10.255.0.0/24') }
const ETH1: RipInterfaceConfig = { name: 'eth1', address: ip('10.255.1.1'), subnet: pfx('10.255.1.0/24') }
const PEER = ip('10.255.0.2')
const PEER2 = ip('10.255.0.3')
const POOL = pfx('10.244.0.0/16')
const OWN = pfx('10.244.1.0/24')

function setup(over: Partial<RipEngineOptions> = {}) {
  const clock = { now: T0 }
  const engine = new RipEngine({
    interfaces: [ETH0],
    now: () => clock.now,
    random: () => 0.5,
    allowed: [POOL],
    ...over,
  })
  engine.setLocalRoutes([{ prefix: OWN }])
  engine.start()
  return { engine, clock, advance: (ms: number) => {
    clock.now += ms
    return engine.tick()
  } }
}

const route = (p: string, metric: number, extra: Partial<RipRouteEntry> = {}): RipRouteEntry => ({ kind: 'route', tag: 0, prefix: pfx(p), nextHop: 0, metric, ...extra })
const response = (...entries: RipEntry[]): Buffer => encodePacket({ command: 'response', entries })
const rx = (e: RipEngine, bytes: Buffer, from = PEER, port = 520, iface = 'eth0') => e.receive({ from, port, interface: iface, bytes })

const adds = (a: RipAction[]) => a.flatMap((x) => (x.type === 'route-add' ? [x.route] : []))
const withdraws = (a: RipAction[]) => a.flatMap((x) => (x.type === 'route-withdraw' ? [x.route] : []))
const sends = (a: RipAction[]) => a.flatMap((x) => (x.type === 'send' ? [x] : []))
/** "prefix metric" for every route entry sent on an interface */
const announced = (a: RipAction[], iface = 'eth0') =>
  sends(a)
    .filter((s) => s.interface === iface)
    .flatMap((s) => s.packet.entries.flatMap((e) => (e.kind === 'route' ? [`${formatPrefix(e.prefix)} ${e.metric}`] : [])))

test('start: whole-table request and our routes on multicast, timer requested', (t) => {
  const clock = { now: T0 }
  const e = new RipEngine({ interfaces: [ETH0], now: () => clock.now, random: () => 0.5, allowed: [POOL] })
  e.setLocalRoutes([{ prefix: OWN, tag: 9 }])
  const out = e.start()
  const s = sends(out)
  t.is(s.length, 2)
  t.deepEqual(s[0]!.packet, { command: 'request', entries: [{ kind: 'whole-table' }] })
  t.deepEqual(s[0]!.to, { kind: 'multicast' })
  t.is(s[0]!.bytes.toString('hex'), '01020000' + '0000'.padEnd(32, '0') + '00000010')
  t.deepEqual(s[1]!.packet.entries, [route('10.244.1.0/24', 1, { tag: 9 })])
  const timer = out.find((a) => a.type === 'timer')
  t.truthy(timer)
  t.is(e.nextTimer(), T0 + 30_000)
})

test('regular updates every 30 s with +-15% jitter', (t) => {
  const rnd = [0, 0.999, 0.5]
  let i = 0
  const clock = { now: T0 }
  const e = new RipEngine({ interfaces: [ETH0], now: () => clock.now, random: () => rnd[i++ % rnd.length]!, allowed: [POOL] })
  e.setLocalRoutes([{ prefix: OWN }])
  e.start()
  const first = e.nextTimer()!
  t.is(first - T0, 25_500)
  clock.now = first - 1
  t.deepEqual(announced(e.tick()), [])
  clock.now = first
  const out = e.tick()
  t.deepEqual(announced(out), ['10.244.1.0/24 1'])
  const second = e.nextTimer()! - clock.now
  t.true(second >= 25_500 && second <= 34_500, String(second))
})

test('route learned: metric + 1, next hop = sender, tag preserved, emitted to the RIB', (t) => {
  const { engine } = setup()
  const out = rx(engine, response(route('10.244.2.0/24', 1, { tag: 42 })))
  t.deepEqual(adds(out), [{ prefix: pfx('10.244.2.0/24'), nextHop: PEER, source: 'rip', peer: '10.255.0.2', metric: 2, attrs: { tag: 42 } }])
  // the same update again changes nothing
  t.deepEqual(adds(rx(engine, response(route('10.244.2.0/24', 1, { tag: 42 })))), [])
  t.is(engine.counters()['routes-added'], 1)
})

test('timeout after 180 s withdraws; garbage collection 120 s later removes it from updates', (t) => {
  const { engine, clock, advance } = setup()
  rx(engine, response(route('10.244.2.0/24', 1)))
  advance(90_000)
  rx(engine, response(route('10.244.2.0/24', 1))) // refresh at +90 s
  t.deepEqual(withdraws(advance(179_000)), [], 'refreshed route does not time out at +180 s')
  const out = advance(1_000) // +270 s = 90 + 180
  t.deepEqual(withdraws(out).map((r) => formatPrefix(r.prefix)), ['10.244.2.0/24'])
  t.is(engine.routes()[0]!.state, 'garbage')
  t.is(engine.counters()['routes-timed-out'], 1)
  // still advertised at 16 (the triggered update after the timeout)
  const trig = advance(5_000)
  t.deepEqual(announced(trig), ['10.244.2.0/24 16'])
  clock.now = T0 + 270_000 + 120_000
  engine.tick()
  t.deepEqual(engine.routes(), [])
  clock.now += 60_000
  const reg = engine.tick()
  t.deepEqual(announced(reg), ['10.244.1.0/24 1'], 'gone from regular updates')
})

test('triggered updates are damped: two changes within a second give one update 1-5 s later', (t) => {
  const { engine, clock, advance } = setup()
  const start = clock.now
  const a = rx(engine, response(route('10.244.2.0/24', 1)))
  t.deepEqual(sends(a), [], 'no immediate update')
  clock.now += 600
  rx(engine, response(route('10.244.3.0/24', 1)), PEER2)
  const due = engine.nextTimer()!
  t.true(due - start >= 1_000 && due - start <= 5_000, String(due - start))
  clock.now = due - 1
  t.deepEqual(sends(engine.tick()), [])
  clock.now = due
  const out = engine.tick()
  t.is(sends(out).length, 1)
  // only changed routes, split horizon (learned on eth0) poisons them back
  t.deepEqual(announced(out).sort(), ['10.244.2.0/24 16', '10.244.3.0/24 16'])
  t.is(engine.counters()['tx-triggered-updates'], 1)
  t.deepEqual(sends(advance(1_000)), [], 'nothing more until the next change or the regular update')
})

test('triggered delay bounds follow the injected random number', (t) => {
  for (const [r, expect] of [[0, 1_000], [0.999999, 5_000]] as const) {
    const { engine, clock } = setup({ random: () => r })
    const now = clock.now
    rx(engine, response(route('10.244.2.0/24', 1)))
    t.is(engine.nextTimer()! - now, expect)
  }
})

test('split horizon with poisoned reverse (default), simple and off', (t) => {
  for (const [mode, eth0, eth1] of [
    ['poisoned-reverse', ['10.244.1.0/24 1', '10.244.2.0/24 16'], ['10.244.1.0/24 1', '10.244.2.0/24 2']],
    ['simple', ['10.244.1.0/24 1'], ['10.244.1.0/24 1', '10.244.2.0/24 2']],
    ['off', ['10.244.1.0/24 1', '10.244.2.0/24 2'], ['10.244.1.0/24 1', '10.244.2.0/24 2']],
  ] as const) {
    const { engine, advance } = setup({ interfaces: [{ ...ETH0, splitHorizon: mode }, { ...ETH1, splitHorizon: mode }] })
    rx(engine, response(route('10.244.2.0/24', 1)))
    const out = advance(30_000)
    t.deepEqual(announced(out, 'eth0'), [...eth0], mode)
    t.deepEqual(announced(out, 'eth1'), [...eth1], mode)
  }
})

test('next hop: announced on another interface only when on that subnet', (t) => {
  const { engine, advance } = setup({ interfaces: [{ ...ETH0, splitHorizon: 'off' }, ETH1] })
  rx(engine, response(route('10.244.2.0/24', 1, { nextHop: ip('10.255.0.7') })))
  const out = advance(30_000)
  const nh = (iface: string) => sends(out).filter((s) => s.interface === iface).flatMap((s) => s.packet.entries.flatMap((e) => (e.kind === 'route' && e.prefix.len === 24 && e.prefix.addr === ip('10.244.2.0') ? [e.nextHop] : [])))
  t.deepEqual(nh('eth0'), [ip('10.255.0.7')])
  t.deepEqual(nh('eth1'), [0])
})

test('whole-table request from port 520 gets split horizon; a query from another port gets everything', (t) => {
  const { engine } = setup()
  rx(engine, response(route('10.244.2.0/24', 3)))
  const req = encodePacket({ command: 'request', entries: [{ kind: 'whole-table' }] })
  const a = rx(engine, req, PEER2, 520)
  t.deepEqual(sends(a).map((s) => s.to), [{ kind: 'unicast', address: PEER2, port: 520 }])
  t.deepEqual(announced(a), ['10.244.1.0/24 1', '10.244.2.0/24 16'])
  const b = rx(engine, req, PEER2, 40000)
  t.deepEqual(sends(b).map((s) => s.to), [{ kind: 'unicast', address: PEER2, port: 40000 }])
  t.deepEqual(announced(b), ['10.244.1.0/24 1', '10.244.2.0/24 4'])
})

test('specific request is answered entry by entry, metrics unchanged, no split horizon', (t) => {
  const { engine } = setup()
  rx(engine, response(route('10.244.2.0/24', 3, { tag: 5 })))
  const req = encodePacket({ command: 'request', entries: [route('10.244.9.0/24', 0), route('10.244.2.0/24', 0), route('10.244.1.0/24', 0)] })
  const out = rx(engine, req, PEER, 520)
  t.deepEqual(sends(out)[0]!.packet.entries, [route('10.244.9.0/24', 16), route('10.244.2.0/24', 4, { tag: 5 }), route('10.244.1.0/24', 1)])
})

test('every validation drop is counted by reason', (t) => {
  const { engine } = setup({ ownAddresses: [ip('10.255.0.99')] })
  const ok = response(route('10.244.2.0/24', 1))
  t.deepEqual(adds(rx(engine, ok, PEER, 521)), [])
  t.deepEqual(adds(rx(engine, ok, ip('10.9.9.9'))), [])
  t.deepEqual(adds(rx(engine, ok, ETH0.address)), [])
  t.deepEqual(adds(rx(engine, ok, ip('10.255.0.99'))), [])
  t.deepEqual(adds(rx(engine, ok, PEER, 520, 'wlan0')), [])
  const metric0 = Buffer.from(ok)
  metric0.writeUInt32BE(0, 20)
  const metric17 = Buffer.from(ok)
  metric17.writeUInt32BE(17, 20)
  t.deepEqual(adds(rx(engine, metric0)), [])
  t.deepEqual(adds(rx(engine, metric17)), [])
  const v1 = Buffer.from(ok)
  v1[1] = 1
  rx(engine, v1)
  const out = rx(engine, response(
    route('127.0.0.0/8', 1),
    route('224.0.0.0/4', 1),
    route('0.0.0.0/8', 1),
    route('192.168.0.0/24', 1),
    route('10.244.1.0/24', 1),
    route('10.244.1.128/25', 1),
    route('10.255.0.0/24', 1),
    route('10.244.7.0/24', 2),
  ))
  t.deepEqual(adds(out).map((r) => formatPrefix(r.prefix)), ['10.244.7.0/24'], 'only the valid entry is learned')
  const c = engine.counters()
  t.is(c['drop-packet:bad-port'], 1)
  t.is(c['drop-packet:off-link'], 1)
  t.is(c['drop-packet:own-address'], 2)
  t.is(c['drop-packet:unknown-interface'], 1)
  t.is(c['drop-entry:bad-metric'], 2)
  t.is(c['drop-packet:version1'], 1)
  t.is(c['drop-entry:martian'], 3)
  t.is(c['drop-entry:not-allowed'], 1)
  t.is(c['drop-entry:own-subnet'], 2)
  t.is(c['drop-entry:connected'], 1)
  const nb = engine.neighbors().find((n) => n.address === '10.255.0.2')!
  t.is(nb.badPackets, 2) // bad port, version 1 (metric 0 and 17 are per-entry drops)
  t.is(nb.badRoutes, 9)
  t.is(nb.routes, 1)
})

test('allowed set as a predicate', (t) => {
  const { engine } = setup({ allowed: (p) => p.len === 24 })
  t.is(adds(rx(engine, response(route('10.3.0.0/24', 1), route('10.4.0.0/16', 1)))).length, 1)
})

test('metric addition with interface cost, capped at 16 (not installed)', (t) => {
  const { engine } = setup({ interfaces: [{ ...ETH0, cost: 3 }] })
  const out = rx(engine, response(route('10.244.2.0/24', 5), route('10.244.3.0/24', 13), route('10.244.4.0/24', 15)))
  t.deepEqual(adds(out).map((r) => `${formatPrefix(r.prefix)} ${r.metric}`), ['10.244.2.0/24 8'])
  t.deepEqual(engine.routes().length, 1)
})

test('next hop honoured on-link, replaced by the sender off-link or when it is ours', (t) => {
  const { engine } = setup()
  const out = rx(engine, response(
    route('10.244.2.0/24', 1, { nextHop: ip('10.255.0.7') }),
    route('10.244.3.0/24', 1, { nextHop: ip('10.1.1.1') }),
    route('10.244.4.0/24', 1, { nextHop: ETH0.address }),
  ))
  t.deepEqual(adds(out).map((r) => r.nextHop), [ip('10.255.0.7'), PEER, PEER])
  t.true(adds(out).every((r) => r.peer === '10.255.0.2'))
})

test('route tags are preserved to the RIB and in announcements', (t) => {
  const { engine, advance } = setup({ interfaces: [ETH0, ETH1] })
  t.is(adds(rx(engine, response(route('10.244.2.0/24', 1, { tag: 0xabcd }))))[0]!.attrs?.tag, 0xabcd)
  const out = advance(30_000)
  const e = sends(out).find((s) => s.interface === 'eth1')!.packet.entries.find((x) => x.kind === 'route' && x.prefix.addr === ip('10.244.2.0'))
  t.is(e?.kind === 'route' ? e.tag : -1, 0xabcd)
})

test('learned route cap drops and counts the rest', (t) => {
  const { engine } = setup({ maxRoutes: 2 })
  const out = rx(engine, response(route('10.244.2.0/24', 1), route('10.244.3.0/24', 1), route('10.244.4.0/24', 1)))
  t.is(adds(out).length, 2)
  t.is(engine.counters()['drop-entry:route-cap'], 1)
})

test('better route from another router replaces (withdraw + add); worse is ignored; equal after half the timeout', (t) => {
  const { engine, clock } = setup()
  rx(engine, response(route('10.244.2.0/24', 5)))
  t.deepEqual(adds(rx(engine, response(route('10.244.2.0/24', 7)), PEER2)), [])
  t.deepEqual(adds(rx(engine, response(route('10.244.2.0/24', 5)), PEER2)), [], 'equal metric, fresh route: keep')
  const out = rx(engine, response(route('10.244.2.0/24', 2)), PEER2)
  t.deepEqual(withdraws(out).map((r) => r.peer), ['10.255.0.2'])
  t.deepEqual(adds(out).map((r) => `${r.peer} ${r.metric}`), ['10.255.0.3 3'])
  clock.now += 91_000
  const eq = rx(engine, response(route('10.244.2.0/24', 2)), PEER)
  t.deepEqual(adds(eq).map((r) => r.peer), ['10.255.0.2'], 'equal metric from another router once ours is half timed out')
})

test('metric 16 from the current router withdraws at once and starts garbage collection', (t) => {
  const { engine, clock } = setup()
  rx(engine, response(route('10.244.2.0/24', 1)))
  const out = rx(engine, response(route('10.244.2.0/24', 16)))
  t.deepEqual(withdraws(out).map((r) => formatPrefix(r.prefix)), ['10.244.2.0/24'])
  t.is(engine.routes()[0]!.deadline, clock.now + 120_000)
  // a new route during garbage collection revives it
  t.deepEqual(adds(rx(engine, response(route('10.244.2.0/24', 4)), PEER2)).map((r) => r.metric), [5])
  t.is(engine.routes()[0]!.state, 'active')
})

test('metric change from the current router updates the RIB', (t) => {
  const { engine } = setup()
  rx(engine, response(route('10.244.2.0/24', 1)))
  const out = rx(engine, response(route('10.244.2.0/24', 4)))
  t.deepEqual(withdraws(out), [])
  t.deepEqual(adds(out).map((r) => r.metric), [5])
})

test('own subnet set later removes a learned route inside it', (t) => {
  const { engine } = setup()
  rx(engine, response(route('10.244.5.0/24', 1)))
  const out = engine.setLocalRoutes([{ prefix: OWN }, { prefix: pfx('10.244.4.0/23') }])
  t.deepEqual(withdraws(out).map((r) => formatPrefix(r.prefix)), ['10.244.5.0/24'])
})

test('removed local route is announced at 16 in a triggered update', (t) => {
  const { engine, advance } = setup()
  engine.setLocalRoutes([])
  t.deepEqual(announced(advance(5_000)), ['10.244.1.0/24 16'])
})

test('shutdown announces our routes at metric 16 and withdraws learned routes', (t) => {
  const { engine } = setup()
  rx(engine, response(route('10.244.2.0/24', 1)))
  const out = engine.shutdown()
  t.deepEqual(announced(out), ['10.244.1.0/24 16'])
  t.deepEqual(sends(out)[0]!.to, { kind: 'multicast' })
  t.deepEqual(withdraws(out).map((r) => formatPrefix(r.prefix)), ['10.244.2.0/24'])
  t.deepEqual(engine.tick(), [])
})

test('output is split into packets of 25 entries, 24 with authentication', (t) => {
  const locals = Array.from({ length: 30 }, (_, i) => ({ prefix: { addr: ip('10.244.0.0') + i * 256, len: 24 } }))
  for (const [auth, sizes] of [[undefined, [25, 5]], [{ keys: [{ id: 1, secret: 'k', algorithm: 'md5' }] } as RipAuthConfig, [24, 6]]] as const) {
    const clock = { now: T0 }
    const e = new RipEngine({ interfaces: [{ ...ETH0, ...(auth ? { auth } : {}) }], now: () => clock.now, random: () => 0.5, allowed: [POOL] })
    e.setLocalRoutes(locals)
    const s = sends(e.start()).filter((x) => x.packet.command === 'response')
    t.deepEqual(s.map((x) => x.packet.entries.length), [...sizes])
    for (const x of s) t.true(x.bytes.length <= 4 + 25 * 20 + 20)
  }
})

test('authenticated interface: signs with increasing sequence, drops unauthenticated input', (t) => {
  const auth: RipAuthConfig = { keys: [{ id: 3, secret: 'fabric', algorithm: 'hmac-sha256' }] }
  const { engine, advance } = setup({ interfaces: [{ ...ETH0, auth }] })
  const out = advance(30_000)
  const bytes = sends(out)[0]!.bytes
  const d = decodePacket(bytes)
  t.true(d.ok)
  if (!d.ok) return
  t.true(verifyPacket(bytes, d.value, auth, T0).ok)
  const seq1 = d.value.auth?.type === 'crypto' ? d.value.auth.sequence : 0
  t.true(seq1 >= Math.floor(T0 / 1000))
  const next = sends(advance(30_000))[0]!.bytes
  const d2 = decodePacket(next)
  t.true(d2.ok && d2.value.auth?.type === 'crypto' && d2.value.auth.sequence > seq1)
  t.deepEqual(adds(rx(engine, response(route('10.244.2.0/24', 1)))), [])
  t.is(engine.counters()['drop-packet:auth-missing'], 1)
  // a properly signed packet from the peer is accepted, its replay is not
  const peerPkt: RipPacket = { command: 'response', entries: [route('10.244.2.0/24', 1)] }
  const a = signPacket(peerPkt, auth, T0, 10)
  const b = signPacket(peerPkt, auth, T0, 9)
  if (!a.ok || !b.ok) return t.fail()
  t.is(adds(rx(engine, a.value)).length, 1)
  rx(engine, b.value)
  t.is(engine.counters()['drop-packet:auth-replay'], 1)
})

test('neighbor view: address, last heard, packets, routes; forgotten after timeout + garbage', (t) => {
  const { engine, clock, advance } = setup()
  rx(engine, response(route('10.244.2.0/24', 1), route('10.244.3.0/24', 1)))
  clock.now += 1000
  rx(engine, response(route('10.244.2.0/24', 1), route('10.244.3.0/24', 1)))
  t.deepEqual(engine.neighbors(), [{ address: '10.255.0.2', interface: 'eth0', firstHeard: T0, lastHeard: T0 + 1000, packets: 2, badPackets: 0, badRoutes: 0, routes: 2 }])
  advance(180_000)
  t.is(engine.neighbors()[0]!.routes, 0)
  advance(121_000)
  t.deepEqual(engine.neighbors(), [])
})

test('unicast neighbors instead of multicast; passive interfaces stay silent', (t) => {
  const { advance } = setup({ interfaces: [{ ...ETH0, neighbors: [PEER, PEER2] }, { ...ETH1, passive: true }] })
  const out = advance(30_000)
  t.deepEqual(sends(out).map((s) => `${s.interface} ${s.to.kind === 'unicast' ? s.to.address : 'mc'}`), [`eth0 ${PEER}`, `eth0 ${PEER2}`])
})

test('a bounded number of neighbors is tracked', (t) => {
  const { engine } = setup({ maxNeighbors: 2 })
  for (let i = 2; i < 10; i++) rx(engine, response(route(`10.244.${i}.0/24`, 1)), ip(`10.255.0.${i}`))
  t.is(engine.neighbors().length, 2)
  t.is(engine.counters()['neighbor-cap'], 6)
  t.is(engine.routes().length, 8)
})

test('a tick before anything is due still hands out the next timer', (t) => {
  const { engine, clock } = setup()
  const due = engine.nextTimer()!
  clock.now = due - 1
  t.deepEqual(engine.tick(), [{ type: 'timer', at: due }])
  t.true(Number.isInteger(due))
})

test('our own subnet poisoned back by a neighbor is not a bad route', (t) => {
  const { engine } = setup()
  rx(engine, response(route('10.244.1.0/24', 16), route('10.244.2.0/24', 1)))
  t.false('drop-entry:own-subnet' in engine.counters())
  t.is(engine.neighbors()[0]!.badRoutes, 0)
})

test('RFC 2453 3.9.2: a bad-metric entry is dropped alone, also in an MD5-signed packet', (t) => {
  const auth: RipAuthConfig = { keys: [{ id: 1, secret: 'k', algorithm: 'md5' }] }
  const { engine } = setup({ interfaces: [{ ...ETH0, auth }] })
  const signed = signPacket({ command: 'response', entries: [route('10.244.7.0/24', 1), route('10.244.8.0/24', 17), route('10.244.9.0/24', 0), route('10.244.10.0/24', 2)] }, auth, T0, 5)
  t.true(signed.ok)
  if (!signed.ok) return
  const out = rx(engine, signed.value)
  t.deepEqual(adds(out).map((r) => `${formatPrefix(r.prefix)} ${r.metric}`), ['10.244.7.0/24 2', '10.244.10.0/24 3'])
  const c = engine.counters()
  t.is(c['drop-entry:bad-metric'], 2)
  t.is(Object.keys(c).filter((k) => k.startsWith('drop-packet:')).length, 0)
  const nb = engine.neighbors()[0]!
  t.is(nb.badPackets, 0)
  t.is(nb.badRoutes, 2)
  t.regex(nb.lastError ?? '', /bad-metric: entry 3: metric 0/)
})

test('a configured port replaces 520: responses must come from it, neighbours are sent to it', (t) => {
  const { engine, advance } = setup({ port: 5520, interfaces: [{ ...ETH0, neighbors: [PEER] }] })
  t.deepEqual(adds(rx(engine, response(route('10.244.7.0/24', 1)), PEER, 520)), [])
  t.is(engine.counters()['drop-packet:bad-port'], 1)
  t.is(adds(rx(engine, response(route('10.244.7.0/24', 1)), PEER, 5520)).length, 1)
  const out = advance(30_000)
  t.deepEqual(sends(out).map((s) => s.to), [{ kind: 'unicast', address: PEER, port: 5520 }])
})

test('setAuth swaps the key chain (reload): old key refused, new key accepted and used', (t) => {
  const k1: RipAuthConfig = { keys: [{ id: 1, secret: 'one', algorithm: 'md5' }] }
  const k2: RipAuthConfig = { keys: [{ id: 2, secret: 'two', algorithm: 'md5' }] }
  const { engine, advance } = setup({ interfaces: [{ ...ETH0, auth: k1 }] })
  const signed = (auth: RipAuthConfig, seq: number, p: string) => {
    const r = signPacket({ command: 'response', entries: [route(p, 1)] }, auth, T0, seq)
    if (!r.ok) throw new Error(r.error.reason)
    return r.value
  }
  t.is(adds(rx(engine, signed(k1, 10, '10.244.7.0/24'))).length, 1)
  t.true(engine.setAuth('eth0', k2))
  t.false(engine.setAuth('eth9', k2))
  t.deepEqual(adds(rx(engine, signed(k1, 11, '10.244.8.0/24'))), [])
  t.is(engine.counters()['drop-packet:auth-unknown-key'], 1)
  t.is(adds(rx(engine, signed(k2, 12, '10.244.9.0/24'))).length, 1)
  const sent = sends(advance(30_000))[0]!
  const dec = decodePacket(sent.bytes)
  t.true(dec.ok && dec.value.auth?.type === 'crypto' && dec.value.auth.keyId === 2)
  t.true(dec.ok && verifyPacket(sent.bytes, dec.value, k2, T0).ok)
})

test('equal metric from a second neighbour never moves a route whose router keeps updating, even with short timers and a lost update', (t) => {
  // the lab's timers: update 5 s (+-15 %), timeout 15 s, triggered 0.2..1 s
  const { engine, clock } = setup({ timers: { update: 5_000, timeout: 15_000, garbage: 10_000, triggeredMin: 200, triggeredMax: 1_000 } })
  rx(engine, response(route('10.244.2.0/24', 1)))
  const moved: string[] = []
  // the second neighbour repeats the same metric every 100 ms for 60 s; the first updates every 5.75 s (the longest
  // jittered interval) and one of its updates is lost (a 11.5 s gap, past half the 15 s timeout)
  let nextA = clock.now + 5_750
  let lost = false
  for (let i = 0; i < 600; i++) {
    clock.now += 100
    if (clock.now >= nextA) {
      if (!lost && i > 100) lost = true
      else rx(engine, response(route('10.244.2.0/24', 1)))
      nextA += 5_750
    }
    for (const r of adds(rx(engine, response(route('10.244.2.0/24', 1)), PEER2))) moved.push(r.peer)
  }
  t.deepEqual(moved, [], 'the route stays with 10.255.0.2')
  t.is(engine.routes()[0]!.from, '10.255.0.2')
  // the first router falls silent: past half the timeout and two missed updates (2 x 6.75 s) the other takes over
  const silentFrom = clock.now
  let took: number | undefined
  while (took === undefined && clock.now - silentFrom < 15_000) {
    clock.now += 100
    if (adds(rx(engine, response(route('10.244.2.0/24', 1)), PEER2)).length > 0) took = clock.now - silentFrom
  }
  t.truthy(took)
  t.true(took! >= 13_500 - 5_750 && took! <= 15_000, `switched after ${took} ms of silence`)
})

test('next hops: the underlay network/broadcast address, pool addresses and such senders are refused per entry and counted', (t) => {
  const { engine } = setup({ pools: [POOL] })
  const out = rx(
    engine,
    response(
      route('10.244.2.0/24', 1, { nextHop: ip('10.255.0.0') }), // the underlay's network address
      route('10.244.3.0/24', 1, { nextHop: ip('10.255.0.255') }), // its broadcast address
      route('10.244.4.0/24', 1, { nextHop: ip('10.244.1.50') }), // a container
      route('10.244.5.0/24', 1, { nextHop: ip('10.255.0.9') }), // another router on the link: fine
      route('10.244.6.0/24', 1, { nextHop: ip('192.168.1.1') }), // not on the link: via the sender (RFC 2453 4.4)
    ),
  )
  t.deepEqual(adds(out).map((r) => `${formatPrefix(r.prefix)} ${r.nextHop === ip('10.255.0.9') ? 'via .9' : r.nextHop === PEER ? 'via sender' : r.nextHop}`), ['10.244.5.0/24 via .9', '10.244.6.0/24 via sender'])
  const c = engine.counters()
  t.is(c['drop-entry:next-hop-underlay-network-address'], 1)
  t.is(c['drop-entry:next-hop-underlay-broadcast-address'], 1)
  t.is(c['drop-entry:next-hop-inside-pool'], 1)
  const dropped = out.filter((a) => a.type === 'dropped')
  t.is(dropped.length, 3, 'one action per reason for the caller to log')
  // a sender at the underlay's network address: every entry refused
  const fromNet = rx(engine, response(route('10.244.7.0/24', 1), route('10.244.8.0/24', 1, { nextHop: ip('10.255.0.9') })), ip('10.255.0.0'))
  t.deepEqual(adds(fromNet), [])
  t.is(engine.counters()['drop-entry:next-hop-underlay-network-address'], 3)
})

test('neighbour views count active routes as they change (no table scan)', (t) => {
  const { engine, clock } = setup()
  rx(engine, response(route('10.244.2.0/24', 1), route('10.244.3.0/24', 1)))
  t.is(engine.neighbor(PEER)?.routes, 2)
  rx(engine, response(route('10.244.2.0/24', 1)), PEER2)
  rx(engine, response(route('10.244.3.0/24', 16)))
  t.is(engine.neighbor(PEER)?.routes, 1)
  rx(engine, response(route('10.244.2.0/24', 0 + 1)), PEER2)
  clock.now += 1
  rx(engine, response(route('10.244.4.0/24', 3)), PEER2)
  rx(engine, response(route('10.244.2.0/24', 1)), PEER2) // equal, fresh: no move
  t.is(engine.neighbor(PEER2)?.routes, 1)
  t.deepEqual(engine.neighbors().map((n) => `${n.address} ${n.routes}`), ['10.255.0.2 1', '10.255.0.3 1'])
  clock.now += 200_000
  engine.tick()
  t.deepEqual(engine.neighbors().map((n) => `${n.address} ${n.routes}`), ['10.255.0.2 0', '10.255.0.3 0'])
})

test('keyed MD5: a neighbour\'s packet replayed from another on-link address does not move its route', (t) => {
  const auth: RipAuthConfig = { keys: [{ id: 1, secret: 'k', algorithm: 'md5' }] }
  const { engine, clock } = setup({ interfaces: [{ ...ETH0, auth }] })
  const signed = (seq: number, metric: number) => {
    const s = signPacket({ command: 'response', entries: [route('10.244.2.0/24', metric)] }, auth, clock.now, seq)
    if (!s.ok) throw new Error(s.error.reason)
    return s.value
  }
  const first = signed(100, 3)
  t.is(adds(rx(engine, first)).length, 1)
  // an attacker without the key re-sends the capture from its own on-link address, later, with the same bytes
  clock.now += 100_000
  t.deepEqual(adds(rx(engine, first, PEER2)), [])
  t.is(engine.counters()['drop-packet:auth-replay'], 1)
  t.is(engine.routes()[0]!.from, '10.255.0.2')
})
