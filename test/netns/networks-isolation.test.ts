/**
 * Fabric networks without Docker or the agent: 3 "hosts" as namespaces on an
 * underlay bridge, each with a bridge per network shaped as fabric's Docker
 * networks are (gateway with the pool's length, proxy ARP), a "container"
 * namespace per network per host and one on host 3 attached to both. Routes
 * between hosts are static ones the test adds; the isolation rules are the
 * planned ones, applied in each host namespace through the path the host
 * hooks use (detectIptables -> save -> desiredChains -> planApply -> restore).
 *
 *   PFX-sw           underlay bridge br0; host i: eth0 10.98.0.(10+i)/24
 *   PFX-hI           bridges bk (backend 10.245.0.0/16, gw 10.245.I.1) and
 *                    fr (frontend 10.246.0.0/16, gw 10.246.I.1)
 *   PFX-hIa / -hIb   a container on backend 10.245.I.10 / frontend 10.246.I.10
 *   PFX-h3d          on both: 10.245.3.20 (eth0, default route) and 10.246.3.20 (eth1)
 */
import test from 'ava'
import { loadConfigText } from '../../src/config/fabric-config.js'
import { FORWARD_CHAIN, ISOLATION_CHAIN, desiredChains, firewallSpec, planApply, planRemove } from '../../src/host/firewall.js'
import { type Exec, type Iptables, detectIptables } from '../../src/host/iptables.js'
import { wantedNetworks } from '../../src/host/networks.js'
import { formatPrefix } from '../../src/net/ipv4.js'
import { run, uniqueName } from './helpers.js'
import { type Container, dropCount, expectedMatrix, inNs, matrix, networkBridges, networkContainers, ping, sh, tcp, underlayHost } from './helpers-networks.js'

const HOSTS = [1, 2, 3]
const CONFIG = loadConfigText(`[fabric]
pool = 10.244.0.0/16
underlay = 10.98.0.0/24
${HOSTS.map((i) => `[host.h${i}]\naddress = 10.98.0.${10 + i}\nsubnet = 10.244.${i}.0/24\n`).join('')}
[network.backend]
pool = 10.245.0.0/16
bridge = bk
[network.frontend]
pool = 10.246.0.0/16
bridge = fr
`)

async function build(pfx: string): Promise<{ containers: Container[]; ipt: Map<string, Iptables>; host: (i: number) => string }> {
  const host = (i: number): string => `${pfx}-h${i}`
  const sw = `${pfx}-sw`
  await sh('ip', 'netns', 'add', sw)
  await sh('ip', '-n', sw, 'link', 'add', 'br0', 'type', 'bridge')
  await sh('ip', '-n', sw, 'link', 'set', 'br0', 'up')
  const containers: Container[] = []
  for (const i of HOSTS) {
    const h = host(i)
    const entry = CONFIG.hosts.find((x) => x.name === `h${i}`)!
    await underlayHost(sw, h, i, 'net.ipv4.ip_forward=1')
    await networkBridges(h, wantedNetworks(CONFIG.networks, entry.networks!))
    // the other hosts' subnets of every network: static routes (the agent's job in fabric)
    for (const o of CONFIG.hosts.filter((x) => x.name !== `h${i}`)) {
      for (const p of [o.subnet, ...Object.values(o.networks!)]) await sh('ip', '-n', h, 'route', 'add', formatPrefix(p), 'via', `10.98.0.${10 + Number(o.name.slice(1))}`, 'proto', 'static')
    }
    containers.push(...(await networkContainers(h, i)))
  }
  const ipt = new Map<string, Iptables>()
  for (const i of HOSTS) {
    const ns = host(i)
    const exec: Exec = (cmd, args, input) => run('ip', ['netns', 'exec', ns, cmd, ...args], { input, timeoutMs: 20_000 })
    ipt.set(ns, (await detectIptables(undefined, exec)).ipt)
  }
  return { containers, ipt, host }
}

/** fabric's apply path (hooks.ts checkFirewall): save, plan against what is there, restore. */
async function applyRules(ipt: Iptables, hostName: string): Promise<string[]> {
  const h = CONFIG.hosts.find((x) => x.name === hostName)!
  const spec = firewallSpec({ pool: CONFIG.pool, local: h.subnet, masquerade: true, networks: CONFIG.networks, localSubnets: h.networks! })
  const saved = await ipt.save(['filter', 'nat', 'raw'])
  const plan = planApply(desiredChains(spec, saved), saved)
  if (plan.script) await ipt.restore(plan.script)
  return plan.changes
}

/** Reachable when any of 3 echo requests is answered (the first may wait on ARP). */
test('fabric networks: same network reaches across hosts, different networks are blocked on the same host and across, the dual-homed container reaches both, the receiving host drops on its own', async (t) => {
  t.timeout(180_000)
  const pfx = uniqueName('nw')
  t.teardown(async () => {
    const list = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${pfx}-`))
    for (const ns of list) await run('ip', ['netns', 'del', ns])
  })
  const { containers, ipt, host } = await build(pfx)
  const c = (name: string): Container => containers.find((x) => x.name === name)!

  // without fabric's rules everything is routed: the blocks below are the rules' doing
  t.true(await ping(c('h2b').ns, '10.245.1.10'), 'frontend h2 -> backend h1 without rules')
  t.true(await ping(c('h1a').ns, '10.246.1.10'), 'backend -> frontend on one host without rules')
  t.true(await tcp(c('h3a').ns, '10.246.3.20'), 'tcp backend -> dual-homed frontend address without rules')

  for (const i of HOSTS) {
    const changes = await applyRules(ipt.get(host(i))!, `h${i}`)
    t.true(changes.includes(`filter ${ISOLATION_CHAIN} created`), `host ${i}: ${changes.join(', ')}`)
    t.deepEqual(await applyRules(ipt.get(host(i))!, `h${i}`), [], `host ${i}: a second apply changes nothing`)
  }

  const want = expectedMatrix(containers)
  const got = await matrix(containers)
  const wrong = [...want].filter(([k, v]) => got.get(k) !== v).map(([k, v]) => `${k}: expected ${v ? 'ok' : 'blocked'}`)
  t.deepEqual(wrong, [])
  // the matrix has both kinds, across hosts and on one host
  t.true(want.get('icmp h1a -> h3a.backend') === true && want.get('icmp h3a -> h3b.frontend') === false && want.get('tcp h3d -> h1b.frontend') === true)

  // the receiving host: host 2's rules removed by hand, its frontend container still cannot reach host 1's backend
  const h2 = ipt.get(host(2))!
  const removal = planRemove(await h2.save(['filter', 'nat']))
  await h2.restore(removal.script)
  t.false((await inNs(host(2), 'iptables-save')).includes(FORWARD_CHAIN), "host 2 has no fabric rules")
  const before = await dropCount(host(1), ipt.get(host(1))!, '10.246.0.0/16')
  t.false(await ping(c('h2b').ns, '10.245.1.10'), 'icmp frontend h2 -> backend h1 dropped by host 1')
  t.false(await tcp(c('h2b').ns, '10.245.1.10'), 'tcp frontend h2 -> backend h1 dropped by host 1')
  t.true((await dropCount(host(1), ipt.get(host(1))!, '10.246.0.0/16')) >= before + 2, "host 1's FABRIC-ISOLATION DROP counted the packets")
  // and within a network host 2 still works (Docker-less host without rules forwards everything)
  t.true(await ping(c('h2a').ns, '10.245.1.10'))
})
