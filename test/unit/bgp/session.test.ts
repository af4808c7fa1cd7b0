/**
 * Sessions over real TCP on loopback (127.0.0.x; nothing leaves the host):
 * a well-behaved peer stays Established with its route while another peer
 * sends malformed messages and gets the NOTIFICATION RFC 4271 section 6
 * prescribes; RFC 7606 errors keep the session; hold timer expiry; a stranger
 * is refused; leave() sends Cease/Administrative Shutdown with an RFC 9003
 * message.
 */
import { type Socket, connect } from 'node:net'
import test from 'ava'
import type { Logger } from '../../../src/core/log.js'
import { loadConfigText } from '../../../src/config/fabric-config.js'
import { type Prefix, formatPrefix, parseAddress, parsePrefix } from '../../../src/net/ipv4.js'
import type { Route } from '../../../src/rib/route.js'
import type { RouteSink } from '../../../src/rib/source.js'
import { createFramer } from '../../../src/protocols/bgp/codec/framer.js'
import { decodeMessage, encodeMessage } from '../../../src/protocols/bgp/codec/message.js'
import { makeOpen } from '../../../src/protocols/bgp/codec/open.js'
import type { Message, NotificationMessage } from '../../../src/protocols/bgp/codec/types.js'
import { BgpSource } from '../../../src/protocols/bgp/source.js'

const A = (s: string) => (parseAddress(s) as { ok: true; value: number }).value
const P = (s: string) => (parsePrefix(s) as { ok: true; value: Prefix }).value

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

function quietLog(events: string[] = []): Logger {
  const log = (_l: string, e: string) => { events.push(e) }
  const l: Logger = { log, debug: (e) => log('debug', e), info: (e) => log('info', e), warn: (e) => log('warn', e), error: (e) => log('error', e), limited: (_l, e) => log('', e), child: () => l }
  return l
}

async function waitFor<T>(f: () => T | undefined, ms = 10_000): Promise<T | undefined> {
  const end = Date.now() + ms
  for (;;) {
    const v = f()
    if (v !== undefined) return v
    if (Date.now() > end) return undefined
    await new Promise((r) => setTimeout(r, 20))
  }
}

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
  async establish(routerId: string, holdTime = 9): Promise<void> {
    this.send(makeOpen({ asn: 64512, holdTime, bgpId: A(routerId), capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'as4', asn: 64512 }, { kind: 'routeRefresh', code: 2 }] }))
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

interface Fixture { source: BgpSource; sink: Sink; port: number; events: string[] }

async function startSource(t: import('ava').ExecutionContext): Promise<Fixture> {
  const ini = [
    '[fabric]', 'pool = 10.244.0.0/16', 'mode = bgp',
    '[bgp]', 'hold-time = 9', 'connect-retry-time = 1', 'max-prefixes = 5',
    '[peer.good]', 'address = 127.0.0.2', 'passive = yes',
    '[peer.bad]', 'address = 127.0.0.3', 'passive = yes',
  ].join('\n')
  const config = loadConfigText(ini)
  config.bgp.port = 0 // any free port; peers are passive, nothing connects out
  const events: string[] = []
  const source = new BgpSource({
    config, self: { name: 'me', address: A('127.0.0.1'), subnet: P('10.244.1.0/24'), interface: 'lo', underlay: P('127.0.0.0/8') },
    log: quietLog(events), stateDir: '/nonexistent', onReady: () => undefined,
  }, { listenHost: '127.0.0.1' })
  const sink = new Sink()
  await source.start(sink)
  t.teardown(() => source.stop())
  return { source, sink, port: source.listenPort()!, events }
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
