/** RIP + BFD: the engine's neighbourDown (injected clock), the per-neighbour sessions of RipBfd, and the [rip] bfd keys. */
import { EventEmitter } from 'node:events'
import { PassThrough } from 'node:stream'
import test from 'ava'
import { loadConfigText } from '../../../../src/config/fabric-config.js'
import { createLogger } from '../../../../src/core/log.js'
import type { Prefix } from '../../../../src/net/ipv4.js'
import { formatPrefix } from '../../../../src/net/ipv4.js'
import type { BfdSessionStatus } from '../../../../src/protocols/bfd/messages.js'
import { type RipEntry, type RipRouteEntry, encodePacket } from '../../../../src/protocols/rip/codec.js'
import { type RipAction, RipEngine, type RipInterfaceConfig } from '../../../../src/protocols/rip/engine.js'
import { RipBfd } from '../../../../src/protocols/rip/bfd.js'
import type { BfdPort } from '../../../../src/rib/source.js'
import { A as ip } from '../../../helpers/net.js'

const pfx = (s: string): Prefix => {
  const [a, l] = s.split('/')
  return { addr: ip(a!), len: Number(l) }
}
const T0 = 1_700_000_000_000
const ETH0: RipInterfaceConfig = { name: 'eth0', address: ip('10.255.0.1'), subnet: pfx('10.255.0.0/24') }
const PEER = ip('10.255.0.2')
const PEER2 = ip('10.255.0.3')
const route = (p: string, metric: number): RipRouteEntry => ({ kind: 'route', tag: 0, prefix: pfx(p), nextHop: 0, metric })
const response = (...entries: RipEntry[]): Buffer => encodePacket({ command: 'response', entries })
const adds = (a: RipAction[]) => a.flatMap((x) => (x.type === 'route-add' ? [`${formatPrefix(x.route.prefix)} ${x.route.peer}`] : []))
const withdraws = (a: RipAction[]) => a.flatMap((x) => (x.type === 'route-withdraw' ? [`${formatPrefix(x.route.prefix)} ${x.route.peer}`] : []))
const announced = (a: RipAction[]) => a.flatMap((x) => (x.type === 'send' ? x.packet.entries.flatMap((e) => (e.kind === 'route' ? [`${formatPrefix(e.prefix)} ${e.metric}`] : [])) : []))

function setup() {
  const clock = { now: T0 }
  const engine = new RipEngine({
    interfaces: [ETH0], now: () => clock.now, random: () => 0.5, allowed: [pfx('10.244.0.0/16')],
    timers: { update: 30_000, timeout: 180_000, garbage: 120_000, triggeredMin: 1000, triggeredMax: 5000 },
  })
  engine.setLocalRoutes([{ prefix: pfx('10.244.1.0/24') }])
  engine.start()
  const rx = (from: number, ...entries: RipEntry[]) => engine.receive({ from, port: 520, interface: 'eth0', bytes: response(...entries) })
  const advance = (ms: number) => {
    clock.now += ms
    return engine.tick()
  }
  return { engine, clock, rx, advance }
}

test('neighbourDown: the routes via that neighbour time out now, the others stay; a later update brings them back', (t) => {
  const { engine, rx, advance, clock } = setup()
  t.deepEqual(adds(rx(PEER, route('10.244.2.0/24', 1), route('10.244.5.0/24', 2))), ['10.244.2.0/24 10.255.0.2', '10.244.5.0/24 10.255.0.2'])
  t.deepEqual(adds(rx(PEER2, route('10.244.3.0/24', 1))), ['10.244.3.0/24 10.255.0.3'])
  advance(1000)
  const out = engine.neighbourDown(PEER)
  t.deepEqual(withdraws(out).sort(), ['10.244.2.0/24 10.255.0.2', '10.244.5.0/24 10.255.0.2'], 'withdrawn at once, not after 180 s')
  t.is(engine.counters()['routes-timed-out'], 2)
  const view = engine.routes()
  t.deepEqual(view.filter((r) => r.state === 'garbage').map((r) => formatPrefix(r.prefix)).sort(), ['10.244.2.0/24', '10.244.5.0/24'])
  t.deepEqual(view.filter((r) => r.state === 'active').map((r) => formatPrefix(r.prefix)), ['10.244.3.0/24'])
  t.is(engine.neighbor(PEER)!.routes, 0)
  // the triggered update poisons them (metric 16) within triggered-max
  const at = engine.nextTimer()!
  t.true(at - clock.now <= 5000, 'a triggered update within triggered-max')
  const trig = advance(at - clock.now)
  const poisoned = announced(trig)
  t.true(poisoned.includes('10.244.2.0/24 16') && poisoned.includes('10.244.5.0/24 16'), poisoned.join(', '))
  t.deepEqual(withdraws(trig), [], "the other neighbour's route stays")
  // a second down is a no-op; an unknown neighbour too
  t.deepEqual(withdraws(engine.neighbourDown(PEER)), [])
  t.deepEqual(withdraws(engine.neighbourDown(ip('10.255.0.99'))), [])
  // BFD up again: nothing special, the next update brings the routes back
  t.deepEqual(adds(rx(PEER, route('10.244.2.0/24', 1))), ['10.244.2.0/24 10.255.0.2'])
})

test('neighbourDown after shutdown does nothing', (t) => {
  const { engine, rx } = setup()
  rx(PEER, route('10.244.2.0/24', 1))
  engine.shutdown()
  t.deepEqual(engine.neighbourDown(PEER), [])
})

/** The agent's BFD service as RIP sees it, in memory: records add/remove, emits up/down on demand. */
class FakeBfd extends EventEmitter {
  added: Parameters<BfdPort['add']>[0][] = []
  removed: string[] = []
  sessions = new Map<string, BfdSessionStatus>()
  async add(spec: Parameters<BfdPort['add']>[0]): Promise<void> {
    this.added.push(spec)
    this.sessions.set(spec.key, {
      key: spec.key, local: spec.local, remote: spec.remote, state: 'Up', remoteState: 'Up', localDiscriminator: 1, remoteDiscriminator: 2,
      txInterval: spec.desiredMinTx, rxInterval: spec.requiredMinRx, detectionTime: spec.requiredMinRx * spec.multiplier, lastDownDiag: 0, diag: 0,
      packetsIn: 40, packetsOut: 41, drops: {}, lastRxAgo: 20, sourcePort: 49152,
    })
  }
  async remove(key: string): Promise<void> {
    this.removed.push(key)
    this.sessions.delete(key)
  }
  async status(): Promise<{ sessions: BfdSessionStatus[] }> {
    return { sessions: [...this.sessions.values()] }
  }
}

const quietLog = () => createLogger({ level: 'error', format: 'json', stream: new PassThrough() })
const flush = () => new Promise((r) => setImmediate(r))

function ripBfd(port: FakeBfd | undefined, enabled = true) {
  const downs: string[] = []
  const bfd = new RipBfd({
    config: { enabled, interval: 100, multiplier: 3, auth: 'none' }, local: '10.255.0.1', interface: 'eth0',
    port: port ? async () => port as unknown as BfdPort : undefined, log: quietLog(), onDown: (a) => downs.push(a),
  })
  return { bfd, downs }
}

test('RipBfd: a session per configured neighbour at start and per neighbour heard, once each', async (t) => {
  const port = new FakeBfd()
  const { bfd } = ripBfd(port)
  await bfd.start(['10.255.0.2'])
  bfd.heard('10.255.0.2')
  bfd.heard('10.255.0.3')
  bfd.heard('10.255.0.3')
  await flush()
  t.deepEqual(port.added.map((a) => [a.key, a.local, a.remote, a.desiredMinTx, a.requiredMinRx, a.multiplier]), [
    ['rip/10.255.0.2', '10.255.0.1', '10.255.0.2', 100, 100, 3],
    ['rip/10.255.0.3', '10.255.0.1', '10.255.0.3', 100, 100, 3],
  ])
  t.is(bfd.details('10.255.0.9'), null, 'no session: null')
  t.deepEqual(bfd.details('10.255.0.3'), { state: 'Down', remoteState: 'Down', detectionTimeMs: 0, packetsIn: 0, packetsOut: 0, lastRxAgoMs: null, lastDownDiag: null }, 'before the first status')
  bfd.forget('10.255.0.3')
  await flush()
  t.deepEqual(port.removed, ['rip/10.255.0.3'])
  await bfd.stop()
  t.deepEqual(port.removed, ['rip/10.255.0.3', 'rip/10.255.0.2'], 'stop removes every session (AdminDown to the neighbours)')
})

test('RipBfd: off, or no BFD service: no session', async (t) => {
  const port = new FakeBfd()
  const off = ripBfd(port, false)
  await off.bfd.start(['10.255.0.2'])
  off.bfd.heard('10.255.0.3')
  const none = ripBfd(undefined)
  await none.bfd.start(['10.255.0.2'])
  none.bfd.heard('10.255.0.3')
  await flush()
  t.deepEqual(port.added, [])
  t.is(off.bfd.details('10.255.0.2'), null)
  t.is(none.bfd.details('10.255.0.2'), null)
})

test('RipBfd: detection expired is a failure; the neighbour saying AdminDown (its agent restarting) is not; other sources\' keys are ignored', async (t) => {
  const port = new FakeBfd()
  const { bfd, downs } = ripBfd(port)
  await bfd.start(['10.255.0.2', '10.255.0.3'])
  await flush()
  port.emit('down', 'rip/10.255.0.2', 1, 'Down')
  t.deepEqual(downs, ['10.255.0.2'])
  // decided on the state that caused the down: a status read now shows the neighbour's next
  // session (Init), which must not turn its AdminDown into a failure
  port.sessions.get('rip/10.255.0.3')!.remoteState = 'Init'
  port.emit('down', 'rip/10.255.0.3', 3, 'AdminDown')
  await flush()
  t.deepEqual(downs, ['10.255.0.2'], 'AdminDown from the neighbour keeps its routes')
  port.sessions.get('rip/10.255.0.3')!.remoteState = 'AdminDown'
  port.emit('down', 'rip/10.255.0.3', 3, 'Down')
  await flush()
  t.deepEqual(downs, ['10.255.0.2', '10.255.0.3'], 'Down from the neighbour (it stopped hearing us) is a failure')
  port.emit('down', 'bgp/10.255.0.2', 1, 'Down')
  port.emit('down', 'rip/10.255.0.77', 1, 'Down')
  t.is(downs.length, 2)
  await bfd.stop()
  port.emit('down', 'rip/10.255.0.2', 1, 'Down')
  t.is(downs.length, 2, 'nothing after stop')
})

test('RipBfd: details from the service status, with lastRxAgoMs aged since it was read', async (t) => {
  const port = new FakeBfd()
  const clock = { now: T0 }
  const bfd = new RipBfd({ config: { enabled: true, interval: 50, multiplier: 4, auth: 'none' }, local: '10.255.0.1', interface: 'eth0', port: async () => port as unknown as BfdPort, log: quietLog(), onDown: () => undefined, now: () => clock.now })
  await bfd.start(['10.255.0.2'])
  await flush()
  // the status is read once a second
  await new Promise((r) => setTimeout(r, 1100))
  clock.now += 30
  t.deepEqual(bfd.details('10.255.0.2'), { state: 'Up', remoteState: 'Up', detectionTimeMs: 200, packetsIn: 40, packetsOut: 41, lastRxAgoMs: 50, lastDownDiag: null })
  await bfd.stop()
})

test('[rip] bfd keys and --rip-bfd flags', (t) => {
  const ini = '[fabric]\npool = 10.244.0.0/16\nmode = rip\n[host.a]\naddress = 10.255.0.1\nsubnet = 10.244.1.0/24\n[rip]\nbfd = yes\nbfd-interval = 50ms\n'
  const c = loadConfigText(ini)
  t.deepEqual(c.rip.bfd, { enabled: true, interval: 50, multiplier: 3, auth: 'none' })
  t.deepEqual(loadConfigText(ini.replace('bfd = yes\nbfd-interval = 50ms\n', '')).rip.bfd, { enabled: false, interval: 100, multiplier: 3, auth: 'none' })
  const f = loadConfigText(ini, 'fabric.ini', { rip: { 'rip-bfd-multiplier': '5', 'rip-bfd-interval': '300' } })
  t.deepEqual(f.rip.bfd, { enabled: true, interval: 300, multiplier: 5, auth: 'none' })
  t.throws(() => loadConfigText(`${ini}bfd-auth = sha1\n`), { message: /\[rip\] bfd-key-file: .*required with bfd-auth = sha1/ })
  t.throws(() => loadConfigText(`${ini}bfd-interval = 5\n`.replace('bfd-interval = 50ms\n', '')), { message: /bfd-interval = "5"/ })
})
