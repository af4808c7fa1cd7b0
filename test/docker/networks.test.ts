/**
 * Fabric networks on real Docker engines (Debian's docker.io, dockerd 20.10):
 * the walk-through of docs/operations.md "From Docker overlay networks to
 * fabric networks". Three lab hosts (test/docker/helpers.ts: one dockerd per
 * host namespace), fabric.ini with [network.backend] and [network.frontend],
 * static mode, one `fabric join` agent per host started from this checkout in
 * the host's namespace with the host's Docker socket and daemon.json (docker0
 * already has the host's default subnet, so nothing restarts Docker; the
 * agent image itself is docker.test.ts's business). Then:
 *
 *   - every host lists backend and frontend, made by fabric (labels, subnet =
 *     pool, ip-range = the host's /24, MTU 1500, masquerade off);
 *   - `docker run --network backend|frontend` on every host, and on host 3 a
 *     container on both (`docker network connect`): the reachability matrix of
 *     the namespace test (helpers-networks.ts), ICMP and TCP, probed with
 *     `docker exec` inside the containers;
 *   - MTU 1500 inside the containers, their on-link routes to whole networks;
 *   - `fabric leave`: fabric's networks without containers removed, those in
 *     use kept and reported; once the user removes those, iptables-save equals
 *     the state before join.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { appendFileSync, existsSync, openSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { getJson } from '../../src/api/client.js'
import type { StatusResponse } from '../../src/api/types.js'
import { type Exec, detectIptables } from '../../src/host/iptables.js'
import { type Container, dropCount, expectedMatrix, matrix, matrixDiff } from '../netns/helpers-networks.js'
import { type DHost, DockerLab, importBusybox, run, tail, waitFor, missingCommands } from './helpers.js'

const fabricBin = fileURLToPath(new URL('../../bin/fabric.js', import.meta.url))
const BUSYBOX = 'fabric-test/busybox'
const NETWORKS = { backend: 245, frontend: 246 } as const
type Net = keyof typeof NETWORKS

const missing = missingCommands(['dockerd', 'containerd', 'runc', 'busybox', 'nsenter', 'iptables-save'])

const socketOf = (h: DHost): string => join(h.run, 'fabric.sock')

/** `fabric join` in host h's namespace (ip netns exec: /sys shows the namespace's bridges), with h's Docker. */
function startAgent(h: DHost, ini: string): ChildProcess {
  const out = openSync(join(h.dir, 'agent.log'), 'a')
  return spawn('ip', [
    'netns', 'exec', h.ns, process.execPath, fabricBin, 'join', '--config', ini, '--address', h.address,
    '--state-dir', h.state, '--socket', socketOf(h), '--docker-socket', h.sock, '--daemon-json', h.daemonJson,
    '--log-format', 'json', '--firewall-check-interval', '2',
  ], { stdio: ['ignore', out, out], env: { ...process.env, FABRIC_RT_PROTOS_DIR: join(h.dir, 'rt_protos.d') } })
}

/** The fabric CLI in host h's namespace. */
function fabric(h: DHost, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run('ip', ['netns', 'exec', h.ns, process.execPath, fabricBin, ...args, '--socket', socketOf(h)], { timeoutMs: 30_000 })
}

async function status(h: DHost): Promise<StatusResponse | undefined> {
  try {
    return await getJson<StatusResponse>(socketOf(h), '/v1/status', 2000)
  } catch {
    return undefined
  }
}

/** Names of the Docker networks with fabric's label, with the network label's value. */
async function fabricNetworks(lab: DockerLab, h: DHost): Promise<string[]> {
  const out = await lab.mustDocker(h, ['network', 'ls', '--filter', 'label=io.fabric.managed=true', '--format', '{{.Name}} {{.Label "io.fabric.network"}}'])
  return out.split('\n').filter(Boolean).sort()
}

if (missing.length > 0 && process.env.FABRIC_SKIP_DOCKER_TEST === '1') {
  test.skip(`fabric networks on Docker engines (missing: ${missing.join(', ')})`, () => {})
} else {
  test('fabric networks on real Docker engines: every host lists backend and frontend, docker run --network, the exact ICMP/TCP matrix, MTU 1500, leave removes the unused networks and keeps those in use, iptables as before', async (t) => {
    t.timeout(10 * 60_000)
    t.deepEqual(missing, [], 'scripts/setup.sh installs docker.io, containerd, runc, busybox-static')
    const t0 = Date.now()
    const rootIptBefore = (await run('iptables-save', [])).stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n')
    const runDockerExisted = existsSync('/run/docker')
    const lab = new DockerLab(`dn${process.pid % 100000}`, 3)
    const agents = new Map<number, ChildProcess>()
    t.teardown(async () => {
      for (const a of agents.values()) if (a.exitCode === null && a.signalCode === null) a.kill('SIGTERM')
      await waitFor(() => ([...agents.values()].every((a) => a.exitCode !== null || a.signalCode !== null) ? true : undefined), 10_000, 100)
      for (const a of agents.values()) if (a.exitCode === null && a.signalCode === null) a.kill('SIGKILL')
      const notes = await lab.down()
      if (notes.length) t.log(`cleanup: ${notes.join(', ')}`)
      // dockerd creates an empty /run/docker/plugins for plugin discovery
      if (!runDockerExisted) for (const d of ['/run/docker/plugins', '/run/docker']) try { rmdirSync(d) } catch { /* not empty or gone */ }
    })

    await lab.up()
    // the walk-through's fabric.ini: the default network (docker0) plus backend and frontend; each host's /24 of them derived
    appendFileSync(lab.iniFile, '\n[network.backend]\npool = 10.245.0.0/16\n\n[network.frontend]\npool = 10.246.0.0/16\n')
    for (const h of lab.hosts) {
      // docker0 already has the host's default subnet (the docker0 way is docker.test.ts's): join restarts nothing
      writeFileSync(h.daemonJson, `${JSON.stringify({ bip: `10.244.${h.index}.1/24`, 'deprecated-key-path': join(h.dir, 'key.json') }, null, 2)}\n`)
      lab.startDockerd(h)
    }
    await Promise.all(lab.hosts.map((h) => lab.waitDocker(h)))
    await importBusybox(lab, BUSYBOX)
    const [h1, h2, h3] = lab.hosts as [DHost, DHost, DHost]
    const iptBefore = await Promise.all(lab.hosts.map((h) => lab.iptablesSave(h.ns)))
    t.log(`engines up, image imported: ${((Date.now() - t0) / 1000).toFixed(1)} s`)

    // --- fabric join on every host
    const t1 = Date.now()
    for (const h of lab.hosts) agents.set(h.index, startAgent(h, lab.iniFile))
    for (const h of lab.hosts) {
      const ok = await waitFor(async () => {
        const s = await status(h)
        return s?.healthy && s.kernel.routes.installed === 6 && s.networks?.every((n) => n.ok) ? s : undefined
      }, 60_000, 250)
      if (!ok) throw new Error(`agent of ${h.name} not healthy with 6 routes:\n${JSON.stringify(await status(h))}\n${tail(join(h.dir, 'agent.log'), 30)}`)
    }
    t.log(`agents healthy (6 routes each, networks ok): ${((Date.now() - t1) / 1000).toFixed(1)} s`)

    // --- every host lists the same networks, made by fabric, shaped as docs/configuration.md says
    for (const h of lab.hosts) {
      t.deepEqual(await fabricNetworks(lab, h), ['backend backend', 'frontend frontend'], `${h.name}: docker network ls`)
      for (const [net, octet] of Object.entries(NETWORKS)) {
        const info = JSON.parse(await lab.mustDocker(h, ['network', 'inspect', net]))[0] as { Driver: string; IPAM: { Config: Record<string, string>[] }; Options: Record<string, string>; Labels: Record<string, string> }
        t.is(info.Driver, 'bridge')
        t.deepEqual(info.IPAM.Config, [{ Subnet: `10.${octet}.0.0/16`, IPRange: `10.${octet}.${h.index}.0/24`, Gateway: `10.${octet}.${h.index}.1`,
          AuxiliaryAddresses: { 'fabric-subnet-network': `10.${octet}.${h.index}.0`, 'fabric-subnet-broadcast': `10.${octet}.${h.index}.255` } }], `${h.name} ${net} IPAM`)
        t.like(info.Options, { 'com.docker.network.driver.mtu': '1500', 'com.docker.network.bridge.enable_ip_masquerade': 'false' })
        t.deepEqual(info.Labels, { 'io.fabric.managed': 'true', 'io.fabric.network': net })
      }
    }
    const st = (await fabric(h1, ['status'])).stdout
    t.log(`fabric status (node1), networks:\n${st.slice(st.indexOf('NETWORK'))}`)
    t.regex(st, /^backend\s+10\.245\.0\.0\/16\s+10\.245\.1\.0\/24\s+ok [0-9a-f]{12}\s+br-[0-9a-f]{12} up\s+in place\s+2\/2 hosts\s+ok$/m, st)

    // --- the containers: a backend and a frontend one on every host (names as in the namespace test), one on both on host 3
    const t2 = Date.now()
    const runOn = async (h: DHost, name: string, net: Net): Promise<void> => {
      await lab.mustDocker(h, ['run', '-d', '--name', name, '--network', net, BUSYBOX, 'sleep', '3600'])
    }
    await Promise.all(lab.hosts.flatMap((h) => [runOn(h, `h${h.index}a`, 'backend'), runOn(h, `h${h.index}b`, 'frontend')]))
    await runOn(h3, 'h3d', 'backend')
    await lab.mustDocker(h3, ['network', 'connect', 'frontend', 'h3d'])
    const ipOf = async (h: DHost, name: string, net: Net): Promise<string> =>
      (await lab.mustDocker(h, ['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, name])).trim()
    const containers: Container[] = []
    const where = new Map<string, { h: DHost; name: string }>()
    for (const h of lab.hosts) {
      for (const [suffix, nets] of [['a', ['backend']], ['b', ['frontend']], ...(h === h3 ? [['d', ['backend', 'frontend']]] : [])] as [string, Net[]][]) {
        const name = `h${h.index}${suffix}`
        const addresses: Record<string, string> = {}
        for (const net of nets) {
          addresses[net] = await ipOf(h, name, net)
          t.true(addresses[net]!.startsWith(`10.${NETWORKS[net]}.${h.index}.`), `${name} on ${net} got ${addresses[net]} from ${h.name}'s range`)
        }
        // Container.ns is the probe's handle: here "host:container"
        containers.push({ ns: `${h.index}:${name}`, name, addresses })
        where.set(`${h.index}:${name}`, { h, name })
      }
    }
    t.log(`containers: ${containers.map((c) => `${c.name} ${Object.values(c.addresses).join('+')}`).join(', ')}`)
    // Docker hands out the host's range after the gateway, as on docker0: .2 first (never the /24's network address .0), then .3
    t.deepEqual(containers.map((c) => [c.name, ...Object.values(c.addresses)]), [
      ['h1a', '10.245.1.2'], ['h1b', '10.246.1.2'], ['h2a', '10.245.2.2'], ['h2b', '10.246.2.2'], ['h3a', '10.245.3.2'], ['h3b', '10.246.3.2'], ['h3d', '10.245.3.3', '10.246.3.3'],
    ])

    // MTU 1500 inside the containers (no encapsulation), the dual-homed one on both interfaces; its on-link routes to both whole networks
    for (const c of containers) {
      const { h, name } = where.get(c.ns)!
      const ifaces = Object.keys(c.addresses).length === 2 ? ['eth0', 'eth1'] : ['eth0']
      for (const i of ifaces) t.is((await lab.mustDocker(h, ['exec', name, 'cat', `/sys/class/net/${i}/mtu`])).trim(), '1500', `${name} ${i} mtu`)
    }
    const d = containers.find((c) => c.name === 'h3d')!
    const routes = (await lab.mustDocker(h3, ['exec', 'h3d', 'ip', 'route'])).split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter(Boolean)
    t.true(routes.includes(`10.245.0.0/16 dev eth0 scope link src ${d.addresses.backend}`), routes.join('\n'))
    t.true(routes.includes(`10.246.0.0/16 dev eth1 scope link src ${d.addresses.frontend}`), routes.join('\n'))
    t.true(routes.includes('default via 10.245.3.1 dev eth0'), routes.join('\n'))

    // --- the matrix, probed inside the containers: ping (any of 3 answered), and TCP to a closed port (a RST is an answer, silence is a drop)
    const ipts = new Map<number, Awaited<ReturnType<typeof detectIptables>>['ipt']>()
    for (const h of lab.hosts) {
      const exec: Exec = (cmd, args, input) => run('ip', ['netns', 'exec', h.ns, cmd, ...args], { input, timeoutMs: 20_000 })
      ipts.set(h.index, (await detectIptables(undefined, exec)).ipt)
    }
    const dropsBefore = await Promise.all(lab.hosts.map((h) => dropCount(h.ns, ipts.get(h.index)!, '10.246.0.0/16')))
    const probe = {
      icmp: async (c: string, to: string): Promise<boolean> => {
        const { h, name } = where.get(c)!
        return (await lab.docker(h, ['exec', name, 'ping', '-c', '3', '-i', '0.3', '-W', '2', to], { timeoutMs: 15_000 })).code === 0
      },
      tcp: async (c: string, to: string): Promise<boolean> => {
        const { h, name } = where.get(c)!
        const r = await lab.docker(h, ['exec', name, 'nc', '-w', '2', to, '7'], { timeoutMs: 15_000 })
        if (/refused/i.test(r.stderr)) return true
        if (/timed out/i.test(r.stderr)) return false
        throw new Error(`nc ${name} -> ${to} on ${h.name}: code ${r.code} ${r.stderr.trim()}`)
      },
    }
    const want = expectedMatrix(containers)
    const got = await matrix(containers, probe)
    t.deepEqual(matrixDiff(want, got), [])
    const ok = [...got.values()].filter(Boolean).length
    t.log(`matrix: ${got.size} probes (ICMP and TCP), ${ok} reachable, ${got.size - ok} blocked, exactly as expected: ${((Date.now() - t2) / 1000).toFixed(1)} s`)
    // both kinds, across hosts and on one host, and the dual-homed container both ways
    t.true(want.get('icmp h1a -> h3a.backend') === true && want.get('tcp h2b -> h1b.frontend') === true && want.get('icmp h3a -> h3b.frontend') === false &&
      want.get('tcp h2b -> h1a.backend') === false && want.get('tcp h3d -> h1b.frontend') === true && want.get('icmp h2b -> h3d.frontend') === true &&
      want.get('icmp h1a -> h3d.frontend') === false)
    // the blocks are fabric's: its FABRIC-ISOLATION counted frontend's packets to backend on the receiving hosts
    const dropsAfter = await Promise.all(lab.hosts.map((h) => dropCount(h.ns, ipts.get(h.index)!, '10.246.0.0/16')))
    for (const [i, h] of lab.hosts.entries()) t.true(dropsAfter[i]! > dropsBefore[i]!, `${h.name}: FABRIC-ISOLATION drops from frontend ${dropsBefore[i]} -> ${dropsAfter[i]}`)
    t.deepEqual((await run('ip', ['netns', 'exec', h1.ns, 'iptables', '-S', 'FABRIC-ISOLATION'])).stdout.trim().split('\n'),
      ['-N FABRIC-ISOLATION', ...[244, 245, 246].map((o) => `-A FABRIC-ISOLATION -s 10.${o}.0.0/16 -j DROP`)], 'iptables -S FABRIC-ISOLATION as the walk-through shows')

    // no NAT: the receiver sees the sender's own address, across hosts; the dual-homed container sends from its address in the destination's network
    const peerSeen = async (from: DHost, fromName: string, to: DHost, toName: string, toIp: string, port: number): Promise<string[]> => {
      // the listener's stdin stays open (nc closes the connection at EOF on stdin)
      await lab.mustDocker(to, ['exec', '-d', toName, 'sh', '-c', `sleep 10 | nc -l -p ${port}`])
      await waitFor(async () => ((await lab.docker(to, ['exec', toName, 'netstat', '-tln'])).stdout.includes(`:${port} `) ? true : undefined), 5000, 100)
      await lab.mustDocker(from, ['exec', '-d', fromName, 'sh', '-c', `sleep 5 | nc ${toIp} ${port}`])
      const seen = await waitFor(async () => {
        const lines = (await lab.docker(to, ['exec', toName, 'netstat', '-tn'])).stdout.split('\n').map((l) => l.trim().split(/\s+/))
        const peers = lines.filter((c) => c[5] === 'ESTABLISHED' && c[3]?.endsWith(`:${port}`))
          // "10.245.2.2:40000", or on busybox's dual-stack listener "::ffff:10.245.2.2:40000"
          .map((c) => c[4]!.replace(/:\d+$/, '').replace(/^::ffff:/, ''))
        return peers.length ? peers : undefined
      }, 5000, 100)
      return seen ?? []
    }
    const addr = (name: string, net: Net): string => containers.find((c) => c.name === name)!.addresses[net]!
    t.deepEqual(await peerSeen(h2, 'h2a', h1, 'h1a', addr('h1a', 'backend'), 5001), [addr('h2a', 'backend')], 'h1a sees h2a\'s own address')
    t.deepEqual(await peerSeen(h3, 'h3d', h1, 'h1b', addr('h1b', 'frontend'), 5002), [addr('h3d', 'frontend')], 'h1b sees h3d\'s frontend address')
    t.deepEqual(await peerSeen(h3, 'h3d', h2, 'h2a', addr('h2a', 'backend'), 5003), [addr('h3d', 'backend')], 'h2a sees h3d\'s backend address')

    // the walk-through's status, routes and doctor on node1
    const routesOut = (await fabric(h1, ['routes', '--network', 'backend'])).stdout
    t.log(`fabric routes --network backend (node1):\n${routesOut}`)
    t.regex(routesOut, /^10\.245\.2\.0\/24\s+backend\s+10\.99\.0\.12\s+eth0\s+static\/node2\s+0\s+\S+\s+installed$/m)
    t.regex(routesOut, /^10\.245\.3\.0\/24\s+backend\s+10\.99\.0\.13\s+eth0\s+static\/node3\s+0\s+\S+\s+installed$/m)
    const doctor = await fabric(h1, ['doctor', '--config', lab.iniFile])
    t.log(`fabric doctor (node1):\n${doctor.stdout}`)
    t.regex(doctor.stdout, /^network isolation\s+ok\s+/m)
    t.regex(doctor.stdout, /^network backend\s+ok\s+subnet 10\.245\.1\.0\/24 of 10\.245\.0\.0\/16, Docker network backend [0-9a-f]{12}, bridge br-[0-9a-f]{12} up, routes to all 2 other hosts/m)

    // --- fabric leave. node1: its containers removed first; node2: its backend container still running; node3: all running
    await lab.mustDocker(h1, ['rm', '-f', 'h1a', 'h1b'])
    await lab.mustDocker(h2, ['rm', '-f', 'h2b'])
    const left = await Promise.all(lab.hosts.map((h) => fabric(h, ['leave', '--yes'])))
    for (const [i, r] of left.entries()) {
      t.is(r.code, 0, `${lab.hosts[i]!.name}: ${r.stdout}${r.stderr}`)
      t.regex(r.stdout, new RegExp(`^node${i + 1} left the fabric: 6 routes removed; the agent has stopped$`, 'm'))
    }
    t.log(`fabric leave on node2:\n${left[1]!.stdout}`)
    t.regex(left[0]!.stdout, /^removed Docker networks backend, frontend$/m, left[0]!.stdout)
    t.notRegex(left[0]!.stdout, /kept/)
    t.regex(left[1]!.stdout, /^removed Docker networks frontend$/m, left[1]!.stdout)
    t.regex(left[1]!.stdout, /^kept Docker network backend: in use by h2a; remove it with docker network rm backend once its containers are gone$/m, left[1]!.stdout)
    t.notRegex(left[2]!.stdout, /removed Docker networks/)
    t.regex(left[2]!.stdout, /^kept Docker network backend: in use by (h3a, h3d|h3d, h3a);/m, left[2]!.stdout)
    t.regex(left[2]!.stdout, /^kept Docker network frontend: in use by (h3b, h3d|h3d, h3b);/m, left[2]!.stdout)
    for (const h of lab.hosts) {
      const a = agents.get(h.index)!
      t.truthy(await waitFor(() => (a.exitCode !== null ? true : undefined), 15_000, 100), `${h.name}: the agent exits after leave`)
      t.is(a.exitCode, 0, `${h.name}: agent exit code`)
      t.is((await run('ip', ['-n', h.ns, 'route', 'show', 'proto', '233'])).stdout.trim(), '', `${h.name}: no fabric routes`)
    }
    t.deepEqual(await fabricNetworks(lab, h1), [], 'node1: both networks gone')
    t.deepEqual(await fabricNetworks(lab, h2), ['backend backend'], 'node2: the network in use kept, the other gone')
    t.deepEqual(await fabricNetworks(lab, h3), ['backend backend', 'frontend frontend'], 'node3: both in use, both kept')
    t.is((await run('ip', ['-n', h1.ns, '-o', 'link', 'show', 'type', 'bridge'])).stdout.split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]).join(' '), 'docker0', 'node1: only docker0 is left')
    t.is(await lab.iptablesSave(h1.ns), iptBefore[0]!, 'node1: iptables-save as before join')
    // node2 and node3 once the user removes what is still in use, as leave said
    await lab.mustDocker(h2, ['rm', '-f', 'h2a'])
    await lab.mustDocker(h2, ['network', 'rm', 'backend'])
    await lab.mustDocker(h3, ['rm', '-f', 'h3a', 'h3b', 'h3d'])
    await lab.mustDocker(h3, ['network', 'rm', 'backend', 'frontend'])
    t.is(await lab.iptablesSave(h2.ns), iptBefore[1]!, 'node2: iptables-save as before join')
    t.is(await lab.iptablesSave(h3.ns), iptBefore[2]!, 'node3: iptables-save as before join')
    t.is(readFileSync(h1.daemonJson, 'utf8'), `${JSON.stringify({ bip: '10.244.1.1/24', 'deprecated-key-path': join(h1.dir, 'key.json') }, null, 2)}\n`, 'daemon.json not touched')

    t.log(`total ${((Date.now() - t0) / 1000).toFixed(0)} s`)
    const rootIptAfter = (await run('iptables-save', [])).stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n')
    t.is(rootIptAfter, rootIptBefore, "the root namespace's iptables are untouched")
  })
}
