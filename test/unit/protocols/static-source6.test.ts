/** Static mode's IPv6 routes against a real Rib6: SUBNET6 via ADDRESS6 dev IFACE, a reload applies only the difference. */
import test from 'ava'
import type { HostEntry } from '../../../src/config/fabric-config.js'
import { parseAddress, parsePrefix } from '../../../src/net/ipv4.js'
import { type Prefix6, formatPrefix6, parsePrefix6 } from '../../../src/net/ipv6.js'
import { StaticSource } from '../../../src/protocols/static/source.js'
import { Rib } from '../../../src/rib/rib.js'
import { Rib6 } from '../../../src/rib/rib6.js'

const P6 = (text: string): Prefix6 => {
  const p = parsePrefix6(text)
  if (!p.ok) throw new Error(p.error)
  return p.value
}

const host = (n: number, six = true): HostEntry => {
  const a = parseAddress(`10.99.0.${10 + n}`)
  const p = parsePrefix(`10.244.${n}.0/24`)
  if (!a.ok || !p.ok) throw new Error('bad test data')
  return { name: `node${n}`, address: a.value, subnet: p.value, ...(six ? { address6: `fd00:99::${n}`, subnet6: P6(`fd00:fab:0:${n}::/64`) } : {}) }
}

const hosts = [host(1), host(2), host(3)]

const table6 = (rib6: Rib6): string[] =>
  [...rib6.bestValues()].map((r) => `${formatPrefix6(r.prefix)} via ${r.nextHop} dev ${r.interface} ${r.source}/${r.peer} metric ${r.metric}`).sort()

test('every other host with address6 and subnet6 becomes SUBNET6 via ADDRESS6 dev IFACE into sink6', async (t) => {
  const rib = new Rib()
  const rib6 = new Rib6()
  const src = new StaticSource(hosts, 'node1', () => 5_000_000, 'eth0')
  await src.start(rib, rib6)
  t.deepEqual(table6(rib6), [
    'fd00:fab:0:2::/64 via fd00:99::2 dev eth0 static/node2 metric 0',
    'fd00:fab:0:3::/64 via fd00:99::3 dev eth0 static/node3 metric 0',
  ])
  t.is(rib.size, 2, 'the IPv4 routes as before')
  t.is(rib6.best(P6('fd00:fab:0:2::/64'))!.since, 5000)
  const peers = src.peers()
  t.deepEqual(peers.map((p) => [p.peer, p.received, p.details?.address6]), [['node2', 2, 'fd00:99::2'], ['node3', 2, 'fd00:99::3']])
})

test('without sink6 (an IPv4-only host) no IPv6 route is made, and hosts without IPv6 keys give none', async (t) => {
  const rib = new Rib()
  const src = new StaticSource(hosts, 'node1', Date.now, 'eth0')
  await src.start(rib)
  t.is(rib.size, 2)
  const rib6 = new Rib6()
  const mixed = new StaticSource([host(1), host(2, false), host(3)], 'node1', Date.now, 'eth0')
  await mixed.start(new Rib(), rib6)
  t.deepEqual(table6(rib6), ['fd00:fab:0:3::/64 via fd00:99::3 dev eth0 static/node3 metric 0'])
})

test('a reload applies the IPv6 difference: unchanged routes kept (same object), moved, removed and added hosts', async (t) => {
  let now = 1_000_000
  const rib = new Rib()
  const rib6 = new Rib6()
  const events: string[] = []
  rib6.onBestChange((c) => events.push(`${formatPrefix6(c.prefix)} ${c.best ? `via ${c.best.nextHop}` : 'gone'}`))
  const src = new StaticSource(hosts, 'node1', () => now, 'eth0')
  await src.start(rib, rib6)
  const kept = rib6.best(P6('fd00:fab:0:2::/64'))
  events.length = 0
  now += 60_000
  t.deepEqual(src.update(hosts.map((h) => ({ ...h }))), { added: [], removed: [], moved: [] })
  t.deepEqual(events, [], 'nothing announced again')
  // node3's IPv6 next hop changes (IPv4 unchanged), node2's subnet6 moves, node4 is added
  const next = [host(1), { ...host(2), subnet6: P6('fd00:fab:0:22::/64') }, { ...host(3), address6: 'fd00:99::33' }, host(4)]
  const c = src.update(next)
  t.deepEqual(c.added, ['node4'])
  t.deepEqual([...c.moved].sort(), ['node2', 'node3'])
  t.deepEqual(table6(rib6), [
    'fd00:fab:0:22::/64 via fd00:99::2 dev eth0 static/node2 metric 0',
    'fd00:fab:0:3::/64 via fd00:99::33 dev eth0 static/node3 metric 0',
    'fd00:fab:0:4::/64 via fd00:99::4 dev eth0 static/node4 metric 0',
  ])
  t.is(rib6.best(P6('fd00:fab:0:2::/64')), undefined, 'the old subnet6 of node2 withdrawn')
  t.not(rib6.best(P6('fd00:fab:0:22::/64')), kept)
  // node3 removed entirely, node4 loses its IPv6 keys
  const c2 = src.update([host(1), { ...host(2), subnet6: P6('fd00:fab:0:22::/64') }, host(4, false)])
  t.deepEqual(c2.removed, ['node3'])
  t.deepEqual(c2.moved, ['node4'])
  t.deepEqual(table6(rib6), ['fd00:fab:0:22::/64 via fd00:99::2 dev eth0 static/node2 metric 0'])
})
