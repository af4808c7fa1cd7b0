/** Static mode's source against a real RIB: a reload keeps the Route of every unchanged host. */
import test from 'ava'
import type { HostEntry } from '../../../src/config/fabric-config.js'
import { parseAddress, parsePrefix } from '../../../src/net/ipv4.js'
import { StaticSource } from '../../../src/protocols/static/source.js'
import { Rib } from '../../../src/rib/rib.js'
import { P } from '../../helpers/net.js'

const host = (name: string, address: string, subnet: string): HostEntry => {
  const a = parseAddress(address)
  const p = parsePrefix(subnet)
  if (!a.ok || !p.ok) throw new Error('bad test data')
  return { name, address: a.value, subnet: p.value }
}

const hosts = [host('node1', '10.99.0.11', '10.244.1.0/24'), host('node2', '10.99.0.12', '10.244.2.0/24'), host('node3', '10.99.0.13', '10.244.3.0/24')]

test('a reload with unchanged hosts keeps their Route objects (AGE goes on) and announces nothing', async (t) => {
  const rib = new Rib()
  const changes: string[] = []
  rib.onBestChange((c) => changes.push(`${c.best?.peer ?? '-'}`))
  const src = new StaticSource(hosts, 'node1')
  await src.start(rib)
  const before2 = rib.best(P('10.244.2.0/24'))
  const before3 = rib.best(P('10.244.3.0/24'))
  t.truthy(before2)
  changes.length = 0
  const c = src.update(hosts.map((h) => ({ ...h })))
  t.deepEqual(c, { added: [], removed: [], moved: [] })
  t.is(rib.best(P('10.244.2.0/24')), before2, 'the same Route, with its since')
  t.is(rib.best(P('10.244.3.0/24')), before3)
  t.deepEqual(changes, [])
})

test('a reload changes only the hosts that changed', async (t) => {
  let now = 1_000_000
  const rib = new Rib()
  const src = new StaticSource(hosts, 'node1', () => now)
  await src.start(rib)
  const kept = rib.best(P('10.244.2.0/24'))
  now += 60_000
  const next = [hosts[0]!, hosts[1]!, host('node3', '10.99.0.23', '10.244.3.0/24'), host('node4', '10.99.0.14', '10.244.4.0/24')]
  t.deepEqual(src.update(next), { added: ['node4'], removed: [], moved: ['node3'] })
  t.is(rib.best(P('10.244.2.0/24')), kept)
  t.is(rib.best(P('10.244.3.0/24'))?.since, 1060)
  t.is(rib.best(P('10.244.4.0/24'))?.since, 1060)
  t.deepEqual(src.update([hosts[0]!, host('node3', '10.99.0.23', '10.244.33.0/24')]), { added: [], removed: ['node2', 'node4'], moved: ['node3'] })
  t.is(rib.best(P('10.244.3.0/24')), undefined, 'a moved subnet: the old prefix is withdrawn')
  t.deepEqual(rib.bestRoutes().map((r) => r.peer), ['node3'])
  t.deepEqual(src.peers().map((p) => [p.peer, p.since]), [['node3', 1_060_000]])
})
