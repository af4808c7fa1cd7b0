import test from 'ava'
import { type BestChange, Rib } from '../../../src/rib/rib.js'
import type { Route } from '../../../src/rib/route.js'
import { P, A } from '../../helpers/net.js'

const route = (over: Partial<Route> & Pick<Route, 'source' | 'peer'>): Route => ({ prefix: P('10.244.2.0/24'), nextHop: A('10.0.0.2'), metric: 0, ...over })

function withLog(): { rib: Rib; changes: BestChange[] } {
  const rib = new Rib()
  const changes: BestChange[] = []
  rib.onBestChange((c) => changes.push(c))
  return { rib, changes }
}

test('first candidate becomes best and is announced once', (t) => {
  const { rib, changes } = withLog()
  rib.add(route({ source: 'rip', peer: '10.0.0.2', metric: 2 }))
  rib.add(route({ source: 'rip', peer: '10.0.0.2', metric: 2 })) // same again: no change
  t.is(changes.length, 1)
  t.is(changes[0]!.best?.metric, 2)
  t.is(changes[0]!.previous, undefined)
})

test('admin distance: static beats eBGP beats RIP beats iBGP', (t) => {
  const { rib } = withLog()
  rib.add(route({ source: 'bgp', peer: 'ibgp', attrs: { ibgp: true }, nextHop: A('10.0.0.4') }))
  t.is(rib.best(P('10.244.2.0/24'))?.peer, 'ibgp')
  rib.add(route({ source: 'rip', peer: 'r', metric: 5, nextHop: A('10.0.0.3') }))
  t.is(rib.best(P('10.244.2.0/24'))?.peer, 'r')
  rib.add(route({ source: 'bgp', peer: 'ebgp', nextHop: A('10.0.0.5') }))
  t.is(rib.best(P('10.244.2.0/24'))?.peer, 'ebgp')
  rib.add(route({ source: 'static', peer: 'node2' }))
  t.is(rib.best(P('10.244.2.0/24'))?.peer, 'node2')
  t.deepEqual(rib.candidates(P('10.244.2.0/24')).map((r) => r.peer), ['node2', 'ebgp', 'r', 'ibgp'])
})

test('within a source: preference, then metric, then peer name', (t) => {
  const { rib } = withLog()
  rib.add(route({ source: 'rip', peer: 'b', metric: 3 }))
  rib.add(route({ source: 'rip', peer: 'a', metric: 3 }))
  t.is(rib.best(P('10.244.2.0/24'))?.peer, 'a')
  rib.add(route({ source: 'rip', peer: 'c', metric: 2 }))
  t.is(rib.best(P('10.244.2.0/24'))?.peer, 'c')
  rib.add(route({ source: 'rip', peer: 'd', metric: 9, preference: -1 }))
  t.is(rib.best(P('10.244.2.0/24'))?.peer, 'd')
})

test('withdrawing the best elects the next; withdrawing the last announces none', (t) => {
  const { rib, changes } = withLog()
  rib.add(route({ source: 'rip', peer: 'a', metric: 1 }))
  rib.add(route({ source: 'rip', peer: 'b', metric: 2, nextHop: A('10.0.0.9') }))
  rib.withdraw(P('10.244.2.0/24'), 'rip', 'a')
  t.is(changes.at(-1)!.best?.peer, 'b')
  t.is(changes.at(-1)!.previous?.peer, 'a')
  rib.withdraw(P('10.244.2.0/24'), 'rip', 'b')
  t.is(changes.at(-1)!.best, undefined)
  t.is(rib.size, 0)
  const n = changes.length
  rib.withdraw(P('10.244.2.0/24'), 'rip', 'b') // unknown: no event
  t.is(changes.length, n)
})

test('withdrawing a non-best candidate does not announce', (t) => {
  const { rib, changes } = withLog()
  rib.add(route({ source: 'static', peer: 'h' }))
  rib.add(route({ source: 'rip', peer: 'r', metric: 1 }))
  const n = changes.length
  rib.withdraw(P('10.244.2.0/24'), 'rip', 'r')
  t.is(changes.length, n)
})

test('withdrawPeer removes everything one peer offered', (t) => {
  const { rib } = withLog()
  for (let i = 1; i <= 5; i++) rib.add(route({ prefix: P(`10.244.${i}.0/24`), source: 'bgp', peer: '10.0.0.7' }))
  rib.add(route({ prefix: P('10.244.1.0/24'), source: 'bgp', peer: '10.0.0.8', nextHop: A('10.0.0.8') }))
  t.is(rib.withdrawPeer('bgp', '10.0.0.7'), 5)
  t.is(rib.size, 1)
  t.is(rib.best(P('10.244.1.0/24'))?.peer, '10.0.0.8')
})

test('a changed next hop from the same peer is a best change', (t) => {
  const { rib, changes } = withLog()
  rib.add(route({ source: 'static', peer: 'node2' }))
  rib.add(route({ source: 'static', peer: 'node2', nextHop: A('10.0.0.3') }))
  t.is(changes.length, 2)
  t.is(changes[1]!.best?.nextHop, A('10.0.0.3'))
})
