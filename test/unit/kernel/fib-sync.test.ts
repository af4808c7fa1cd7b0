/**
 * FIB sync against an in-memory kernel (fake-kernel.ts) and a hand-moved
 * clock: every state change of a prefix (settled / pending / refused /
 * conflict), reloads, drift and the periodic reconcile.
 */
import test from 'ava'
import { FibSync, type FibSyncOptions } from '../../../src/kernel/fib-sync.js'
import { removeProtocolRoutes } from '../../../src/kernel/remove-all.js'
import { Rib } from '../../../src/rib/rib.js'
import type { Route } from '../../../src/rib/route.js'
import { A, FakeKernel, ManualTimers, P, memoryLog } from './fake-kernel.js'

const PROTO = 233

function setup(extra: Partial<FibSyncOptions> = {}, kernel = new FakeKernel()) {
  const clock = new ManualTimers()
  const rib = new Rib()
  const log = memoryLog()
  const fib = new FibSync({ port: kernel, timers: clock, protocol: PROTO, table: 254, log, desired: rib.desiredTable(), ...extra })
  fib.allowDeletes = true
  rib.onBestChange((c) => fib.setDesired(c.prefix, c.best, c.previous))
  return { kernel, clock, rib, log, fib }
}

const route = (p: string, nh: string, metric = 0, peer = `h-${p}`): Route => ({ prefix: P(p), nextHop: A(nh), source: 'static', peer, metric })

/** Lets promises and immediates run until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setImmediate(r))
  if (!cond()) throw new Error('condition never held')
}

test('stop() with a batch in flight: drain() waits for it, so the removal batch of a leave does not overlap it', async (t) => {
  const { kernel, rib, fib } = setup()
  rib.add(route('10.244.1.0/24', '10.0.0.2'))
  await fib.drain()
  const release = kernel.hold()
  rib.add(route('10.244.2.0/24', '10.0.0.3'))
  const running = fib.drain()
  await until(() => kernel.batches === 2)
  fib.stop()
  let drained = false
  const d = fib.drain().then(() => {
    drained = true
  })
  await new Promise((r) => setTimeout(r, 20))
  t.false(drained, 'the batch in flight has not been answered yet')
  release()
  await d
  await running
  t.true(drained)
  // what leave does next: one batch of its own, now alone
  const r = await removeProtocolRoutes(kernel, PROTO)
  t.is(r.removed, 2)
  t.deepEqual(kernel.ours(), [])
})

test('add: a desired route goes into the kernel and settles', async (t) => {
  const { kernel, rib, fib } = setup()
  rib.add(route('10.244.1.0/24', '10.0.0.2'))
  t.is(fib.stateOf(P('10.244.1.0/24'))?.state, 'pending')
  t.false(fib.inSync())
  await fib.drain()
  t.deepEqual(kernel.ours(), ['10.244.1.0/24 via 10.0.0.2'])
  t.is(fib.stateOf(P('10.244.1.0/24'))?.state, 'installed')
  t.true(fib.inSync())
  t.deepEqual(fib.stateCounts(), { installed: 1, pending: 0, conflict: 0, 'not-on-link': 0, error: 0 })
})

test('replace: a new next hop replaces the route in one operation; a new metric adds before it deletes', async (t) => {
  const { kernel, rib, fib } = setup()
  rib.add(route('10.244.1.0/24', '10.0.0.2'))
  await fib.drain()
  rib.add(route('10.244.1.0/24', '10.0.0.3'))
  await fib.drain()
  t.deepEqual(kernel.ours(), ['10.244.1.0/24 via 10.0.0.3'])
  t.is(fib.stateOf(P('10.244.1.0/24'))?.state, 'installed')
  rib.add(route('10.244.1.0/24', '10.0.0.3', 7))
  await fib.drain()
  t.deepEqual(kernel.ours(), ['10.244.1.0/24 via 10.0.0.3 metric 7'])
  t.true(fib.inSync())
})

test('withdraw: the route leaves the kernel and no state is left behind', async (t) => {
  const { kernel, rib, fib } = setup()
  rib.add(route('10.244.1.0/24', '10.0.0.2'))
  await fib.drain()
  rib.withdraw(P('10.244.1.0/24'), 'static', 'h-10.244.1.0/24')
  await fib.drain()
  t.deepEqual(kernel.ours(), [])
  t.is(fib.stateOf(P('10.244.1.0/24')), undefined)
  t.deepEqual(fib.stateCounts(), { installed: 0, pending: 0, conflict: 0, 'not-on-link': 0, error: 0 })
  t.true(fib.inSync())
})

test('kernel refusal: an errno puts the prefix in state error with the errno', async (t) => {
  const { kernel, rib, fib, log } = setup()
  rib.add(route('10.244.1.0/24', '10.0.0.255')) // the underlay's broadcast address: EINVAL
  await fib.drain()
  const s = fib.stateOf(P('10.244.1.0/24'))
  t.is(s?.state, 'error')
  t.true(s?.state === 'error' && s.errno === 22 && /EINVAL/.test(s.reason))
  t.deepEqual(kernel.ours(), [])
  t.false(fib.inSync())
  t.is(log.events('route-op-failed').length, 1)
  // the route is fixed at its source: the error clears
  rib.add(route('10.244.1.0/24', '10.0.0.2'))
  await fib.drain()
  t.is(fib.stateOf(P('10.244.1.0/24'))?.state, 'installed')
  t.true(fib.inSync())
})

test('a route refused by the kernel and withdrawn while its batch is in flight leaves no state (issue 9)', async (t) => {
  const { kernel, rib, fib } = setup()
  const release = kernel.hold()
  rib.add(route('10.244.1.0/24', '10.0.0.255'))
  rib.add(route('10.244.2.0/24', '10.0.0.255'))
  const running = fib.drain()
  await until(() => kernel.batches === 1)
  rib.withdraw(P('10.244.1.0/24'), 'static', 'h-10.244.1.0/24')
  // the other one changes to a next hop the kernel takes
  rib.add(route('10.244.2.0/24', '10.0.0.2'))
  release()
  await running
  await fib.drain()
  t.is(fib.stateOf(P('10.244.1.0/24')), undefined)
  t.is(fib.stateOf(P('10.244.2.0/24'))?.state, 'installed')
  t.deepEqual(fib.stateCounts(), { installed: 1, pending: 0, conflict: 0, 'not-on-link': 0, error: 0 })
  t.true(fib.inSync())
  t.deepEqual(kernel.ours(), ['10.244.2.0/24 via 10.0.0.2'])
})

test("fabric's own changes are not drift: no kernel-route-drift and no extra reconcile (issue 9)", async (t) => {
  for (const mode of ['before-ack', 'after-ack'] as const) {
    const { kernel, rib, fib, log } = setup()
    kernel.events = mode
    fib.start(60)
    for (let i = 0; i < 20; i++) rib.add(route(`10.244.${i}.0/24`, '10.0.0.2'))
    await fib.flush()
    const reconciles = fib.stats.reconciles
    for (let i = 0; i < 20; i++) rib.add(route(`10.244.${i}.0/24`, '10.0.0.3')) // replace
    await fib.drain()
    for (let i = 0; i < 10; i++) rib.add(route(`10.244.${i}.0/24`, '10.0.0.3', 5)) // new metric: add, then delete
    await fib.drain()
    for (let i = 10; i < 20; i++) rib.withdraw(P(`10.244.${i}.0/24`), 'static', `h-10.244.${i}.0/24`)
    await fib.drain()
    await new Promise((r) => setImmediate(r))
    await fib.drain()
    t.deepEqual(log.events('kernel-route-drift'), [], mode)
    t.is(fib.stats.reconciles, reconciles, `${mode}: no full reconcile was asked for`)
    t.is(kernel.ours().length, 10)
    fib.stop()
  }
})

test("own events read long after the acks (a busy agent) are still not drift (fuzz run: 708 warnings under a RIP flood)", async (t) => {
  const { kernel, rib, fib, log, clock } = setup()
  kernel.events = 'late'
  fib.start(60)
  for (let i = 0; i < 20; i++) rib.add(route(`10.244.${i}.0/24`, '10.0.0.2'))
  await fib.flush()
  for (let i = 0; i < 20; i++) rib.add(route(`10.244.${i}.0/24`, '10.0.0.3'))
  await fib.drain()
  for (let i = 10; i < 20; i++) rib.withdraw(P(`10.244.${i}.0/24`), 'static', `h-10.244.${i}.0/24`)
  await fib.drain()
  clock.advance(5000) // the event socket is read 5 s after the batches were acknowledged
  kernel.releaseEvents()
  await fib.drain()
  t.deepEqual(log.events('kernel-route-drift'), [])
  t.is(kernel.ours().length, 10)
  fib.stop()
})

test('real drift is still seen: a route deleted by hand is restored, one changed by hand is fixed', async (t) => {
  const { kernel, rib, fib, log } = setup()
  fib.start(60)
  rib.add(route('10.244.1.0/24', '10.0.0.2'))
  rib.add(route('10.244.2.0/24', '10.0.0.2'))
  await fib.drain()
  kernel.external('delete', { prefix: '10.244.1.0/24', protocol: PROTO })
  kernel.external('add', { prefix: '10.244.2.0/24', gateway: '10.0.0.9', protocol: PROTO })
  t.deepEqual(log.events('kernel-route-drift').map((l) => l.fields.change), ['deleted', 'changed'])
  await fib.drain()
  t.deepEqual(kernel.ours(), ['10.244.1.0/24 via 10.0.0.2', '10.244.2.0/24 via 10.0.0.2'])
  t.true(fib.inSync())
  fib.stop()
})

test('conflict: a prefix another protocol holds is left alone; when that route goes, fabric installs its own', async (t) => {
  const { kernel, rib, fib, log } = setup()
  fib.start(60)
  kernel.external('add', { prefix: '10.244.1.0/24', gateway: '10.0.0.77', protocol: 4 })
  rib.add(route('10.244.1.0/24', '10.0.0.2'))
  await fib.flush()
  const s = fib.stateOf(P('10.244.1.0/24'))
  t.true(s?.state === 'conflict' && /protocol 4/.test(s.reason))
  t.deepEqual(kernel.ours(), [])
  t.is(fib.conflicts().length, 1)
  kernel.external('delete', { prefix: '10.244.1.0/24', protocol: 4 })
  await fib.drain()
  t.is(fib.stateOf(P('10.244.1.0/24'))?.state, 'installed')
  t.deepEqual(kernel.ours(), ['10.244.1.0/24 via 10.0.0.2'])
  t.is(log.events('route-conflict-cleared').length, 1)
  fib.stop()
})

test('reload: equal routes as new objects change nothing; a conflict still clears after it (issue 14)', async (t) => {
  const { kernel, rib, fib } = setup()
  kernel.external('add', { prefix: '10.244.1.0/24', gateway: '10.0.0.77', protocol: 4 })
  rib.add(route('10.244.1.0/24', '10.0.0.2'))
  rib.add(route('10.244.2.0/24', '10.0.0.3'))
  await fib.flush()
  t.is(fib.stateOf(P('10.244.1.0/24'))?.state, 'conflict')
  const batches = kernel.batches
  // SIGHUP in static mode: every Route replaced by an equal new object (the RIB tells no one)
  rib.add(route('10.244.1.0/24', '10.0.0.2'))
  rib.add(route('10.244.2.0/24', '10.0.0.3'))
  const r = await fib.flush()
  t.is(kernel.batches, batches, 'nothing to apply')
  t.is(r.unchanged, 1)
  t.is(fib.stateOf(P('10.244.2.0/24'))?.state, 'installed')
  // the other protocol's route goes (its event was lost): the next reconcile installs fabric's
  kernel.events = 'none'
  kernel.external('delete', { prefix: '10.244.1.0/24', protocol: 4 })
  await fib.flush()
  t.is(fib.stateOf(P('10.244.1.0/24'))?.state, 'installed')
  t.deepEqual(kernel.ours(), ['10.244.1.0/24 via 10.0.0.2', '10.244.2.0/24 via 10.0.0.3'])
  t.deepEqual(fib.conflicts(), [])
  t.true(fib.inSync())
})

test('periodic reconcile restores a route whose delete event was lost', async (t) => {
  const { kernel, clock, rib, fib } = setup()
  fib.start(5)
  rib.add(route('10.244.1.0/24', '10.0.0.2'))
  await fib.flush()
  kernel.events = 'none'
  kernel.external('delete', { prefix: '10.244.1.0/24', protocol: PROTO })
  const before = fib.stats.reconciles
  clock.advance(4000)
  await fib.drain()
  t.is(fib.stats.reconciles, before, 'not before the interval')
  t.deepEqual(kernel.ours(), [])
  clock.advance(1000)
  await fib.drain()
  t.is(fib.stats.reconciles, before + 1)
  t.deepEqual(kernel.ours(), ['10.244.1.0/24 via 10.0.0.2'])
  fib.stop()
})

test('an idle FIB sync sets one timer per reconcile interval: none fires between two periodic reconciles', async (t) => {
  const clock = new ManualTimers()
  let fired = 0
  const counting = {
    now: () => clock.now(),
    after: (ms: number, fn: () => void) => clock.after(ms, () => { fired++; fn() }),
    every: (ms: number, fn: () => void) => clock.every(ms, () => { fired++; fn() }),
  }
  const { kernel, rib, fib } = setup({ timers: counting })
  rib.add(route('10.244.1.0/24', '10.0.0.2'))
  await fib.flush()
  fib.start(5)
  await fib.flush()
  // the route events of the first runs are behind us: count from here
  clock.advance(1000)
  await fib.drain()
  const reconciles = fib.stats.reconciles
  fired = 0
  clock.advance(3999)
  await fib.drain()
  t.is(fired, 0, 'no timer fired before the reconcile was due')
  t.is(fib.stats.reconciles, reconciles)
  clock.advance(1)
  await fib.drain()
  t.is(fib.stats.reconciles, reconciles + 1, 'the reconcile ran when due (5 s after the last one)')
  for (let i = 0; i < 4; i++) {
    clock.advance(5000)
    await fib.drain()
  }
  t.is(fib.stats.reconciles, reconciles + 5)
  t.true(fired <= 10, `${fired} timer callbacks for 5 reconciles (one each, plus a debounce kick each)`)
  t.deepEqual(kernel.ours(), ['10.244.1.0/24 via 10.0.0.2'])
  fib.stop()
})

test('startup grace: stale routes of ours are kept until deletes are allowed; existing right routes are adopted', async (t) => {
  const { kernel, rib, fib } = setup()
  fib.allowDeletes = false
  kernel.external('add', { prefix: '10.244.1.0/24', gateway: '10.0.0.2', protocol: PROTO }) // right: adopted
  kernel.external('add', { prefix: '10.244.9.0/24', gateway: '10.0.0.9', protocol: PROTO }) // stale
  rib.add(route('10.244.1.0/24', '10.0.0.2'))
  const first = await fib.flush()
  t.is(first.applied, 0)
  t.is(first.unchanged, 1)
  t.is(first.keptStale, 1)
  t.is(kernel.batches, 0, 'adopting needs no kernel operation')
  t.is(fib.stateOf(P('10.244.1.0/24'))?.state, 'installed')
  t.is(kernel.ours().length, 2)
  fib.allowDeletes = true
  const second = await fib.flush()
  t.is(second.applied, 1)
  t.deepEqual(kernel.ours(), ['10.244.1.0/24 via 10.0.0.2'])
})

test('next-hop backstop: next hops nextHopProblem() rejects never reach the kernel', async (t) => {
  const kernel = new FakeKernel([
    { name: 'up0', net: P('10.0.0.0/24'), local: A('10.0.0.1') },
    { name: 'docker0', net: P('10.244.0.0/24'), local: A('10.244.0.1') },
  ])
  const { rib, fib, log } = setup({ nextHopScope: { underlay: P('10.0.0.0/24'), self: A('10.0.0.1'), pools: [P('10.244.0.0/16')] } }, kernel)
  rib.add(route('10.244.1.0/24', '10.0.0.255')) // broadcast
  rib.add(route('10.244.2.0/24', '10.0.0.0')) // network address
  rib.add(route('10.244.3.0/24', '10.244.0.50')) // a container on docker0
  rib.add(route('10.244.4.0/24', '10.0.0.2')) // fine
  await fib.flush()
  t.deepEqual(kernel.ours(), ['10.244.4.0/24 via 10.0.0.2'])
  for (const [p, why] of [['10.244.1.0/24', /broadcast/], ['10.244.2.0/24', /network's own address/], ['10.244.3.0/24', /container pool/]] as const) {
    const s = fib.stateOf(P(p))
    t.true(s?.state === 'not-on-link' && s.refused === 'bad-next-hop' && why.test(s.reason), `${p}: ${JSON.stringify(s)}`)
  }
  t.is(log.events('route-refused').length, 3)
  t.is(log.events('route-op-failed').length, 0)
})

test('a next hop that becomes on-link (address added) is installed after the interface event', async (t) => {
  const { kernel, clock, rib, fib } = setup()
  fib.start(60)
  rib.add(route('10.244.1.0/24', '10.1.0.2'))
  await fib.flush()
  t.is(fib.stateOf(P('10.244.1.0/24'))?.state, 'not-on-link')
  kernel.setConnected([...kernel.connectedNets, { name: 'up1', net: P('10.1.0.0/24'), local: A('10.1.0.1') }])
  clock.advance(1000)
  await fib.drain()
  t.is(fib.stateOf(P('10.244.1.0/24'))?.state, 'installed')
  t.deepEqual(kernel.ours(), ['10.244.1.0/24 via 10.1.0.2'])
  fib.stop()
})

test('removeProtocolRoutes counts routes already gone (ESRCH) apart from those it removed (issue 14)', async (t) => {
  const kernel = new FakeKernel()
  kernel.external('add', { prefix: '10.244.1.0/24', gateway: '10.0.0.2', protocol: PROTO })
  kernel.external('add', { prefix: '10.244.2.0/24', gateway: '10.0.0.2', protocol: PROTO })
  kernel.external('add', { prefix: '10.244.3.0/24', gateway: '10.0.0.2', protocol: 4 })
  // someone else removes one between the dump and fabric's delete
  const racing = {
    streamRoutes: async (on: Parameters<FakeKernel['streamRoutes']>[0], table?: number) => {
      await kernel.streamRoutes(on, table)
      kernel.external('delete', { prefix: '10.244.2.0/24', protocol: PROTO })
    },
    applyBatch: (b: Parameters<FakeKernel['applyBatch']>[0]) => kernel.applyBatch(b),
  }
  const r = await removeProtocolRoutes(racing, PROTO)
  t.deepEqual(r, { removed: 1, alreadyGone: 1, failed: 0 })
  t.deepEqual(kernel.ours(), [])
  t.is(kernel.ours(4).length, 1, "another protocol's route is never touched")
})

test('stopped (SIGTERM: the sources withdraw as their sessions close): the kernel keeps every route', async (t) => {
  // gr-frr interop: the stopping agent deleted the peer's subnet when its kick fired during stop
  const { kernel, rib, fib, clock } = setup()
  fib.start(60)
  rib.add(route('10.244.2.0/24', '10.0.0.2'))
  rib.add(route('10.244.3.0/24', '10.0.0.3'))
  await fib.flush()
  t.deepEqual(kernel.ours(), ['10.244.2.0/24 via 10.0.0.2', '10.244.3.0/24 via 10.0.0.3'])
  fib.stop()
  rib.withdraw(P('10.244.2.0/24'), 'static', 'h-10.244.2.0/24')
  rib.add(route('10.244.3.0/24', '10.0.0.4'))
  clock.advance(120_000)
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
  await fib.drain()
  t.deepEqual(kernel.ours(), ['10.244.2.0/24 via 10.0.0.2', '10.244.3.0/24 via 10.0.0.3'], 'nothing changed after stop')
})

test('a periodic full reconcile re-reads connected networks once a minute, and at once after an interface event', async (t) => {
  class CountingKernel extends FakeKernel {
    reads = 0
    override async connected() {
      this.reads++
      return super.connected()
    }
  }
  const kernel = new CountingKernel()
  const { clock, rib, fib } = setup({}, kernel)
  fib.start(5)
  rib.add(route('10.244.1.0/24', '10.0.0.2'))
  await fib.flush()
  const first = kernel.reads
  const reconciles = fib.stats.reconciles
  for (let i = 0; i < 6; i++) {
    clock.advance(5000)
    await fib.drain()
  }
  t.is(fib.stats.reconciles, reconciles + 6, 'a full reconcile every 5 s')
  t.is(kernel.reads, first, 'no link/address dump for them within the minute')
  kernel.setConnected([...kernel.connectedNets, { name: 'up1', net: P('10.1.0.0/24'), local: A('10.1.0.1') }])
  clock.advance(1000)
  await fib.drain()
  t.is(kernel.reads, first + 1, 'an interface event: read again')
  for (let i = 0; i < 13; i++) {
    clock.advance(5000)
    await fib.drain()
  }
  t.is(kernel.reads, first + 2, 'and again once the minute is over')
  t.deepEqual(kernel.ours(), ['10.244.1.0/24 via 10.0.0.2'])
  fib.stop()
})

test('a full reconcile with more than one chunk (8192) of plain adds applies one chunk and hands the rest to the incremental queue; all end installed', async (t) => {
  const { kernel, rib, fib } = setup()
  const n = 20_000
  for (let i = 0; i < n; i++) rib.add({ prefix: { addr: (A('11.0.0.0') + i * 256) >>> 0, len: 24 }, nextHop: A('10.0.0.2'), source: 'static', peer: `h${i}`, metric: 0 })
  // the full run takes over every dirty prefix; its plan keeps 8192 adds, the others go back to the queue
  const full = await fib.flush()
  t.is(full.kind, 'full')
  t.is(full.applied, 8192)
  t.is(kernel.ours().length, n, 'the deferred adds were applied by the incremental runs the drain ran')
  t.deepEqual(fib.stateCounts(), { installed: n, pending: 0, conflict: 0, 'not-on-link': 0, error: 0 })
  t.true(fib.inSync())
  // a second full reconcile finds everything in place
  const again = await fib.flush()
  t.is(again.applied, 0)
  t.is(again.unchanged, n)
})
