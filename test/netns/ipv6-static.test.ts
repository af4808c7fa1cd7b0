/**
 * Static mode, dual-stack: 3 lab hosts with IPv6 on the underlay (fd00:99::N/64),
 * docker0 (fd00:fab:0:N::1/64) and the container (::2), real agents. Each
 * host's kernel gets SUBNET6 via ADDRESS6 dev eth0 proto 233, containers
 * reach each other over IPv6, a route deleted by hand comes back, and
 * `fabric leave` removes the IPv6 routes. The IPv6 addresses are added here
 * (the lab's own --ipv6 comes with src/lab); everything lives in the lab's
 * namespaces, removed in teardown.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import test from 'ava'
import { getJson } from '../../src/api/client.js'
import type { RoutesResponse, StatusResponse } from '../../src/api/types.js'
import { startAgents } from '../../src/lab/lab.js'
import { fabric, ip, logEvents, run, waitFor, withLab } from './helpers.js'

const addr6 = (i: number): string => `fd00:99::${i}`
const subnet6 = (i: number): string => `fd00:fab:0:${i}::/64`
const container6 = (i: number): string => `fd00:fab:0:${i}::2`

/** fabric's IPv6 routes in a namespace as "dst via gw dev D" (sorted). */
async function fabricRoutes6(ns: string): Promise<string[]> {
  const r = await run('ip', ['-n', ns, '-6', '-j', 'route', 'show', 'proto', '233'])
  if (r.code !== 0) throw new Error(r.stderr)
  return (JSON.parse(r.stdout || '[]') as { dst: string; gateway?: string; dev?: string }[]).map((x) => `${x.dst} via ${x.gateway} dev ${x.dev}`).sort()
}

async function waitRoutes6(ns: string, expected: string[], timeoutMs = 10_000): Promise<string[]> {
  let last: string[] = []
  await waitFor(async () => {
    last = await fabricRoutes6(ns)
    return JSON.stringify(last) === JSON.stringify([...expected].sort()) ? true : undefined
  }, timeoutMs, 100)
  return last
}

test.serial('dual-stack static: SUBNET6 via ADDRESS6 dev eth0 proto 233 on every host, IPv6 pings, restore, leave', async (t) => {
  const lab = await withLab(t, { tag: 's6', hosts: 3, start: false })
  for (const h of lab.hosts) {
    const i = h.index
    // nodad: the addresses are usable at once (no 1-2 s of duplicate address detection)
    await ip(h.ns, 'addr', 'add', `${addr6(i)}/64`, 'dev', 'eth0', 'nodad')
    await ip(h.ns, 'addr', 'add', `fd00:fab:0:${i}::1/64`, 'dev', 'docker0', 'nodad')
    await ip(h.containerNs, 'addr', 'add', `${container6(i)}/64`, 'dev', 'eth0', 'nodad')
    await ip(h.containerNs, '-6', 'route', 'add', 'default', 'via', `fd00:fab:0:${i}::1`)
  }
  const ini = readFileSync(lab.config, 'utf8')
    .replace('[fabric]\n', '[fabric]\npool6 = fd00:fab::/48\nhost-prefix6 = 64\n')
    .replace(/\[host\.node(\d+)\]\n/g, (m, n: string) => `${m}address6 = ${addr6(Number(n))}\nsubnet6 = ${subnet6(Number(n))}\n`)
  writeFileSync(lab.config, ini)
  await startAgents(lab, lab.hosts)

  const want = (self: number): string[] => lab.hosts.filter((h) => h.index !== self).map((h) => `${subnet6(h.index)} via ${addr6(h.index)} dev eth0`)
  for (const h of lab.hosts) t.deepEqual(await waitRoutes6(h.ns, want(h.index)), want(h.index), `${h.name}'s IPv6 routes`)
  // the IPv4 routes are there as before
  const v4 = await run('ip', ['-n', lab.hosts[0]!.ns, 'route', 'show', 'proto', '233'])
  t.regex(v4.stdout, /10\.244\.2\.0\/24 via 10\.99\.0\.12/)
  const fwd = await run('ip', ['netns', 'exec', lab.hosts[1]!.ns, 'cat', '/proc/sys/net/ipv6/conf/all/forwarding'])
  t.is(fwd.stdout.trim(), '1', 'the agent enabled IPv6 forwarding in its host')

  // every container reaches every other over IPv6 (pinged again until all answer or 15 s: a first
  // ping waits for neighbour discovery on two links, which a loaded machine can take past -W)
  let pings: string[] = []
  await waitFor(async () => {
    pings = await Promise.all(lab.hosts.flatMap((a) => lab.hosts.filter((b) => b !== a).map(async (b) => {
      const r = await run('ip', ['netns', 'exec', a.containerNs, 'ping', '-6', '-n', '-c', '1', '-W', '2', container6(b.index)])
      return `${a.name}->${b.name} ${r.code === 0 ? 'ok' : `FAIL (${(r.stdout + r.stderr).trim().split('\n').slice(-2).join(' / ')})`}`
    })))
    return pings.every((p) => p.endsWith(' ok')) ? true : undefined
  }, 15_000, 200)
  t.deepEqual(pings.filter((p) => !p.endsWith(' ok')), [], pings.join(', '))

  // /v1/status and /v1/routes show the IPv6 side
  const h1 = lab.hosts[0]!
  const status = await getJson<StatusResponse>(h1.socket, '/v1/status')
  t.is(status.host.address6, addr6(1))
  t.is(status.host.subnet6, subnet6(1))
  t.is(status.host.underlay6, 'fd00:99::/64')
  t.is(status.pool6, 'fd00:fab::/48')
  t.deepEqual(status.kernel.ipv6?.routes, { wanted: 2, installed: 2, pending: 0, conflict: 0, notOnLink: 0, error: 0 })
  // healthy once every check has had its first run (on a loaded machine a moment after the routes)
  const healthy = (await waitFor(async () => ((await getJson<StatusResponse>(h1.socket, '/v1/status')).healthy ? true : undefined), 10_000, 200)) ?? false
  t.true(healthy, JSON.stringify(await getJson<StatusResponse>(h1.socket, '/v1/status')))
  // forwarding on makes eth0 (accept_ra 1, the netns default) ignore Router Advertisements: warned, with the fix
  t.true(status.warnings.some((w) => /eth0 now ignores Router Advertisements .*accept_ra = 2/.test(w)), status.warnings.join('; '))
  const routes = await getJson<RoutesResponse>(h1.socket, '/v1/routes')
  t.deepEqual(routes.routes.map((r) => `${r.family} ${r.prefix} ${r.nextHop} ${r.device} ${r.peer} ${r.state}`), [
    '4 10.244.2.0/24 10.99.0.12 eth0 node2 installed',
    '4 10.244.3.0/24 10.99.0.13 eth0 node3 installed',
    `6 ${subnet6(2)} ${addr6(2)} eth0 node2 installed`,
    `6 ${subnet6(3)} ${addr6(3)} eth0 node3 installed`,
  ])
  const only6 = await fabric(['routes', '--family', '6', '--socket', h1.socket])
  t.is(only6.code, 0, only6.stderr)
  t.regex(only6.stdout, /^fd00:fab:0:2::\/64\s+fd00:99::2\s+eth0\s+static\/node2\s+0\s+\d+s\s+installed$/m)
  t.false(only6.stdout.includes('10.244.'), '--family 6 shows no IPv4 row')

  // a route deleted by hand comes back
  await ip(h1.ns, '-6', 'route', 'del', subnet6(2), 'proto', '233')
  t.deepEqual(await waitRoutes6(h1.ns, want(1), 10_000), want(1))
  t.true(logEvents(h1.log, 'kernel-route-drift').some((e) => e.prefix === subnet6(2)), 'drift logged')

  // fabric leave removes the IPv6 routes too
  const left = await fabric(['leave', '--yes', '--socket', h1.socket])
  t.is(left.code, 0, left.stderr)
  t.deepEqual(await fabricRoutes6(h1.ns), [])
  const v4left = await run('ip', ['-n', h1.ns, 'route', 'show', 'proto', '233'])
  t.is(v4left.stdout.trim(), '')
})
