/**
 * Static mode end to end: real `fabric join` agents in network namespaces
 * (see src/lab). Every lab has a per-run name and is removed in teardown.
 */
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import test from 'ava'
import { getJson } from '../../src/api/client.js'
import type { RoutesResponse } from '../../src/api/types.js'
import { reachability, signalAgent, startAgent, waitAgents } from '../../src/lab/lab.js'
import { fabric, fabricRoutes, ip, logEvents, routesIn, waitFor, waitRoutes, withLab } from './helpers.js'

test.serial('3 hosts: every container reaches every other, routes via underlay addresses', async (t) => {
  const lab = await withLab(t, { tag: 'st', hosts: 3 })
  t.deepEqual(await waitRoutes(lab.hosts[0]!.ns, ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13']), ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'])
  t.deepEqual(await waitRoutes(lab.hosts[2]!.ns, ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.12']), ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.12'])
  const results = await reachability(lab)
  t.is(results.length, 6)
  t.deepEqual(results.filter((r) => !r.ok), [])
  // forwarding was enabled by the agent in each host namespace
  t.is((await ip(lab.hosts[1]!.ns, 'netns', 'identify')).length >= 0, true)
  const fwd = await fabric(['status', '--json', '--socket', lab.hosts[1]!.socket])
  t.is(fwd.code, 0, fwd.stderr)
  const status = JSON.parse(fwd.stdout)
  t.is(status.host.name, 'node2')
  t.true(status.healthy)
  t.deepEqual(status.kernel.routes, { wanted: 2, installed: 2, pending: 0, conflict: 0, notOnLink: 0, error: 0 })

  // fabric routes: table and JSON
  const json = await fabric(['routes', '--json', '--socket', lab.hosts[0]!.socket])
  t.is(json.code, 0, json.stderr)
  const body = JSON.parse(json.stdout)
  t.is(body.agent, 'running')
  t.deepEqual(body.routes.map((r: Record<string, unknown>) => [r.prefix, r.nextHop, r.device, r.source, r.peer, r.state]), [
    ['10.244.2.0/24', '10.99.0.12', 'eth0', 'static', 'node2', 'installed'],
    ['10.244.3.0/24', '10.99.0.13', 'eth0', 'static', 'node3', 'installed'],
  ])
  const table = await fabric(['routes', '--socket', lab.hosts[0]!.socket])
  t.is(table.code, 0)
  t.regex(table.stdout, /^PREFIX\s+NEXT HOP\s+DEV\s+SOURCE\s+METRIC\s+AGE\s+STATE$/m)
  t.regex(table.stdout, /^10\.244\.2\.0\/24\s+10\.99\.0\.12\s+eth0\s+static\/node2\s+0\s+\d+s\s+installed$/m)
})

test.serial('a route deleted or changed by hand is restored within 10 s', async (t) => {
  const lab = await withLab(t, { tag: 'rs', hosts: 2 })
  const ns = lab.hosts[0]!.ns
  await waitRoutes(ns, ['10.244.2.0/24 via 10.99.0.12'])
  await ip(ns, 'route', 'del', '10.244.2.0/24', 'proto', '233')
  const t0 = Date.now()
  t.deepEqual(await waitRoutes(ns, ['10.244.2.0/24 via 10.99.0.12'], 10_000), ['10.244.2.0/24 via 10.99.0.12'])
  t.true(Date.now() - t0 < 10_000)
  // changed by hand: same protocol, wrong next hop
  await ip(ns, 'route', 'replace', '10.244.2.0/24', 'via', '10.99.0.99', 'proto', '233')
  t.deepEqual(await waitRoutes(ns, ['10.244.2.0/24 via 10.99.0.12'], 10_000), ['10.244.2.0/24 via 10.99.0.12'])
  t.true(logEvents(lab.hosts[0]!.log, 'kernel-route-drift').length >= 2)
})

test.serial('SIGHUP applies fabric.ini changes: host removed, added back, moved', async (t) => {
  const lab = await withLab(t, { tag: 'hu', hosts: 3 })
  const [h1, h2, h3] = lab.hosts as [typeof lab.hosts[0], typeof lab.hosts[0], typeof lab.hosts[0]]
  await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'])
  const ageOfNode2 = async (): Promise<number> => {
    const body = await getJson<RoutesResponse>(h1.socket, '/v1/routes')
    return body.routes.find((r) => r.peer === 'node2')?.age ?? -1
  }
  await new Promise((r) => setTimeout(r, 2500))
  const ageBefore = await ageOfNode2()
  t.true(ageBefore >= 2, `node2's route is ${ageBefore}s old`)
  const original = readFileSync(lab.config, 'utf8')
  // remove node3 from the file: node1 and node2 drop its route
  writeFileSync(lab.config, original.replace(/\n\[host\.node3\][^[]*/, '\n'))
  await signalAgent(h1, 'SIGHUP', false)
  await signalAgent(h2, 'SIGHUP', false)
  t.deepEqual(await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12']), ['10.244.2.0/24 via 10.99.0.12'])
  // node2 did not change: its route is the same one, its AGE goes on
  t.true((await ageOfNode2()) >= ageBefore, 'the AGE of an unchanged host\'s route survives a reload')
  t.deepEqual(await waitRoutes(h2.ns, ['10.244.1.0/24 via 10.99.0.11']), ['10.244.1.0/24 via 10.99.0.11'])
  // node3's own agent still has its file entry removed: it refuses the reload and keeps running
  await signalAgent(h3, 'SIGHUP', false)
  await waitFor(() => (logEvents(h3.log, 'config-reload-refused').length > 0 ? true : undefined), 5000)
  t.regex(String(logEvents(h3.log, 'config-reload-refused')[0]?.error), /this host \(node3\) was removed or changed/)
  // put node3 back with a moved subnet (10.244.33.0/24): others install the new prefix
  writeFileSync(lab.config, original.replace('subnet = 10.244.3.0/24', 'subnet = 10.244.33.0/24'))
  await signalAgent(h1, 'SIGHUP', false)
  t.deepEqual(await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12', '10.244.33.0/24 via 10.99.0.13']), ['10.244.2.0/24 via 10.99.0.12', '10.244.33.0/24 via 10.99.0.13'])
  // a broken file on reload changes nothing
  writeFileSync(lab.config, original.replace('pool = 10.244.0.0/16', 'pool = banana'))
  await signalAgent(h1, 'SIGHUP', false)
  await waitFor(() => (logEvents(h1.log, 'config-reload-refused').length > 0 ? true : undefined), 5000)
  t.regex(String(logEvents(h1.log, 'config-reload-refused')[0]?.error), /pool = "banana"/)
  t.deepEqual(await fabricRoutes(h1.ns), ['10.244.2.0/24 via 10.99.0.12', '10.244.33.0/24 via 10.99.0.13'])
})

test.serial('SIGTERM leaves routes in place; a restart adopts them without delete/re-add', async (t) => {
  const lab = await withLab(t, { tag: 'rr', hosts: 3 })
  const h1 = lab.hosts[0]!
  const want = ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13']
  await waitRoutes(h1.ns, want)
  await signalAgent(h1, 'SIGTERM')
  t.deepEqual(await fabricRoutes(h1.ns), want, 'routes survive the agent')
  t.deepEqual((await reachability(lab)).filter((r) => !r.ok), [], 'traffic still flows with the agent stopped')
  // fabric routes with the agent down: exit 1, routes read from the kernel
  const down = await fabric(['routes', '--json', '--socket', h1.socket, '--state-dir', h1.dir], h1.ns)
  t.is(down.code, 1)
  const body = JSON.parse(down.stdout)
  t.is(body.agent, 'down')
  t.deepEqual(body.routes.map((r: { prefix: string; state: string }) => `${r.prefix} ${r.state}`), ['10.244.2.0/24 kernel-only', '10.244.3.0/24 kernel-only'])
  // watch route events while the agent restarts
  const monitor = spawn('ip', ['-n', h1.ns, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] })
  let events = ''
  monitor.stdout.on('data', (d: Buffer) => (events += d.toString()))
  t.teardown(() => monitor.kill())
  await new Promise((r) => setTimeout(r, 300))
  startAgent(lab, h1)
  await waitAgents(lab, [h1])
  const status = await getJson<{ kernel: { routes: { installed: number } } }>(h1.socket, '/v1/status')
  t.is(status.kernel.routes.installed, 2)
  await new Promise((r) => setTimeout(r, 3000)) // past one periodic reconcile (2 s in the lab)
  monitor.kill()
  t.is(events.split('\n').filter((l) => l.includes('10.244.')).join('\n'), '', 'no route events for fabric prefixes during restart')
  t.like(logEvents(h1.log, 'kernel-synced').at(-1), { added: 0, unchanged: 2 })
})

test.serial('a foreign route on the same prefix is left alone and reported as a conflict', async (t) => {
  const lab = await withLab(t, { tag: 'fo', hosts: 3, start: false })
  const h1 = lab.hosts[0]!
  await ip(h1.ns, 'route', 'add', '10.244.3.0/24', 'via', '10.99.0.13', 'proto', 'static', 'metric', '50')
  for (const h of lab.hosts) startAgent(lab, h)
  await waitAgents(lab)
  t.deepEqual(await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12']), ['10.244.2.0/24 via 10.99.0.12'])
  const foreign = await routesIn(h1.ns, '10.244.3.0/24')
  t.deepEqual(foreign.map((r) => [r.dst, r.gateway, r.protocol, r.metric]), [['10.244.3.0/24', '10.99.0.13', 'static', 50]])
  const st = await fabric(['status', '--json', '--socket', h1.socket])
  t.is(st.code, 1, 'unhealthy while a conflict exists')
  const status = JSON.parse(st.stdout)
  t.deepEqual(status.conflicts.map((c: { prefix: string }) => c.prefix), ['10.244.3.0/24'])
  t.regex(status.conflicts[0].reason, /protocol 4 via 10\.99\.0\.13/)
  const routes = JSON.parse((await fabric(['routes', '--json', '--socket', h1.socket])).stdout)
  t.deepEqual(routes.routes.find((r: { prefix: string }) => r.prefix === '10.244.3.0/24').state, 'conflict')
  t.like(logEvents(h1.log, 'route-conflict')[0], { prefix: '10.244.3.0/24' })
  // the operator removes the foreign route: fabric installs its own
  await ip(h1.ns, 'route', 'del', '10.244.3.0/24', 'proto', 'static')
  t.deepEqual(await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13']), ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'])
})

test.serial('a next hop that is not on-link is refused, naming peer, address and interface', async (t) => {
  const lab = await withLab(t, { tag: 'nl', hosts: 2, start: false })
  writeFileSync(lab.config, `${readFileSync(lab.config, 'utf8')}\n[host.far]\naddress = 10.98.0.5\nsubnet = 10.244.50.0/24\n`)
  for (const h of lab.hosts) startAgent(lab, h)
  await waitAgents(lab)
  const h1 = lab.hosts[0]!
  t.deepEqual(await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12']), ['10.244.2.0/24 via 10.99.0.12'])
  const routes = JSON.parse((await fabric(['routes', '--json', '--socket', h1.socket])).stdout)
  const far = routes.routes.find((r: { prefix: string }) => r.prefix === '10.244.50.0/24')
  t.is(far.state, 'not-on-link')
  t.regex(far.reason, /next hop 10\.98\.0\.5 of peer far is not on a directly connected network \(connected: eth0 10\.99\.0\.0\/24, docker0 10\.244\.1\.0\/24\)/)
  t.like(logEvents(h1.log, 'route-refused')[0], { peer: 'far', nextHop: '10.98.0.5', prefix: '10.244.50.0/24' })
})

test.serial('an invalid config is refused with exit 2 and nothing on the host changes', async (t) => {
  const lab = await withLab(t, { tag: 'ic', hosts: 2, start: false })
  const h1 = lab.hosts[0]!
  await run_('sysctl', ['-w', 'net.ipv4.ip_forward=0'], h1.ns)
  const bad = readFileSync(lab.config, 'utf8').replace('subnet = 10.244.2.0/24', 'subnet = 10.245.2.0/24')
  writeFileSync(lab.config, bad)
  const r = await fabric(['join', '--config', lab.config, '--state-dir', h1.dir, '--socket', h1.socket], h1.ns)
  t.is(r.code, 2)
  t.regex(r.stderr, /invalid configuration, nothing was changed:\n.*fabric\.ini:\d+ \[host\.node2\] subnet = "10\.245\.2\.0\/24": a subnet inside the pool 10\.244\.0\.0\/16/)
  t.is((await run_('cat', ['/proc/sys/net/ipv4/ip_forward'], h1.ns)).trim(), '0')
  t.deepEqual(await fabricRoutes(h1.ns), [])
  // an address that is not this host's: exit 2 too
  writeFileSync(lab.config, bad.replace('10.245.2.0/24', '10.244.2.0/24'))
  const r2 = await fabric(['join', '--config', lab.config, '--address', '10.99.0.77', '--state-dir', h1.dir, '--socket', h1.socket], h1.ns)
  t.is(r2.code, 2)
  t.regex(r2.stderr, /--address 10\.99\.0\.77 is not assigned to any interface of this host/)
  t.is((await run_('cat', ['/proc/sys/net/ipv4/ip_forward'], h1.ns)).trim(), '0')
})

async function run_(cmd: string, args: string[], ns: string): Promise<string> {
  const { run } = await import('../../src/lab/sh.js')
  const r = await run('ip', ['netns', 'exec', ns, cmd, ...args])
  if (r.code !== 0) throw new Error(r.stderr)
  return r.stdout
}

test.serial('fabric leave: removes fabric routes and stops the agent; offline it removes the kernel routes', async (t) => {
  const lab = await withLab(t, { tag: 'lv', hosts: 3 })
  const [h1, h2] = lab.hosts as [typeof lab.hosts[0], typeof lab.hosts[0]]
  await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'])
  const noTty = await fabric(['leave', '--socket', h1.socket])
  t.is(noTty.code, 2, 'without a terminal, --yes is required')
  t.deepEqual((await fabricRoutes(h1.ns)).length, 2, 'nothing changed')
  const r = await fabric(['leave', '--yes', '--socket', h1.socket])
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /node1 left the fabric: 2 routes removed/)
  t.deepEqual(await fabricRoutes(h1.ns), [])
  t.truthy(await waitFor(async () => ((await (await import('../../src/lab/lab.js')).agentPids(h1)).length === 0 ? true : undefined), 10_000), 'agent exited')
  // agent down on node2: leave removes the kernel routes of protocol 233
  await signalAgent(h2, 'SIGTERM')
  const off = await fabric(['leave', '--yes', '--socket', h2.socket, '--state-dir', h2.dir, '--config', lab.config], h2.ns)
  t.is(off.code, 0, off.stderr)
  t.regex(off.stdout, /agent not running: removed 2 routes of protocol 233/)
  t.deepEqual(await fabricRoutes(h2.ns), [])
})

test.serial('flags come from FABRIC_* environment variables too; a flag wins over its variable', async (t) => {
  const lab = await withLab(t, { tag: 'ev', hosts: 2, start: false })
  const h1 = lab.hosts[0]!
  const bad = await fabric(['join', '--config', lab.config, '--state-dir', h1.dir, '--socket', h1.socket], h1.ns, { FABRIC_POOL: '10.244.0.0/33' })
  t.is(bad.code, 2)
  t.regex(bad.stderr, /--pool \(or FABRIC_POOL\) pool = "10\.244\.0\.0\/33"/)
  // flags win: the env says pool banana and protocol 12 (BIRD's), the flags fix both
  startAgent(lab, h1, { extraArgs: ['--pool', '10.244.0.0/16', '--route-protocol', '150'], env: { FABRIC_POOL: 'banana', FABRIC_ROUTE_PROTOCOL: '12' } })
  await waitAgents(lab, [h1])
  t.deepEqual(await waitFor(async () => {
    const r = await fabricRoutes(h1.ns, '150')
    return r.length === 1 ? r : undefined
  }, 10_000), ['10.244.2.0/24 via 10.99.0.12'])
})
