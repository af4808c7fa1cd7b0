/**
 * Two hosts announcing the same subnet (issue 5): both report the conflict
 * loudly (log, `fabric status`, `fabric doctor`) and neither installs the
 * other's route.
 */
import test from 'ava'
import { addLabHost, startAgentArgs, waitAgents } from '../../src/lab/lab.js'
import { fabric, fabricRoutes, ip, logEvents, waitFor, waitRoutes, withLab } from './helpers.js'

test('bgp: a host joining with another host\'s subnet is reported on both sides, nothing installed', async (t) => {
  const lab = await withLab(t, { tag: 'du', hosts: 2, mode: 'bgp', iniExtra: ['', '[bgp]', 'asn = 64512', 'hold-time = 9', 'connect-retry-time = 1', 'listen-range = 10.99.0.0/24'] })
  const [h1, h2] = lab.hosts as [typeof lab.hosts[0], typeof lab.hosts[0]]
  await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12'], 20_000)
  // node4 claims node1's subnet
  const h4 = await addLabHost(lab, 4)
  // its docker0 really has that subnet (fabric join checks docker0 against --subnet)
  await ip(h4.ns, 'addr', 'flush', 'dev', 'docker0')
  await ip(h4.ns, 'addr', 'add', '10.244.1.1/24', 'dev', 'docker0')
  startAgentArgs(h4, ['--mode', 'bgp', '--pool', lab.pool, '--address', h4.address, '--subnet', '10.244.1.0/24', '--peer', h1.address, '--connect-retry-time', '1'])
  await waitAgents(lab, [h4])
  const conflicted = async (socket: string) => {
    const r = await fabric(['status', '--json', '--socket', socket])
    const s = JSON.parse(r.stdout) as { healthy: boolean; conflicts: { prefix: string; reason: string }[] }
    return s.conflicts.some((c) => c.prefix === '10.244.1.0/24') ? { code: r.code, s } : undefined
  }
  const on1 = await waitFor(() => conflicted(h1.socket), 20_000, 250)
  const on4 = await waitFor(() => conflicted(h4.socket), 20_000, 250)
  t.truthy(on1, 'node1 reports it')
  t.truthy(on4, 'node4 reports it')
  t.is(on1!.code, 1)
  t.false(on1!.s.healthy)
  t.regex(on1!.s.conflicts.find((c) => c.prefix === '10.244.1.0/24')!.reason, /bgp peer 10\.99\.0\.14 announces 10\.244\.1\.0\/24, inside this host's subnet 10\.244\.1\.0\/24: two hosts have the same subnet/)
  t.regex(on4!.s.conflicts.find((c) => c.prefix === '10.244.1.0/24')!.reason, /peer 10\.99\.0\.11 announces 10\.244\.1\.0\/24/)
  t.like(logEvents(h1.log, 'subnet-conflict')[0], { level: 50, peer: '10.99.0.14', prefix: '10.244.1.0/24' })
  // neither installs the other's route; node2 keeps node1's (the first it chose) and is not disturbed
  t.false((await fabricRoutes(h1.ns)).some((r) => r.startsWith('10.244.1.0/24')))
  t.false((await fabricRoutes(h4.ns)).some((r) => r.startsWith('10.244.1.0/24')))
  t.true((await fabricRoutes(h2.ns)).some((r) => r.startsWith('10.244.1.0/24')))
  const doc = await fabric(['doctor', '--json', '--config', lab.config, '--socket', h1.socket, '--state-dir', h1.dir, '--timeout', '1'], h1.ns)
  t.is(doc.code, 1)
  const routes = (JSON.parse(doc.stdout) as { checks: { name: string; result: string; detail: string }[] }).checks.find((c) => c.name === 'routes')!
  t.is(routes.result, 'fail')
  t.regex(routes.detail, /10\.244\.1\.0\/24 \(bgp peer 10\.99\.0\.14 announces/)
})
