/**
 * RIPng (RFC 2080) in RIP mode end to end: real `fabric join --mode rip`
 * agents on dual-stack lab hosts (IPv6 added by helpers-ripng.ts: underlay
 * fd00:99::N/64, pool6 fd00:fab::/48, subnet6 fd00:fab:0:N::/64), with the
 * lab's short timers (update 5 s, timeout 15 s, garbage collection 10 s).
 * Every lab has a per-run name and is removed in teardown, also on failure.
 */
import test from 'ava'
import { type LabHost, startAgent, signalAgent, waitAgents } from '../../src/lab/lab.js'
import { encodePacket } from '../../src/protocols/ripng/codec.js'
import { getJson } from '../../src/api/client.js'
import { parsePrefix6 } from '../../src/net/ipv6.js'
import { fabric, logEvents, run, waitFor, withLab } from './helpers.js'
import { ripStats } from './helpers-rip.js'
import { addIpv6, fabricRoutes6, host6, linkLocal, ping6, routes6, sendUdp6, waitRoutes6 } from './helpers-ripng.js'

const P6 = (s: string) => {
  const r = parsePrefix6(s)
  if (!r.ok) throw new Error(r.error)
  return r.value
}
const response = (routes: [string, number][]) => encodePacket({ command: 'response', entries: routes.map(([p, metric]) => ({ kind: 'route' as const, prefix: P6(p), tag: 0, metric })) })

interface RipngStats { routes: number; neighbors: number; drops: Record<string, number>; counters: Record<string, number>; 'hop-limit-drops'?: number }

test('3 dual-stack hosts: subnet6 via the link-local next hop dev eth0 proto 233, containers ping over IPv6; leave withdraws at once, a killed agent times out', async (t) => {
  const lab = await withLab(t, { tag: 'r6', hosts: 3, mode: 'rip', start: false })
  const hosts = lab.hosts as [LabHost, LabHost, LabHost]
  const [h1, h2, h3] = hosts
  await addIpv6(lab)
  for (const h of hosts) startAgent(lab, h)
  await waitAgents(lab)
  const ll = new Map<LabHost, string>()
  for (const h of hosts) ll.set(h, await linkLocal(h.ns))
  const others = (me: LabHost, gone: LabHost[] = []) => hosts.filter((h) => h !== me && !gone.includes(h)).map((h) => `${host6(h).subnet6} via ${ll.get(h)} dev eth0`).sort()

  for (const h of hosts) t.deepEqual(await waitRoutes6(h.ns, others(h), 45_000), others(h), `${h.name} installed the others' subnet6`)
  // the kernel metric: 1024 + the RIPng metric (announced 1 + cost 1)
  const r = (await routes6(h1.ns, 'proto', '233')).find((x) => x.dst === host6(h2).subnet6)
  t.is(r?.metric, 1026)
  // IPv4 keeps working next to it
  t.true((await ripStats(h1.socket)).stats.routes === 2)

  // `fabric routes --family 6`: the RIPng routes, installed, with the neighbour as peer
  const rr = await fabric(['routes', '--family', '6', '--json', '--socket', h1.socket])
  t.is(rr.code, 0, rr.stderr)
  const rows = (JSON.parse(rr.stdout) as { routes: { family: number; prefix: string; nextHop: string; device: string; source: string; peer: string; metric: number; state: string }[] }).routes
  t.deepEqual(rows.map((x) => `${x.family} ${x.prefix} ${x.nextHop} ${x.device} ${x.source} ${x.peer} ${x.metric} ${x.state}`).sort(), [h2, h3].map((h) => `6 ${host6(h).subnet6} ${ll.get(h)} eth0 ripng ${ll.get(h)} 2 installed`).sort())

  // a container reaches the other hosts' containers over IPv6
  t.true(await ping6(h1.containerNs, host6(h2).containerIp6), 'c1 -> c2 over IPv6')
  t.true(await ping6(h3.containerNs, host6(h1).containerIp6), 'c3 -> c1 over IPv6')

  // `fabric peers`: the RIPng neighbours (link-local addresses) next to the RIP ones, source rip
  const peers = await fabric(['peers', '--json', '--socket', h1.socket])
  t.is(peers.code, 0, peers.stderr)
  const body = JSON.parse(peers.stdout) as { peers: { source: string; address: string; state: string; accepted: number; details: { protocol?: string } }[] }
  const ng = body.peers.filter((p) => p.details.protocol === 'ripng')
  t.deepEqual(ng.map((p) => [p.source, p.address, p.state, p.accepted]).sort(), [[ll.get(h2), 'up', 1], [ll.get(h3), 'up', 1]].map((x) => ['rip', ...x]).sort())
  t.is(body.peers.filter((p) => p.details.protocol !== 'ripng').length, 2, 'the two RIP neighbours are still listed')
  const stats = (await ripStats(h1.socket)).stats.ripng as RipngStats
  t.is(stats.routes, 2)
  t.is(stats.neighbors, 2)
  t.true(logEvents(h1.log, 'ripng-started').some((l) => l.interface === 'eth0' && l.linkLocal === ll.get(h1)))

  // fabric leave on node2: metric 16 for its subnet6, the others drop it at once (a timeout would take at
  // least 10 s: 15 s after the last of node2's 5 s updates)
  const leave = await fabric(['leave', '--yes', '--socket', h2.socket])
  t.is(leave.code, 0, leave.stderr)
  t.deepEqual(await waitRoutes6(h1.ns, others(h1, [h2]), 10_000), others(h1, [h2]))
  t.deepEqual(await waitRoutes6(h3.ns, others(h3, [h2]), 10_000), others(h3, [h2]))
  const gone = Date.now()
  const poisoned = logEvents(h2.log, 'ripng-leave')
  t.is(poisoned.length, 1)
  const took = gone - Date.parse(String(poisoned[0]?.time))
  t.true(took < 6000, `withdrawn ${took} ms after the poison was sent, expected well before the 15 s timeout`)

  // SIGKILL node3: no goodbye, node1 times its subnet6 out (15 s after the last update)
  await signalAgent(h3, 'SIGKILL')
  const killed = Date.now()
  t.deepEqual(await waitRoutes6(h1.ns, [], 45_000), [])
  const timedOut = Date.now() - killed
  t.true(timedOut >= 8000, `route left after ${timedOut} ms, expected the ~15 s timeout`)
  const after = (await ripStats(h1.socket)).stats.ripng as RipngStats
  t.true((after.counters['routes-timed-out'] ?? 0) >= 1)
})

test('RIPng only believes the underlay: hop limit below 255, global sources, other ports, prefixes outside pool6 and the container side are refused; a container-facing underlay stops join with exit 2', async (t) => {
  // node1 runs an agent; node2's namespace is the sender on the underlay (no agent there)
  const lab = await withLab(t, { tag: 'r7', hosts: 3, mode: 'rip', start: false })
  const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost]
  await addIpv6(lab)
  startAgent(lab, h1)
  await waitAgents(lab, [h1])
  const ll2 = await linkLocal(h2.ns)
  await waitFor(() => (logEvents(h1.log, 'ripng-started').length > 0 ? true : undefined), 15_000)
  const from = (o: Partial<Parameters<typeof sendUdp6>[1]> & { payloads: Buffer[] }) => sendUdp6(h2.ns, { src: ll2, dev: 'eth0', sport: 521, to: 'ff02::9', dport: 521, hopLimit: 255, ...o })

  // multicast with hop limit 64: dropped by the ip6tables rule before the agent sees it
  await from({ hopLimit: 64, payloads: [response([['fd00:fab:0:21::/64', 1]])] })
  // from a global address, from another port, outside pool6: refused by the engine
  await from({ src: host6(h2).address6, payloads: [response([['fd00:fab:0:22::/64', 1]])] })
  await from({ sport: 5210, payloads: [response([['fd00:fab:0:23::/64', 1]])] })
  await from({ payloads: [response([['fd00:77::/64', 1]])] })
  // node1's own container (behind docker0) to ff02::9 and to the host's link-local there: no RIPng socket on docker0
  const c1ll = await linkLocal(h1.containerNs)
  await sendUdp6(h1.containerNs, { src: c1ll, dev: 'eth0', sport: 521, to: 'ff02::9', dport: 521, hopLimit: 255, payloads: [response([['fd00:fab:0:24::/64', 1]])] })
  await sendUdp6(h1.containerNs, { src: c1ll, dev: 'eth0', sport: 521, to: await linkLocal(h1.ns, 'docker0'), dport: 521, hopLimit: 255, payloads: [response([['fd00:fab:0:25::/64', 1]])] })
  // and to the link-local address RIPng is bound to (eth0's), sent out of the container's link: scoped to eth0, not delivered
  await sendUdp6(h1.containerNs, { src: c1ll, dev: 'eth0', sport: 521, to: await linkLocal(h1.ns), dport: 521, hopLimit: 255, payloads: [response([['fd00:fab:0:27::/64', 1]])] })
  // and one valid response: link-local source, port 521, hop limit 255, inside pool6
  await from({ payloads: [response([['fd00:fab:0:26::/64', 1]])] })
  // node1's own subnet6 announced as connected by node2: a duplicate subnet6, never learned
  await from({ payloads: [response([[host6(h1).subnet6, 1]])] })

  const want = [`fd00:fab:0:26::/64 via ${ll2} dev eth0`]
  t.deepEqual(await waitRoutes6(h1.ns, want, 10_000), want, 'only the valid route is installed')
  const stats = await waitFor(async () => {
    const s = (await ripStats(h1.socket)).stats.ripng as RipngStats
    return (s['hop-limit-drops'] ?? 0) >= 1 ? s : undefined
  }, 15_000, 500)
  const last = (await ripStats(h1.socket)).stats.ripng as RipngStats
  t.truthy(stats, `hop-limit drops: ${JSON.stringify(last)}`)
  t.is(last.drops['drop-packet:not-link-local'], 1)
  t.is(last.drops['drop-packet:bad-port'], 1)
  t.is(last.drops['drop-entry:not-allowed'], 1)
  t.is((await fabricRoutes6(h1.ns)).length, 1)
  t.deepEqual((last as unknown as { 'subnet-conflicts': unknown[] })['subnet-conflicts'], [{ peer: ll2, prefix: host6(h1).subnet6 }])
  const conflict = await waitFor(() => logEvents(h1.log, 'subnet-conflict').find((l) => l.family === 6), 10_000)
  t.is(conflict?.peer, ll2)
  t.is(conflict?.prefix, host6(h1).subnet6)
  // the agent reports it like an IPv4 duplicate subnet: a conflict, unhealthy
  const st = await waitFor(async () => {
    const s = await getJson<{ healthy: boolean; conflicts: { prefix: string; reason: string }[] }>(h1.socket, '/v1/status', 3000)
    return s.conflicts.some((c) => c.prefix === host6(h1).subnet6) ? s : undefined
  }, 10_000, 200)
  t.false(st?.healthy, 'a duplicate subnet6 makes the agent unhealthy')
  t.regex(st?.conflicts.find((c) => c.prefix === host6(h1).subnet6)?.reason ?? '', /inside this host's subnet fd00:fab:/)

  // an underlay holding an address inside pool6 faces containers: `fabric join` refuses RIPng there
  await run6(h3.ns, ['addr', 'add', 'fd00:fab:0:99::5/128', 'dev', 'eth0', 'nodad'])
  const refused = await fabric(['join', '--config', lab.config, '--address', h3.address, '--state-dir', h3.dir, '--socket', h3.socket], h3.ns)
  t.is(refused.code, 2, refused.stderr)
  t.regex(refused.stderr, /RIPng interface "eth0": its address fd00:fab:0:99::5 is inside pool6 fd00:fab::\/48: the interface faces containers/)
  t.deepEqual(await fabricRoutes6(h3.ns), [], 'nothing installed on the refused host')
})

async function run6(ns: string, args: string[]): Promise<void> {
  const r = await run('ip', ['-n', ns, '-6', ...args])
  if (r.code !== 0) throw new Error(r.stderr)
}
