/**
 * Fabric networks over BGP with BIRD 2 and FRR 8 as real peers: two fabric
 * agents and one daemon in an iBGP mesh, [network.backend] besides the
 * default network. The daemon announces its docker0 subnet and its backend
 * subnet; the agents announce theirs (one prefix per network per host).
 * Both sides learn and install every network's subnets, like docker0's.
 */
import test, { type ExecutionContext } from 'ava'
import type { LabHost, LabSpec } from '../../src/lab/lab.js'
import { startAgent, waitAgents } from '../../src/lab/lab.js'
import { fabric, waitRoutes, withLab } from '../netns/helpers.js'
import { type Daemon, type DaemonSpec, daemonsAvailable, startBird, startFrr, waitDaemonRoutes } from './helpers-bgp.js'

const INI = ['', '[bgp]', 'asn = 64512', 'hold-time = 3', 'keepalive-time = 1', 'connect-retry-time = 1', '', '[network.backend]', 'pool = 10.245.0.0/16']

async function scenario(t: ExecutionContext, kind: 'bird' | 'frr', start: (t: ExecutionContext, s: DaemonSpec) => Promise<Daemon>): Promise<void> {
  t.timeout(120_000)
  const lab: LabSpec = await withLab(t, { tag: kind === 'bird' ? 'nb' : 'nf', hosts: 3, mode: 'bgp', start: false, iniExtra: INI })
  const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost]
  startAgent(lab, h1)
  startAgent(lab, h2)
  const daemon = await start(t, {
    host: h3, asn: 64512, announce: h3.subnet, announceMore: ['10.245.3.0/24'],
    neighbors: [{ name: 'node1', address: h1.address, asn: 64512 }, { name: 'node2', address: h2.address, asn: 64512 }],
  })
  await waitAgents(lab, [h1, h2])
  const want1 = ['10.244.2.0/24 via 10.99.0.12', '10.245.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13', '10.245.3.0/24 via 10.99.0.13']
  t.deepEqual(await waitRoutes(h1.ns, want1, 30_000), [...want1].sort(), `node1 learns node2's and the ${kind} host's subnets of both networks`)
  const wantD = ['10.244.1.0/24 via 10.99.0.11', '10.245.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.12', '10.245.2.0/24 via 10.99.0.12']
  t.deepEqual(await waitDaemonRoutes(daemon, wantD, 30_000), [...wantD].sort(), `${kind} installs the fabric hosts' subnets of both networks`)
  const r = JSON.parse((await fabric(['routes', '--json', '--network', 'backend', '--socket', h1.socket])).stdout)
  t.deepEqual(r.routes.map((x: Record<string, unknown>) => [x.prefix, x.network, x.source, x.state]), [
    ['10.245.2.0/24', 'backend', 'bgp', 'installed'], ['10.245.3.0/24', 'backend', 'bgp', 'installed'],
  ])
}

const avail = daemonsAvailable()
;(avail.bird ? test.serial : test.serial.skip)('bird: a fabric network\'s subnets learned from and announced to BIRD over BGP', (t) => scenario(t, 'bird', startBird))
;(avail.frr ? test.serial : test.serial.skip)('frr: a fabric network\'s subnets learned from and announced to FRR over BGP', (t) => scenario(t, 'frr', startFrr))
