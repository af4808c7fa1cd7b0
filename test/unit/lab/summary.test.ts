/**
 * The summary of `fabric lab status` (src/lab/summary.ts): min / median /
 * max, which hosts count as converged (per family, answering agents only),
 * and the text of the summary and of the reachability matrices, from fake
 * observations.
 */
import test from 'ava'
import type { LabHost, LabSpec, PingResult } from '../../../src/lab/lab.js'
import { type HostObservation, type LabSummary, labFamilies, missingSubnets, renderMatrix, renderSummary, routeStats, summarize, summaryOk } from '../../../src/lab/summary.js'

function host(i: number, v6 = false): LabHost {
  return {
    index: i,
    name: `node${i}`,
    ns: `t-h${i}`,
    containerNs: `t-c${i}`,
    address: `10.99.0.${10 + i}`,
    subnet: `10.244.${i}.0/24`,
    gateway: `10.244.${i}.1`,
    containerIp: `10.244.${i}.2`,
    ...(v6 ? { address6: `fd00:99::${i}`, subnet6: `fd00:fab:0:${i}::/64`, containerIp6: `fd00:fab:0:${i}::2` } : {}),
    dir: `/x/h${i}`,
    socket: `/x/h${i}/fabric.sock`,
    log: `/x/h${i}/agent.log`,
  }
}

const hosts = (n: number, v6 = false): LabHost[] => Array.from({ length: n }, (_, k) => host(k + 1, v6))
const others4 = (hs: LabHost[], me: LabHost): string[] => hs.filter((h) => h !== me).map((h) => h.subnet)
const others6 = (hs: LabHost[], me: LabHost): string[] => hs.filter((h) => h !== me).map((h) => h.subnet6!)

function spec(hs: LabHost[]): LabSpec {
  return { name: 't', mode: 'bgp', hosts: hs, topology: 'mesh', reflectors: [], pool: '10.244.0.0/16', underlay: '10.99.0.0/24', config: '/x/fabric.ini', created: '', joinArgs: [], iniExtra: [] }
}

const allPings = (hs: LabHost[], from: LabHost[]): PingResult[] => from.flatMap((a) => hs.filter((b) => b !== a).map((b) => ({ from: a.name, to: b.name, ok: true })))
const phases = { agentsMs: 300, kernelMs: 200, pingsMs: 100 }

test('routeStats: none, one, odd and even counts (the median of an even count is the mean of the two middle values); the input is not reordered', (t) => {
  t.is(routeStats([]), undefined)
  t.deepEqual(routeStats([7]), { min: 7, median: 7, max: 7 })
  const odd = [199, 3, 198]
  t.deepEqual(routeStats(odd), { min: 3, median: 198, max: 199 })
  t.deepEqual(odd, [199, 3, 198])
  t.deepEqual(routeStats([4, 1, 3, 2]), { min: 1, median: 2.5, max: 4 })
  t.deepEqual(routeStats([5, 5, 0, 5]), { min: 0, median: 5, max: 5 })
  // numeric, not lexical, order
  t.deepEqual(routeStats([10, 9, 100]), { min: 9, median: 10, max: 100 })
})

test('missingSubnets: the other hosts\' subnets not in the set; the own subnet is never expected', (t) => {
  const hs = hosts(3)
  t.deepEqual(missingSubnets(hs, 'node1', 4, new Set(['10.244.2.0/24'])), ['10.244.3.0/24'])
  t.deepEqual(missingSubnets(hs, 'node1', 4, new Set(['10.244.2.0/24', '10.244.3.0/24'])), [])
  // IPv6 of hosts without an IPv6 subnet: nothing expected
  t.deepEqual(missingSubnets(hs, 'node1', 6, new Set()), [])
})

test('summarize: every host complete and answering -> all converged, routes min/median/max over the kernels', (t) => {
  const hs = hosts(4)
  const obs: HostObservation[] = hs.map((h) => ({ name: h.name, healthy: true, kernel: { 4: others4(hs, h) } }))
  const s = summarize({ hosts: hs, observations: obs, pings: { 4: allPings(hs, hs) }, sample: hs, elapsedMs: 400, phases })
  t.is(s.hosts, 4)
  t.is(s.converged, 4)
  t.deepEqual([s.agentsDown, s.unhealthy, s.kernelUnread, s.pingErrors], [[], [], [], []])
  t.is(s.families.length, 1)
  t.like(s.families[0], { family: 4, complete: 4, missing: [], routes: { min: 3, median: 3, max: 3 } })
  t.is(s.families[0]!.pings.length, 12)
  t.true(summaryOk(s))
})

test('summarize: a host missing one route, an agent down (routes kept), an unhealthy agent, an unread kernel, a stale extra route', (t) => {
  const hs = hosts(5)
  const obs: HostObservation[] = [
    { name: 'node1', healthy: true, kernel: { 4: others4(hs, hs[0]!) } },
    // misses node5's subnet
    { name: 'node2', healthy: true, kernel: { 4: others4(hs, hs[1]!).filter((p) => p !== '10.244.5.0/24') } },
    // agent down, its routes still in the kernel (graceful restart): complete but not converged
    { name: 'node3', agentError: 'ECONNREFUSED', kernel: { 4: others4(hs, hs[2]!) } },
    // complete plus a stale extra route: counted, and still converged
    { name: 'node4', healthy: false, kernel: { 4: [...others4(hs, hs[3]!), '10.244.77.0/24'] } },
    { name: 'node5', healthy: true, kernel: 'no routes read from namespace t-h5' },
  ]
  const s = summarize({ hosts: hs, observations: [...obs].reverse(), pings: { 4: [] }, sample: [], elapsedMs: 1, phases })
  t.deepEqual(s.agentsDown, ['node3'])
  t.deepEqual(s.unhealthy, ['node4'])
  t.deepEqual(s.kernelUnread, ['node5'])
  t.deepEqual(s.families[0]!.missing, ['node2'])
  // node1 and node4 (unhealthy agents still answer; converged is about routes)
  t.is(s.converged, 2)
  // complete among the 4 kernels read: node1, node3, node4
  t.is(s.families[0]!.complete, 3)
  t.deepEqual(s.families[0]!.routes, { min: 3, median: 4, max: 5 })
  t.false(summaryOk(s))
})

test('summarize: a host with no observation at all counts as down and unread', (t) => {
  const hs = hosts(3)
  const obs: HostObservation[] = hs.slice(0, 2).map((h) => ({ name: h.name, kernel: { 4: others4(hs, h) } }))
  const s = summarize({ hosts: hs, observations: obs, pings: {}, sample: [], elapsedMs: 1, phases })
  t.deepEqual([s.agentsDown, s.kernelUnread, s.converged], [['node3'], ['node3'], 2])
  t.deepEqual(s.families[0]!.routes, { min: 2, median: 2, max: 2 })
})

test('summarize, dual-stack: converged needs both families; each family has its own missing hosts, counts and pings', (t) => {
  const hs = hosts(3, true)
  t.deepEqual(labFamilies(hs), [4, 6])
  const obs: HostObservation[] = hs.map((h) => ({ name: h.name, kernel: { 4: others4(hs, h), 6: others6(hs, h) } }))
  obs[1] = { name: 'node2', kernel: { 4: others4(hs, hs[1]!), 6: [] } }
  const p6 = allPings(hs, hs).map((p) => (p.from === 'node1' && p.to === 'node2' ? { ...p, ok: false } : p))
  const s = summarize({ hosts: hs, observations: obs, pings: { 4: allPings(hs, hs), 6: p6 }, sample: hs, elapsedMs: 1, phases })
  t.is(s.converged, 2)
  t.like(s.families[0], { family: 4, complete: 3, missing: [], routes: { min: 2, median: 2, max: 2 } })
  t.like(s.families[1], { family: 6, complete: 2, missing: ['node2'], routes: { min: 0, median: 2, max: 2 } })
  t.is(s.families[1]!.pings.filter((p) => !p.ok).length, 1)
  t.false(summaryOk(s))
  // a kernel read without its IPv6 section counts as no IPv6 route
  const s2 = summarize({ hosts: hs, observations: hs.map((h) => ({ name: h.name, kernel: { 4: others4(hs, h) } })), pings: {}, sample: [], elapsedMs: 1, phases })
  t.deepEqual(s2.families[1]!.missing, ['node1', 'node2', 'node3'])
  t.is(s2.converged, 0)
})

test('labFamilies: IPv6 only when every host has an IPv6 subnet and container address', (t) => {
  t.deepEqual(labFamilies(hosts(3)), [4])
  t.deepEqual(labFamilies([...hosts(2, true), host(3)]), [4])
  t.deepEqual(labFamilies([]), [4])
})

test('summaryOk: false for a failed ping or a pinger that could not run, even with every host converged', (t) => {
  const hs = hosts(3)
  const obs: HostObservation[] = hs.map((h) => ({ name: h.name, kernel: { 4: others4(hs, h) } }))
  const pings = allPings(hs, hs)
  t.true(summaryOk(summarize({ hosts: hs, observations: obs, pings: { 4: pings }, sample: hs, elapsedMs: 1, phases })))
  pings[3] = { ...pings[3]!, ok: false }
  t.false(summaryOk(summarize({ hosts: hs, observations: obs, pings: { 4: pings }, sample: hs, elapsedMs: 1, phases })))
  t.false(summaryOk(summarize({ hosts: hs, observations: obs, pings: { 4: allPings(hs, hs) }, sample: hs, pingErrors: ['node1: no perl'], elapsedMs: 1, phases })))
})

test('renderSummary, IPv4 lab: every line', (t) => {
  const hs = hosts(12)
  const sample = [hs[0]!, hs[6]!]
  const obs: HostObservation[] = hs.map((h) => ({ name: h.name, healthy: true, kernel: { 4: others4(hs, h) } }))
  obs[4] = { name: 'node5', agentError: 'timeout', kernel: { 4: others4(hs, hs[4]!).slice(1) } }
  const pings = allPings(hs, sample).map((p) => (p.to === 'node5' ? { ...p, ok: false } : p))
  const s = summarize({ hosts: hs, observations: obs, pings: { 4: pings }, sample, elapsedMs: 1234, phases })
  t.is(renderSummary(spec(hs), s), [
    'lab t: 12 hosts, mode bgp, underlay 10.99.0.0/24, pool 10.244.0.0/16',
    'agents: 11/12 answering',
    "converged: 11/12 hosts have a route to every other host's subnet and an answering agent",
    "routes per host (fabric routes in each host's kernel): min 10, median 11, max 11 (expected 11)",
    'agents not answering: node5',
    'missing routes: node5',
    'reachability: 20/22 pings answered from the containers of node1, node7 to every other container',
    'failed: node1->node5, node7->node5',
    '(1.2 s: agents 0.3 s, kernel routes 0.2 s, pings 0.1 s, at the same time; the full matrix: fabric lab status --name t --matrix)',
  ].join('\n'))
})

test('renderSummary, dual-stack lab: both families on each line, per-family missing and failed, warnings and ping errors', (t) => {
  const hs = hosts(4, true)
  const obs: HostObservation[] = hs.map((h) => ({ name: h.name, kernel: { 4: others4(hs, h), 6: others6(hs, h) } }))
  obs[1] = { name: 'node2', kernel: { 4: others4(hs, hs[1]!), 6: others6(hs, hs[1]!).slice(1) } }
  const p6 = allPings(hs, hs).map((p) => (p.from === 'node3' && p.to === 'node2' ? { ...p, ok: false } : p))
  const s: LabSummary = summarize({
    hosts: hs, observations: obs, pings: { 4: allPings(hs, hs), 6: p6 }, sample: hs, pingErrors: ['node4: pings from namespace t-c4 failed (exit 2): pinger: raw socket'],
    neighShort: 'net.ipv4.neigh.default.gc_thresh3 is 1024, below the 288 ...', elapsedMs: 50, phases,
  })
  const text = renderSummary({ ...spec(hs), pool6: 'fd00:fab::/48' } as LabSpec, s).split('\n')
  t.is(text[0], 'lab t: 4 hosts, mode bgp, underlay 10.99.0.0/24, pool 10.244.0.0/16, IPv6 pool fd00:fab::/48')
  t.is(text[2], "converged: 3/4 hosts have a route to every other host's subnet (IPv4 and IPv6)")
  t.is(text[3], "routes per host (fabric routes in each host's kernel): IPv4 min 3, median 3, max 3; IPv6 min 2, median 3, max 3 (expected 3 each)")
  t.true(text.includes('IPv6 missing routes: node2'))
  t.false(text.some((l) => l.startsWith('IPv4 missing')))
  t.true(text.includes('reachability: IPv4 12/12, IPv6 11/12 pings answered from the containers of node1, node2, node3, node4 to every other container'))
  t.true(text.includes('IPv6 failed: node3->node2'))
  t.true(text.includes('warning: net.ipv4.neigh.default.gc_thresh3 is 1024, below the 288 ...'))
  t.true(text.some((l) => l.startsWith('ping errors: node4: pings from namespace t-c4 failed')))
})

test('renderSummary: long lists are cut with a count', (t) => {
  const hs = hosts(30)
  const obs: HostObservation[] = hs.map((h) => ({ name: h.name, agentError: 'ECONNREFUSED', kernel: { 4: [] } }))
  const s = summarize({ hosts: hs, observations: obs, pings: {}, sample: [], elapsedMs: 1, phases })
  const text = renderSummary(spec(hs), s)
  t.true(text.includes('agents not answering: node1, node2, node3, node4, node5, node6, node7, node8, node9, node10, node11, node12 and 18 more'))
  t.true(text.includes('routes per host (fabric routes in each host\'s kernel): min 0, median 0, max 0 (expected 29)'))
})

test('renderMatrix: ok, FAIL, - for itself and ? for a pair not pinged; rows in host order', (t) => {
  const hs = hosts(3)
  const results: PingResult[] = [
    { from: 'node1', to: 'node2', ok: true }, { from: 'node1', to: 'node3', ok: false },
    { from: 'node2', to: 'node1', ok: true }, { from: 'node2', to: 'node3', ok: true },
    { from: 'node3', to: 'node1', ok: true },
  ]
  t.is(renderMatrix(hs, results), [
    'from \\ to   node1   node2   node3',
    'node1/c     -       ok      FAIL',
    'node2/c     ok      -       ok',
    'node3/c     ok      ?       -',
  ].join('\n'))
})
