/**
 * Dual-stack labs (issue 13, `fabric lab up --ipv6`): 3 hosts in each mode
 * (static, rip with RIPng, bgp with MP-BGP over the IPv4 sessions), real
 * agents. Every container reaches every other over IPv4 and IPv6 (pings
 * from the container namespaces), every host holds fabric's routes (proto
 * 233) to the other hosts' subnets in both families and nothing else routes
 * them, and the agent turned IPv6 forwarding on; then 4 hosts under 2 of
 * fabric's route reflectors, joined by flags. Then the CLI: `lab up
 * --ipv6`, the hosts' IPv6 addresses in lab.json for other processes, `lab
 * down` leaving nothing, and `lab demo --ipv6`. Every lab has a per-run
 * name and is removed in teardown, also when a test fails.
 */
import { existsSync } from 'node:fs'
import test, { type ExecutionContext } from 'ava'
import type { Mode } from '../../src/config/fabric-config.js'
import { type LabHost, type LabSpec, fabricRoutes6, labDir, labDown, labNamespaces, reachability, readLab } from '../../src/lab/lab.js'
import { fabric, routesIn, run, uniqueName, waitFor, waitRoutes, withLab } from './helpers.js'

const others = (lab: LabSpec, me: LabHost): LabHost[] => lab.hosts.filter((h) => h !== me)

/** The link-local address of a host's eth0 (RIPng's next hop, and BGP's when it sends one). */
async function linkLocal(h: LabHost): Promise<string> {
  const r = await run('ip', ['-n', h.ns, '-6', '-j', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'])
  // iproute2 prints an empty {} for each address the scope filter leaves out
  const addr = (JSON.parse(r.stdout || '[]') as { addr_info: { local?: string }[] }[])[0]?.addr_info.find((a) => a.local?.startsWith('fe80:'))?.local
  if (!addr) throw new Error(`${h.ns} eth0 has no link-local address`)
  return addr
}

async function sysctl6(ns: string, path: string): Promise<string> {
  const r = await run('nsenter', [`--net=/run/netns/${ns}`, 'cat', `/proc/sys/net/ipv6/${path}`])
  return r.stdout.trim()
}

/** Pings in one family until every pair answers or the timeout; the last results. */
async function pingAll(lab: LabSpec, family: 4 | 6, timeoutMs = 30_000): Promise<{ from: string; to: string; ok: boolean }[]> {
  let last: { from: string; to: string; ok: boolean }[] = []
  await waitFor(async () => {
    last = await reachability(lab, 2, family)
    return last.every((r) => r.ok) ? true : undefined
  }, timeoutMs, 200)
  return last
}

/** For a failed assertion: one verbose ping of the first failed pair and the neighbour and route tables on its way. */
async function diagnose(lab: LabSpec, failed: { from: string; to: string }[], family: 4 | 6): Promise<string> {
  const f = failed[0]
  if (!f) return ''
  const a = lab.hosts.find((h) => h.name === f.from)!
  const b = lab.hosts.find((h) => h.name === f.to)!
  const to = family === 6 ? b.containerIp6! : b.containerIp
  const out = [await run('ip', ['netns', 'exec', a.containerNs, 'ping', '-n', '-c', '1', '-W', '2', to])]
  for (const ns of [a.ns, b.ns]) out.push(await run('ip', ['-n', ns, `-${family}`, 'neigh']), await run('ip', ['-n', ns, `-${family}`, 'route']))
  return out.map((r) => (r.stdout + r.stderr).trim()).join('\n---\n')
}

/**
 * Waits until host h's fabric IPv6 routes are exactly one per other host's
 * subnet6, via eth0 and a next hop of that host: its address6 (static) or
 * either its address6 or its eth0 link-local (RIPng's next hop is the
 * sender's link-local; MP-BGP may send and install one, RFC 2545).
 */
async function waitRoutes6(t: ExecutionContext, lab: LabSpec, h: LabHost, timeoutMs: number): Promise<boolean> {
  const hops = new Map<string, string[]>()
  for (const o of others(lab, h)) hops.set(o.subnet6!, lab.mode === 'static' ? [o.address6!] : [o.address6!, await linkLocal(o)])
  let last: Awaited<ReturnType<typeof fabricRoutes6>> = []
  const ok = await waitFor(async () => {
    last = await fabricRoutes6(h.ns)
    const good = last.length === hops.size && last.every((r) => r.dev === 'eth0' && hops.get(r.dst)?.includes(r.gateway ?? '') === true)
    return good ? true : undefined
  }, timeoutMs, 200)
  t.true(ok === true, `${h.name}: IPv6 routes ${JSON.stringify(last)}, expected one per subnet6 of ${JSON.stringify([...hops])}`)
  return ok === true
}

async function dualStack(t: ExecutionContext, mode: Mode, tag: string, timeoutMs: number): Promise<void> {
  const lab = await withLab(t, { tag, hosts: 3, mode, ipv6: true })
  t.is(lab.pool6, 'fd00:fab::/48')
  t.deepEqual(lab.hosts.map((h) => [h.address6, h.subnet6, h.containerIp6]), [
    ['fd00:99::1', 'fd00:fab:0:1::/64', 'fd00:fab:0:1::2'],
    ['fd00:99::2', 'fd00:fab:0:2::/64', 'fd00:fab:0:2::2'],
    ['fd00:99::3', 'fd00:fab:0:3::/64', 'fd00:fab:0:3::2'],
  ])
  for (const h of lab.hosts) {
    const want = others(lab, h).map((o) => `${o.subnet} via ${o.address}`).sort()
    t.deepEqual(await waitRoutes(h.ns, want, timeoutMs), want, `${h.name}: IPv4 routes`)
    if (!(await waitRoutes6(t, lab, h, timeoutMs))) return // failed: the other hosts would only wait as long
    // nothing but fabric routes the other hosts' subnets, in either family
    for (const o of others(lab, h)) {
      t.deepEqual((await routesIn(h.ns, o.subnet)).map((r) => r.protocol), ['233'], `${h.name}: ${o.subnet}`)
      const six = await run('ip', ['-n', h.ns, '-6', '-j', 'route', 'show', o.subnet6!])
      t.deepEqual((JSON.parse(six.stdout || '[]') as { protocol: string }[]).map((r) => r.protocol), ['233'], `${h.name}: ${o.subnet6}`)
    }
    t.is(await sysctl6(h.ns, 'conf/all/forwarding'), '1', `${h.name}: the agent enabled IPv6 forwarding`)
  }
  const v4 = await pingAll(lab, 4)
  t.is(v4.length, 6)
  const fail4 = v4.filter((r) => !r.ok)
  t.deepEqual(fail4, [], `every container reaches every other over IPv4\n${await diagnose(lab, fail4, 4)}`)
  const v6 = await pingAll(lab, 6)
  t.is(v6.length, 6)
  const fail6 = v6.filter((r) => !r.ok)
  t.deepEqual(fail6, [], `every container reaches every other over IPv6\n${await diagnose(lab, fail6, 6)}`)
  // the container pinged is the other host's: its IPv6 address answers from inside that container's namespace only
  const c1 = lab.hosts[0]!
  const own = await run('ip', ['-n', c1.containerNs, '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'])
  t.regex(own.stdout, /inet6 fd00:fab:0:1::2\/64/)
}

test.serial('static, 3 dual-stack hosts: every container reaches every other over IPv4 and IPv6; routes proto 233 in both families', async (t) => {
  await dualStack(t, 'static', 's6', 30_000)
})

test.serial('rip (RIPv2 + RIPng), 3 dual-stack hosts: every container reaches every other over IPv4 and IPv6; routes proto 233 in both families', async (t) => {
  await dualStack(t, 'rip', 'r6', 45_000)
})

test.serial('bgp (MP-BGP over the IPv4 sessions), 3 dual-stack hosts: every container reaches every other over IPv4 and IPv6; routes proto 233 in both families', async (t) => {
  await dualStack(t, 'bgp', 'b6', 30_000)
})

test.serial('fabric lab up --ipv6 prints the IPv6 addressing and records it in lab.json; lab down leaves nothing', async (t) => {
  const name = uniqueName('u6')
  t.teardown(() => labDown(name).then(() => undefined))
  const up = await fabric(['lab', 'up', '--name', name, '--hosts', '2', '--ipv6', '--log-level', 'info'])
  t.is(up.code, 0, up.stderr)
  t.regex(up.stdout, /node1 10\.99\.0\.11 10\.244\.1\.0\/24 fd00:99::1 fd00:fab:0:1::\/64, node2 10\.99\.0\.12 10\.244\.2\.0\/24 fd00:99::2 fd00:fab:0:2::\/64/)
  // another process (lab status, the tests) sees every host's IPv6 addresses
  const spec = readLab(name)!
  t.is(spec.pool6, 'fd00:fab::/48')
  t.deepEqual(spec.hosts.map((h) => [h.address6, h.subnet6, h.gateway6, h.containerIp6]), [
    ['fd00:99::1', 'fd00:fab:0:1::/64', 'fd00:fab:0:1::1', 'fd00:fab:0:1::2'],
    ['fd00:99::2', 'fd00:fab:0:2::/64', 'fd00:fab:0:2::1', 'fd00:fab:0:2::2'],
  ])
  t.deepEqual((await pingAll(spec, 6)).filter((r) => !r.ok), [])
  const down = await fabric(['lab', 'down', '--name', name])
  t.is(down.code, 0, down.stderr)
  t.regex(down.stdout, new RegExp(`lab ${name}: removed 5 namespaces, stopped 2 processes`))
  t.deepEqual(await labNamespaces(name), [])
  t.false(existsSync(labDir(name)))
})

test.serial('fabric lab demo --ipv6: both families reachable, exit 0, nothing left', async (t) => {
  const name = uniqueName('d6')
  t.teardown(() => labDown(name).then(() => undefined))
  const demo = await fabric(['lab', 'demo', '--name', name, '--hosts', '2', '--ipv6'])
  t.is(demo.code, 0, demo.stdout + demo.stderr)
  t.regex(demo.stdout, /bringing up 2 dual-stack hosts in mode static/)
  t.regex(demo.stdout, /every container reaches every other over IPv4 and IPv6: routed, no encapsulation, no NAT\./)
  t.deepEqual(await labNamespaces(name), [])
  t.false(existsSync(labDir(name)))
})

test.serial('bgp with 2 fabric route reflectors (--topology rr), 4 dual-stack hosts joined by flags: every container reaches every other over IPv4 and IPv6', async (t) => {
  const lab = await withLab(t, { tag: 'f6', hosts: 4, mode: 'bgp', ipv6: true, topology: 'rr', reflectors: 2 })
  for (const h of lab.hosts) {
    const want = others(lab, h).map((o) => `${o.subnet} via ${o.address}`).sort()
    t.deepEqual(await waitRoutes(h.ns, want, 30_000), want, `${h.name}: IPv4 routes`)
    if (!(await waitRoutes6(t, lab, h, 30_000))) return
  }
  const fail4 = (await pingAll(lab, 4)).filter((r) => !r.ok)
  t.deepEqual(fail4, [], `IPv4\n${await diagnose(lab, fail4, 4)}`)
  const v6 = await pingAll(lab, 6)
  t.is(v6.length, 12)
  const fail6 = v6.filter((r) => !r.ok)
  t.deepEqual(fail6, [], `IPv6\n${await diagnose(lab, fail6, 6)}`)
})

test('fabric lab up --ipv6 with BIRD reflectors is refused (exit 1), nothing created', async (t) => {
  const name = uniqueName('q6')
  const r = await fabric(['lab', 'up', '--name', name, '--hosts', '3', '--mode', 'bgp', '--topology', 'rr', '--rr-engine', 'bird', '--ipv6'])
  t.is(r.code, 1)
  t.regex(r.stderr, /fabric lab up: --ipv6 with --rr-engine bird: the lab's BIRD and FRR reflector templates are IPv4 only/)
  t.deepEqual(await labNamespaces(name), [])
  t.false(existsSync(labDir(name)))
})
