/**
 * BGP graceful restart (RFC 4724, RFC 8538) and BFD in BGP:
 * - the capability's R/N/F bits both ways through the codec, and what we advertise;
 * - the restart marker (R bit only after a recent SIGTERM);
 * - helper side over real loopback TCP with an injected clock for the
 *   graceful restart timers: keep on close, sweep on End-of-RIB, restart time
 *   over, stale path time over, consecutive restart, hard reset, N / no N,
 *   reconnect without GR or F, a restart seen as a new connection;
 * - restarting side: R bit, deferral until End-of-RIB or the deferral timer;
 *   SIGTERM/leave NOTIFICATIONs;
 * - BFD (a BfdPort stand-in): down resets and withdraws (also stale routes),
 *   AdminDown is not a failure, up connects at once.
 */
import { EventEmitter } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { type Server, type Socket, connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { flatCounters } from '../../../../src/agent/agent.js'
import { createMetrics } from '../../../../src/agent/metrics.js'
import { loadConfigText } from '../../../../src/config/fabric-config.js'
import { type Prefix, formatPrefix, } from '../../../../src/net/ipv4.js'
import type { Route } from '../../../../src/rib/route.js'
import type { BfdPort, BfdSessionView, RouteSink } from '../../../../src/rib/source.js'
import { localCapabilities } from '../../../../src/protocols/bgp/capabilities.js'
import { createFramer } from '../../../../src/protocols/bgp/codec/framer.js'
import { decodeMessage, encodeMessage } from '../../../../src/protocols/bgp/codec/message.js'
import { makeCease, makeNotification } from '../../../../src/protocols/bgp/codec/notification.js'
import { makeOpen } from '../../../../src/protocols/bgp/codec/open.js'
import { makeEndOfRib } from '../../../../src/protocols/bgp/codec/update.js'
import type { Capability, Message, OpenMessage } from '../../../../src/protocols/bgp/codec/types.js'
import {
  type GrTimers, RESTART_MARKER_FILE, helperDecision, makeHardReset, takeRestartMarker, writeRestartMarker,
} from '../../../../src/protocols/bgp/graceful-restart.js'
import { BgpSource } from '../../../../src/protocols/bgp/source.js'
import { eventLog } from '../../../helpers/log.js'
import { A, P } from '../../../helpers/net.js'
import { waitFor as poll } from '../../../../src/util/process.js'

type GrCap = Extract<Capability, { kind: 'gracefulRestart' }>

// ------------------------------------------------------------------ codec and capability

test('graceful restart capability: R, N and F bits encode and decode both ways', (t) => {
  for (const restarting of [false, true]) for (const notification of [false, true]) for (const forwarding of [false, true]) {
    const cap: GrCap = { kind: 'gracefulRestart', restarting, notification, restartTime: 300, families: [{ afi: 1, safi: 1, forwarding }] }
    const open = makeOpen({ asn: 64512, holdTime: 9, bgpId: A('10.0.0.1'), capabilities: [cap] })
    const bytes = encodeMessage(open, { as4: true })
    // the capability's flags/time word and the family's flags octet, as RFC 4724 3 lays them out
    const at = bytes.indexOf(Buffer.from([64, 6]))
    t.true(at > 0)
    t.is(bytes.readUInt16BE(at + 2), (restarting ? 0x8000 : 0) | (notification ? 0x4000 : 0) | 300)
    t.deepEqual([...bytes.subarray(at + 4, at + 8)], [0, 1, 1, forwarding ? 0x80 : 0])
    const back = decodeMessage(bytes, { as4: true })
    t.true(back.ok)
    const got = (back as { ok: true; value: OpenMessage }).value.capabilities.find((c) => c.kind === 'gracefulRestart')
    t.deepEqual(got, cap, `R=${restarting} N=${notification} F=${forwarding}`)
  }
})

test('our capability: F for IPv4 unicast and N always, R only when restarting, absent with restart time 0', (t) => {
  const gr = (o: Parameters<typeof localCapabilities>[0]) => localCapabilities(o).find((c) => c.kind === 'gracefulRestart') as GrCap | undefined
  t.deepEqual(gr({ localAs: 1, gracefulRestartTime: 120 }), { kind: 'gracefulRestart', restarting: false, notification: true, restartTime: 120, families: [{ afi: 1, safi: 1, forwarding: true }] })
  t.true(gr({ localAs: 1, gracefulRestartTime: 120, restarting: true })!.restarting)
  t.is(gr({ localAs: 1, gracefulRestartTime: 0 }), undefined)
})

test('Hard Reset (RFC 8538 3) carries the code, subcode and data of the reason', (t) => {
  const n = makeHardReset(makeCease(2, 'bye'))
  t.deepEqual([n.code, n.subcode], [6, 9])
  t.deepEqual([...n.data], [6, 2, 3, 0x62, 0x79, 0x65])
})

test('helperDecision: TCP loss helps; NOTIFICATION only with N on both sides and never Hard Reset; IPv4 listed and restart time required, F of the old OPEN not', (t) => {
  const peer = { advertised: true, restartTime: 120, ipv4: true, forwarding: true, notification: true, restarting: false }
  const d = (o: Partial<Parameters<typeof helperDecision>[0]>) => {
    const r = helperDecision({ localRestartTime: 120, localNotification: true, peer, ...o })
    return r.help ? 'help' : r.why
  }
  t.is(d({}), 'help')
  t.is(d({ notification: { code: 4, subcode: 0, direction: 'received' } }), 'help')
  t.is(d({ notification: { code: 4, subcode: 0, direction: 'sent' } }), 'hold-timer-expired', 'our hold timer: maybe a dead host')
  t.is(d({ notification: { code: 6, subcode: 4 } }), 'help')
  t.is(d({ notification: { code: 6, subcode: 9 } }), 'hard-reset')
  t.is(d({ notification: { code: 6, subcode: 4 }, peer: { ...peer, notification: false } }), 'notification')
  t.is(d({ peer: { ...peer, notification: false } }), 'help')
  t.is(d({ peer: { ...peer, forwarding: false } }), 'help', 'F=0 before the restart (BIRD): the new OPEN decides')
  t.is(d({ peer: { ...peer, ipv4: false } }), 'no-ipv4')
  t.is(d({ peer: { ...peer, restartTime: 0 } }), 'no-graceful-restart')
  t.is(d({ peer: null }), 'no-graceful-restart')
  t.is(d({ localRestartTime: 0 }), 'no-graceful-restart')
  t.is(d({ forced: 'bfd-down' }), 'bfd-down')
})

test('restart marker: R only when the SIGTERM was within the restart time; read once; garbage is a fresh start', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fabric-gr-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  t.deepEqual(takeRestartMarker(dir, 120), { restarting: false })
  writeRestartMarker(dir, 120, 1_000_000)
  t.deepEqual(takeRestartMarker(dir, 120, 1_000_000 + 119_000), { restarting: true, stoppedAgoMs: 119_000 })
  t.false(existsSync(join(dir, RESTART_MARKER_FILE)), 'removed once read')
  writeRestartMarker(dir, 120, 1_000_000)
  t.false(takeRestartMarker(dir, 120, 1_000_000 + 121_000).restarting)
  writeRestartMarker(dir, 120, 1_000_000)
  t.false(takeRestartMarker(dir, 0, 1_000_001).restarting, 'graceful restart off')
  writeFileSync(join(dir, RESTART_MARKER_FILE), 'not json')
  t.false(takeRestartMarker(dir, 120).restarting)
})

// ------------------------------------------------------------------ fixtures

class FakeTimers implements GrTimers {
  t = 1_700_000_000_000
  private next = 1
  private readonly pending = new Map<number, { at: number; fn: () => void }>()
  now(): number { return this.t }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++
    this.pending.set(id, { at: this.t + ms, fn })
    return id
  }
  clearTimeout(h: unknown): void { this.pending.delete(h as number) }
  advance(ms: number): void {
    this.t += ms
    for (const [id, p] of [...this.pending].sort((a, b) => a[1].at - b[1].at)) {
      if (p.at <= this.t && this.pending.has(id)) {
        this.pending.delete(id)
        p.fn()
      }
    }
  }
}

class Sink implements RouteSink {
  readonly routes = new Map<string, Route>()
  add(r: Route): void { this.routes.set(formatPrefix(r.prefix), r) }
  withdraw(p: Prefix): void { this.routes.delete(formatPrefix(p)) }
  withdrawPeer(_s: string, peer: string): number {
    let n = 0
    for (const [k, r] of [...this.routes]) if (r.peer === peer) { this.routes.delete(k); n++ }
    return n
  }
  table(): string[] { return [...this.routes.keys()].sort() }
  stale(p: string): string | undefined { return this.routes.get(p)?.attrs?.stale?.reason }
}


const waitFor = <T,>(f: () => T | undefined, ms = 5_000): Promise<T | undefined> => poll(f, ms, 10)
const until = async (f: () => boolean, ms = 5_000) => (await waitFor(() => (f() ? true : undefined), ms)) === true

const GR = (o: Partial<GrCap> & { forwarding?: boolean } = {}): GrCap => ({
  kind: 'gracefulRestart', restarting: o.restarting ?? false, notification: o.notification ?? false, restartTime: o.restartTime ?? 30,
  families: [{ afi: 1, safi: 1, forwarding: o.forwarding ?? true }],
})

class TestPeer {
  readonly messages: Message[] = []
  closed = false
  private readonly framer = createFramer()
  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      for (const m of this.framer.push(d).messages) {
        const x = decodeMessage(m, { as4: true })
        if (x.ok) this.messages.push(x.value)
      }
    })
    socket.on('close', () => { this.closed = true })
    socket.on('error', () => undefined)
  }

  static async connect(t: ExecutionContext, port: number, from = '127.0.0.2'): Promise<TestPeer> {
    const s = connect({ host: '127.0.0.1', port, localAddress: from })
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
    t.teardown(() => s.destroy())
    return new TestPeer(s)
  }

  send(m: Message): void { this.socket.write(encodeMessage(m, { as4: true })) }

  async next<T extends Message['type']>(type: T, ms = 5_000): Promise<Extract<Message, { type: T }> | undefined> {
    return waitFor(() => this.messages.find((m) => m.type === type) as Extract<Message, { type: T }> | undefined, ms)
  }

  async establish(gr: GrCap | undefined): Promise<OpenMessage> {
    const caps: Capability[] = [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'as4', asn: 64512 }, { kind: 'routeRefresh', code: 2 }]
    if (gr) caps.push(gr)
    this.send(makeOpen({ asn: 64512, holdTime: 9, bgpId: A('127.0.0.2'), capabilities: caps }))
    const open = await this.next('open')
    if (!open) throw new Error('no OPEN from fabric')
    this.send({ type: 'keepalive' })
    if (!(await this.next('keepalive'))) throw new Error('no KEEPALIVE from fabric')
    return open
  }

  announce(...prefixes: string[]): void {
    this.send({ type: 'update', withdrawn: [], nlri: prefixes.map(P), attributes: [
      { type: 'origin', origin: 0 }, { type: 'asPath', segments: [] }, { type: 'nextHop', nextHop: A('10.99.0.12') }, { type: 'localPref', localPref: 100 },
    ] })
  }

  eor(): void { this.send(makeEndOfRib()) }
}

class FakeBfd extends EventEmitter {
  readonly added: string[] = []
  remote: BfdSessionView['remoteState'] = 'Down'
  async add(spec: Parameters<BfdPort['add']>[0]): Promise<void> { this.added.push(`${spec.key} ${spec.local}->${spec.remote} ${spec.desiredMinTx}x${spec.multiplier}`) }
  async remove(): Promise<void> {}
  async status(): Promise<{ sessions: BfdSessionView[] }> {
    return { sessions: [{ key: 'bgp/127.0.0.2', state: 'Down', remoteState: this.remote, detectionTime: 300, packetsIn: 7, packetsOut: 9, lastRxAgo: 12, lastDownDiag: 3 }] }
  }
}

interface Fixture { source: BgpSource; sink: Sink; port: number; events: string[]; timers: FakeTimers; bfd: FakeBfd; stateDir: string }

async function startSource(t: ExecutionContext, o: { bgp?: string[]; peer?: string[]; marker?: number; listen?: boolean; bfdStartMs?: number } = {}): Promise<Fixture> {
  const stateDir = mkdtempSync(join(tmpdir(), 'fabric-gr-'))
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }))
  if (o.marker !== undefined) writeRestartMarker(stateDir, 120, Date.now() - o.marker)
  const ini = ['[fabric]', 'pool = 10.244.0.0/16', 'mode = bgp', '[bgp]', 'hold-time = 9', ...(o.bgp?.some((l) => l.startsWith('connect-retry-time')) ? [] : ['connect-retry-time = 1']), ...(o.bgp ?? []),
    '[peer.p2]', 'address = 127.0.0.2', ...(o.peer ?? ['passive = yes'])].join('\n')
  const config = loadConfigText(ini)
  if (o.listen !== false) config.bgp.port = 0
  const events: string[] = []
  const timers = new FakeTimers()
  const bfd = new FakeBfd()
  const source = new BgpSource({
    config, self: { name: 'me', address: A('127.0.0.1'), subnet: P('10.244.1.0/24'), interface: 'lo', underlay: P('10.99.0.0/24') },
    log: eventLog(events), stateDir, onReady: () => undefined,
    // the agent's BfdService takes a while to start (the TTL rule through iptables, a worker thread)
    bfd: async () => {
      if (o.bfdStartMs) await new Promise((r) => setTimeout(r, o.bfdStartMs))
      return bfd as unknown as BfdPort
    },
  }, { listenHost: '127.0.0.1', grTimers: timers })
  const sink = new Sink()
  await source.start(sink)
  t.teardown(() => source.stop())
  return { source, sink, port: source.listenPort() ?? 0, events, timers, bfd, stateDir }
}

const gr = (f: Fixture) => f.source.peers()[0]!.details!.gracefulRestart as { state: string; stale: number; secondsLeft: number | null; helped: number; peer: unknown; local: unknown }
const grStats = (f: Fixture) => f.source.stats().gracefulRestart as { restartsHelped: number; staleSwept: number; helperEnded: Record<string, number>; notHelped: Record<string, number> }
const established = (f: Fixture) => until(() => f.source.peers()[0]?.state === 'Established')
const notEstablished = (f: Fixture) => until(() => f.source.peers()[0]?.state !== 'Established')

async function peerWithRoutes(t: ExecutionContext, f: Fixture, cap: GrCap | undefined): Promise<TestPeer> {
  const p = await TestPeer.connect(t, f.port)
  await p.establish(cap)
  p.announce('10.244.2.0/24', '10.244.3.0/24')
  p.eor()
  t.true(await until(() => f.sink.table().length === 2), 'routes learned')
  return p
}

// ------------------------------------------------------------------ helper side

test('helper: TCP close keeps the routes stale; the peer comes back, End-of-RIB sweeps what it did not re-announce', async (t) => {
  const f = await startSource(t)
  const p1 = await peerWithRoutes(t, f, GR({ restartTime: 30 }))
  t.like(gr(f), { state: 'none', stale: 0, helped: 0, peer: { advertised: true, restartTime: 30, forwarding: true, notification: false }, local: { advertised: true, restartTime: 120 } })
  p1.socket.destroy()
  t.true(await notEstablished(f))
  t.deepEqual(f.sink.table(), ['10.244.2.0/24', '10.244.3.0/24'], 'kept')
  t.is(f.sink.stale('10.244.2.0/24'), 'peer-restarting')
  t.like(gr(f), { state: 'restarting', stale: 2, secondsLeft: 30, helped: 1 })
  f.timers.advance(20_000)
  t.is(gr(f).secondsLeft, 10)

  const p2 = await TestPeer.connect(t, f.port)
  const open = await p2.establish(GR({ restartTime: 30, restarting: true }))
  t.true(await established(f))
  // we are not restarting: our table and End-of-RIB come at once
  t.false((open.capabilities.find((c) => c.kind === 'gracefulRestart') as GrCap).restarting)
  t.truthy(await waitFor(() => p2.messages.find((m) => m.type === 'update' && m.nlri.length === 0 && m.withdrawn.length === 0 && m.attributes.length === 0)), 'End-of-RIB to the restarted peer')
  t.like(gr(f), { state: 'stale-until-eor', stale: 2, secondsLeft: 360 })
  t.is(f.sink.stale('10.244.3.0/24'), 'awaiting-end-of-rib')
  p2.announce('10.244.2.0/24')
  t.true(await until(() => f.sink.stale('10.244.2.0/24') === undefined), 're-announced route is fresh')
  t.deepEqual(f.sink.table(), ['10.244.2.0/24', '10.244.3.0/24'])
  t.is(gr(f).stale, 1)
  p2.eor()
  t.true(await until(() => f.sink.table().length === 1))
  t.deepEqual(f.sink.table(), ['10.244.2.0/24'])
  t.like(gr(f), { state: 'none', stale: 0, secondsLeft: null, helped: 1 })
  t.like(grStats(f), { restartsHelped: 1, staleSwept: 1 })
  t.true(f.events.includes('graceful-restart-done'))
  // the same counts in the Prometheus metrics
  const metrics = await createMetrics({
    routes: () => [], sessions: () => [], kernel: () => ({ opsApplied: 0, opsFailed: 0, fullReconciles: 0, incrementalRuns: 0 }),
    sourceCounters: () => [{ source: 'bgp', counters: flatCounters(f.source.stats()) }], info: () => ({}),
    events: () => ({ subscribers: 0, dropped: 0, disconnected: 0 }),
  })
  const text = await metrics.registry.metrics()
  t.regex(text, /fabric_graceful_restarts_helped_total\{source="bgp"\} 1/)
  t.regex(text, /fabric_graceful_restart_stale_swept_total\{source="bgp"\} 1/)
})

test('helper: F=0 in the OPEN before the loss (BIRD outside recovery) still keeps the routes; F=1 in the new OPEN resumes them', async (t) => {
  const f = await startSource(t)
  const p1 = await peerWithRoutes(t, f, GR({ forwarding: false }))
  p1.socket.destroy()
  t.true(await notEstablished(f))
  t.deepEqual(f.sink.table(), ['10.244.2.0/24', '10.244.3.0/24'], 'kept (RFC 4724 4.2: IPv4 listed in the capability)')
  t.like(gr(f), { state: 'restarting', stale: 2 })
  const p2 = await TestPeer.connect(t, f.port)
  await p2.establish(GR({ restarting: true, forwarding: true }))
  t.true(await established(f))
  t.like(gr(f), { state: 'stale-until-eor', stale: 2 })
  t.deepEqual(f.sink.table(), ['10.244.2.0/24', '10.244.3.0/24'])
})

test('helper: a peer that does not come back within its restart time is withdrawn', async (t) => {
  const f = await startSource(t)
  const p = await peerWithRoutes(t, f, GR({ restartTime: 30 }))
  p.socket.destroy()
  t.true(await notEstablished(f))
  f.timers.advance(29_000)
  t.is(f.sink.table().length, 2)
  f.timers.advance(1_000)
  t.deepEqual(f.sink.table(), [])
  t.like(gr(f), { state: 'none', stale: 0 })
  t.is(grStats(f).helperEnded['restart-time-expired'], 1)
})

test('helper: the stale path time bounds the wait for End-of-RIB after the peer is back', async (t) => {
  const f = await startSource(t, { bgp: ['graceful-restart-stalepath-time = 50'] })
  const p1 = await peerWithRoutes(t, f, GR())
  p1.socket.destroy()
  t.true(await notEstablished(f))
  const p2 = await TestPeer.connect(t, f.port)
  await p2.establish(GR())
  p2.announce('10.244.2.0/24')
  t.true(await until(() => f.sink.stale('10.244.2.0/24') === undefined))
  f.timers.advance(50_000)
  t.deepEqual(f.sink.table(), ['10.244.2.0/24'], 'stale route swept, fresh kept, session up')
  t.is(f.source.peers()[0]!.state, 'Established')
  t.is(grStats(f).helperEnded['stale-path-time-expired'], 1)
})

test('helper: lost again before End-of-RIB (consecutive restart) withdraws everything at once', async (t) => {
  const f = await startSource(t)
  const p1 = await peerWithRoutes(t, f, GR())
  p1.socket.destroy()
  t.true(await notEstablished(f))
  const p2 = await TestPeer.connect(t, f.port)
  await p2.establish(GR())
  t.true(await established(f))
  p2.socket.destroy()
  t.true(await until(() => f.sink.table().length === 0))
  t.like(gr(f), { state: 'none', helped: 1 })
  t.is(grStats(f).helperEnded['consecutive-restart'], 1)
})

test('helper: reconnect without the capability, or without F, drops the stale routes at once', async (t) => {
  for (const [name, cap, reason] of [['no GR', undefined, 'no-graceful-restart'], ['no F', GR({ forwarding: false }), 'no-forwarding']] as const) {
    const f = await startSource(t)
    const p1 = await peerWithRoutes(t, f, GR())
    p1.socket.destroy()
    t.true(await notEstablished(f))
    const p2 = await TestPeer.connect(t, f.port)
    await p2.establish(cap)
    t.true(await until(() => f.sink.table().length === 0), name)
    t.is(grStats(f).helperEnded[reason], 1, name)
  }
})

test('helper: N negotiated, Cease/Administrative Reset keeps the routes; Cease/Hard Reset and (without N) any NOTIFICATION withdraw', async (t) => {
  const cases = [
    { name: 'N + Administrative Reset', cap: GR({ notification: true }), n: makeCease(4, 'restarting'), kept: true },
    { name: 'N + Hard Reset', cap: GR({ notification: true }), n: makeHardReset(makeCease(2)), kept: false, why: 'hard-reset' },
    { name: 'no N + Administrative Reset', cap: GR(), n: makeCease(4), kept: false, why: 'notification' },
  ]
  for (const c of cases) {
    const f = await startSource(t)
    const p = await peerWithRoutes(t, f, c.cap)
    p.send(c.n)
    t.true(await notEstablished(f), c.name)
    await new Promise((r) => setTimeout(r, 50))
    t.is(f.sink.table().length, c.kept ? 2 : 0, c.name)
    if (!c.kept) t.is(grStats(f).notHelped[c.why!], 1, c.name)
    else t.is(gr(f).state, 'restarting', c.name)
  }
})

test('helper: a peer without IPv4 unicast in its capability, or without the capability, is withdrawn on close', async (t) => {
  for (const cap of [{ ...GR(), families: [] }, undefined]) {
    const f = await startSource(t)
    const p = await peerWithRoutes(t, f, cap)
    p.socket.destroy()
    t.true(await until(() => f.sink.table().length === 0))
    t.is(gr(f).helped, 0)
    if (cap) t.is(grStats(f).notHelped['no-ipv4'], 1)
  }
})

test('helper: with graceful-restart-time = 0 nothing is kept', async (t) => {
  const f = await startSource(t, { bgp: ['graceful-restart-time = 0'] })
  const p = await peerWithRoutes(t, f, GR())
  p.socket.destroy()
  t.true(await until(() => f.sink.table().length === 0))
})

test('helper: a new OPEN while the old session is Established (peer crashed and came back) is a restart', async (t) => {
  const f = await startSource(t)
  await peerWithRoutes(t, f, GR())
  const p2 = await TestPeer.connect(t, f.port)
  await p2.establish(GR({ restarting: true }))
  t.true(await until(() => gr(f).state === 'stale-until-eor'))
  t.deepEqual(f.sink.table(), ['10.244.2.0/24', '10.244.3.0/24'])
  p2.announce('10.244.3.0/24')
  p2.eor()
  t.true(await until(() => f.sink.table().length === 1))
  t.deepEqual(f.sink.table(), ['10.244.3.0/24'])
  t.true(f.events.includes('bgp-peer-restarted'))
})

// ------------------------------------------------------------------ BFD

test('BFD: a session per configured peer; down resets the session and withdraws at once, also stale routes; AdminDown is no failure', async (t) => {
  const f = await startSource(t, { bgp: ['bfd = yes', 'bfd-interval = 50'] })
  t.deepEqual(f.bfd.added, ['bgp/127.0.0.2 127.0.0.1->127.0.0.2 50x3'])
  const p = await peerWithRoutes(t, f, GR({ notification: true }))
  // the neighbour's agent stopping says AdminDown: nothing happens, also when a status read now
  // shows the neighbour's next session (Down): the down is judged by the state that caused it
  f.bfd.remote = 'Down'
  f.bfd.emit('down', 'bgp/127.0.0.2', 3, 'AdminDown')
  await new Promise((r) => setTimeout(r, 100))
  t.is(f.source.peers()[0]!.state, 'Established')
  t.true(f.events.includes('bfd-admin-down'))
  // detection time expired: Cease/Hard Reset(BFD Down) with N, routes gone, no helper mode
  f.bfd.remote = 'Up'
  f.bfd.emit('down', 'bgp/127.0.0.2', 1, 'Down')
  const n = await p.next('notification')
  t.deepEqual([n?.code, n?.subcode, n?.data[0], n?.data[1]], [6, 9, 6, 10])
  t.true(await until(() => f.sink.table().length === 0))
  t.is(gr(f).state, 'none')
  t.true(f.events.includes('bfd-down'))
  // status cached from status() for fabric peers
  await new Promise((r) => setTimeout(r, 1100))
  t.deepEqual(f.source.peers()[0]!.details!.bfd, { state: 'Down', remoteState: 'Up', detectionTimeMs: 300, packetsIn: 7, packetsOut: 9, lastRxAgoMs: 12, lastDownDiag: 'neighbor signaled session down' })

  // BFD down while helping: the stale routes go at once
  const p2 = await peerWithRoutes(t, f, GR())
  p2.socket.destroy()
  t.true(await until(() => gr(f).state === 'restarting'))
  f.bfd.emit('down', 'bgp/127.0.0.2', 1, 'Down')
  t.true(await until(() => f.sink.table().length === 0))
  t.is(grStats(f).helperEnded['bfd-down'], 1)
})

test('BFD: dynamic neighbours that come up together start one BFD port: one listener, one reset per BFD down', async (t) => {
  // a reflector: no configured peer with BFD, so the first dynamic neighbours start the port together
  const f = await startSource(t, { bgp: ['bfd = yes', 'listen-range = 127.0.3.0/24'], peer: ['passive = yes', 'bfd = no'], bfdStartMs: 300 })
  const peers = await Promise.all([1, 2, 3].map((i) => TestPeer.connect(t, f.port, `127.0.3.${i}`)))
  await Promise.all(peers.map((p) => p.establish(undefined)))
  t.true(await until(() => f.bfd.added.length === 3), JSON.stringify(f.bfd.added))
  t.is(f.bfd.listenerCount('down'), 1)
  t.is(f.bfd.listenerCount('up'), 1)
  const key = f.bfd.added[0]!.split(' ')[0]!
  f.bfd.emit('down', key, 1, 'Down')
  await new Promise((r) => setTimeout(r, 100))
  t.is(f.events.filter((e) => e === 'bfd-down').length, 1)
})

test('BFD: no session for peers without bfd; [peer] keys override [bgp]', async (t) => {
  const f = await startSource(t, { bgp: ['bfd = yes'], peer: ['passive = yes', 'bfd = no'] })
  t.deepEqual(f.bfd.added, [])
  t.is(f.source.peers()[0]!.details!.bfd, null)
  const g = await startSource(t, { peer: ['passive = yes', 'bfd = yes', 'bfd-multiplier = 5'] })
  t.deepEqual(g.bfd.added, ['bgp/127.0.0.2 127.0.0.1->127.0.0.2 100x5'])
})

test('BFD up: an immediate connect instead of waiting for connect-retry', async (t) => {
  // a listener at 127.0.0.2 that refuses BGP by closing: fabric retries after connect-retry-time (60 s)
  let attempts = 0
  const server: Server = createServer((s) => { attempts++; s.destroy() })
  await new Promise<void>((r) => server.listen(0, '127.0.0.2', r))
  t.teardown(() => server.close())
  const port = (server.address() as { port: number }).port
  const f = await startSource(t, { bgp: ['bfd = yes', 'connect-retry-time = 60', `port = ${port}`], peer: [], listen: false })
  t.true(await until(() => attempts === 1))
  await new Promise((r) => setTimeout(r, 300))
  t.is(attempts, 1)
  f.bfd.emit('up', 'bgp/127.0.0.2')
  t.true(await until(() => attempts === 2, 2000), 'connected again at once')
})

// ------------------------------------------------------------------ restarting side

test('restarting: R bit after a recent SIGTERM; nothing sent until the peer\'s End-of-RIB; then table, End-of-RIB, ready', async (t) => {
  const f = await startSource(t, { marker: 5_000 })
  t.false(existsSync(join(f.stateDir, RESTART_MARKER_FILE)))
  const p = await TestPeer.connect(t, f.port)
  const open = await p.establish(GR({ notification: true }))
  t.like(open.capabilities.find((c) => c.kind === 'gracefulRestart'), { restarting: true, notification: true, families: [{ afi: 1, safi: 1, forwarding: true }] })
  p.announce('10.244.2.0/24')
  t.true(await until(() => f.sink.table().length === 1), 'routes are learned while deferring')
  await new Promise((r) => setTimeout(r, 200))
  t.is(p.messages.filter((m) => m.type === 'update').length, 0, 'no UPDATE before the deferral ends')
  t.false(f.source.ready())
  t.true((f.source.stats().gracefulRestart as { restarting: boolean }).restarting)
  p.eor()
  t.true(await until(() => p.messages.filter((m) => m.type === 'update').length === 2))
  const ups = p.messages.filter((m) => m.type === 'update') as Extract<Message, { type: 'update' }>[]
  t.deepEqual(ups[0]!.nlri.map(formatPrefix), ['10.244.1.0/24'])
  t.is(ups[1]!.nlri.length + ups[1]!.attributes.length, 0, 'End-of-RIB')
  t.true(f.source.ready())
  // a later OPEN (session flap) no longer says restarting
  p.socket.destroy()
  const p2 = await TestPeer.connect(t, f.port)
  const open2 = await p2.establish(GR())
  t.false((open2.capabilities.find((c) => c.kind === 'gracefulRestart') as GrCap).restarting)
})

test('restarting: a peer with the R bit (FRR for its restart time after it starts) gets our table at once, but stale routes wait for its End-of-RIB', async (t) => {
  // RFC 4724 4.1: the deferral does not wait for a peer that sets R (both would wait for each
  // other); its table is still on the way, so until its End-of-RIB the kernel keeps the routes
  // adopted from before the restart (FRR interop: its subnet was deleted and re-added 1.15 s later)
  const f = await startSource(t, { marker: 5_000 })
  const p = await TestPeer.connect(t, f.port)
  await p.establish(GR({ restarting: true }))
  t.true(await until(() => p.messages.filter((m) => m.type === 'update').length === 2), 'table and End-of-RIB at once (no deadlock)')
  t.true(f.events.includes('bgp-deferral-ended'))
  await new Promise((r) => setTimeout(r, 100))
  t.false(f.source.ready(), 'not ready: the peer\'s table has not come')
  p.announce('10.244.2.0/24')
  t.true(await until(() => f.sink.table().length === 1))
  t.false(f.source.ready())
  p.eor()
  t.true(await until(() => f.source.ready()), 'ready at its End-of-RIB')
})

test('restarting: the deferral timer ends the wait for a peer that sends no End-of-RIB', async (t) => {
  const f = await startSource(t, { marker: 1_000, bgp: ['graceful-restart-deferral = 1'] })
  const p = await TestPeer.connect(t, f.port)
  await p.establish(GR())
  await new Promise((r) => setTimeout(r, 300))
  t.is(p.messages.filter((m) => m.type === 'update').length, 0)
  t.true(await until(() => p.messages.filter((m) => m.type === 'update').length === 2, 3000))
  t.true(f.source.ready())
  t.true(f.events.includes('bgp-deferral-ended'))
})

test('fresh start: an old marker or none gives no R bit and no deferral', async (t) => {
  const f = await startSource(t, { marker: 200_000 })
  const p = await TestPeer.connect(t, f.port)
  const open = await p.establish(GR())
  t.false((open.capabilities.find((c) => c.kind === 'gracefulRestart') as GrCap).restarting)
  t.true(await until(() => p.messages.filter((m) => m.type === 'update').length === 2), 'table and End-of-RIB at once')
})

test('SIGTERM (stop): marker written; N peers get Cease/Administrative Reset, GR peers without N a bare TCP close; leave(): Hard Reset, no marker', async (t) => {
  const cases: { name: string; cap: GrCap | undefined; act: 'stop' | 'leave'; expect: [number, number] | 'close' }[] = [
    { name: 'stop, N', cap: GR({ notification: true }), act: 'stop', expect: [6, 4] },
    { name: 'stop, GR without N', cap: GR(), act: 'stop', expect: 'close' },
    { name: 'stop, no GR', cap: undefined, act: 'stop', expect: [6, 2] },
    { name: 'leave, N', cap: GR({ notification: true }), act: 'leave', expect: [6, 9] },
    { name: 'leave, GR without N', cap: GR(), act: 'leave', expect: [6, 2] },
  ]
  for (const c of cases) {
    const f = await startSource(t)
    const p = await TestPeer.connect(t, f.port)
    await p.establish(c.cap)
    t.true(await established(f))
    if (c.act === 'stop') await f.source.stop()
    else await f.source.leave()
    t.true(await until(() => p.closed), c.name)
    const n = p.messages.find((m) => m.type === 'notification') as Extract<Message, { type: 'notification' }> | undefined
    if (c.expect === 'close') t.is(n, undefined, c.name)
    else t.deepEqual([n?.code, n?.subcode], c.expect, c.name)
    if (c.name === 'stop, N') t.is(n?.shutdownMessage, 'fabric agent restarting')
    if (c.name === 'leave, N') t.deepEqual([...n!.data.subarray(0, 2)], [6, 2])
    const marker = join(f.stateDir, RESTART_MARKER_FILE)
    t.is(existsSync(marker), c.act === 'stop', c.name)
    if (c.act === 'stop') t.true(Date.now() - (JSON.parse(readFileSync(marker, 'utf8')) as { stoppedAt: number }).stoppedAt < 5000)
  }
  t.is(makeNotification(6, 9).subcode, 9)
})
