import test from 'ava'
import type { Route6, RouteSink6 } from '../../../src/protocols/ripng/route6.js'
import { type BestChange6, Rib6, type RibRoute6 } from '../../../src/rib/rib6.js'
import { P6 as P } from '../../helpers/net.js'

const r = (o: Partial<RibRoute6>): RibRoute6 => ({ prefix: P('fd00:fab:2::/64'), nextHop: 'fe80::2', interface: 'up0', source: 'ripng', peer: 'fe80::2', metric: 1, ...o })

test('best by admin distance, then metric; changes announced once, withdrawals fall back', (t) => {
  const rib = new Rib6()
  const seen: BestChange6[] = []
  rib.onBestChange((c) => seen.push(c))
  const rip = r({ metric: 3 })
  rib.add(rip)
  const ripBetter = r({ peer: 'fe80::3', nextHop: 'fe80::3', metric: 2 })
  rib.add(ripBetter)
  t.is(rib.best(P('fd00:fab:2::/64')), ripBetter)
  const stat = r({ source: 'static', peer: 'h2', nextHop: 'fd00:99::2', metric: 0 })
  rib.add(stat)
  t.is(rib.best(P('fd00:fab:2::/64')), stat)
  t.is(seen.length, 3)
  rib.add({ ...stat }) // same content, new object: no announcement
  t.is(seen.length, 3)
  t.deepEqual(rib.candidates(P('fd00:fab:2::/64')).map((c) => c.peer), ['h2', 'fe80::3', 'fe80::2'])
  rib.withdraw(P('fd00:fab:2::/64'), 'static', 'h2')
  t.is(rib.best(P('fd00:fab:2::/64')), ripBetter)
  t.is(rib.withdrawPeer('ripng', 'fe80::3'), 1)
  t.is(rib.best(P('fd00:fab:2::/64')), rip)
  rib.withdraw(P('fd00:fab:2::/64'), 'ripng', 'fe80::2')
  t.is(rib.size, 0)
  t.deepEqual(seen.at(-1), { prefix: P('fd00:fab:2::/64'), best: undefined, previous: rip })
  rib.withdraw(P('fd00:fab:2::/64'), 'ripng', 'fe80::2') // absent: no-op
  t.is(seen.length, 6)
})

test('iBGP loses to RIPng (distance 200 vs 120); the desired table is a live view', (t) => {
  const rib = new Rib6()
  const table = rib.desiredTable()
  rib.add(r({ source: 'bgp', peer: 'p1', attrs: { ibgp: true } }))
  const rip = r({ metric: 9 })
  rib.add(rip)
  t.is(table.get(P('fd00:fab:2::/64')), rip)
  t.is(table.size, 1)
  t.deepEqual([...table.values()], [rip])
})

test('Rib6 is a RouteSink6: RIPng emits into it unchanged', (t) => {
  const rib = new Rib6()
  const sink: RouteSink6 = rib
  const route: Route6 = { prefix: P('fd00:fab:7::/64'), nextHop: 'fe80::7', interface: 'up0', source: 'ripng', peer: 'fe80::7', metric: 2 }
  sink.add(route)
  t.is(rib.best(route.prefix), route)
  t.is(sink.withdrawPeer('ripng', 'fe80::7'), 1)
})
