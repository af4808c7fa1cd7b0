/**
 * BGP peers with an IPv6 address: the [peer.NAME] / --peer forms and their
 * refusals, allow6 / max-prefix-length6; a session over IPv6 on loopback
 * (::1; nothing leaves the host) that negotiates both families and carries
 * IPv4 NLRI with NEXT_HOP = the host's IPv4 address (RFC 4271 5.1.3); an
 * IPv6 peer on an IPv4-only host gets no session.
 */
import { connect } from 'node:net'
import test from 'ava'
import { loadConfigText } from '../../../../src/config/fabric-config.js'
import type { SelfInfo } from '../../../../src/core/self.js'
import { type Prefix, formatPrefix } from '../../../../src/net/ipv4.js'
import { type Prefix6, formatPrefix6 } from '../../../../src/net/ipv6.js'
import type { RibRoute6 } from '../../../../src/rib/rib6.js'
import type { Route } from '../../../../src/rib/route.js'
import type { RouteSink, RouteSink6 } from '../../../../src/rib/source.js'
import { BgpSource, peerSpecs } from '../../../../src/protocols/bgp/source.js'
import { eventLog } from '../../../helpers/log.js'
import { A, P, P6 } from '../../../helpers/net.js'
import { waitFor as poll } from '../../../../src/util/process.js'

const base = ['[fabric]', 'pool = 10.244.0.0/16', 'mode = bgp']

test('config: an IPv6 [peer.NAME] address and --peer ADDRESS6@ASN become IPv6 peers (canonical text); IPv4 peers as before', (t) => {
  const c = loadConfigText([...base, '[peer.v6]', 'address = FD00:99:0::2', 'asn = 65010', '[peer.v4]', 'address = 10.99.0.2'].join('\n'), 'fabric.ini', { peers: ['fd00:99::3@65011', '10.99.0.3'] })
  t.deepEqual(c.bgp.peers6.map((p) => [p.name, p.address6, p.asn]), [['v6', 'fd00:99::2', 65010], ['fd00:99::3', 'fd00:99::3', 65011]])
  t.deepEqual(c.bgp.peers.map((p) => p.name), ['v4', '10.99.0.3'])
  const specs = peerSpecs(c, 'me', A('10.99.0.1'))
  t.deepEqual(specs.filter((s) => s.address6).map((s) => s.address6), ['fd00:99::2', 'fd00:99::3'])
  t.deepEqual(c.bgp.allow6, [])
  t.is(c.bgp.maxPrefixLength6, 128)
})

test('config refusals: link-local, multicast, loopback and malformed IPv6 peer addresses; a duplicate; bad allow6 / max-prefix-length6', (t) => {
  const bad = (lines: string[], overrides = {}): string => {
    const e = t.throws(() => loadConfigText([...base, ...lines].join('\n'), 'fabric.ini', overrides))
    return String(e?.message)
  }
  t.regex(bad(['[peer.a]', 'address = fe80::2']), /link-local/)
  t.regex(bad(['[peer.a]', 'address = ff02::9']), /multicast/)
  t.regex(bad(['[peer.a]', 'address = ::1']), /loopback/)
  t.regex(bad(['[peer.a]', 'address = fd00:99::g']), /IPv6/)
  t.regex(bad(['[peer.a]', 'address = fd00:99::2', '[peer.b]', 'address = fd00:99:0:0::2']), /unique peer address/)
  t.regex(bad([], { peers: ['fe80::1@65000'] }), /--peer/)
  t.regex(bad(['[bgp]', 'allow6 = fd00:beef::1/48']), /host bits/)
  t.regex(bad(['[bgp]', 'allow6 = 10.0.0.0/8']), /IPv6 prefix/)
  t.regex(bad(['[bgp]', 'max-prefix-length6 = 129']), /1 to 128/)
  const ok = loadConfigText([...base, '[bgp]', 'allow6 = fd00:beef::/48, fd00:cafe::/32', 'max-prefix-length6 = 64'].join('\n'))
  t.deepEqual(ok.bgp.allow6.map(formatPrefix6), ['fd00:beef::/48', 'fd00:cafe::/32'])
  t.is(ok.bgp.maxPrefixLength6, 64)
})

class Sink implements RouteSink {
  readonly routes = new Map<string, Route>()
  add(r: Route): void { this.routes.set(`${formatPrefix(r.prefix)} ${r.peer}`, r) }
  withdraw(p: Prefix, _s: string, peer: string): void { this.routes.delete(`${formatPrefix(p)} ${peer}`) }
  withdrawPeer(): number { return 0 }
}

class Sink6 implements RouteSink6 {
  readonly routes = new Map<string, RibRoute6>()
  add(r: RibRoute6): void { this.routes.set(`${formatPrefix6(r.prefix)} ${r.peer}`, r) }
  withdraw(p: Prefix6, _s: string, peer: string): void { this.routes.delete(`${formatPrefix6(p)} ${peer}`) }
  withdrawPeer(): number { return 0 }
}

const waitFor = <T,>(f: () => T | undefined, ms = 10_000): Promise<T | undefined> => poll(f, ms, 20)

function self(n: number, address6: string | undefined): SelfInfo {
  return {
    name: `h${n}`, address: A(`10.99.0.${n}`), subnet: P(`10.244.${n}.0/24`), interface: 'lo', underlay: P('10.99.0.0/24'),
    ...(address6 ? { address6, underlay6: P6('fd00:99::/64'), subnet6: P6(`fd00:fab:0:${n}::/64`), pool6: P6('fd00:fab::/48') } : {}),
  }
}

test('a session over IPv6 (loopback ::1): both families negotiated, IPv4 NLRI carry NEXT_HOP = the IPv4 address, router id IPv4', async (t) => {
  // A listens on [::1]; B connects from ::1 (its address6 here: loopback is the only IPv6 address a unit test may use)
  const ca = loadConfigText([...base, '[bgp]', 'graceful-restart-time = 0', '[peer.b]', 'address = fd00:99::2', 'passive = yes'].join('\n'))
  ca.bgp.port = 0
  // the only IPv6 loopback address is ::1, which a peer address may not be: B's entry is made directly
  ca.bgp.peers6 = [{ ...ca.bgp.peers6[0]!, address6: '::1' }]
  const ea: string[] = []
  const a = new BgpSource({ config: ca, self: self(1, 'fd00:99::1'), log: eventLog(ea), stateDir: '/nonexistent', onReady: () => undefined }, { listenHost: '127.0.0.1', listenHost6: '::1' })
  const sa = new Sink()
  const sa6 = new Sink6()
  await a.start(sa, sa6)
  t.teardown(() => a.stop())
  const cb = loadConfigText([...base, '[bgp]', 'graceful-restart-time = 0', 'listen = no', '[peer.a]', 'address = fd00:99::1'].join('\n'))
  cb.bgp.port = a.listenPort()!
  cb.bgp.peers6 = [{ ...cb.bgp.peers6[0]!, address6: '::1' }]
  const eb: string[] = []
  const b = new BgpSource({ config: cb, self: self(2, '::1'), log: eventLog(eb), stateDir: '/nonexistent', onReady: () => undefined })
  const sb = new Sink()
  await b.start(sb, new Sink6())
  t.teardown(() => b.stop())

  t.truthy(await waitFor(() => (sa.routes.size > 0 ? true : undefined)), `A: ${ea.join(' ')}`)
  const r = [...sa.routes.values()][0]!
  t.is(formatPrefix(r.prefix), '10.244.2.0/24')
  t.is(r.nextHop, A('10.99.0.2'), 'IPv4 NLRI over the IPv6 session: NEXT_HOP is the IPv4 address')
  t.is(r.peer, '::1')
  const peer = a.peers()[0]!
  t.is(peer.address, '::1')
  t.is(peer.state, 'Established')
  t.deepEqual(((peer.details?.capabilities ?? []) as string[]).filter((c) => c.endsWith('unicast')), ['ipv4-unicast', 'ipv6-unicast'])
  t.is(peer.details?.routerId, '10.99.0.2')
  // B's IPv6 next hop is ::1 (its address6 on loopback): refused as not unicast, counted; nothing installed
  t.truthy(await waitFor(() => ((a.stats().filtered6 as Record<string, number> | undefined)?.['next-hop-not-unicast'] === 1 ? true : undefined)))
  t.is(sa6.routes.size, 0)
  t.is((a.stats().counters as Record<string, number>)['drop-route:ipv6-next-hop-not-unicast'], 1, 'the counter metrics export')
})

test('an IPv6 peer on an IPv4-only host: no session, an error naming it', async (t) => {
  const c = loadConfigText([...base, '[peer.b]', 'address = fd00:99::2'].join('\n'))
  c.bgp.port = 0
  const events: string[] = []
  const s = new BgpSource({ config: c, self: self(1, undefined), log: eventLog(events), stateDir: '/nonexistent', onReady: () => undefined }, { listenHost: '127.0.0.1' })
  await s.start(new Sink())
  t.teardown(() => s.stop())
  t.deepEqual(s.peers(), [])
  t.true(events.includes('bgp-peer6-unavailable'))
})

test('the IPv6 listener: a connection from an address that is no IPv6 peer is closed at once and counted', async (t) => {
  const c = loadConfigText([...base, '[peer.b]', 'address = fd00:99::2', 'passive = yes'].join('\n'))
  c.bgp.port = 0
  const events: string[] = []
  const limited: string[] = []
  const s = new BgpSource({ config: c, self: self(1, 'fd00:99::1'), log: eventLog(events, limited), stateDir: '/nonexistent', onReady: () => undefined }, { listenHost: '127.0.0.1', listenHost6: '::1' })
  await s.start(new Sink(), new Sink6())
  t.teardown(() => s.stop())
  const sock = connect({ host: '::1', port: s.listenPort()!, family: 6 })
  sock.on('error', () => undefined)
  const closed = await new Promise<boolean>((resolve) => {
    sock.once('close', () => resolve(true))
    setTimeout(() => resolve(false), 5000)
  })
  t.true(closed)
  t.is((s.stats().drops as { connections: Record<string, number> }).connections['not-a-peer'], 1)
  t.true(limited.includes('bgp-connection-refused'))
  t.is(s.peers()[0]?.state, 'Active', 'the configured IPv6 peer is untouched')
})
