/**
 * Fabric networks end to end with real `fabric join` agents (static and BGP
 * mode), no Docker: 3 hosts, the default network plus backend and frontend
 * (helpers-networks.ts builds the hosts, bridges and containers; the agents
 * make the routes and the isolation rules). The reachability matrix is
 * exactly the expected one (ICMP and TCP); with the sending host's rules
 * removed by hand, the receiving host still drops a packet from another
 * network; `fabric routes --network`, status per network and `fabric leave`.
 */
import test, { type ExecutionContext } from 'ava'
import { planRemove } from '../../src/host/firewall.js'
import { type Exec, type Iptables, detectIptables } from '../../src/host/iptables.js'
import { fabric, fabricRoutes, run, uniqueName, waitFor, waitRoutes } from './helpers.js'
import { type NetLab, buildNetLab, dropCount, expectedMatrix, inNs, matrix, matrixDiff, ping, startNetAgent, tcp, waitNetAgents } from './helpers-networks.js'

/** The routes host I must have: the other hosts' subnets of all three networks, via their underlay addresses. */
function routesOf(i: number): string[] {
  return [1, 2, 3].filter((j) => j !== i).flatMap((j) => [244, 245, 246].map((o) => `10.${o}.${j}.0/24 via 10.98.0.${10 + j}`)).sort()
}

async function iptablesOf(ns: string): Promise<Iptables> {
  const exec: Exec = (cmd, args, input) => run('ip', ['netns', 'exec', ns, cmd, ...args], { input, timeoutMs: 20_000 })
  return (await detectIptables(undefined, exec)).ipt
}

async function endToEnd(t: ExecutionContext, mode: 'static' | 'bgp'): Promise<void> {
  t.timeout(300_000)
  const lab: NetLab = await buildNetLab(t, uniqueName(mode === 'static' ? 'ns' : 'nb'), mode)
  const c = (name: string) => lab.containers.find((x) => x.name === name)!
  // before the agents: nothing between hosts
  t.false(await ping(c('h1a').ns, '10.245.2.10'), 'no route between hosts before fabric')
  const before = new Map<string, string>()
  for (const h of lab.hosts) before.set(h.ns, await inNs(h.ns, 'iptables-save'))
  for (const h of lab.hosts) startNetAgent(lab, h)
  await waitNetAgents(lab)
  for (const h of lab.hosts) t.deepEqual(await waitRoutes(h.ns, routesOf(h.index), 40_000), routesOf(h.index), `${h.name}'s routes`)

  // status per network
  const st = await fabric(['status', '--json', '--socket', lab.hosts[0]!.socket])
  const status = JSON.parse(st.stdout)
  t.is(st.code, 0, st.stdout)
  t.deepEqual(status.networks.map((n: Record<string, unknown>) => [n.name, n.subnet, n.ok]), [['default', '10.244.1.0/24', true], ['backend', '10.245.1.0/24', true], ['frontend', '10.246.1.0/24', true]])
  t.deepEqual(status.networks[1].routes, { installed: 2, peers: 2, missing: [] })
  t.like(status.networks[1].host, { docker: null, bridge: 'bk', bridgeUp: true, isolation: true })
  const text = await fabric(['status', '--socket', lab.hosts[0]!.socket])
  t.regex(text.stdout, /^NETWORK\s+POOL\s+SUBNET\s+DOCKER\s+BRIDGE\s+ISOLATION\s+ROUTES\s+STATE$/m)
  t.regex(text.stdout, /^backend\s+10\.245\.0\.0\/16\s+10\.245\.1\.0\/24\s+not used\s+bk up\s+in place\s+2\/2 hosts\s+ok$/m)

  // fabric routes: NETWORK column, --network filter, network in --json
  const rj = JSON.parse((await fabric(['routes', '--json', '--network', 'backend', '--socket', lab.hosts[0]!.socket])).stdout)
  t.deepEqual(rj.routes.map((r: Record<string, unknown>) => [r.prefix, r.network, r.nextHop, r.peer, r.state]), [
    ['10.245.2.0/24', 'backend', '10.98.0.12', mode === 'static' ? 'h2' : '10.98.0.12', 'installed'],
    ['10.245.3.0/24', 'backend', '10.98.0.13', mode === 'static' ? 'h3' : '10.98.0.13', 'installed'],
  ])
  const table = (await fabric(['routes', '--socket', lab.hosts[0]!.socket])).stdout
  t.regex(table, /^PREFIX\s+NETWORK\s+NEXT HOP\s+DEV\s+SOURCE\s+METRIC\s+AGE\s+STATE$/m)
  t.regex(table, new RegExp(`^10\\.246\\.3\\.0/24\\s+frontend\\s+10\\.98\\.0\\.13\\s+eth0\\s+${mode}/${mode === 'static' ? 'h3' : '10\\.98\\.0\\.13'}\\s`, 'm'))
  t.regex(table, /^10\.244\.2\.0\/24\s+default\s+/m)

  // the reachability matrix, exactly
  const want = expectedMatrix(lab.containers)
  t.deepEqual(matrixDiff(want, await matrix(lab.containers)), [])
  t.true(want.get('icmp h1a -> h3a.backend') === true && want.get('icmp h3a -> h3b.frontend') === false && want.get('tcp h3d -> h1b.frontend') === true)

  // the receiving host: host 2's rules removed by hand, its frontend container still cannot reach host 1's backend.
  // Host 2's agent is paused meanwhile: it would put its rules back within a second (nf_tables events)
  const agent2 = lab.agents.get(lab.hosts[1]!.index)!
  agent2.kill('SIGSTOP')
  t.teardown(() => { agent2.kill('SIGCONT') })
  const ipt2 = await iptablesOf(lab.hosts[1]!.ns)
  await ipt2.restore(planRemove(await ipt2.save(['filter', 'nat'])).script)
  t.false((await inNs(lab.hosts[1]!.ns, 'iptables-save')).includes('FABRIC-'), 'host 2 has no fabric rules')
  const ipt1 = await iptablesOf(lab.hosts[0]!.ns)
  const drops = await dropCount(lab.hosts[0]!.ns, ipt1, '10.246.0.0/16')
  t.false(await ping(c('h2b').ns, '10.245.1.10'), 'icmp frontend h2 -> backend h1 dropped by host 1')
  t.false(await tcp(c('h2b').ns, '10.245.1.10'), 'tcp frontend h2 -> backend h1 dropped by host 1')
  t.true((await dropCount(lab.hosts[0]!.ns, ipt1, '10.246.0.0/16')) >= drops + 2, "host 1's FABRIC-ISOLATION DROP counted the packets")
  agent2.kill('SIGCONT')
  // (in BGP mode the pause may outlast the hold time: the sessions come back first)
  t.truthy(await waitFor(async () => ((await ping(c('h2a').ns, '10.245.1.10')) ? true : undefined), 30_000, 500), 'within a network host 2 still forwards')

  // fabric leave: routes and chains gone, the firewall as before join
  for (const h of lab.hosts) {
    const r = await fabric(['leave', '--yes', '--socket', h.socket])
    t.is(r.code, 0, r.stderr)
  }
  for (const h of lab.hosts) {
    t.deepEqual(await fabricRoutes(h.ns), [], `${h.name}: no fabric routes after leave`)
    // rules and non-builtin chains (an empty table loaded by the agent's iptables-save is no difference)
    const strip = (s: string): string => s.split('\n').filter((l) => l.startsWith('-A ') || (l.startsWith(':') && !/^:(INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) /.test(l))).map((l) => l.replace(/\[\d+:\d+\]/g, '')).join('\n')
    t.is(strip(await inNs(h.ns, 'iptables-save')), strip(before.get(h.ns)!), `${h.name}: iptables-save as before join`)
    t.true(before.get(h.ns)!.length === 0 || !before.get(h.ns)!.includes('FABRIC-'))
  }
}

test.serial('fabric networks, static mode, real agents: routes per network, exact ICMP/TCP matrix, the receiving host drops on its own, routes --network, status, leave', async (t) => {
  await endToEnd(t, 'static')
})

test.serial('fabric networks, BGP mode, real agents: every host announces one prefix per network; the same matrix and receiving-host drop', async (t) => {
  await endToEnd(t, 'bgp')
})
