/**
 * Sessions over real TCP on loopback (127.0.0.x; nothing leaves the host):
 * a well-behaved peer stays Established with its route while another peer
 * sends malformed messages and gets the NOTIFICATION RFC 4271 section 6
 * prescribes; RFC 7606 errors keep the session; hold timer expiry; a stranger
 * is refused; leave() sends Cease/Administrative Shutdown with an RFC 9003
 * message.
 */
import { Socket, connect, createServer } from 'node:net'
import { flatCounters } from '../../../../src/agent/agent.js'
import { createMetrics } from '../../../../src/agent/metrics.js'
import { dropSummary } from '../../../../src/cli-support/render.js'
import test from 'ava'
import { loadConfigText } from '../../../../src/config/fabric-config.js'
import { type Prefix, formatPrefix, } from '../../../../src/net/ipv4.js'
import type { Route } from '../../../../src/rib/route.js'
import type { RouteSink } from '../../../../src/rib/source.js'
import { createFramer } from '../../../../src/protocols/bgp/codec/framer.js'
import { decodeMessage, encodeMessage } from '../../../../src/protocols/bgp/codec/message.js'
import { makeOpen } from '../../../../src/protocols/bgp/codec/open.js'
import type { Message, NotificationMessage } from '../../../../src/protocols/bgp/codec/types.js'
import { BgpSource, type BgpSourceOptions } from '../../../../src/protocols/bgp/source.js'
import { eventLog } from '../../../helpers/log.js'
import { A, P } from '../../../helpers/net.js'
import { waitFor as poll } from '../../../../src/util/process.js'


class Sink implements RouteSink {
  readonly routes = new Map<string, Route>()
  add(r: Route): void { this.routes.set(`${formatPrefix(r.prefix)} ${r.peer}`, r) }
  withdraw(p: Prefix, _s: string, peer: string): void { this.routes.delete(`${formatPrefix(p)} ${peer}`) }
  withdrawPeer(_s: string, peer: string): number {
    let n = 0
    for (const k of [...this.routes.keys()]) if (k.endsWith(` ${peer}`)) { this.routes.delete(k); n++ }
    return n
  }
  table(): string[] { return [...this.routes.keys()].sort() }
}


const waitFor = <T,>(f: () => T | undefined, ms = 10_000): Promise<T | undefined> => poll(f, ms, 20)

/** A scripted peer: raw socket, decoded messages as they arrive. */
class TestPeer {
  readonly messages: Message[] = []
  closed = false
  private readonly framer = createFramer()
  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      const r = this.framer.push(d)
      for (const m of r.messages) {
        const x = decodeMessage(m, { as4: true })
        if (x.ok) this.messages.push(x.value)
      }
    })
    socket.on('close', () => { this.closed = true })
    socket.on('error', () => undefined)
  }

  static async connect(port: number, from: string): Promise<TestPeer> {
    const s = connect({ host: '127.0.0.1', port, localAddress: from })
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
    return new TestPeer(s)
  }

  send(m: Message): void { this.socket.write(encodeMessage(m, { as4: true })) }
  raw(b: Buffer): void { this.socket.write(b) }

  async next<T extends Message['type']>(type: T, ms = 10_000): Promise<Extract<Message, { type: T }> | undefined> {
    return waitFor(() => this.messages.find((m) => m.type === type) as Extract<Message, { type: T }> | undefined, ms)
  }

  /** OPEN + KEEPALIVE exchange up to Established. */
  async establish(routerId: string, holdTime = 9, asn = 64512): Promise<void> {
    this.send(makeOpen({ asn, holdTime, bgpId: A(routerId), capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'as4', asn }, { kind: 'routeRefresh', code: 2 }] }))
    if (!(await this.next('open'))) throw new Error('no OPEN from fabric')
    this.send({ type: 'keepalive' })
    if (!(await this.next('keepalive'))) throw new Error('no KEEPALIVE from fabric')
  }

  async closedAfter(ms = 10_000): Promise<boolean> {
    return (await waitFor(() => (this.closed ? true : undefined), ms)) === true
  }
}

function header(length: number, type: number): Buffer {
  const b = Buffer.alloc(19, 0xff)
  b.writeUInt16BE(length, 16)
  b[18] = type
  return b
}

interface Fixture { source: BgpSource; sink: Sink; port: number; events: string[]; limited: string[] }

async function startSource(t: import('ava').ExecutionContext, extra: string[] = [], options: BgpSourceOptions = {}, bgp: string[] = []): Promise<Fixture> {
  const ini = [
    '[fabric]', 'pool = 10.244.0.0/16', 'mode = bgp',
    '[bgp]', 'hold-time = 9', 'connect-retry-time = 1', 'max-prefixes = 5', ...bgp,
    '[peer.good]', 'address = 127.0.0.2', 'passive = yes',
    '[peer.bad]', 'address = 127.0.0.3', 'passive = yes',
    ...extra,
  ].join('\n')
  const config = loadConfigText(ini)
  config.bgp.port = 0 // any free port; peers are passive, nothing connects out
  const events: string[] = []
  const limited: string[] = []
  const source = new BgpSource({
    config, self: { name: 'me', address: A('127.0.0.1'), subnet: P('10.244.1.0/24'), interface: 'lo', underlay: P('10.99.0.0/24') },
    log: eventLog(events, limited), stateDir: '/nonexistent', onReady: () => undefined,
  }, { listenHost: '127.0.0.1', ...options })
  const sink = new Sink()
  await source.start(sink)
  t.teardown(() => source.stop())
  return { source, sink, port: source.listenPort()!, events, limited }
}

const stateOf = (f: Fixture, addr: string) => f.source.peers().find((p) => p.address === addr)?.state

async function goodPeer(t: import('ava').ExecutionContext, f: Fixture): Promise<TestPeer> {
  const good = await TestPeer.connect(f.port, '127.0.0.2')
  t.teardown(() => good.socket.destroy())
  await good.establish('127.0.0.2')
  good.send({ type: 'update', withdrawn: [], nlri: [P('10.244.2.0/24')], attributes: [
    { type: 'origin', origin: 0 }, { type: 'asPath', segments: [] }, { type: 'nextHop', nextHop: A('10.99.0.12') }, { type: 'localPref', localPref: 100 },
  ] })
  t.truthy(await waitFor(() => (f.sink.table().includes('10.244.2.0/24 127.0.0.2') ? true : undefined)))
  return good
}

const expectNotification = async (t: import('ava').ExecutionContext, p: TestPeer, code: number, subcode: number, what: string) => {
  const n = await p.next('notification') as NotificationMessage | undefined
  t.truthy(n, `${what}: no NOTIFICATION`)
  t.deepEqual([n?.code, n?.subcode], [code, subcode], what)
  t.true(await p.closedAfter(), `${what}: connection closed`)
}

const MALFORMED: Array<{ name: string; bytes: () => Buffer; code: number; subcode: number }> = [
  { name: 'bad marker', bytes: () => Buffer.concat([Buffer.alloc(16, 0xfe), Buffer.from([0, 19, 4])]), code: 1, subcode: 1 },
  { name: 'length over 4096', bytes: () => header(5000, 2), code: 1, subcode: 2 },
  { name: 'length under 19', bytes: () => header(18, 4), code: 1, subcode: 2 },
  { name: 'KEEPALIVE with a body', bytes: () => Buffer.concat([header(20, 4), Buffer.from([0])]), code: 1, subcode: 2 },
  { name: 'unknown message type', bytes: () => header(19, 9), code: 1, subcode: 3 },
  { name: 'UPDATE withdrawn length overrun', bytes: () => Buffer.concat([header(23, 2), Buffer.from([0x10, 0, 0, 0])]), code: 3, subcode: 1 },
  { name: 'unrecognized well-known attribute', bytes: () => Buffer.concat([header(26, 2), Buffer.from([0, 0, 0, 3, 0x40, 99, 0])]), code: 3, subcode: 2 },
  { name: 'OPEN in Established', bytes: () => encodeMessage(makeOpen({ asn: 64512, holdTime: 9, bgpId: A('127.0.0.3'), capabilities: [] }), { as4: true }), code: 5, subcode: 3 },
  { name: 'ROUTE-REFRESH of bad length', bytes: () => Buffer.concat([header(24, 5), Buffer.from([0, 1, 0, 1, 0])]), code: 7, subcode: 1 },
]

test('malformed messages get the prescribed NOTIFICATION; the other session stays up with its route', async (t) => {
  const f = await startSource(t)
  const good = await goodPeer(t, f)
  for (const m of MALFORMED) {
    const bad = await TestPeer.connect(f.port, '127.0.0.3')
    t.teardown(() => bad.socket.destroy())
    await bad.establish('127.0.0.3')
    t.truthy(await waitFor(() => (stateOf(f, '127.0.0.3') === 'Established' ? true : undefined)), `${m.name}: bad peer Established first`)
    bad.raw(m.bytes())
    await expectNotification(t, bad, m.code, m.subcode, m.name)
    t.is(stateOf(f, '127.0.0.2'), 'Established', `${m.name}: good peer undisturbed`)
    t.deepEqual(f.sink.table(), ['10.244.2.0/24 127.0.0.2'], `${m.name}: routes undisturbed`)
  }
  // a message split byte by byte and several coalesced in one write still work on the good session
  const ka = encodeMessage({ type: 'keepalive' }, { as4: true })
  for (const b of ka) good.raw(Buffer.from([b]))
  good.raw(Buffer.concat([ka, ka, ka]))
  await new Promise((r) => setTimeout(r, 200))
  t.is(stateOf(f, '127.0.0.2'), 'Established')
  t.false(good.closed)
  const status = f.source.peers().find((p) => p.address === '127.0.0.3')!
  t.regex(String(status.lastError), /ROUTE-REFRESH Message Error|Invalid Message Length/)
})

test('garbage before OPEN: header errors answered, nothing else happens', async (t) => {
  const f = await startSource(t)
  await goodPeer(t, f)
  const bad = await TestPeer.connect(f.port, '127.0.0.3')
  t.teardown(() => bad.socket.destroy())
  await bad.next('open')
  bad.raw(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
  await expectNotification(t, bad, 1, 1, 'HTTP request')
  const bad2 = await TestPeer.connect(f.port, '127.0.0.3')
  t.teardown(() => bad2.socket.destroy())
  await bad2.next('open')
  // OPEN from the wrong AS: OPEN Message Error / Bad Peer AS
  bad2.send(makeOpen({ asn: 65000, holdTime: 9, bgpId: A('127.0.0.3'), capabilities: [] }))
  await expectNotification(t, bad2, 2, 2, 'bad peer AS')
  t.is(stateOf(f, '127.0.0.2'), 'Established')
})

test('RFC 7606: an attribute error is treat-as-withdraw, not a reset; max-prefix closes with Cease/1', async (t) => {
  const f = await startSource(t)
  const good = await goodPeer(t, f)
  // ORIGIN value 7: malformed -> the prefixes of this UPDATE are withdrawn, the session stays
  const body = Buffer.from([0, 0, 0, 14, 0x40, 1, 1, 7, 0x40, 2, 0, 0x40, 3, 4, 10, 99, 0, 12, 24, 10, 244, 2])
  good.raw(Buffer.concat([header(19 + body.length, 2), body]))
  t.truthy(await waitFor(() => (f.sink.table().length === 0 ? true : undefined)))
  await new Promise((r) => setTimeout(r, 100))
  t.false(good.closed)
  t.is(stateOf(f, '127.0.0.2'), 'Established')
  t.true(f.events.includes('update-error'))
  // max-prefixes = 5: six prefixes close the session with Cease / Maximum Number of Prefixes Reached
  good.send({ type: 'update', withdrawn: [], nlri: [2, 3, 4, 5, 6, 7].map((i) => P(`10.244.${i}.0/24`)), attributes: [
    { type: 'origin', origin: 0 }, { type: 'asPath', segments: [] }, { type: 'nextHop', nextHop: A('10.99.0.12') },
  ] })
  await expectNotification(t, good, 6, 1, 'max prefixes')
  t.truthy(await waitFor(() => (f.sink.table().length === 0 ? true : undefined)))
  t.true(f.events.includes('prefix-limit'))
})

test('hold timer expiry sends NOTIFICATION 4 and withdraws the routes; a stranger is refused', async (t) => {
  const f = await startSource(t)
  const quiet = await TestPeer.connect(f.port, '127.0.0.2')
  t.teardown(() => quiet.socket.destroy())
  await quiet.establish('127.0.0.2', 3) // negotiates 3 s, then never sends another KEEPALIVE
  quiet.send({ type: 'update', withdrawn: [], nlri: [P('10.244.2.0/24')], attributes: [
    { type: 'origin', origin: 0 }, { type: 'asPath', segments: [] }, { type: 'nextHop', nextHop: A('10.99.0.12') },
  ] })
  t.truthy(await waitFor(() => (f.sink.table().length === 1 ? true : undefined)))
  const stranger = await TestPeer.connect(f.port, '127.0.0.9')
  t.true(await stranger.closedAfter(5000))
  t.is(stranger.messages.length, 0)
  await expectNotification(t, quiet, 4, 0, 'hold timer')
  t.deepEqual(f.sink.table(), [])
})

test('an outgoing session (read through the shared buffer): KEEPALIVEs keep it up past the hold time, split and batched messages are reassembled, silence expires the hold timer', async (t) => {
  // the peer listens on 127.0.0.4 at the port the source also listens on (127.0.0.1): the source connects out to it
  const server = createServer()
  await new Promise<void>((r) => server.listen({ port: 0, host: '127.0.0.4' }, r))
  t.teardown(() => server.close())
  const port = (server.address() as { port: number }).port
  const accepted = new Promise<Socket>((r) => server.once('connection', r))
  const ini = ['[fabric]', 'pool = 10.244.0.0/16', 'mode = bgp', '[bgp]', 'hold-time = 3', 'connect-retry-time = 1', '[peer.out]', 'address = 127.0.0.4'].join('\n')
  const config = loadConfigText(ini)
  config.bgp.port = port
  const events: string[] = []
  const source = new BgpSource({
    config, self: { name: 'me', address: A('127.0.0.1'), subnet: P('10.244.1.0/24'), interface: 'lo', underlay: P('10.99.0.0/24') },
    log: eventLog(events, []), stateDir: '/nonexistent', onReady: () => undefined,
  }, { listenHost: '127.0.0.1' })
  const sink = new Sink()
  await source.start(sink)
  t.teardown(() => source.stop())
  const peer = new TestPeer(await accepted)
  t.teardown(() => peer.socket.destroy())
  await peer.establish('127.0.0.4', 3)
  t.truthy(await waitFor(() => (source.peers()[0]?.state === 'Established' ? true : undefined)))
  const ka = encodeMessage({ type: 'keepalive' }, { as4: true })
  // 5 s of KEEPALIVEs (one, or two in one write) against a 3 s hold time
  for (let i = 0; i < 10; i++) {
    peer.raw(i % 2 === 0 ? ka : Buffer.concat([ka, ka]))
    await new Promise((r) => setTimeout(r, 500))
  }
  t.is(source.peers()[0]?.state, 'Established', 'KEEPALIVEs restarted the hold timer')
  // an UPDATE in two reads, the second with a KEEPALIVE behind it; then one whole UPDATE after a KEEPALIVE
  const update = (p: string) => encodeMessage({ type: 'update', withdrawn: [], nlri: [P(p)], attributes: [
    { type: 'origin', origin: 0 }, { type: 'asPath', segments: [] }, { type: 'nextHop', nextHop: A('10.99.0.12') }, { type: 'localPref', localPref: 100 },
  ] }, { as4: true })
  const u = update('10.244.2.0/24')
  peer.raw(u.subarray(0, 10))
  await new Promise((r) => setTimeout(r, 100))
  peer.raw(Buffer.concat([u.subarray(10), ka]))
  await new Promise((r) => setTimeout(r, 100))
  peer.raw(Buffer.concat([ka, update('10.244.3.0/24')]))
  t.truthy(await waitFor(() => (sink.table().length === 2 ? true : undefined)), sink.table().join(', '))
  t.deepEqual(sink.table(), ['10.244.2.0/24 127.0.0.4', '10.244.3.0/24 127.0.0.4'])
  // KEEPALIVEs from fabric went out every second (a third of the 3 s hold time)
  const kas = peer.messages.filter((m) => m.type === 'keepalive').length
  t.true(kas >= 4, `${kas} KEEPALIVEs from fabric in ~5 s`)
  // silence: hold timer expiry, NOTIFICATION 4/0, routes withdrawn
  await expectNotification(t, peer, 4, 0, 'hold timer')
  t.truthy(await waitFor(() => (sink.table().length === 0 ? true : undefined)))
})

test('leave(): our subnet withdrawn, then Cease/Administrative Shutdown with an RFC 9003 message', async (t) => {
  const f = await startSource(t)
  const good = await TestPeer.connect(f.port, '127.0.0.2')
  t.teardown(() => good.socket.destroy())
  await good.establish('127.0.0.2')
  const ann = await good.next('update')
  t.deepEqual(ann?.nlri.map(formatPrefix), ['10.244.1.0/24'])
  await f.source.leave()
  const n = await good.next('notification')
  t.deepEqual([n?.code, n?.subcode, n?.shutdownMessage], [6, 2, 'host me is leaving the fabric'])
  t.true(good.messages.some((m) => m.type === 'update' && m.withdrawn.some((w) => formatPrefix(w) === '10.244.1.0/24')))
})

// ------------------------------------------------------------------ hardening (issues 9 and 14)

const ORIGIN_ASPATH_NH = (asPath: number[], nh: string) => [
  { type: 'origin', origin: 0 } as const,
  { type: 'asPath', segments: asPath.length ? [{ type: 'sequence' as const, asns: asPath }] : [] } as const,
  { type: 'nextHop', nextHop: A(nh) } as const,
]

test('a 4,091-octet eBGP UPDATE whose iBGP export no longer fits: not sent to the iBGP peer, nothing thrown, no session reset', async (t) => {
  const f = await startSource(t, ['[peer.ext]', 'address = 127.0.0.4', 'asn = 65010', 'passive = yes'])
  const ibgp = await goodPeer(t, f)
  const ext = await TestPeer.connect(f.port, '127.0.0.4')
  t.teardown(() => ext.socket.destroy())
  await ext.establish('127.0.0.4', 9, 65010)
  const huge: Message = { type: 'update', withdrawn: [], nlri: [P('10.244.9.0/24')], attributes: [
    ...ORIGIN_ASPATH_NH([65010], '10.99.0.14'), { type: 'unknown', code: 99, flags: 0xd0, data: Buffer.alloc(4040, 7) },
  ] }
  const bytes = encodeMessage(huge, { as4: true })
  t.is(bytes.length, 4091)
  ext.raw(bytes)
  t.truthy(await waitFor(() => (f.sink.table().includes('10.244.9.0/24 127.0.0.4') ? true : undefined)))
  await new Promise((r) => setTimeout(r, 200))
  t.false(ibgp.closed)
  t.is(stateOf(f, '127.0.0.2'), 'Established')
  t.false(ibgp.messages.some((m) => m.type === 'update' && m.nlri.some((n) => formatPrefix(n) === '10.244.9.0/24')))
  // an iBGP peer connecting now gets its table and End-of-RIB without the path, and stays up
  const late = await TestPeer.connect(f.port, '127.0.0.3')
  t.teardown(() => late.socket.destroy())
  await late.establish('127.0.0.3')
  t.truthy(await waitFor(() => (late.messages.filter((m) => m.type === 'update').length >= 2 ? true : undefined)))
  await new Promise((r) => setTimeout(r, 300))
  t.false(late.closed)
  t.false(late.messages.some((m) => m.type === 'notification'))
  t.is(stateOf(f, '127.0.0.3'), 'Established')
  t.is((f.source.stats().filtered as Record<string, number>).unencodable, 2)
  t.true(f.events.includes('bgp-path-unencodable'))
})

test('RFC 4271 6.8: a new connection from an Established peer is closed with Cease/7, the Established one kept', async (t) => {
  const f = await startSource(t)
  const good = await goodPeer(t, f)
  const dup = await TestPeer.connect(f.port, '127.0.0.2')
  t.teardown(() => dup.socket.destroy())
  const n = await dup.next('notification')
  t.deepEqual([n?.code, n?.subcode], [6, 7])
  t.true(await dup.closedAfter())
  t.false(dup.messages.some((m) => m.type === 'open'))
  await new Promise((r) => setTimeout(r, 100))
  t.false(good.closed)
  t.is(stateOf(f, '127.0.0.2'), 'Established')
  t.deepEqual(f.sink.table(), ['10.244.2.0/24 127.0.0.2'])
  t.is(((f.source.stats().drops as { connections: Record<string, number> }).connections)['collision-with-established'], 1)
  // the peer withdraws and closes: nothing stays behind
  good.send({ type: 'update', withdrawn: [P('10.244.2.0/24')], nlri: [], attributes: [] })
  good.socket.destroy()
  t.truthy(await waitFor(() => (f.sink.table().length === 0 && stateOf(f, '127.0.0.2') !== 'Established' ? true : undefined)))
})

test('many reconnects in any order leave no stale prefixes and no growth', async (t) => {
  const f = await startSource(t, [], { preOpenTimeout: 2 })
  // the sequence: A Established with a route, B from the same address, the peer withdraws on B and closes both
  const open = (c: TestPeer) => {
    c.send(makeOpen({ asn: 64512, holdTime: 9, bgpId: A('127.0.0.2'), capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'as4', asn: 64512 }] }))
    c.send({ type: 'keepalive' })
  }
  const first = await TestPeer.connect(f.port, '127.0.0.2')
  t.teardown(() => first.socket.destroy())
  open(first)
  first.send({ type: 'update', withdrawn: [], nlri: [P('10.244.5.0/24')], attributes: [...ORIGIN_ASPATH_NH([], '10.99.0.12')] })
  t.truthy(await waitFor(() => (f.source.stats().prefixes === 1 ? true : undefined)))
  const second = await TestPeer.connect(f.port, '127.0.0.2')
  t.teardown(() => second.socket.destroy())
  open(second)
  await new Promise((r) => setTimeout(r, 200))
  if (!second.closed) second.send({ type: 'update', withdrawn: [P('10.244.5.0/24')], nlri: [], attributes: [] })
  await new Promise((r) => setTimeout(r, 100))
  first.socket.destroy()
  second.socket.destroy()
  t.truthy(await waitFor(() => (f.source.stats().prefixes === 0 ? true : undefined), 3000), 'no orphaned route after A, B, withdraw on B, close both')
  const random = ((seed) => () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 })(7)
  for (let round = 0; round < 25; round++) {
    const conns: TestPeer[] = []
    const n = 1 + Math.floor(random() * 3)
    for (let i = 0; i < n; i++) {
      const c = await TestPeer.connect(f.port, '127.0.0.2')
      t.teardown(() => c.socket.destroy())
      conns.push(c)
    }
    for (const c of conns) {
      if (c.closed || random() < 0.2) continue
      c.send(makeOpen({ asn: 64512, holdTime: 9, bgpId: A('127.0.0.2'), capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'as4', asn: 64512 }] }))
      c.send({ type: 'keepalive' })
      c.send({ type: 'update', withdrawn: [], nlri: [P(`10.244.${10 + round}.0/24`)], attributes: [...ORIGIN_ASPATH_NH([], '10.99.0.12')] })
    }
    await new Promise((r) => setTimeout(r, 30 + random() * 60))
    for (const c of conns.sort(() => random() - 0.5)) c.socket.destroy()
  }
  t.truthy(await waitFor(() => (f.sink.table().length === 0 && stateOf(f, '127.0.0.2') !== 'Established' ? true : undefined)), `stale: ${f.sink.table().join(', ')}`)
  await new Promise((r) => setTimeout(r, 200))
  t.deepEqual(f.sink.table(), [])
  const st = f.source.stats()
  t.is(st.prefixes, 0)
  t.is(st.paths, 0)
  // the source-wide count of connections without OPEN (kept as connections change) matches them one by one
  const internals = f.source as unknown as { shared: { preOpen: number }; sessions: Map<string, { preOpenCount(): number }> }
  const counted = [...internals.sessions.values()].reduce((n, x) => n + x.preOpenCount(), 0)
  t.is(internals.shared.preOpen, counted, 'pre-OPEN count in step with the connections')
  t.is(counted, 0, 'none left waiting')
  // a last session still works and is alone
  await goodPeer(t, f)
  t.is(internals.shared.preOpen, 0)
  t.deepEqual(f.sink.table(), ['10.244.2.0/24 127.0.0.2'])
  t.is(f.source.stats().prefixes, 1)
})

test('pre-OPEN connections: bounded per source and in total, timed out long before the hold time, counted', async (t) => {
  const f = await startSource(t, [], { preOpenTimeout: 3, maxPreOpen: 4 }, ['listen-range = 127.0.1.0/24'])
  const idle: TestPeer[] = []
  for (let i = 0; i < 4; i++) {
    const c = await TestPeer.connect(f.port, '127.0.0.3')
    t.teardown(() => c.socket.destroy())
    idle.push(c)
  }
  // per source: only the last PRE_OPEN_PER_SOURCE (2) stay
  t.truthy(await waitFor(() => (idle.filter((c) => c.closed).length === 2 ? true : undefined), 2000))
  t.false(idle[2]!.closed)
  t.false(idle[3]!.closed)
  // in total (4): two from 127.0.0.3 and two dynamic neighbours fill it; the next is refused with Cease/5
  const others: TestPeer[] = []
  for (const from of ['127.0.1.1', '127.0.1.2', '127.0.1.3']) {
    const c = await TestPeer.connect(f.port, from)
    t.teardown(() => c.socket.destroy())
    others.push(c)
  }
  const refused = await others[2]!.next('notification', 2000)
  t.deepEqual([refused?.code, refused?.subcode], [6, 5])
  // the rest get Hold Timer Expired after the 3 s pre-OPEN timeout
  for (const c of [idle[3]!, others[0]!]) {
    const n = await c.next('notification', 6000)
    t.deepEqual([n?.code, n?.subcode], [4, 0])
    t.true(await c.closedAfter(2000))
  }
  const conns = (f.source.stats().drops as { connections: Record<string, number> }).connections
  t.is(conns['pre-open-per-source'], 2)
  t.is(conns['pre-open-total'], 1)
})

test('decode errors are counted by reason in stats(); warnings go through the rate limiter', async (t) => {
  const f = await startSource(t)
  for (let i = 0; i < 3; i++) {
    const bad = await TestPeer.connect(f.port, '127.0.0.3')
    t.teardown(() => bad.socket.destroy())
    await bad.next('open')
    bad.raw(header(19, 9))
    t.true(await bad.closedAfter())
  }
  const stranger = await TestPeer.connect(f.port, '127.0.0.9')
  t.true(await stranger.closedAfter())
  const drops = f.source.stats().drops as { messages: Record<string, number>; connections: Record<string, number> }
  t.is(drops.messages['message-header-error/bad-message-type'], 3)
  t.is(drops.connections['not-a-peer'], 1)
  t.true(f.limited.includes('message-error'))
  t.true(f.limited.includes('bgp-connection-refused'))
  // the same drops in the agent's common counter names, which metrics and fabric status read
  const metrics = await createMetrics({
    routes: () => [], sessions: () => [], kernel: () => ({ opsApplied: 0, opsFailed: 0, fullReconciles: 0, incrementalRuns: 0 }),
    sourceCounters: () => [{ source: 'bgp', counters: flatCounters(f.source.stats()) }], info: () => ({}),
    events: () => ({ subscribers: 0, dropped: 0, disconnected: 0 }),
  })
  const text = await metrics.registry.metrics()
  t.regex(text, /fabric_packets_dropped_total\{source="bgp",reason="message-header-error\/bad-message-type"\} 3/)
  t.regex(text, /fabric_connections_refused_total\{source="bgp",reason="not-a-peer"\} 1/)
  t.regex(dropSummary(f.source.stats()), /3 packets dropped \(message-header-error\/bad-message-type 3\)/)
})

test('fsm.handle throwing: the connection is reset once, no unbounded recursion, the process survives, routes withdrawn', async (t) => {
  const f = await startSource(t)
  const good = await goodPeer(t, f)
  const session = (f.source as unknown as { sessions: Map<string, { connections(): Array<{ fsm: { handle: unknown } }> }> }).sessions.get('127.0.0.2')!
  let calls = 0
  for (const c of session.connections()) c.fsm.handle = () => { calls++; throw new Error('broken fsm') }
  good.send({ type: 'keepalive' })
  t.truthy(await waitFor(() => (f.sink.table().length === 0 ? true : undefined)))
  t.true(await good.closedAfter())
  t.true(calls <= 3, `handle called ${calls} times`)
  t.true(f.events.filter((e) => e === 'bgp-internal-error').length <= 3)
  t.not(stateOf(f, '127.0.0.2'), 'Established')
  // a new connection from the peer works again
  await goodPeer(t, f)
})

test('reload: import policy changes are applied to the Adj-RIB-In; route-reflector is refused until restart and reported as applied', async (t) => {
  const f = await startSource(t)
  const good = await goodPeer(t, f)
  good.send({ type: 'update', withdrawn: [], nlri: [P('10.244.3.0/25'), P('192.168.7.0/24')], attributes: [...ORIGIN_ASPATH_NH([], '10.99.0.12')] })
  t.truthy(await waitFor(() => (f.sink.table().includes('10.244.3.0/25 127.0.0.2') ? true : undefined)))
  t.false(f.sink.table().includes('192.168.7.0/24 127.0.0.2'))
  const ini = (extra: string[]) => loadConfigText([
    '[fabric]', 'pool = 10.244.0.0/16', 'mode = bgp',
    '[bgp]', 'hold-time = 9', 'connect-retry-time = 1', 'max-prefixes = 5', ...extra,
    '[peer.good]', 'address = 127.0.0.2', 'passive = yes',
    '[peer.bad]', 'address = 127.0.0.3', 'passive = yes',
  ].join('\n'))
  const c = ini(['max-prefix-length = 24', 'allow = 192.168.7.0/24', 'route-reflector = yes'])
  c.bgp.port = 0
  const summary = await f.source.reload(c)
  t.regex(summary, /import policy re-applied: 1 prefixes withdrawn/)
  t.regex(summary, /not applied until restart: .*routeReflector/)
  t.deepEqual(f.sink.table(), ['10.244.2.0/24 127.0.0.2'])
  // what the old policy refused is asked for again
  t.truthy(await good.next('routeRefresh'))
  good.send({ type: 'update', withdrawn: [], nlri: [P('192.168.7.0/24')], attributes: [...ORIGIN_ASPATH_NH([], '10.99.0.12')] })
  t.truthy(await waitFor(() => (f.sink.table().includes('192.168.7.0/24 127.0.0.2') ? true : undefined)))
  t.false(good.closed)
  const peer = f.source.peers().find((p) => p.address === '127.0.0.2')!
  t.is((peer.details as { rrClient: boolean }).rrClient, false)
})

test('a peer\'s OPEN and KEEPALIVE read together: our KEEPALIVE, table and End-of-RIB go out in one write', async (t) => {
  // every write of the source's accepted socket for 127.0.0.2 (same process: the socket's prototype is watched)
  // (other tests run in this process at the same time: only this source's listening port counts)
  const writes: Buffer[] = []
  let port = -1
  const proto = Socket.prototype as unknown as { write: (...a: unknown[]) => boolean }
  const original = proto.write
  proto.write = function (this: Socket, ...a: unknown[]) {
    if (this.localPort === port && this.remoteAddress === '127.0.0.2' && a[0] instanceof Uint8Array) writes.push(Buffer.from(a[0]))
    return original.apply(this, a)
  }
  t.teardown(() => { proto.write = original })
  const f = await startSource(t)
  port = f.port
  const p = await TestPeer.connect(f.port, '127.0.0.2')
  t.teardown(() => p.socket.destroy())
  // the peer's own OPEN and KEEPALIVE in one segment, before it has read ours
  p.raw(Buffer.concat([
    encodeMessage(makeOpen({ asn: 64512, holdTime: 9, bgpId: A('127.0.0.2'), capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'as4', asn: 64512 }] }), { as4: true }),
    encodeMessage({ type: 'keepalive' }, { as4: true }),
  ]))
  t.truthy(await waitFor(() => (stateOf(f, '127.0.0.2') === 'Established' && p.messages.filter((m) => m.type === 'update').length >= 2 ? true : undefined)))
  const types = (b: Buffer): string[] => {
    const r = createFramer().push(b)
    return r.messages.map((m) => { const x = decodeMessage(m, { as4: true }); return x.ok ? (x.value.type === 'update' && x.value.nlri.length === 0 && x.value.withdrawn.length === 0 ? 'end-of-rib' : x.value.type) : 'error' })
  }
  t.deepEqual(writes.map(types), [['open'], ['keepalive', 'update', 'end-of-rib']], 'OPEN at accept, then one write for the rest')
})
