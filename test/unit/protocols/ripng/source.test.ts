/**
 * RIPng in RIP mode (protocols/rip/source.ts + protocols/ripng/source.ts):
 * which interface RIPng may speak on, and the wiring decisions of a
 * dual-stack RIP source (sink6, ready, peers, stats, conflicts, leave).
 * Sockets are replaced by recording transports; timers are real but short.
 */
import test from 'ava'
import { AgentStartError } from '../../../../src/core/errors.js'
import type { SelfInfo } from '../../../../src/core/self.js'
import { type FabricConfig, loadConfigText } from '../../../../src/config/fabric-config.js'
import type { Prefix6 } from '../../../../src/net/ipv6.js'
import { formatPrefix6 } from '../../../../src/net/ipv6.js'
import type { RibRoute6 } from '../../../../src/rib/rib6.js'
import type { HostInterface, RouteSink, RouteSink6 } from '../../../../src/rib/source.js'
import { encodePacket as encodeRip } from '../../../../src/protocols/rip/codec.js'
import { RipSource } from '../../../../src/protocols/rip/source.js'
import type { RipDatagram, RipTransportOptions } from '../../../../src/protocols/rip/transport.js'
import { type RipngPacket, decodePacket, encodePacket } from '../../../../src/protocols/ripng/codec.js'
import { type RipngSourceOptions, RipngStartError, resolveRipngInterface, ripngInterfaceProblem } from '../../../../src/protocols/ripng/source.js'
import type { RipngDatagram, RipngTransportOptions } from '../../../../src/protocols/ripng/transport.js'
import { A, P, P6 } from '../../../helpers/net.js'
import { eventLog } from '../../../helpers/log.js'

const POOL6 = P6('fd00:fab::/48')
const SUBNET6 = P6('fd00:fab:0:1::/64')

const eth0 = (extra6: HostInterface['addresses6'] = []): HostInterface => ({
  name: 'eth0', up: true, mtu: 1500,
  addresses: [{ address: A('10.99.0.11'), prefixLen: 24 }],
  addresses6: [{ address: 'fd00:99::1', prefixLen: 64, scope: 'global' }, { address: 'fe80::1', prefixLen: 64, scope: 'link' }, ...extra6],
})
const docker0: HostInterface = {
  name: 'docker0', up: true,
  addresses: [{ address: A('10.244.1.1'), prefixLen: 24 }],
  addresses6: [{ address: 'fd00:fab:0:1::1', prefixLen: 64, scope: 'global' }, { address: 'fe80::42', prefixLen: 64, scope: 'link' }],
}
const spec = (over: Partial<RipngSourceOptions> = {}) => ({ interface: 'eth0', pool6: POOL6, subnet6: SUBNET6, containers: { pools: [P('10.244.0.0/16')], subnets: [P('10.244.1.0/24')], bridges: ['br-blue'] }, ...over })

// ---- which interface RIPng may speak on --------------------------------------

test('the underlay interface resolves to its link-local and global addresses and its MTU', (t) => {
  t.deepEqual(resolveRipngInterface(spec(), [docker0, eth0()]), { name: 'eth0', linkLocal: 'fe80::1', global: P6('fd00:99::/64'), globalAddress: 'fd00:99::1', all: ['fd00:99::1', 'fe80::1'], mtu: 1500 })
})

test('RIPng refuses every interface that faces containers, naming it and why', (t) => {
  const cases: [string, HostInterface, RegExp][] = [
    ['docker0 by name', { ...docker0, addresses: [], addresses6: [{ address: 'fe80::42', prefixLen: 64, scope: 'link' }] }, /RIPng interface "docker0": it is a container bridge/],
    ['a [network.*] bridge', { name: 'br-blue', up: true, addresses: [], addresses6: [{ address: 'fe80::7', prefixLen: 64, scope: 'link' }] }, /RIPng interface "br-blue": it is a container bridge/],
    ['a bridge holding a pool subnet', { name: 'cbr0', up: true, addresses: [{ address: A('10.244.7.1'), prefixLen: 24 }], addresses6: [{ address: 'fe80::7', prefixLen: 64, scope: 'link' }] }, /"cbr0": its address 10\.244\.7\.1 is inside pool 10\.244\.0\.0\/16: the interface faces containers/],
    ["this host's own container subnet", { name: 'cbr1', up: true, addresses: [{ address: A('10.244.1.1'), prefixLen: 24 }], addresses6: [{ address: 'fe80::7', prefixLen: 64, scope: 'link' }] }, /"cbr1": its address 10\.244\.1\.1 is inside this host's container subnet 10\.244\.1\.0\/24/],
    ['a bridge holding a pool6 subnet', { name: 'cbr2', up: true, addresses: [], addresses6: [{ address: 'fd00:fab:0:7::1', prefixLen: 64, scope: 'global' }, { address: 'fe80::7', prefixLen: 64, scope: 'link' }] }, /"cbr2": its address fd00:fab:0:7::1 is inside pool6 fd00:fab::\/48: the interface faces containers/],
    ['the underlay with an address inside pool6', eth0([{ address: 'fd00:fab:0:9::5', prefixLen: 128, scope: 'global' }]), /"eth0": its address fd00:fab:0:9::5 is inside pool6 fd00:fab::\/48/],
    ['an on-link network covering pool6', eth0([{ address: 'fd00::5', prefixLen: 16, scope: 'global' }]), /"eth0": its network fd00::\/16 overlaps pool6 fd00:fab::\/48/],
  ]
  for (const [name, iface, message] of cases) {
    t.regex(ripngInterfaceProblem(spec(), iface) ?? '', message, name)
    const e = t.throws(() => resolveRipngInterface(spec({ interface: iface.name }), [iface]), undefined, name)
    t.true(e instanceof RipngStartError && e instanceof AgentStartError && e.exitCode === 2, name)
  }
  t.is(ripngInterfaceProblem(spec(), eth0()), undefined, 'the plain underlay is fine')
})

test('RIPng refuses a missing interface, one without a link-local address, and interfaces read without IPv6', (t) => {
  t.throws(() => resolveRipngInterface(spec({ interface: 'eth9' }), [eth0()]), { message: /RIPng interface "eth9": no such interface on this host \(interfaces: eth0\)/ })
  const noLl = { ...eth0(), addresses6: [{ address: 'fd00:99::1', prefixLen: 64, scope: 'global' as const }] }
  t.throws(() => resolveRipngInterface(spec(), [noLl]), { message: /"eth0": no link-local \(fe80::\/10\) address; RIPng responses must be sent from one \(RFC 2080 2\.4\.2\)/ })
  const { addresses6: _, ...v4only } = eth0()
  t.throws(() => resolveRipngInterface(spec(), [v4only]), { message: /"eth0": its IPv6 addresses were not read/ })
})

// ---- the dual-stack RIP source -------------------------------------------------

interface Sent { bytes: Buffer; to: string; port: number }

function fakeRipng() {
  const sent: Sent[] = []
  let deliver: ((d: RipngDatagram) => void) | undefined
  let opened: RipngTransportOptions | undefined
  let closed = false
  return {
    sent, get opened() { return opened }, get closed() { return closed },
    receive: (from: string, pkt: RipngPacket, port = 521) => deliver!({ from, port, bytes: encodePacket(pkt), via: 'multicast' }),
    make: (o: RipngTransportOptions) => {
      deliver = o.onDatagram
      opened = o
      return {
        open: async () => {},
        send: async (bytes: Buffer, to: string, port: number) => {
          sent.push({ bytes, to, port })
          return true
        },
        close: async () => { closed = true },
        counters: { 'rx-datagrams': 0, 'rx-bytes': 0, 'tx-datagrams': 0, 'tx-bytes': 0, 'tx-errors': 0 },
        lastSendError: undefined,
      }
    },
  }
}

function fakeRip() {
  let deliver: ((d: RipDatagram) => void) | undefined
  return {
    receive: (from: string, bytes: Buffer) => deliver!({ from: A(from), port: 520, bytes, via: 'unicast' }),
    make: (o: RipTransportOptions) => {
      deliver = o.onDatagram
      return { open: async () => {}, send: async () => true, close: async () => {}, counters: { 'rx-datagrams': 0, 'rx-bytes': 0, 'tx-datagrams': 0, 'tx-bytes': 0, 'tx-errors': 0 }, lastSendError: undefined }
    },
  }
}

const base = loadConfigText('[fabric]\npool = 10.244.0.0/16\nmode = rip\n')
/** short timers (below what [rip] accepts, fine for the source): ready after ~0.25 s, timeout 0.6 s */
function config(rip: Partial<FabricConfig['rip']> = {}, over: Partial<FabricConfig> = {}): FabricConfig {
  return { ...base, pool6: POOL6, ...over, rip: { ...base.rip, updateInterval: 0.2, timeout: 0.6, garbageCollection: 0.3, triggeredMin: 0.01, triggeredMax: 0.02, ...rip } }
}
const self4: SelfInfo = { name: 'node1', address: A('10.99.0.11'), subnet: P('10.244.1.0/24'), interface: 'eth0', underlay: P('10.99.0.0/24') }
const self6: SelfInfo = { ...self4, address6: 'fd00:99::1', underlay6: P6('fd00:99::/64'), subnet6: SUBNET6, pool6: POOL6 }

function sinks() {
  const v4: string[] = []
  const v6: RibRoute6[] = []
  const withdrawn6: string[] = []
  const sink: RouteSink = { add: (r) => void v4.push(r.peer), withdraw: () => {}, withdrawPeer: () => 0 }
  const sink6: RouteSink6 = {
    add: (r) => void v6.push(r),
    withdraw: (p: Prefix6, source: string, peer: string) => void withdrawn6.push(`${formatPrefix6(p)} ${source} ${peer}`),
    withdrawPeer: () => 0,
  }
  return { v4, v6, withdrawn6, sink, sink6 }
}

function ripSource(opts: { self?: SelfInfo; config?: FabricConfig; interfaces?: HostInterface[]; listenOnly?: boolean } = {}) {
  const events: string[] = []
  const limited: string[] = []
  let readyCalls = 0
  const ng = fakeRipng()
  const rip = fakeRip()
  const src = new RipSource({
    config: opts.config ?? config(), self: opts.self ?? self6, log: eventLog(events, limited), onReady: () => void readyCalls++,
    interfaces: opts.interfaces ?? [eth0(), docker0], ...(opts.listenOnly ? { listenOnly: true } : {}),
  }, { transport: rip.make, ripng: { transport: ng.make, hopLimitRule: false, hopLimitDrops: async () => 0 } })
  return { src, ng, rip, events, limited, readyCalls: () => readyCalls }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const decoded = (s: Sent) => {
  const d = decodePacket(s.bytes)
  if (!d.ok) throw new Error(d.error.message)
  return d.value
}
const r6 = (p: string, metric: number) => ({ kind: 'route' as const, prefix: P6(p), tag: 0, metric })

test('dual-stack: RIPng runs on the RIP interface, announces subnet6 to ff02::9 and learns the others\' /64s into sink6', async (t) => {
  const { src, ng } = ripSource()
  const s = sinks()
  await src.start(s.sink, s.sink6)
  t.teardown(() => src.stop())
  t.is(ng.opened?.interface, 'eth0')
  t.is(ng.opened?.linkLocal, 'fe80::1')
  t.is(ng.opened?.port, 521)
  const first = ng.sent.map(decoded)
  t.deepEqual(first[0], { command: 'request', entries: [{ kind: 'whole-table' }] })
  t.deepEqual(first[1]?.entries, [r6('fd00:fab:0:1::/64', 1)])
  t.true(ng.sent.every((x) => x.to === 'multicast' && x.port === 521))

  ng.receive('fe80::2', { command: 'response', entries: [r6('fd00:fab:0:2::/64', 1), r6('fd00:77::/64', 1), r6('fd00:fab:0:3::/64', 2)] })
  t.deepEqual(s.v6.map((r) => [formatPrefix6(r.prefix), r.nextHop, r.interface, r.source, r.peer, r.metric]), [
    ['fd00:fab:0:2::/64', 'fe80::2', 'eth0', 'ripng', 'fe80::2', 2],
    ['fd00:fab:0:3::/64', 'fe80::2', 'eth0', 'ripng', 'fe80::2', 3],
  ], 'only prefixes inside pool6; next hop the sender\'s link-local address')
  t.deepEqual(s.v4, [], 'nothing IPv6 goes into the IPv4 RIB')
  const stats = src.stats() as { ripng?: { interface: string; routes: number; drops: Record<string, number> } }
  t.is(stats.ripng?.interface, 'eth0')
  t.is(stats.ripng?.routes, 2)
  t.is(stats.ripng?.drops['drop-entry:not-allowed'], 1)
  const peers = src.peers()
  t.deepEqual(peers.map((p) => [p.address, p.state, p.accepted, (p.details as { protocol?: string }).protocol]), [['fe80::2', 'up', 2, 'ripng']])
})

test('RIPng drops responses from a global source address (RFC 2080 2.4.2) and from another port', async (t) => {
  const { src, ng } = ripSource()
  const s = sinks()
  await src.start(s.sink, s.sink6)
  t.teardown(() => src.stop())
  ng.receive('fd00:99::2', { command: 'response', entries: [r6('fd00:fab:0:2::/64', 1)] })
  ng.receive('fe80::2', { command: 'response', entries: [r6('fd00:fab:0:2::/64', 1)] }, 5210)
  t.deepEqual(s.v6, [])
  const drops = (src.stats() as { ripng: { drops: Record<string, number> } }).ripng.drops
  t.is(drops['drop-packet:not-link-local'], 1)
  t.is(drops['drop-packet:bad-port'], 1)
})

test("another host announcing this host's subnet6 is a subnet conflict, logged and never learned", async (t) => {
  const { src, ng, events } = ripSource()
  const s = sinks()
  await src.start(s.sink, s.sink6)
  t.teardown(() => src.stop())
  ng.receive('fe80::3', { command: 'response', entries: [r6('fd00:fab:0:1::/64', 1)] })
  t.deepEqual(s.v6, [])
  t.deepEqual(src.subnetConflicts6().map((c) => [c.peer, formatPrefix6(c.prefix)]), [['fe80::3', 'fd00:fab:0:1::/64']])
  t.deepEqual(src.subnetConflicts(), [], 'the IPv4 list (the agent formats it as IPv4) stays IPv4')
  t.deepEqual((src.stats() as { ripng: { 'subnet-conflicts': unknown } }).ripng['subnet-conflicts'], [{ peer: 'fe80::3', prefix: 'fd00:fab:0:1::/64' }])
  // the watch timer runs every 500 ms at these timers
  await sleep(700)
  t.true(events.includes('subnet-conflict'))
})

test('a route times out without updates, a metric 16 withdraws it at once, leave poisons subnet6', async (t) => {
  // garbage collection long enough that the silent neighbour is still listed (down) when checked
  const { src, ng, events } = ripSource({ config: config({ garbageCollection: 10 }) })
  const s = sinks()
  await src.start(s.sink, s.sink6)
  t.teardown(() => src.stop())
  ng.receive('fe80::2', { command: 'response', entries: [r6('fd00:fab:0:2::/64', 1), r6('fd00:fab:0:3::/64', 1)] })
  t.is(s.v6.length, 2)
  ng.receive('fe80::2', { command: 'response', entries: [r6('fd00:fab:0:3::/64', 16)] })
  t.deepEqual(s.withdrawn6, ['fd00:fab:0:3::/64 ripng fe80::2'], 'metric 16: withdrawn at once')
  // keep nothing refreshed: fd00:fab:0:2::/64 times out after 0.6 s
  await sleep(250)
  t.is(s.withdrawn6.length, 1, 'not before the timeout')
  for (let i = 0; i < 50 && s.withdrawn6.length < 2; i++) await sleep(100)
  t.deepEqual(s.withdrawn6, ['fd00:fab:0:3::/64 ripng fe80::2', 'fd00:fab:0:2::/64 ripng fe80::2'], 'timeout')
  t.is(src.peers()[0]?.state, 'down')

  ng.sent.length = 0
  await src.leave()
  const poison = ng.sent.map(decoded).filter((p) => p.command === 'response')
  t.deepEqual(poison.map((p) => p.entries), [[r6('fd00:fab:0:1::/64', 16)]], 'subnet6 at metric 16 to ff02::9')
  t.true(ng.closed)
  t.true(events.includes('ripng-leave'))
})

test('leave withdraws what RIPng learned', async (t) => {
  const { src, ng } = ripSource()
  const s = sinks()
  await src.start(s.sink, s.sink6)
  ng.receive('fe80::2', { command: 'response', entries: [r6('fd00:fab:0:2::/64', 1)] })
  await src.leave()
  t.deepEqual(s.withdrawn6, ['fd00:fab:0:2::/64 ripng fe80::2'])
})

test('ready waits for RIP and RIPng both: a heard RIP neighbour does not make the source ready before RIPng is', async (t) => {
  const { src, rip, readyCalls } = ripSource({ config: config({ neighbors: [A('10.99.0.12')], updateInterval: 0.4 }) })
  const s = sinks()
  await src.start(s.sink, s.sink6)
  t.teardown(() => src.stop())
  rip.receive('10.99.0.12', encodeRip({ command: 'response', entries: [{ kind: 'route', tag: 0, prefix: P('10.244.2.0/24'), nextHop: 0, metric: 1 }] }))
  t.is(s.v4.length, 1, 'RIP learned (and is ready: every configured neighbour heard)')
  t.false(src.ready(), 'RIPng has not had its first update interval yet')
  t.is(readyCalls(), 0)
  await sleep(700)
  t.true(src.ready())
  t.is(readyCalls(), 1, 'onReady once, when the second part became ready')
})

test('a RIPng interface facing containers stops the start with exit code 2 before anything runs', (t) => {
  // RIP's own check passes (eth0's IPv4 network is the underlay); eth0 also holds an address inside pool6
  const e = t.throws(() => ripSource({ interfaces: [eth0([{ address: 'fd00:fab:0:1::1', prefixLen: 64, scope: 'global' }]), docker0] }))
  t.true(e instanceof AgentStartError)
  t.is((e as AgentStartError).exitCode, 2)
  t.regex(e!.message, /RIPng interface "eth0": its address fd00:fab:0:1::1 is inside (pool6 fd00:fab::\/48|this host's subnet6 fd00:fab:0:1::\/64): the interface faces containers/)
  // [rip] interface = docker0 is refused by RIP's IPv4 check first (its network is inside the pool)
  t.throws(() => ripSource({ config: config({ interface: 'docker0' }) }), { message: /\[rip\] interface = "docker0".*container-facing/ })
})

test('IPv4-only host, subnet discovery and an agent without an IPv6 RIB: no RIPng', async (t) => {
  for (const [name, o, six] of [['ipv4-only', { self: self4, config: config({}, { pool6: undefined }) }, true], ['listen only', { listenOnly: true }, true], ['no sink6', {}, false]] as const) {
    const { src, ng, events } = ripSource(o)
    const s = sinks()
    await src.start(s.sink, six ? s.sink6 : undefined)
    t.is(ng.sent.length, 0, `${name}: nothing sent on RIPng`)
    t.false('ripng' in src.stats(), name)
    t.deepEqual(src.peers(), [], name)
    t.is(events.includes('ripng-not-started'), name === 'no sink6', name)
    await src.stop()
  }
})

test('a silent RIPng neighbour is logged down by the watch timer, not only at the next RIPng timer', async (t) => {
  // no RIPng timer after the route's timeout (0.6 s) and its triggered update (+ 10-20 ms) until its
  // garbage collection (10 s): a long update interval
  const { src, ng, events } = ripSource({ config: config({ updateInterval: 10, garbageCollection: 10 }) })
  const s = sinks()
  await src.start(s.sink, s.sink6)
  t.teardown(() => src.stop())
  ng.receive('fe80::2', { command: 'response', entries: [r6('fd00:fab:0:2::/64', 1)] })
  // heard again 0.4 s later without that route (an entry refused): still up when the route times out at 0.6 s
  await sleep(400)
  ng.receive('fe80::2', { command: 'response', entries: [r6('fd00:77::/64', 1)] })
  for (let i = 0; i < 30 && !events.includes('ripng-neighbor-down'); i++) await sleep(100)
  t.deepEqual(s.withdrawn6, ['fd00:fab:0:2::/64 ripng fe80::2'])
  t.true(events.includes('ripng-neighbor-down'), 'down within 3 s of going silent (the watch runs every 0.5 s here)')
})
