/**
 * FibSync6 against an in-memory IPv6 kernel (fake-kernel6.ts) and a
 * hand-moved clock: every state change of a prefix, drift, conflicts.
 */
import test from 'ava'
import { FibSync6, type FibSync6Options, defaultMetric6 } from '../../../src/kernel/fib-sync6.js'
import { Rib6, type RibRoute6 } from '../../../src/rib/rib6.js'
import { ManualTimers, memoryLog } from './fake-kernel.js'
import { FakeKernel6, P6, UNDERLAY6 } from './fake-kernel6.js'

const PROTO = 233

function setup(extra: Partial<FibSync6Options> = {}, kernel = new FakeKernel6()) {
  const clock = new ManualTimers()
  const rib = new Rib6()
  const log = memoryLog()
  const fib = new FibSync6({ port: kernel, timers: clock, protocol: PROTO, table: 254, log, desired: rib.desiredTable(), ...extra })
  fib.allowDeletes = true
  rib.onBestChange((c) => fib.setDesired(c.prefix, c.best, c.previous))
  return { kernel, clock, rib, log, fib }
}

const r6 = (p: string, nh: string, o: Partial<RibRoute6> = {}): RibRoute6 =>
  ({ prefix: P6(p), nextHop: nh, interface: 'up0', source: 'static', peer: `h-${p}`, metric: 0, ...o })

/** Lets promises and immediates run, and the clock move 10 ms a step, until `cond` holds. */
async function until(cond: () => boolean, clock?: ManualTimers): Promise<void> {
  for (let i = 0; i < 300 && !cond(); i++) {
    clock?.advance(10)
    await new Promise((r) => setImmediate(r))
  }
  if (!cond()) throw new Error('condition never held')
}

test('add: global and link-local next hops go in with dev and metric 1024 + source metric, and settle', async (t) => {
  const { kernel, rib, fib } = setup()
  rib.add(r6('fd00:fab:2::/64', 'fd00:99::2', { interface: undefined }))
  rib.add(r6('fd00:fab:3::/64', 'fe80::3', { source: 'ripng', metric: 2 }))
  t.is(fib.stateOf(P6('fd00:fab:2::/64'))?.state, 'pending')
  t.false(fib.inSync())
  await fib.drain()
  t.deepEqual(kernel.ours(), ['fd00:fab:2::/64 via fd00:99::2 dev up0 metric 1024', 'fd00:fab:3::/64 via fe80::3 dev up0 metric 1026'])
  t.is(fib.stateOf(P6('fd00:fab:2::/64'))?.state, 'installed')
  t.deepEqual(fib.stateCounts(), { installed: 2, pending: 0, conflict: 0, 'not-on-link': 0, error: 0 })
  t.true(fib.inSync())
  t.is(defaultMetric6({ prefix: P6('::/0'), nextHop: 'fe80::1', metric: 0, peer: 'x' }), 1024)
})

test('replace: a new next hop replaces in one operation; a new metric adds before it deletes', async (t) => {
  const { kernel, rib, fib, log } = setup()
  rib.add(r6('fd00:fab:2::/64', 'fd00:99::2'))
  await fib.drain()
  rib.add(r6('fd00:fab:2::/64', 'fe80::2'))
  await fib.drain()
  t.deepEqual(kernel.ours(), ['fd00:fab:2::/64 via fe80::2 dev up0 metric 1024'])
  t.is(log.events('route-replaced').length, 1)
  rib.add(r6('fd00:fab:2::/64', 'fe80::2', { metric: 5 }))
  await fib.drain()
  t.deepEqual(kernel.ours(), ['fd00:fab:2::/64 via fe80::2 dev up0 metric 1029'])
  const ops = log.lines.filter((l) => ['route-added', 'route-removed'].includes(l.event)).map((l) => l.event)
  t.deepEqual(ops.slice(-2), ['route-added', 'route-removed'])
  t.true(fib.inSync())
})

test('withdraw: the route leaves the kernel, no state is left behind, even during the startup grace', async (t) => {
  const { kernel, rib, fib } = setup()
  fib.allowDeletes = false
  rib.add(r6('fd00:fab:2::/64', 'fd00:99::2'))
  await fib.drain()
  rib.withdraw(P6('fd00:fab:2::/64'), 'static', 'h-fd00:fab:2::/64')
  t.false(fib.inSync())
  await fib.drain()
  t.deepEqual(kernel.ours(), [])
  t.is(fib.stateOf(P6('fd00:fab:2::/64')), undefined)
  t.true(fib.inSync())
})

test('startup grace: stale routes of fabric are kept until deletes are allowed', async (t) => {
  const kernel = new FakeKernel6()
  kernel.external('add', { prefix: 'fd00:fab:9::/64', gateway: 'fd00:99::9', protocol: PROTO })
  const { fib } = setup({}, kernel)
  fib.allowDeletes = false
  const first = await fib.flush()
  t.is(first.keptStale, 1)
  t.is(kernel.ours().length, 1)
  fib.allowDeletes = true
  await fib.flush()
  t.deepEqual(kernel.ours(), [])
})

test('not on link: off-link global, link-local without or with a down interface are refused with reasons', async (t) => {
  const { kernel, rib, fib, log, clock } = setup()
  rib.add(r6('fd00:fab:2::/64', 'fd00:77::2', { interface: undefined }))
  rib.add(r6('fd00:fab:3::/64', 'fe80::3', { interface: undefined }))
  rib.add(r6('fd00:fab:4::/64', 'fe80::4', { interface: 'eth9' }))
  rib.add(r6('fd00:fab:5::/64', 'fd00:99::1')) // own address
  await fib.drain()
  t.deepEqual(kernel.ours(), [])
  const reason = (p: string) => { const s = fib.stateOf(P6(p)); return s?.state === 'not-on-link' ? s.reason : '' }
  t.regex(reason('fd00:fab:2::/64'), /not on a directly connected IPv6 network \(connected: up0 fd00:99::\/64\)/)
  t.regex(reason('fd00:fab:3::/64'), /names no interface/)
  t.regex(reason('fd00:fab:4::/64'), /on eth9, which is down or has no IPv6 link-local address/)
  t.regex(reason('fd00:fab:5::/64'), /own address on up0/)
  t.is(log.events('route-refused').length, 4)
  t.true(fib.inSync(), 'refused routes are explained, not pending')
  // the interface comes up: the route goes in
  kernel.setConnected([...UNDERLAY6, { name: 'eth9', index: 9, net: P6('fe80::/64'), local: 'fe80::99', linkLocal: true }])
  fib.start(30)
  kernel.setConnected(kernel.connectedNets)
  await until(() => fib.stateOf(P6('fd00:fab:4::/64'))?.state === 'installed', clock)
  t.true(kernel.ours().includes('fd00:fab:4::/64 via fe80::4 dev eth9 metric 1024'))
  fib.stop()
})

test('next-hop backstop: link-local only on the underlay interface, global only on the underlay prefix, never in pool6', async (t) => {
  const scope = { underlay: P6('fd00:99::/64'), self: ['fd00:99::1'], pools: [P6('fd00:99::/80')], interface: 'up0' }
  const { kernel, rib, fib } = setup({ nextHopScope: scope })
  rib.add(r6('fd00:fab:2::/64', 'fe80::2', { interface: 'up1' }))
  rib.add(r6('fd00:fab:3::/64', 'fd00:99::3')) // inside the (test's) pool
  rib.add(r6('fd00:fab:4::/64', 'fe80::4'))
  rib.add(r6('fd00:fab:5::/64', 'fd00:99:0:0:1::5'))
  await fib.drain()
  const s2 = fib.stateOf(P6('fd00:fab:2::/64'))
  t.true(s2?.state === 'not-on-link' && s2.refused === 'bad-next-hop' && /not on the underlay interface up0/.test(s2.reason))
  const s3 = fib.stateOf(P6('fd00:fab:3::/64'))
  t.true(s3?.state === 'not-on-link' && s3.refused === 'bad-next-hop' && /container pool/.test(s3.reason))
  t.deepEqual(kernel.ours(), ['fd00:fab:4::/64 via fe80::4 dev up0 metric 1024', 'fd00:fab:5::/64 via fd00:99::1:0:0:5 dev up0 metric 1024'], 'next hops are written in RFC 5952 form')
})

test('a route that becomes refused leaves the kernel', async (t) => {
  const { kernel, rib, fib } = setup()
  rib.add(r6('fd00:fab:2::/64', 'fe80::2', { interface: 'up1' }))
  await fib.drain()
  t.is(kernel.ours().length, 1)
  kernel.connectedNets = UNDERLAY6.filter((c) => c.name !== 'up1')
  await fib.flush()
  t.deepEqual(kernel.ours(), [])
  t.is(fib.stateOf(P6('fd00:fab:2::/64'))?.state, 'not-on-link')
})

test('kernel refusal: an errno puts the prefix in state error and a retry is scheduled', async (t) => {
  const kernel = new FakeKernel6()
  const { rib, fib, log, clock } = setup({}, kernel)
  // connected says up0 has the prefix, the kernel disagrees
  kernel.connectedNets = [...UNDERLAY6, { name: 'up1', index: 4, net: P6('fd00:55::/64'), local: 'fd00:55::1', linkLocal: false }]
  const fake = kernel as unknown as { gatewayErrno: (gw: string, oif: number) => number }
  const real = fake.gatewayErrno.bind(kernel)
  fake.gatewayErrno = (gw, oif) => (gw.startsWith('fd00:55::') ? 101 : real(gw, oif))
  rib.add(r6('fd00:fab:2::/64', 'fd00:55::2', { interface: undefined }))
  await fib.drain()
  const s = fib.stateOf(P6('fd00:fab:2::/64'))
  t.true(s?.state === 'error' && s.errno === 101 && /ENETUNREACH/.test(s.reason))
  t.false(fib.inSync())
  t.is(log.events('route-op-failed').length, 1)
  fake.gatewayErrno = real
  clock.advance(1000)
  await until(() => fib.stateOf(P6('fd00:fab:2::/64'))?.state === 'installed', clock)
  t.pass()
})

test('conflict: a foreign route on the prefix is reported and left alone, our route there too; cleared when it goes', async (t) => {
  const { kernel, rib, fib, log, clock } = setup()
  rib.add(r6('fd00:fab:2::/64', 'fd00:99::2'))
  await fib.drain()
  kernel.external('add', { prefix: 'fd00:fab:2::/64', gateway: 'fd00:99::7', protocol: 4, metric: 512 })
  fib.start(30)
  kernel.external('delete', { prefix: 'fd00:fab:9::/64', protocol: 4 }) // nothing: no event
  await fib.flush()
  const s = fib.stateOf(P6('fd00:fab:2::/64'))
  t.true(s?.state === 'conflict' && /protocol 4 via fd00:99::7 \(metric 512\)/.test(s.reason))
  t.deepEqual(fib.conflicts().map((c) => c.prefix), ['fd00:fab:2::/64'])
  t.is(log.events('route-conflict').length, 1)
  t.is([...kernel.routes.values()].filter((r) => r.protocol === 4).length, 1, 'the foreign route is untouched')
  t.true(fib.inSync())
  // a conflict is found on add too: the foreign route comes first
  rib.add(r6('fd00:fab:3::/64', 'fd00:99::3'))
  kernel.external('add', { prefix: 'fd00:fab:3::/64', protocol: 2, metric: 256 })
  await fib.drain()
  t.is(fib.stateOf(P6('fd00:fab:3::/64'))?.state, 'conflict')
  t.false(kernel.ours().some((l) => l.startsWith('fd00:fab:3::/64')))
  // the foreign route goes: the event brings fabric's route back
  kernel.external('delete', { prefix: 'fd00:fab:3::/64', protocol: 2, metric: 256 })
  await until(() => fib.stateOf(P6('fd00:fab:3::/64'))?.state === 'installed', clock)
  t.is(log.events('route-conflict-cleared').length, 1)
  fib.stop()
})

test('drift: a route deleted or changed by hand comes back; fabric\'s own events are not drift', async (t) => {
  const { kernel, rib, fib, log, clock } = setup()
  fib.start(30)
  rib.add(r6('fd00:fab:2::/64', 'fd00:99::2'))
  rib.add(r6('fd00:fab:3::/64', 'fe80::3'))
  await fib.drain()
  rib.add(r6('fd00:fab:3::/64', 'fe80::4'))
  await fib.drain()
  t.is(log.events('kernel-route-drift').length, 0, 'own adds and replaces are expected')
  const dumps = kernel.dumps
  kernel.external('delete', { prefix: 'fd00:fab:2::/64', protocol: PROTO })
  await until(() => kernel.ours().length === 2 && kernel.dumps > dumps, clock)
  await fib.drain()
  t.deepEqual(kernel.ours(), ['fd00:fab:2::/64 via fd00:99::2 dev up0 metric 1024', 'fd00:fab:3::/64 via fe80::4 dev up0 metric 1024'])
  t.deepEqual(log.events('kernel-route-drift').map((l) => l.fields.change), ['deleted'])
  kernel.external('add', { prefix: 'fd00:fab:3::/64', gateway: 'fe80::66', protocol: PROTO })
  await until(() => kernel.ours().includes('fd00:fab:3::/64 via fe80::4 dev up0 metric 1024'), clock)
  t.deepEqual(log.events('kernel-route-drift').map((l) => l.fields.change), ['deleted', 'changed'])
  t.is(fib.stateOf(P6('fd00:fab:3::/64'))?.state, 'installed')
  fib.stop()
})

test('the periodic reconcile restores a route deleted while no events came', async (t) => {
  const { kernel, rib, fib, clock } = setup()
  rib.add(r6('fd00:fab:2::/64', 'fd00:99::2'))
  await fib.drain()
  kernel.routes.clear() // behind fabric's back, no event
  fib.start(5)
  clock.advance(5000)
  await until(() => kernel.ours().length === 1, clock)
  t.is(fib.stats.reconciles, 2)
  fib.stop()
})

test('routes of the other table or protocol are never touched; duplicates of ours go', async (t) => {
  const kernel = new FakeKernel6()
  kernel.external('add', { prefix: 'fd00:aa::/64', gateway: 'fd00:99::5', protocol: 4 })
  const { rib, fib } = setup({}, kernel)
  rib.add(r6('fd00:fab:2::/64', 'fd00:99::2'))
  await fib.drain()
  kernel.external('add', { prefix: 'fd00:fab:2::/64', gateway: 'fd00:99::3', protocol: PROTO, metric: 7 })
  await fib.flush()
  t.deepEqual(kernel.ours(), ['fd00:fab:2::/64 via fd00:99::2 dev up0 metric 1024'])
  t.is([...kernel.routes.values()].filter((r) => r.protocol === 4).length, 1)
})

test('removeProtocolRoutes removes both families through a port with the IPv6 half; foreign routes stay', async (t) => {
  const { FakeKernel } = await import('./fake-kernel.js')
  const { removeProtocolRoutes } = await import('../../../src/kernel/remove-all.js')
  const k4 = new FakeKernel()
  const k6 = new FakeKernel6()
  k4.external('add', { prefix: '10.244.1.0/24', gateway: '10.0.0.2', protocol: PROTO })
  k6.external('add', { prefix: 'fd00:fab:2::/64', gateway: 'fd00:99::2', protocol: PROTO })
  k6.external('add', { prefix: 'fd00:fab:3::/64', gateway: 'fe80::3', protocol: PROTO, metric: 1030 })
  k6.external('add', { prefix: 'fd00:fab:4::/64', gateway: 'fd00:99::4', protocol: 4 })
  const port = {
    streamRoutes: k4.streamRoutes.bind(k4), applyBatch: k4.applyBatch.bind(k4),
    streamRoutes6: k6.streamRoutes6.bind(k6), applyBatch6: k6.applyBatch6.bind(k6),
  }
  const r = await removeProtocolRoutes(port, PROTO)
  t.deepEqual(r, { removed: 3, alreadyGone: 0, failed: 0, ipv6: { removed: 2, alreadyGone: 0, failed: 0 } })
  t.deepEqual(k4.ours(), [])
  t.deepEqual(k6.ours(), [])
  t.is(k6.routes.size, 1)
})
