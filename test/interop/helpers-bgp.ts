/**
 * Interop helpers: BIRD 2 and FRR 8 (zebra + bgpd) started inside lab host
 * namespaces, with their configs under the lab directory (BIRD) or
 * /var/run/frr/NAMESPACE (FRR, owned by frr:frr). Everything is stopped and
 * removed in the test's teardown (and labDown kills any process left in the
 * lab's namespaces).
 */
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import type { LabHost } from '../../src/lab/lab.js'
import { run, waitFor } from '../../src/lab/sh.js'

export interface Neighbor {
  name: string
  address: string
  asn: number
  /** we are its route reflector */
  rrClient?: boolean
}

export interface DaemonSpec {
  host: LabHost
  asn: number
  neighbors: Neighbor[]
  /** seconds */
  holdTime?: number
  /** announce this prefix (the host's docker0 subnet) */
  announce: string
  /** more prefixes to announce (a fabric network's subnet of this host), originated without a kernel route */
  announceMore?: string[]
}

export interface Daemon {
  kind: 'bird' | 'frr'
  host: LabHost
  /** kernel protocol name of the daemon's routes (`ip route show proto X`) */
  proto: string
  /** routes the daemon installed in its namespace's kernel, "dst via gw" sorted */
  kernelRoutes(): Promise<string[]>
  /** names of Established BGP sessions */
  established(): Promise<string[]>
  /** raw CLI output (birdc / vtysh) */
  cli(...args: string[]): Promise<string>
  stop(): Promise<void>
}

async function kernelRoutes(ns: string, proto: string): Promise<string[]> {
  const r = await run('ip', ['-n', ns, '-j', 'route', 'show', 'proto', proto])
  const rows = JSON.parse(r.stdout || '[]') as { dst: string; gateway?: string }[]
  return rows.map((x) => `${x.dst} via ${x.gateway}`).sort()
}

async function pidOf(file: string): Promise<number | undefined> {
  try {
    const n = Number(readFileSync(file, 'utf8').trim())
    return n > 0 ? n : undefined
  } catch {
    return undefined
  }
}

async function killPidFile(file: string): Promise<void> {
  const pid = await pidOf(file)
  if (pid === undefined) return
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    return
  }
  const gone = await waitFor(() => {
    try {
      process.kill(pid, 0)
      return undefined
    } catch {
      return true
    }
  }, 3000, 50)
  if (!gone) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      /* gone */
    }
  }
}

export function birdConfig(s: DaemonSpec & { logFile: string }): string {
  const lines = [
    `log "${s.logFile}" all;`,
    `router id ${s.host.address};`,
    'protocol device { scan time 2; }',
    'protocol direct { ipv4; interface "docker0"; }',
    'protocol kernel { ipv4 { export where source = RTS_BGP; }; scan time 2; }',
  ]
  const more = s.announceMore ?? []
  if (more.length > 0) lines.push(`protocol static more { ipv4; ${more.map((p) => `route ${p} blackhole;`).join(' ')} }`)
  const exported = [s.announce, ...more].map((p) => `net = ${p}`).join(' || ')
  for (const n of s.neighbors) {
    const ibgp = n.asn === s.asn
    lines.push(
      `protocol bgp ${n.name} {`,
      `  local ${s.host.address} as ${s.asn};`,
      `  neighbor ${n.address} as ${n.asn};`,
      ...(ibgp ? ['  direct;'] : []),
      ...(n.rrClient ? ['  rr client;'] : []),
      `  hold time ${s.holdTime ?? 3};`,
      `  keepalive time ${Math.max(1, Math.floor((s.holdTime ?? 3) / 3))};`,
      '  connect retry time 1;',
      '  error wait time 1, 5;',
      `  ipv4 { import all; export where ${exported} || source = RTS_BGP; };`,
      '}',
    )
  }
  return `${lines.join('\n')}\n`
}

export async function startBird(t: ExecutionContext, spec: DaemonSpec): Promise<Daemon> {
  const h = spec.host
  return runBird(t, h, (logFile) => birdConfig({ ...spec, logFile }), () => kernelRoutes(h.ns, 'bird'))
}

/**
 * BIRD in h's namespace with the configuration `config(logFile)` (files in
 * h.dir/bird), stopped at the test's end; `routes` reads what it installed.
 */
export async function runBird(t: ExecutionContext, h: LabHost, config: (logFile: string) => string, routes: () => Promise<string[]>): Promise<Daemon> {
  const dir = join(h.dir, 'bird')
  mkdirSync(dir, { recursive: true })
  const conf = join(dir, 'bird.conf')
  const sock = join(dir, 'bird.ctl')
  const pidFile = join(dir, 'bird.pid')
  writeFileSync(conf, config(join(dir, 'bird.log')))
  const stop = async () => {
    await killPidFile(pidFile)
  }
  t.teardown(stop)
  const r = await run('ip', ['netns', 'exec', h.ns, 'bird', '-c', conf, '-s', sock, '-P', pidFile])
  if (r.code !== 0) throw new Error(`bird failed to start in ${h.ns}: ${r.stderr}${r.stdout}`)
  const cli = async (...args: string[]) => (await run('ip', ['netns', 'exec', h.ns, 'birdc', '-s', sock, ...args])).stdout
  return {
    kind: 'bird', host: h, proto: 'bird', cli, stop,
    kernelRoutes: routes,
    async established() {
      const out = await cli('show', 'protocols')
      return out.split('\n').filter((l) => /\bBGP\b.*\bEstablished\b/.test(l)).map((l) => l.split(/\s+/)[0]!)
    },
  }
}

export function frrConfig(s: DaemonSpec & { logFile: string }): string {
  const hold = s.holdTime ?? 3
  const lines = [
    'frr defaults traditional',
    `hostname ${s.host.ns}`,
    `log file ${s.logFile}`,
    '!',
    `router bgp ${s.asn}`,
    ` bgp router-id ${s.host.address}`,
    ' no bgp ebgp-requires-policy',
    ' no bgp network import-check',
    ` timers bgp ${Math.max(1, Math.floor(hold / 3))} ${hold}`,
  ]
  for (const n of s.neighbors) lines.push(` neighbor ${n.address} remote-as ${n.asn}`, ` neighbor ${n.address} timers connect 1`)
  lines.push(' address-family ipv4 unicast', `  network ${s.announce}`, ...(s.announceMore ?? []).map((p) => `  network ${p}`))
  for (const n of s.neighbors) if (n.rrClient) lines.push(`  neighbor ${n.address} route-reflector-client`)
  lines.push(' exit-address-family', '!')
  return `${lines.join('\n')}\n`
}

export async function startFrr(t: ExecutionContext, spec: DaemonSpec): Promise<Daemon> {
  const h = spec.host
  return runFrr(t, h, (logFile) => frrConfig({ ...spec, logFile }), () => kernelRoutes(h.ns, 'bgp'), async (cli) => {
    const j = JSON.parse(await cli('show bgp ipv4 unicast summary json')) as { ipv4Unicast?: { peers?: Record<string, { state: string }> } }
    return Object.entries(j.ipv4Unicast?.peers ?? {}).filter(([, p]) => p.state === 'Established').map(([a]) => a)
  })
}

/**
 * FRR's zebra and bgpd in h's namespace with the configuration
 * `config(logFile)` (files in /var/run/frr/NS), stopped and removed at the
 * test's end; `routes` reads what it installed, `peersUp` lists the
 * Established peers from vtysh (an unreadable answer counts as none).
 */
export async function runFrr(
  t: ExecutionContext, h: LabHost, config: (logFile: string) => string, routes: () => Promise<string[]>,
  peersUp: (cli: Daemon['cli']) => Promise<string[]>,
): Promise<Daemon> {
  const ns = h.ns
  const dir = `/var/run/frr/${ns}`
  const stop = async () => {
    await killPidFile(join(dir, 'bgpd.pid'))
    await killPidFile(join(dir, 'zebra.pid'))
  }
  t.teardown(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  mkdirSync(dir, { recursive: true })
  const conf = join(dir, 'frr.conf')
  writeFileSync(conf, config(join(dir, 'frr.log')))
  writeFileSync(join(dir, 'vtysh.conf'), '')
  const { uid, gid } = await frrIds()
  for (const f of [dir, conf, join(dir, 'vtysh.conf')]) chownSync(f, uid, gid)
  for (const d of ['zebra', 'bgpd'] as const) {
    const r = await run('ip', ['netns', 'exec', ns, `/usr/lib/frr/${d}`, '-N', ns, '-d', '-f', conf, '-i', join(dir, `${d}.pid`)])
    if (r.code !== 0) throw new Error(`${d} failed to start in ${ns}: ${r.stderr}${r.stdout}`)
  }
  const cli = async (...args: string[]) => (await run('ip', ['netns', 'exec', ns, 'vtysh', '-N', ns, ...args.flatMap((a) => ['-c', a])])).stdout
  return {
    kind: 'frr', host: h, proto: 'bgp', cli, stop,
    kernelRoutes: routes,
    async established() {
      try {
        return await peersUp(cli)
      } catch {
        return []
      }
    },
  }
}

async function frrIds(): Promise<{ uid: number; gid: number }> {
  const u = await run('id', ['-u', 'frr'])
  const g = await run('id', ['-g', 'frr'])
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) }
}

/** Polls until the daemon's kernel routes equal `expected`. */
export async function waitDaemonRoutes(d: Daemon, expected: string[], timeoutMs = 20_000): Promise<string[]> {
  let last: string[] = []
  await waitFor(async () => {
    last = await d.kernelRoutes()
    return JSON.stringify(last) === JSON.stringify([...expected].sort()) ? true : undefined
  }, timeoutMs, 200)
  return last
}

export function daemonsAvailable(): { bird: boolean; frr: boolean } {
  return { bird: existsSync('/usr/sbin/bird'), frr: existsSync('/usr/lib/frr/bgpd') && existsSync('/usr/lib/frr/zebra') }
}

// ---------------------------------------------------------------- scenarios shared by BIRD and FRR

import test from 'ava'
import { type LabSpec, addLabHost, signalAgent, startAgent, startAgentArgs, waitAgents } from '../../src/lab/lab.js'
import { logEvents, waitRoutes, withLab } from '../netns/helpers.js'
import { getJson } from '../../src/api/client.js'

// graceful restart off here: these tests check that a stopped agent's routes leave the daemons
// (the daemons are graceful-restart helpers); GR with BIRD/FRR has its own interop tests (issue 10)
const BGP_FAST = ['', '[bgp]', 'asn = 64512', 'hold-time = 3', 'keepalive-time = 1', 'connect-retry-time = 1', 'graceful-restart-time = 0']

type Start = (t: ExecutionContext, spec: DaemonSpec) => Promise<Daemon>

interface PeerRow { peer: string; address: string; state: string; details?: Record<string, unknown> }

async function fabricPeers(h: LabHost): Promise<PeerRow[]> {
  return (await getJson<{ peers: PeerRow[] }>(h.socket, '/v1/peers', 3000)).peers
}

/** Sorted equality with a readable failure. */
function same(t: ExecutionContext, actual: string[], expected: string[], what: string): void {
  t.deepEqual(actual, [...expected].sort(), what)
}

/** A session survives several hold times (3 s) without a flap, on both sides. */
async function soak(t: ExecutionContext, hosts: LabHost[], daemons: Daemon[], seconds: number): Promise<void> {
  const before = new Map<string, number>()
  for (const h of hosts) for (const p of await fabricPeers(h)) before.set(`${h.name}/${p.address}`, Number(p.details?.flaps ?? 0))
  const daemonBefore = await Promise.all(daemons.map((d) => d.established()))
  await new Promise((r) => setTimeout(r, seconds * 1000))
  for (const h of hosts) {
    for (const p of await fabricPeers(h)) {
      if (!before.has(`${h.name}/${p.address}`)) continue
      t.is(p.state, 'Established', `${h.name} -> ${p.address} after ${seconds} s`)
      t.is(Number(p.details?.flaps ?? 0), before.get(`${h.name}/${p.address}`) ?? 0, `${h.name} -> ${p.address} flapped`)
    }
  }
  const after = await Promise.all(daemons.map((d) => d.established()))
  t.deepEqual(after, daemonBefore, 'daemon sessions stayed Established')
}

export function interopSuite(kind: 'bird' | 'frr', start: Start): void {
  const tag = kind === 'bird' ? 'ib' : 'if'
  const serial = daemonsAvailable()[kind] ? test.serial : test.serial.skip

  serial(`${kind}: iBGP mesh member and eBGP neighbour; stable over hold times; route refresh; SIGTERM withdraws at the peer`, async (t) => {
    const lab: LabSpec = await withLab(t, { tag, hosts: 3, mode: 'bgp', start: false, iniExtra: BGP_FAST })
    const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost]
    const h4 = await addLabHost(lab, 4)
    // node1 also has an eBGP neighbour (AS 65010) on h4
    startAgent(lab, h1, { extraArgs: ['--peer', '10.99.0.14@65010'] })
    startAgent(lab, h2)
    const ibgp = await start(t, { host: h3, asn: 64512, announce: h3.subnet, neighbors: [{ name: 'node1', address: h1.address, asn: 64512 }, { name: 'node2', address: h2.address, asn: 64512 }] })
    const ebgp = await start(t, { host: h4, asn: 65010, announce: h4.subnet, neighbors: [{ name: 'node1', address: h1.address, asn: 64512 }] })
    await waitAgents(lab, [h1, h2])

    same(t, await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13', '10.244.4.0/24 via 10.99.0.14'], 30_000),
      ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13', '10.244.4.0/24 via 10.99.0.14'], 'node1 learns the iBGP and eBGP daemons\' subnets')
    // node1 passes the eBGP route to its iBGP peers with the next hop unchanged
    same(t, await waitRoutes(h2.ns, ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13', '10.244.4.0/24 via 10.99.0.14'], 30_000),
      ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13', '10.244.4.0/24 via 10.99.0.14'], 'node2')
    same(t, await waitDaemonRoutes(ibgp, ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.12', '10.244.4.0/24 via 10.99.0.14'], 30_000),
      ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.12', '10.244.4.0/24 via 10.99.0.14'], `${kind} iBGP member installs the fabric subnets`)
    // to eBGP node1 is next hop self and prepends its AS
    same(t, await waitDaemonRoutes(ebgp, ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.11'], 30_000),
      ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.11'], `${kind} eBGP neighbour installs the fabric subnets`)
    if (kind === 'bird') {
      t.regex(await ebgp.cli('show', 'route', 'for', '10.244.2.0/24', 'all'), /BGP\.as_path: 64512\s*$/m)
    } else {
      t.regex(await ebgp.cli('show bgp ipv4 unicast 10.244.2.0/24'), /^\s*64512\s*$/m)
    }
    const p1 = await fabricPeers(h1)
    t.deepEqual(p1.map((p) => [p.address, p.state, p.details?.type, p.details?.holdTime]).sort(), [
      ['10.99.0.12', 'Established', 'ibgp', 3], ['10.99.0.13', 'Established', 'ibgp', 3], ['10.99.0.14', 'Established', 'ebgp', 3],
    ])

    await soak(t, [h1, h2], [ibgp, ebgp], 10)

    // route refresh from the daemons is answered with the whole table
    const refreshed = () => logEvents(h1.log, 'route-refresh-received').map((e) => String(e.peer))
    const before = refreshed().length
    if (kind === 'frr') {
      await ibgp.cli('clear bgp ipv4 unicast * soft in')
      await ebgp.cli('clear bgp ipv4 unicast * soft in')
    } else {
      await ibgp.cli('reload', 'in', 'node1')
      await ebgp.cli('reload', 'in', 'node1')
    }
    t.truthy(await waitFor(() => (refreshed().length >= before + 2 ? true : undefined), 10_000), `route refreshes seen: ${refreshed().join(',')}`)
    t.true(refreshed().includes('10.99.0.13') && refreshed().includes('10.99.0.14'))
    same(t, await waitDaemonRoutes(ebgp, ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.11'], 5_000),
      ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.11'], 'table unchanged after refresh')

    // SIGTERM node1: its routes stay in its own kernel, the daemons drop what they learned from it
    await signalAgent(h1, 'SIGTERM')
    same(t, await waitDaemonRoutes(ibgp, ['10.244.2.0/24 via 10.99.0.12'], 10_000), ['10.244.2.0/24 via 10.99.0.12'], `${kind} iBGP member dropped node1's routes`)
    same(t, await waitDaemonRoutes(ebgp, [], 10_000), [], `${kind} eBGP neighbour dropped node1's routes`)
    same(t, await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13', '10.244.4.0/24 via 10.99.0.14'], 1000),
      ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13', '10.244.4.0/24 via 10.99.0.14'], 'node1 keeps its routes in its kernel')
  })

  serial(`${kind}: as route reflector with fabric hosts as clients (joined by flags only)`, async (t) => {
    const lab: LabSpec = await withLab(t, { tag, hosts: 3, mode: 'bgp', start: false, iniExtra: BGP_FAST })
    const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost]
    const rr = await start(t, {
      host: h1, asn: 64512, announce: h1.subnet,
      neighbors: [{ name: 'node2', address: h2.address, asn: 64512, rrClient: true }, { name: 'node3', address: h3.address, asn: 64512, rrClient: true }],
    })
    const flagsOnly = (h: LabHost) => ['--mode', 'bgp', '--pool', lab.pool, '--address', h.address, '--subnet', h.subnet, '--peer', h1.address,
      '--hold-time', '3', '--keepalive-time', '1', '--connect-retry-time', '1', '--graceful-restart-time', '0']
    startAgentArgs(h2, flagsOnly(h2))
    startAgentArgs(h3, flagsOnly(h3))
    await waitAgents(lab, [h2, h3])
    same(t, await waitRoutes(h2.ns, ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13'], 30_000), ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13'], 'node2 learns node3 through the reflector')
    same(t, await waitRoutes(h3.ns, ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.12'], 30_000), ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.12'], 'node3')
    same(t, await waitDaemonRoutes(rr, ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'], 30_000), ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'], `${kind} reflector installs the clients' subnets`)
    await soak(t, [h2, h3], [rr], 7)
    await signalAgent(h2, 'SIGTERM')
    same(t, await waitDaemonRoutes(rr, ['10.244.3.0/24 via 10.99.0.13'], 10_000), ['10.244.3.0/24 via 10.99.0.13'], 'the reflector dropped node2')
    same(t, await waitRoutes(h3.ns, ['10.244.1.0/24 via 10.99.0.11'], 10_000), ['10.244.1.0/24 via 10.99.0.11'], 'and withdrew it from node3')
  })

  serial(`${kind}: fabric as route reflector with ${kind} clients`, async (t) => {
    const lab: LabSpec = await withLab(t, { tag, hosts: 3, mode: 'bgp', start: false, iniExtra: [...BGP_FAST, 'route-reflector = yes'] })
    const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost]
    startAgent(lab, h1)
    const c2 = await start(t, { host: h2, asn: 64512, announce: h2.subnet, neighbors: [{ name: 'fabricrr', address: h1.address, asn: 64512 }] })
    const c3 = await start(t, { host: h3, asn: 64512, announce: h3.subnet, neighbors: [{ name: 'fabricrr', address: h1.address, asn: 64512 }] })
    await waitAgents(lab, [h1])
    same(t, await waitDaemonRoutes(c2, ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13'], 30_000), ['10.244.1.0/24 via 10.99.0.11', '10.244.3.0/24 via 10.99.0.13'], `${kind} client 2 learns client 3 through fabric`)
    same(t, await waitDaemonRoutes(c3, ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.12'], 30_000), ['10.244.1.0/24 via 10.99.0.11', '10.244.2.0/24 via 10.99.0.12'], `${kind} client 3`)
    same(t, await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'], 30_000), ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'], 'the fabric reflector')
    // RFC 4456 attributes as the client sees them
    if (kind === 'bird') {
      const all = await c2.cli('show', 'route', 'for', '10.244.3.0/24', 'all')
      t.regex(all, /BGP\.originator_id: 10\.99\.0\.13/)
      t.regex(all, /BGP\.cluster_list: 10\.99\.0\.11/)
    } else {
      const all = await c2.cli('show bgp ipv4 unicast 10.244.3.0/24')
      t.regex(all, /Originator: 10\.99\.0\.13/)
      t.regex(all, /Cluster list: 10\.99\.0\.11/)
    }
    await soak(t, [h1], [c2, c3], 7)
    await c3.stop()
    same(t, await waitDaemonRoutes(c2, ['10.244.1.0/24 via 10.99.0.11'], 15_000), ['10.244.1.0/24 via 10.99.0.11'], 'client 3 gone: withdrawn from client 2')
  })
}
