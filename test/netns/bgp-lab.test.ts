/**
 * Mode bgp end to end: real `fabric join` agents in network namespaces
 * (src/lab): an iBGP full mesh from fabric.ini, and a route reflector with a
 * listen range that hosts join by flags only. Every lab has a per-run name
 * and is removed in teardown.
 */
import test, { type ExecutionContext } from 'ava'
import { getJson } from '../../src/api/client.js'
import { type LabHost, type LabSpec, addLabHost, reachability, signalAgent, startAgent, startAgentArgs, waitAgents } from '../../src/lab/lab.js'
import { fabric, fabricRoutes, ip, logEvents, waitFor, waitRoutes, withLab } from './helpers.js'

interface PeerRow { peer: string; address: string; state: string; asn?: number; accepted?: number; details?: Record<string, unknown> }

async function peersOf(h: LabHost): Promise<PeerRow[]> {
  const body = await getJson<{ peers: PeerRow[] }>(h.socket, '/v1/peers', 3000)
  return body.peers
}

async function waitEstablished(h: LabHost, n: number, timeoutMs = 30_000): Promise<PeerRow[] | undefined> {
  return waitFor(async () => {
    const p = (await peersOf(h).catch(() => [])).filter((x) => x.state === 'Established')
    return p.length >= n ? p : undefined
  }, timeoutMs, 200)
}

/** Exactly issue 3's flags-only join: no fabric.ini, no --pool (the default pool 10.244.0.0/16 is the lab's), node1 as the one peer. */
const flagsOnly = (h: LabHost) => ['--mode', 'bgp', '--address', h.address, '--subnet', h.subnet,
  '--peer', '10.99.0.11', '--hold-time', '9', '--connect-retry-time', '1']

/** Starts node2 and node3 as flags-only clients of the reflector node1: each gets node1's subnet and the other's. */
async function clientsRouted(t: ExecutionContext, lab: LabSpec, h2: LabHost, h3: LabHost): Promise<void> {
  startAgentArgs(h2, flagsOnly(h2))
  startAgentArgs(h3, flagsOnly(h3))
  await waitAgents(lab)
  t.deepEqual(await waitRoutes(h2.ns, ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13'], 30_000), ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13'])
  t.deepEqual(await waitRoutes(h3.ns, ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.12'], 30_000), ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.12'])
}

test.serial('3 hosts, iBGP full mesh: routes, reachability, SIGKILL kept by graceful restart until the agent is back', async (t) => {
  const lab = await withLab(t, { tag: 'bm', hosts: 3, mode: 'bgp' })
  const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost]
  t.deepEqual(await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'], 30_000), ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'])
  t.deepEqual(await waitRoutes(h2.ns, ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13'], 30_000), ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13'])
  t.deepEqual(await waitRoutes(h3.ns, ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.12'], 30_000), ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.12'])
  const results = await reachability(lab)
  t.deepEqual(results.filter((r) => !r.ok), [])

  // fabric peers: both sessions Established, iBGP, negotiated hold time, one prefix each
  const peers = await waitEstablished(h1, 2)
  t.truthy(peers)
  t.deepEqual(peers!.map((p) => [p.peer, p.address, p.asn, p.accepted]).sort(), [['node2', '10.99.0.12', 64512, 1], ['node3', '10.99.0.13', 64512, 1]])
  t.is(peers![0]!.details!.holdTime, 9)
  t.is(peers![0]!.details!.type, 'ibgp')
  const cli = await fabric(['peers', '--socket', h1.socket])
  t.is(cli.code, 0, cli.stderr)
  t.regex(cli.stdout, /^node2\s+10\.99\.0\.12\s+64512\s+Established/m)
  const routes = JSON.parse((await fabric(['routes', '--json', '--socket', h1.socket])).stdout)
  t.deepEqual(routes.routes.map((r: Record<string, unknown>) => [r.prefix, r.source, r.peer, r.state]), [
    ['10.244.2.0/24', 'bgp', '10.99.0.12', 'installed'],
    ['10.244.3.0/24', 'bgp', '10.99.0.13', 'installed'],
  ])
  const status = await getJson<{ sources: { kind: string; ready: boolean; stats: Record<string, unknown> }[] }>(h1.socket, '/v1/status')
  t.true(status.sources[0]!.ready)
  t.is(status.sources[0]!.stats.established, 2)

  // SIGKILL node3: its kernel closes the sessions and keeps forwarding with its routes, so
  // node1 and node2 keep its subnet, stale, for the restart time (graceful restart helper, issue 10)
  await signalAgent(h3, 'SIGKILL')
  t.truthy(await waitFor(() => logEvents(h1.log, 'session-down').some((e) => e.peer === '10.99.0.13') ? true : undefined, 5_000, 50))
  t.true(logEvents(h1.log, 'session-down').some((e) => e.peer === '10.99.0.13' && /helper/.test(String(e.gracefulRestart))))
  t.deepEqual(await fabricRoutes(h1.ns), ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'])

  // node3 comes back: sessions and routes return, nothing stale left
  startAgent(lab, h3)
  await waitAgents(lab, [h3])
  t.truthy(await waitFor(() => logEvents(h1.log, 'graceful-restart-done').some((e) => e.peer === '10.99.0.13') ? true : undefined, 30_000, 100))
  t.deepEqual(await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'], 30_000), ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'])

  // SIGTERM node2 (a restart: graceful restart, issue 10): Cease/Administrative Reset with a
  // message (N negotiated), the peers keep its route (helper), its own kernel keeps its routes
  await signalAgent(h2, 'SIGTERM')
  t.truthy(await waitFor(async () => logEvents(h1.log, 'notification-received').some((e) => e.peer === '10.99.0.12') ? true : undefined, 5_000, 50))
  t.deepEqual(await fabricRoutes(h1.ns), ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'])
  t.deepEqual(await waitRoutes(h2.ns, ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13'], 1_000), ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13'])
  const received = logEvents(h1.log, 'notification-received').filter((e) => e.peer === '10.99.0.12')
  t.true(received.some((e) => /Administrative Reset \(6\/4\) "fabric agent restarting"/.test(String(e.notification))), JSON.stringify(received))
})

test.serial('route reflector with a listen range: hosts join by flags only, a fourth host knows only the reflector', async (t) => {
  const lab: LabSpec = await withLab(t, { tag: 'br', hosts: 3, mode: 'bgp', start: false })
  const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost]
  // node1: fabric.ini (lists node1..3), reflector for every iBGP peer, accepts anyone from the underlay
  startAgent(lab, h1, { extraArgs: ['--route-reflector', 'yes', '--listen-range', '10.99.0.0/24'] })
  await clientsRouted(t, lab, h2, h3)
  // node2 has a single session: the reflector; the reflected route carries ORIGINATOR_ID / CLUSTER_LIST semantics (next hop unchanged)
  const p2 = await waitEstablished(h2, 1)
  t.deepEqual(p2!.map((p) => p.address), ['10.99.0.11'])

  // a fourth host, not in any file, knowing only the reflector
  const h4 = await addLabHost(lab, 4)
  startAgentArgs(h4, flagsOnly(h4))
  const all = { ...lab, hosts: [h1, h2, h3, h4] }
  await waitAgents(all, [h4])
  const expect4 = ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13']
  t.deepEqual(await waitRoutes(h4.ns, expect4, 30_000), expect4)
  t.deepEqual(await waitRoutes(h2.ns, ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13', '10.244.4.0/24 via 10.99.0.14'], 30_000), ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13', '10.244.4.0/24 via 10.99.0.14'])
  t.deepEqual(await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13', '10.244.4.0/24 via 10.99.0.14'], 30_000), ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13', '10.244.4.0/24 via 10.99.0.14'])
  const results = await reachability(all)
  t.is(results.length, 12)
  t.deepEqual(results.filter((r) => !r.ok), [])
  const p1 = await waitEstablished(h1, 3)
  const dyn = p1!.find((p) => p.address === '10.99.0.14')
  t.truthy(dyn)
  t.is(dyn!.details!.dynamic, true)
  t.is(dyn!.details!.rrClient, true)

  // node4 leaves (`fabric leave`; a SIGKILL would be a restart to graceful restart): the reflector withdraws its subnet from the other clients
  const left = await fabric(['leave', '--yes', '--socket', h4.socket])
  t.is(left.code, 0, left.stderr)
  t.deepEqual(await waitRoutes(h2.ns, ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13'], 9_000), ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13'])
})

test.serial('control-plane-only reflector (install-routes no): clients route to each other, the reflector installs nothing and removes fabric\'s old routes', async (t) => {
  const lab: LabSpec = await withLab(t, { tag: 'bc', hosts: 3, mode: 'bgp', start: false })
  const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost]
  // a route of fabric's protocol left in the reflector's kernel by an earlier run that installed routes
  await ip(h1.ns, 'route', 'add', '10.244.9.0/24', 'via', '10.99.0.12', 'proto', '233')
  startAgent(lab, h1, { extraArgs: ['--route-reflector', 'yes', '--listen-range', '10.99.0.0/24', '--install-routes', 'no'] })
  // the clients: each other's subnet with its own next hop, and the reflector's (it still announces its subnet)
  await clientsRouted(t, lab, h2, h3)
  const between = (await reachability(lab)).filter((r) => r.from !== h1.name && r.to !== h1.name)
  t.deepEqual(between.map((r) => `${r.from}->${r.to} ${r.ok}`).sort(), [`${h2.name}->${h3.name} true`, `${h3.name}->${h2.name} true`])
  // the reflector: no route of fabric's protocol, the old one removed once its sources had their tables
  t.deepEqual(await waitRoutes(h1.ns, [], 30_000), [])
  const rows = await getJson<{ routes: { prefix: string; state: string; reason: string | null }[] }>(h1.socket, '/v1/routes', 3000)
  t.deepEqual(rows.routes.filter((r) => r.prefix !== h1.subnet).map((r) => `${r.prefix} ${r.state}`), ['10.244.2.0/24 not-installed', '10.244.3.0/24 not-installed'])
  t.regex(rows.routes[0]!.reason ?? '', /install-routes = no/)
  const status = await getJson<{ healthy: boolean; kernel: { installRoutes: boolean; routes: { wanted: number } } }>(h1.socket, '/v1/status', 3000)
  t.false(status.kernel.installRoutes)
  t.is(status.kernel.routes.wanted, 0)
  t.true(status.healthy)
  const text = await fabric(['status', '--socket', h1.socket])
  t.is(text.code, 0, text.stderr)
  t.regex(text.stdout, /installs no route \(install-routes = no/)
  const doctor = await fabric(['doctor', '--json', '--config', lab.config, '--socket', h1.socket, '--state-dir', h1.dir, '--timeout', '1'], h1.ns)
  const routesCheck = (JSON.parse(doctor.stdout) as { checks: { name: string; result: string; detail: string }[] }).checks.find((c) => c.name === 'routes')
  t.deepEqual(routesCheck && [routesCheck.result, routesCheck.detail], ['pass', 'installs no route (install-routes = no: control plane only)'])
  // still the reflector: a fourth host's subnet reaches the clients, and nothing reaches the reflector's kernel
  const h4 = await addLabHost(lab, 4)
  startAgentArgs(h4, flagsOnly(h4))
  await waitAgents({ ...lab, hosts: [h1, h2, h3, h4] }, [h4])
  t.deepEqual(await waitRoutes(h2.ns, ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13', '10.244.4.0/24 via 10.99.0.14'], 30_000), ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13', '10.244.4.0/24 via 10.99.0.14'])
  t.deepEqual(await fabricRoutes(h1.ns), [])
})
