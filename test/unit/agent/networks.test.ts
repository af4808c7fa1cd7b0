/** Fabric networks in the agent: per-network subnets, routes per network, status/doctor views, the import policy, static routes. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { networkOf, networkPools, resolveNetworkSubnets } from '../../../src/agent/networks.js'
import { networkViews } from '../../../src/agent/status.js'
import { renderRouteTable } from '../../../src/api/render.js'
import { filterRouteRows, labelNetworks } from '../../../src/api/route-rows.js'
import type { HostIntegrationStatus, RouteRow } from '../../../src/api/types.js'
import { loadConfigText } from '../../../src/config/fabric-config.js'
import type { Logger } from '../../../src/core/log.js'
import { networkChecks } from '../../../src/doctor/networks.js'
import { pickSubnet } from '../../../src/host/ipam.js'
import { formatPrefix, } from '../../../src/net/ipv4.js'
import { accepts, createImportPolicy } from '../../../src/protocols/bgp/policy.js'
import { StaticSource } from '../../../src/protocols/static/source.js'
import { Rib } from '../../../src/rib/rib.js'
import { P } from '../../helpers/net.js'

const log = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined, limited: () => undefined, child: () => log } as unknown as Logger

const INI = (mode: string, hosts = [1, 2]) => `[fabric]
pool = 10.244.0.0/16
mode = ${mode}
${mode === 'bgp' ? '[bgp]\nasn = 64512\n' : ''}
${hosts.map((i) => `[host.h${i}]\naddress = 10.98.0.${10 + i}\nsubnet = 10.244.${i}.0/24\n`).join('\n')}
[network.backend]
pool = 10.245.0.0/16
[network.frontend]
pool = 10.246.0.0/16
allow = backend
`

function tmp(t: { teardown: (f: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'fabric-nets-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

test('a listed host gets its networks from fabric.ini (derived: the default slot), default first', (t) => {
  const config = loadConfigText(INI('static'))
  const entry = config.hosts[1]!
  const nets = resolveNetworkSubnets({ config, entry, subnet: entry.subnet, address: entry.address, stateDir: tmp(t), log })
  t.deepEqual(nets.map((n) => [n.name, formatPrefix(n.subnet), formatPrefix(n.pool)]), [
    ['default', '10.244.2.0/24', '10.244.0.0/16'], ['backend', '10.245.2.0/24', '10.245.0.0/16'], ['frontend', '10.246.2.0/24', '10.246.0.0/16'],
  ])
})

test('a host joined by flags: each network allocated, the default slot when free, learned and listed subnets avoided, kept across restarts', (t) => {
  const config = loadConfigText(INI('bgp'))
  const stateDir = tmp(t)
  const address = 10 << 24 | 98 << 16 | 99
  // slot 5 free in backend; in frontend 10.246.5.0/24 is learned from another host
  const first = resolveNetworkSubnets({ config, entry: undefined, subnet: P('10.244.5.0/24'), address, stateDir, log, learned: [P('10.246.5.0/24'), P('10.244.7.0/24')] })
  t.is(formatPrefix(first[1]!.subnet), '10.245.5.0/24')
  t.not(formatPrefix(first[2]!.subnet), '10.246.5.0/24')
  t.true(first[2]!.subnet.len === 24 && formatPrefix(first[2]!.pool) === '10.246.0.0/16')
  // a listed host's derived subnet is taken too: slot 1 is h1's
  const other = resolveNetworkSubnets({ config, entry: undefined, subnet: P('10.244.1.0/24'), address: address + 1, stateDir: tmp(t), log })
  t.not(formatPrefix(other[1]!.subnet), '10.245.1.0/24')
  // restart: the persisted choice is kept though the learned subnet is gone
  const again = resolveNetworkSubnets({ config, entry: undefined, subnet: P('10.244.5.0/24'), address, stateDir, log })
  t.deepEqual(again.map((n) => formatPrefix(n.subnet)), first.map((n) => formatPrefix(n.subnet)))
})

test('pickSubnet: previous, then preferred, then the hashed slot', (t) => {
  const base = { pool: P('10.245.0.0/16'), hostPrefix: 24, identity: 'x' }
  t.like(pickSubnet({ ...base, taken: [], preferred: P('10.245.9.0/24') }), { ok: true, reason: 'preferred' })
  t.like(pickSubnet({ ...base, taken: [], previous: P('10.245.4.0/24'), preferred: P('10.245.9.0/24') }), { ok: true, reason: 'previous' })
  const r = pickSubnet({ ...base, taken: [P('10.245.9.0/24')], preferred: P('10.245.9.0/24') })
  t.true(r.ok && r.reason !== 'preferred' && formatPrefix(r.subnet) !== '10.245.9.0/24')
})

test('pools and the network of a prefix', (t) => {
  const config = loadConfigText(INI('static'))
  t.deepEqual(networkPools(config).map(formatPrefix), ['10.244.0.0/16', '10.245.0.0/16', '10.246.0.0/16'])
  t.is(networkOf(config, P('10.246.3.0/24')), 'frontend')
  t.is(networkOf(config, P('10.244.3.0/24')), 'default')
  t.is(networkOf(config, P('10.247.3.0/24')), undefined)
})

test('static source: one route per host per network; a reload that drops a network withdraws its routes only', async (t) => {
  const config = loadConfigText(INI('static', [1, 2, 3]))
  const rib = new Rib()
  const src = new StaticSource(config.hosts, 'h1')
  await src.start(rib)
  t.deepEqual(rib.bestRoutes().map((r) => `${formatPrefix(r.prefix)} ${r.peer}`).sort(), [
    '10.244.2.0/24 h2', '10.244.3.0/24 h3', '10.245.2.0/24 h2', '10.245.3.0/24 h3', '10.246.2.0/24 h2', '10.246.3.0/24 h3',
  ])
  const kept = rib.best(P('10.245.2.0/24'))
  const next = loadConfigText(INI('static', [1, 2, 3]).replace(/\[network\.frontend\][\s\S]*$/, ''))
  const c = src.update(next.hosts)
  t.deepEqual(c, { added: [], removed: [], moved: ['h2', 'h3'] })
  t.is(rib.best(P('10.246.2.0/24')), undefined)
  t.is(rib.best(P('10.245.2.0/24')), kept, 'an unchanged network route keeps its Route')
  t.deepEqual(src.peers().map((p) => [p.peer, p.received]), [['h2', 2], ['h3', 2]])
})

test('BGP import policy with networks: every pool accepted, this host\'s network subnets refused as own', (t) => {
  const base = { pool: P('10.244.0.0/16'), allow: [], ownSubnet: P('10.244.1.0/24'), maxPrefixLength: 28 }
  const without = createImportPolicy(base)
  t.false(accepts(without, P('10.245.2.0/24')), 'without networks a network prefix is outside the pool')
  const withNets = createImportPolicy({ ...base, networks: { pools: [P('10.245.0.0/16'), P('10.246.0.0/16')], ownSubnets: [P('10.245.1.0/24'), P('10.246.1.0/24')] } })
  t.true(accepts(withNets, P('10.245.2.0/24')))
  t.true(accepts(withNets, P('10.246.3.0/24')))
  t.is(withNets.check(P('10.245.1.0/24').addr, 24), 'own-subnet')
  t.is(withNets.check(P('10.247.1.0/24').addr, 24), 'outside-pool')
})

const row = (prefix: string, peer: string, state: RouteRow['state'] = 'installed'): RouteRow => ({
  family: 4, prefix, nextHop: '10.98.0.12', device: 'eth0', source: 'static', peer, metric: 0, asPath: null, age: 3, state, reason: null, alternatives: 0, stale: null, network: null,
})

test('route rows: network labels, --network filter, NETWORK column only with networks', (t) => {
  const nets = [{ name: 'default', pool: P('10.244.0.0/16') }, { name: 'backend', pool: P('10.245.0.0/16') }]
  const rows = labelNetworks([row('10.244.2.0/24', 'h2'), row('10.245.2.0/24', 'h2'), row('10.250.0.0/24', 'x')], nets)
  t.deepEqual(rows.map((r) => r.network), ['default', 'backend', null])
  t.deepEqual((filterRouteRows(rows, { network: 'backend' }) as RouteRow[]).map((r) => r.prefix), ['10.245.2.0/24'])
  t.regex(renderRouteTable(rows), /^PREFIX\s+NETWORK\s+NEXT HOP/)
  t.regex(renderRouteTable(rows.slice(0, 1)), /^PREFIX\s+NEXT HOP/, 'the default network alone: the table as before networks')
})

test('status per network: routes to every other host, the missing ones named, not ok when the Docker network does not fit', (t) => {
  const config = loadConfigText(INI('static', [1, 2, 3]))
  const self = { name: 'h1', address: 0, subnet: P('10.244.1.0/24'), interface: 'eth0', underlay: P('10.98.0.0/24'), networks: [
    { name: 'default', subnet: P('10.244.1.0/24'), pool: P('10.244.0.0/16') }, { name: 'backend', subnet: P('10.245.1.0/24'), pool: P('10.245.0.0/16') },
  ] }
  const host: HostIntegrationStatus = { inSync: true, networks: [{ name: 'backend', pool: '10.245.0.0/16', subnet: '10.245.1.0/24', docker: { present: true, id: 'abc', created: true, fits: false, problems: ['mtu 1450'] }, bridge: 'br-abc', bridgeUp: true, isolation: true }] }
  const routes = [{ prefix: P('10.244.2.0/24'), peer: 'h2', state: 'installed' }, { prefix: P('10.245.2.0/24'), peer: 'h2', state: 'installed' }, { prefix: P('10.245.3.0/24'), peer: 'h3', state: 'pending' }]
  const v = networkViews({ self, config, host, routes })
  t.deepEqual(v.map((n) => [n.name, n.routes, n.ok]), [
    ['default', { installed: 1, peers: 2, missing: ['h3'] }, true],
    ['backend', { installed: 1, peers: 2, missing: ['h3'] }, false],
  ])
  const checks = networkChecks({ config, status: { networks: v } as never }, ['-N FABRIC-ISOLATION', '-A FABRIC-ISOLATION -s 10.244.0.0/16 -j DROP', '-A FABRIC-ISOLATION -s 10.245.0.0/16 -j DROP'])
  t.deepEqual(checks.map((c) => [c.name, c.result]), [['network isolation', 'fail'], ['network default', 'warn'], ['network backend', 'fail']])
  t.regex(checks[0]!.detail, /10\.246\.0\.0\/16/)
  t.regex(checks[2]!.detail, /does not fit: mtu 1450/)
})
