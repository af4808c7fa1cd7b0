/**
 * Automatic subnet allocation (issue 5): a host joining with only --pool
 * first learns the subnets the fabric uses (BGP, listening only) and picks
 * one no host announces; the choice is kept across restarts.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { addLabHost, signalAgent, startAgent, startAgentArgs, waitAgents } from '../../src/lab/lab.js'
import { fabric, ip, logEvents, waitRoutes, withLab } from './helpers.js'

test('bgp: a host joining without --subnet avoids every subnet learned from its peer', async (t) => {
  const lab = await withLab(t, { tag: 'ia', hosts: 3, mode: 'bgp', start: false, iniExtra: ['', '[bgp]', 'asn = 64512', 'hold-time = 9', 'connect-retry-time = 1', 'listen-range = 10.99.0.0/24'] })
  const h1 = lab.hosts[0]!
  // node1 reflects: a host that knows only node1 learns every subnet through it
  startAgent(lab, h1, { extraArgs: ['--route-reflector', 'yes'] })
  for (const h of lab.hosts.slice(1)) startAgent(lab, h)
  await waitAgents(lab)
  await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'], 20_000)
  // a pool of four /24s, three of them used by node1-3: only 10.244.0.0/24 is free,
  // and node4 has no fabric.ini: it can only know that from BGP
  const h4 = await addLabHost(lab, 4)
  await ip(h4.ns, 'addr', 'flush', 'dev', 'docker0')
  await ip(h4.ns, 'addr', 'add', '10.244.0.1/24', 'dev', 'docker0')
  const args = ['--mode', 'bgp', '--pool', '10.244.0.0/22', '--address', h4.address, '--peer', h1.address, '--connect-retry-time', '1']
  startAgentArgs(h4, args)
  await waitAgents(lab, [h4], 60_000)
  const st = JSON.parse((await fabric(['status', '--json', '--socket', h4.socket])).stdout) as { host: { subnet: string } }
  t.is(st.host.subnet, '10.244.0.0/24')
  t.like(logEvents(h4.log, 'subnet-discovery-done')[0], { ready: true, learned: 3 })
  t.is(JSON.parse(readFileSync(join(h4.dir, 'ipam.json'), 'utf8')).subnet, '10.244.0.0/24')
  t.deepEqual(await waitRoutes(h1.ns, ['10.244.0.0/24 via 10.99.0.14', '10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'], 20_000), ['10.244.0.0/24 via 10.99.0.14', '10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'])
  // a restart keeps the choice without learning again
  await signalAgent(h4, 'SIGTERM')
  startAgentArgs(h4, args)
  await waitAgents(lab, [h4], 60_000)
  t.is(JSON.parse((await fabric(['status', '--json', '--socket', h4.socket])).stdout).host.subnet, '10.244.0.0/24')
  t.is(logEvents(h4.log, 'subnet-discovery-done').length, 1)
})
