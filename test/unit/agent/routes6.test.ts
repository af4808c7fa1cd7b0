/** /v1/routes with IPv6: rows from Rib6 best routes and FibSync6 states, family 4|6, `fabric routes --family`, the table. */
import test from 'ava'
import { buildRouteRows, buildRouteRows6 } from '../../../src/agent/routes.js'
import { renderRouteTable } from '../../../src/api/render.js'
import { filterRouteRows } from '../../../src/api/route-rows.js'
import type { RouteRow } from '../../../src/api/types.js'
import { kernelRouteRows } from '../../../src/cli-support/kernel-view.js'
import type { RouteState } from '../../../src/kernel/route-state.js'
import type { KernelRoute6 } from '../../../src/kernel/types.js'
import { type Prefix6, formatPrefix6, parsePrefix6 } from '../../../src/net/ipv6.js'
import { parseAddress } from '../../../src/net/ipv4.js'
import type { RibRoute6 } from '../../../src/rib/rib6.js'
import { P } from '../../helpers/net.js'

const P6 = (text: string): Prefix6 => {
  const p = parsePrefix6(text)
  if (!p.ok) throw new Error(p.error)
  return p.value
}
const NOW = 1_700_000_000_000
const links = [{ index: 2, name: 'eth0', up: true, mtu: 1500 }] as never[]
const r6 = (n: number, over: Partial<RibRoute6> = {}): RibRoute6 => ({
  prefix: P6(`fd00:fab:0:${n}::/64`), nextHop: `fd00:99::${n}`, interface: 'eth0', source: 'static', peer: `node${n}`, metric: 0, since: NOW / 1000 - 30, ...over,
})
const k6 = (prefix: string, gateway: string, protocol = 233): KernelRoute6 => ({ prefix: P6(prefix), table: 254, protocol, metric: 1024, type: 1, scope: 0, gateway, oif: 2 })

function rows6(states: Record<string, RouteState>, kernel: KernelRoute6[]): RouteRow[] {
  return buildRouteRows6({
    best: [r6(3), r6(2), r6(10, { source: 'ripng', peer: 'fe80::10', nextHop: 'fe80::10', metric: 2 })],
    candidates: () => 1, stateOf: (p) => states[formatPrefix6(p)], since: () => undefined,
    kernel, links, protocol: 233, table: 254, now: NOW, pool6: P6('fd00:fab::/48'),
  })
}

test('IPv6 rows: family 6, sorted by address, state from FibSync6, device from the kernel route, stale kernel-only ones', (t) => {
  const rows = rows6(
    { 'fd00:fab:0:2::/64': { state: 'installed' }, 'fd00:fab:0:3::/64': { state: 'not-on-link', refused: 'not-on-link', reason: 'next hop fd00:99::3 of peer node3 is not on a directly connected IPv6 network' } },
    [k6('fd00:fab:0:2::/64', 'fd00:99::2'), k6('fd00:fab:0:9::/64', 'fd00:99::9'), k6('fd00:fab:0:7::/64', 'fd00:99::7', 4)],
  )
  t.deepEqual(rows.map((r) => [r.family, r.prefix, r.nextHop, r.device, r.source, r.peer, r.state, r.network]), [
    [6, 'fd00:fab:0:2::/64', 'fd00:99::2', 'eth0', 'static', 'node2', 'installed', 'default'],
    [6, 'fd00:fab:0:3::/64', 'fd00:99::3', 'eth0', 'static', 'node3', 'not-on-link', 'default'],
    [6, 'fd00:fab:0:9::/64', 'fd00:99::9', 'eth0', 'kernel', null, 'stale', null],
    [6, 'fd00:fab:0:10::/64', 'fe80::10', 'eth0', 'ripng', 'fe80::10', 'pending', 'default'],
  ])
  t.regex(rows[1]!.reason!, /not on a directly connected IPv6 network/)
  t.is(rows[0]!.age, 30)
})

test('IPv4 rows carry family 4; --family filters; an IPv6 address argument matches the longest IPv6 row', (t) => {
  const a = parseAddress('10.99.0.12')
  if (!a.ok) throw new Error('bad')
  const v4 = buildRouteRows({
    best: [{ prefix: P('10.244.2.0/24'), nextHop: a.value, source: 'static', peer: 'node2', metric: 0 }], candidates: () => 1,
    stateOf: () => ({ state: 'installed' }), since: () => undefined, kernel: [], links, protocol: 233, table: 254, now: NOW,
  })
  t.is(v4[0]!.family, 4)
  const all = [...v4, ...rows6({}, [])]
  t.is((filterRouteRows(all, {}) as RouteRow[]).length, 4)
  t.deepEqual((filterRouteRows(all, { family: 4 }) as RouteRow[]).map((r) => r.prefix), ['10.244.2.0/24'])
  t.deepEqual((filterRouteRows(all, { family: 6 }) as RouteRow[]).map((r) => r.prefix), ['fd00:fab:0:2::/64', 'fd00:fab:0:3::/64', 'fd00:fab:0:10::/64'])
  t.deepEqual((filterRouteRows(all, { match: 'fd00:fab:0:3::17' }) as RouteRow[]).map((r) => r.prefix), ['fd00:fab:0:3::/64'])
  t.deepEqual((filterRouteRows(all, { match: 'fd00:fab:0:3::/80' }) as RouteRow[]).map((r) => r.prefix), ['fd00:fab:0:3::/64'])
  t.deepEqual((filterRouteRows(all, { match: '10.244.2.9' }) as RouteRow[]).map((r) => r.prefix), ['10.244.2.0/24'])
  t.deepEqual(filterRouteRows(all, { match: 'fd00:fab:1::1' }), [])
  t.deepEqual(filterRouteRows(all, { match: 'fd00:fab:0:3::17', family: 4 }), [])
  const bad = filterRouteRows(all, { match: 'fd00:::1' })
  t.true('error' in bad && /expected an address or a prefix/.test(bad.error))
  // a row from an agent older than families counts as IPv4
  const old = { ...v4[0]! } as Partial<RouteRow>
  delete old.family
  t.is((filterRouteRows([old as RouteRow], { family: 4 }) as RouteRow[]).length, 1)
  t.is((filterRouteRows([old as RouteRow], { family: 6 }) as RouteRow[]).length, 0)
})

test('the routes table shows IPv6 rows with their next hop, device and the reason of a refused one', (t) => {
  const text = renderRouteTable(rows6({ 'fd00:fab:0:2::/64': { state: 'installed' }, 'fd00:fab:0:3::/64': { state: 'conflict', reason: 'proto static holds it' } }, [k6('fd00:fab:0:2::/64', 'fd00:99::2')]))
  const lines = text.split('\n')
  t.regex(lines[0]!, /^PREFIX\s+NEXT HOP\s+DEV\s+SOURCE\s+METRIC\s+AGE\s+STATE$/)
  t.regex(lines[1]!, /^fd00:fab:0:2::\/64\s+fd00:99::2\s+eth0\s+static\/node2\s+0\s+30s\s+installed$/)
  t.regex(lines[3]!, /^fd00:fab:0:10::\/64\s+fe80::10\s+eth0\s+ripng\/fe80::10\s+2\s+30s\s+pending$/)
  t.true(text.includes('  fd00:fab:0:3::/64 conflict: proto static holds it'))
})

test('agent down: kernel rows of both families, IPv4 first', (t) => {
  const rows = kernelRouteRows([{ prefix: P('10.244.2.0/24'), table: 254, protocol: 233, metric: 0, type: 1, scope: 0, gateway: 1, oif: 2 }] as never[], links, 233, 254,
    [k6('fd00:fab:0:3::/64', 'fd00:99::3'), k6('fd00:fab:0:2::/64', 'fd00:99::2'), k6('fd00:fab:0:4::/64', 'fd00:99::4', 12)])
  t.deepEqual(rows.map((r) => [r.family, r.prefix, r.state]), [[4, '10.244.2.0/24', 'kernel-only'], [6, 'fd00:fab:0:2::/64', 'kernel-only'], [6, 'fd00:fab:0:3::/64', 'kernel-only']])
})

test('an IPv6 BGP route kept through a peer\'s graceful restart is a stale row with its seconds left, like IPv4', (t) => {
  const rows = buildRouteRows6({
    best: [r6(4, { source: 'bgp', peer: 'node4', attrs: { stale: { since: NOW - 5000, reason: 'peer-restarting', until: NOW + 90_500 } } })],
    candidates: () => 1, stateOf: () => ({ state: 'installed' }), since: () => undefined,
    kernel: [], links, protocol: 233, table: 254, now: NOW, pool6: P6('fd00:fab::/48'),
  })
  t.deepEqual(rows[0]!.stale, { reason: 'peer-restarting', secondsLeft: 91 })
  t.is(rows6({}, [])[0]!.stale, null)
})
