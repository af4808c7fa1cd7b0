/**
 * MP-BGP IPv6 unicast (RFC 4760, RFC 2545) against BIRD 2 and FRR 8, in lab
 * namespaces made dual-stack by the test (underlay fd00:99::N/64 with the
 * link-local fe80::N on eth0, fd00:fab:0:N::1/64 on docker0: the lab
 * addressing of V6CONTRACT):
 *
 * - IPv6 routes over an IPv4 session (iBGP) and over an IPv6 session (eBGP,
 *   IPv4 unicast too), learned both ways: fabric's in its kernel with
 *   protocol 233 (`ip -6 route`), the daemon's own;
 * - fabric as route reflector: a BIRD client and an FRR client learn each
 *   other's subnet6 through it;
 * - fabric leaving: its subnet6 leaves the daemons.
 *
 * fabric here is the BGP source with the real IPv6 RIB and FibSync6
 * (bgp6-speaker.ts, in the host namespace); the agent tests run the whole
 * agent (`fabric join` with the IPv6 flags).
 */
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import Join from '../../src/commands/join.js'
import { getJson } from '../../src/api/client.js'
import type { RouteRow } from '../../src/api/types.js'
import { type LabHost, type LabSpec, startAgentArgs, waitAgents } from '../../src/lab/lab.js'
import { run, waitFor } from '../../src/lab/sh.js'
import { ip, routesIn, withLab } from '../netns/helpers.js'
import { type Daemon, daemonsAvailable, runBird, runFrr, waitDaemonRoutes } from './helpers-bgp.js'

const ASN = 64512
const POOL6 = 'fd00:fab::/48'
const have = daemonsAvailable()
const birdTest = have.bird ? test.serial : test.serial.skip
const frrTest = have.frr ? test.serial : test.serial.skip
const bothTest = have.bird && have.frr ? test.serial : test.serial.skip
/** the agent has the IPv6 configuration ([fabric] pool6 and its flags) */
const agent6 = 'pool6' in Join.flags && 'address6' in Join.flags && 'subnet6' in Join.flags

const addr6 = (h: LabHost) => `fd00:99::${h.index}`
const ll6 = (h: LabHost) => `fe80::${h.index}`
const subnet6 = (h: LabHost) => `fd00:fab:0:${h.index}::/64`

/** Makes the lab hosts dual-stack (nothing outside the lab's namespaces is touched). */
async function dualStack(hosts: LabHost[]): Promise<void> {
  for (const h of hosts) {
    await ip(h.ns, 'addr', 'add', `${addr6(h)}/64`, 'dev', 'eth0', 'nodad')
    await ip(h.ns, 'addr', 'add', `${ll6(h)}/64`, 'dev', 'eth0', 'nodad')
    await ip(h.ns, 'addr', 'add', `fd00:fab:0:${h.index}::1/64`, 'dev', 'docker0', 'nodad')
  }
}

/** IPv6 routes of a protocol in a namespace, "dst via gw dev" sorted. */
async function routes6(ns: string, proto: string): Promise<string[]> {
  const r = await run('ip', ['-6', '-n', ns, '-j', 'route', 'show', 'proto', proto])
  const rows = JSON.parse(r.stdout || '[]') as { dst: string; gateway?: string; dev?: string }[]
  return rows.map((x) => `${x.dst} via ${x.gateway} dev ${x.dev}`).sort()
}

async function waitRoutes6(ns: string, proto: string, expected: string[], timeoutMs = 30_000): Promise<string[]> {
  let last: string[] = []
  await waitFor(async () => {
    last = await routes6(ns, proto)
    return JSON.stringify(last) === JSON.stringify([...expected].sort()) ? true : undefined
  }, timeoutMs, 200)
  return last
}

// ---------------------------------------------------------------- fabric (the speaker harness)

interface Fabric {
  status(): { peers: { address: string; state: string; accepted?: number; details?: Record<string, unknown> }[]; stats: Record<string, unknown>; ready: boolean }
  log: string
  stop(): Promise<void>
  /** as `fabric leave`: withdraws our subnets (MP_UNREACH_NLRI for IPv6), then Cease (Hard Reset with N) */
  leave(): Promise<void>
}

async function startFabric(t: ExecutionContext, lab: LabSpec, h: LabHost, o: { peers: string[]; bgp?: string[] }): Promise<Fabric> {
  const dir = join(h.dir, 'bgp6')
  mkdirSync(dir, { recursive: true })
  const status = join(dir, 'status.json')
  const log = join(dir, 'speaker.log')
  const spec = {
    // graceful restart stays on (120 s): FRR sends End-of-RIB only to a peer that advertised it.
  // Hold time 9 s (nothing here waits for a hold timer): a loaded machine must not expire a 3 s one
    ini: ['[fabric]', `pool = ${lab.pool}`, 'mode = bgp', '[bgp]', `asn = ${ASN}`, 'hold-time = 9', 'keepalive-time = 3', 'connect-retry-time = 1', ...(o.bgp ?? [])].join('\n'),
    peers: o.peers, stateDir: dir, status,
    self: { name: h.name, address: h.address, subnet: h.subnet, interface: 'eth0', underlay: '10.99.0.0/24', address6: addr6(h), underlay6: 'fd00:99::/64', subnet6: subnet6(h), pool6: POOL6, linkLocal: ll6(h) },
  }
  const specFile = join(dir, 'spec.json')
  writeFileSync(specFile, JSON.stringify(spec))
  const script = new URL('./bgp6-speaker.ts', import.meta.url).pathname
  const child = spawn('ip', ['netns', 'exec', h.ns, process.execPath, '--import', 'tsx', script, specFile], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FABRIC_RT_PROTOS_DIR: join(dir, 'rt_protos.d') },
  })
  const out = createWriteStream(log)
  child.stdout.pipe(out)
  child.stderr.pipe(out)
  let exited = false
  child.once('exit', () => { exited = true })
  const end = async (signal: NodeJS.Signals) => {
    if (exited) return
    child.kill(signal)
    await waitFor(() => (exited ? true : undefined), 5000, 50)
  }
  const stop = () => end('SIGTERM')
  t.teardown(stop)
  const read = () => {
    try {
      return JSON.parse(readFileSync(status, 'utf8')) as ReturnType<Fabric['status']>
    } catch {
      return { peers: [], stats: {}, ready: false }
    }
  }
  if (!(await waitFor(() => (read().peers.length > 0 ? true : undefined), 20_000, 100))) {
    throw new Error(`the speaker did not start: ${readFileSync(log, 'utf8').slice(-2000)}`)
  }
  return { status: read, log, stop, leave: () => end('SIGUSR2') }
}

async function established(f: Fabric, address: string, timeoutMs = 30_000): Promise<boolean> {
  return (await waitFor(() => (f.status().peers.find((p) => p.address === address)?.state === 'Established' ? true : undefined), timeoutMs, 200)) === true
}

// ---------------------------------------------------------------- daemons with IPv6 unicast

interface Neighbor6 { name: string; address: string; asn: number; rrClient?: boolean }

/** BIRD 2 with IPv4 and IPv6 channels; over an IPv4 session IPv6 routes go with `next hop address` = its address6, over an IPv6 one IPv4 routes with its IPv4 address. */
async function startBird6(t: ExecutionContext, h: LabHost, asn: number, neighbors: Neighbor6[]): Promise<Daemon> {
  return runBird(t, h, (logFile) => {
    const lines = [
      `log "${logFile}" all;`,
      `router id ${h.address};`,
      'protocol device { scan time 2; }',
      'protocol direct { ipv4; ipv6; interface "docker0"; }',
      'protocol kernel { ipv4 { export where source = RTS_BGP; }; scan time 2; }',
      'protocol kernel { ipv6 { export where source = RTS_BGP; }; scan time 2; }',
    ]
    for (const n of neighbors) {
      const v6session = n.address.includes(':')
      const ibgp = n.asn === asn
      lines.push(
        `protocol bgp ${n.name} {`,
        `  local ${v6session ? addr6(h) : h.address} as ${asn};`,
        `  neighbor ${n.address} as ${n.asn};`,
        ...(ibgp ? ['  direct;'] : []),
        '  hold time 9;', '  keepalive time 3;', '  connect retry time 1;', '  error wait time 1, 5;',
        `  ipv4 { import all; export where net = ${h.subnet} || source = RTS_BGP; ${v6session ? `next hop address ${h.address};` : ''} };`,
        `  ipv6 { import all; export where net = ${subnet6(h)} || source = RTS_BGP; ${v6session ? '' : `next hop address ${addr6(h)};`} };`,
        '}',
      )
    }
    return `${lines.join('\n')}\n`
  }, () => routes6(h.ns, 'bird'))
}

async function startFrr6(t: ExecutionContext, h: LabHost, asn: number, neighbors: Neighbor6[]): Promise<Daemon> {
  return runFrr(t, h, (logFile) => {
    const lines = [
      'frr defaults traditional', `hostname ${h.ns}`, `log file ${logFile}`, '!',
      `router bgp ${asn}`, ` bgp router-id ${h.address}`, ' no bgp ebgp-requires-policy', ' no bgp network import-check', ' timers bgp 3 9',
    ]
    for (const n of neighbors) lines.push(` neighbor ${n.address} remote-as ${n.asn}`, ` neighbor ${n.address} timers connect 1`)
    lines.push(' address-family ipv4 unicast', `  network ${h.subnet}`)
    for (const n of neighbors) lines.push(`  neighbor ${n.address} activate`)
    lines.push(' exit-address-family', ' address-family ipv6 unicast', `  network ${subnet6(h)}`)
    for (const n of neighbors) lines.push(`  neighbor ${n.address} activate`)
    lines.push(' exit-address-family', '!')
    return `${lines.join('\n')}\n`
  }, () => routes6(h.ns, 'bgp'), async (cli) => {
    const j = JSON.parse(await cli('show bgp ipv6 unicast summary json')) as { peers?: Record<string, { state: string }> }
    return Object.entries(j.peers ?? {}).filter(([, p]) => p.state === 'Established').map(([a]) => a)
  })
}

const LAB = { hosts: 2, mode: 'bgp' as const, start: false }

// ---------------------------------------------------------------- scenarios

for (const kind of ['bird', 'frr'] as const) {
  const start = kind === 'bird' ? startBird6 : startFrr6
  const serial = kind === 'bird' ? birdTest : frrTest

  serial(`${kind}: IPv6 routes over an IPv4 iBGP session, both ways, installed; withdrawn when fabric leaves`, async (t) => {
    const lab = await withLab(t, { ...LAB, tag: kind === 'bird' ? 'b6' : 'f6' })
    const [h1, h2] = lab.hosts as [LabHost, LabHost]
    await dualStack([h1, h2])
    const d = await start(t, h2, ASN, [{ name: 'fabric', address: h1.address, asn: ASN }])
    const f = await startFabric(t, lab, h1, { peers: [h2.address] })
    t.true(await established(f, h2.address), readFileSync(f.log, 'utf8').slice(-3000))
    // fabric: the daemon's subnet6 in the kernel with protocol 233, via its global next hop on the underlay
    t.deepEqual(await waitRoutes6(h1.ns, '233', [`${subnet6(h2)} via ${addr6(h2)} dev eth0`]), [`${subnet6(h2)} via ${addr6(h2)} dev eth0`], `${kind}'s subnet6 in fabric's kernel`)
    // the daemon installs fabric's subnet6 (over the link: via our global or link-local next hop)
    const theirs = await waitFor(async () => {
      const r = await d.kernelRoutes()
      return r.some((x) => x.startsWith(`${subnet6(h1)} via `)) ? r : undefined
    }, 30_000, 200)
    t.truthy(theirs, `${kind} installs fabric's subnet6: ${JSON.stringify(await d.kernelRoutes())}`)
    t.regex(theirs?.find((x) => x.startsWith(subnet6(h1))) ?? '', new RegExp(`via (${addr6(h1)}|${ll6(h1)}) dev eth0`))
    // ready after the End-of-RIB of both families (the status file follows every 300 ms)
    t.truthy(await waitFor(() => (f.status().ready ? true : undefined), 15_000, 100), JSON.stringify(f.status().peers))
    const p = f.status().peers.find((x) => x.address === h2.address)!
    t.true(((p.details?.capabilities ?? []) as string[]).includes('ipv6-unicast'))
    t.like(p.details?.ipv6 as object, { accepted: 1, sent: 1, endOfRib: true })
    t.true(p.details?.endOfRib as boolean)
    if (kind === 'bird') t.regex(await d.cli('show', 'route', 'for', subnet6(h1), 'all'), /BGP\.local_pref: 100/)
    else t.regex(await d.cli(`show bgp ipv6 unicast ${subnet6(h1)}`), /localpref 100/)
    // the speaker leaves: the daemon drops fabric's subnet6, fabric's kernel keeps its route (FIB sync stopped first)
    await f.leave()
    t.deepEqual(await waitDaemonRoutes(d, [], 15_000), [], `${kind} dropped fabric's subnet6`)
    t.deepEqual(await routes6(h1.ns, '233'), [`${subnet6(h2)} via ${addr6(h2)} dev eth0`], 'the harness leaves its kernel route')
  })

  serial(`${kind}: an eBGP session over IPv6 carries IPv6 and IPv4 unicast, both ways`, async (t) => {
    const lab = await withLab(t, { ...LAB, tag: kind === 'bird' ? 'b7' : 'f7' })
    const [h1, h2] = lab.hosts as [LabHost, LabHost]
    await dualStack([h1, h2])
    const d = await start(t, h2, 65010, [{ name: 'fabric', address: addr6(h1), asn: ASN }])
    const f = await startFabric(t, lab, h1, { peers: [`${addr6(h2)}@65010`] })
    t.true(await established(f, addr6(h2)), readFileSync(f.log, 'utf8').slice(-3000))
    const got = await waitRoutes6(h1.ns, '233', [`${subnet6(h2)} via ${addr6(h2)} dev eth0`])
    // FRR on an IPv6 session over a link may send its link-local address as well: the global one wins when on underlay6
    t.deepEqual(got, [`${subnet6(h2)} via ${addr6(h2)} dev eth0`])
    const theirs = await waitFor(async () => {
      const r = await d.kernelRoutes()
      return r.some((x) => x.startsWith(`${subnet6(h1)} via `)) ? r : undefined
    }, 30_000, 200)
    t.truthy(theirs, `${kind} installs fabric's subnet6 learned over IPv6`)
    // IPv4 unicast over the IPv6 session: fabric's NEXT_HOP is its IPv4 address, the daemon installs it
    const v4 = await waitFor(async () => {
      const r = await routesIn(h2.ns, 'proto', d.proto)
      return r.some((x) => x.dst === h1.subnet && x.gateway === h1.address) ? true : undefined
    }, 30_000, 200)
    t.truthy(v4, `${kind} installs ${h1.subnet} via ${h1.address} learned over the IPv6 session: ${JSON.stringify(await routesIn(h2.ns, 'proto', d.proto))}`)
    t.truthy(await waitFor(() => (f.status().ready && (f.status().peers[0]?.accepted ?? 0) >= 1 ? true : undefined), 15_000, 100),
      `ready, and the IPv4 subnet learned over the IPv6 session: ${JSON.stringify(f.status())}`)
    const p = f.status().peers.find((x) => x.address === addr6(h2))!
    t.deepEqual(((p.details?.capabilities ?? []) as string[]).filter((c) => c.endsWith('unicast')).sort(), ['ipv4-unicast', 'ipv6-unicast'])
    t.is(p.details?.routerId, h2.address, 'router id stays IPv4')
  })
}

bothTest('fabric as route reflector: a BIRD client and an FRR client learn each other\'s subnet6 through it', async (t) => {
  const lab = await withLab(t, { ...LAB, hosts: 3, tag: 'r6' })
  const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost]
  await dualStack([h1, h2, h3])
  const bird = await startBird6(t, h2, ASN, [{ name: 'fabricrr', address: h1.address, asn: ASN }])
  const frr = await startFrr6(t, h3, ASN, [{ name: 'fabricrr', address: h1.address, asn: ASN }])
  const f = await startFabric(t, lab, h1, { peers: [h2.address, h3.address], bgp: ['route-reflector = yes'] })
  t.true(await established(f, h2.address) && await established(f, h3.address), readFileSync(f.log, 'utf8').slice(-3000))
  t.deepEqual(await waitRoutes6(h1.ns, '233', [`${subnet6(h2)} via ${addr6(h2)} dev eth0`, `${subnet6(h3)} via ${addr6(h3)} dev eth0`]),
    [`${subnet6(h2)} via ${addr6(h2)} dev eth0`, `${subnet6(h3)} via ${addr6(h3)} dev eth0`].sort(), 'the reflector installs both clients')
  const learned = async (d: Daemon, other: LabHost) => waitFor(async () => {
    const r = await d.kernelRoutes()
    return r.find((x) => x.startsWith(`${subnet6(other)} via `))
  }, 30_000, 200)
  const atBird = await learned(bird, h3)
  const atFrr = await learned(frr, h2)
  t.truthy(atBird, `BIRD learns FRR's subnet6 through fabric: ${JSON.stringify(await bird.kernelRoutes())}`)
  t.truthy(atFrr, `FRR learns BIRD's subnet6 through fabric: ${JSON.stringify(await frr.kernelRoutes())}`)
  // reflected with the original next hop (not via the reflector)
  t.notRegex(atBird ?? '', new RegExp(`via (${addr6(h1)}|${ll6(h1)}) `))
  t.notRegex(atFrr ?? '', new RegExp(`via (${addr6(h1)}|${ll6(h1)}) `))
  const all = await bird.cli('show', 'route', 'for', subnet6(h3), 'all')
  t.regex(all, new RegExp(`BGP\\.originator_id: ${h3.address.replaceAll('.', '\\.')}`))
  t.regex(all, new RegExp(`BGP\\.cluster_list: ${h1.address.replaceAll('.', '\\.')}`))
  // a client shuts its session down (Cease: no graceful restart): withdrawn from the other
  await frr.cli('configure terminal', `router bgp ${ASN}`, `neighbor ${h1.address} shutdown`)
  t.truthy(await waitFor(async () => ((await bird.kernelRoutes()).some((x) => x.startsWith(subnet6(h3))) ? undefined : true), 20_000, 200), 'FRR gone: its subnet6 withdrawn from BIRD')
})

for (const kind of ['bird', 'frr'] as const) {
  const start = kind === 'bird' ? startBird6 : startFrr6
  const serial = (kind === 'bird' ? have.bird : have.frr) && agent6 ? test.serial : test.serial.skip
  const fast = ['--hold-time', '9', '--keepalive-time', '3', '--connect-retry-time', '1']

  serial(`the agent (fabric join, dual-stack flags) and ${kind}: IPv6 routes over the IPv4 session and over an IPv6 session, installed both ways, shown by /v1/routes`, async (t) => {
    const lab = await withLab(t, { ...LAB, hosts: 3, tag: kind === 'bird' ? 'a6' : 'a7' })
    const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost]
    await dualStack([h1, h2, h3])
    // h2: iBGP over IPv4; h3: eBGP over IPv6
    const d2 = await start(t, h2, ASN, [{ name: 'fabric', address: h1.address, asn: ASN }])
    const d3 = await start(t, h3, 65010, [{ name: 'fabric', address: addr6(h1), asn: ASN }])
    startAgentArgs(h1, ['--mode', 'bgp', '--pool', lab.pool, '--address', h1.address, '--subnet', h1.subnet, '--peer', h2.address, '--peer', `${addr6(h3)}@65010`,
      '--pool6', POOL6, '--address6', addr6(h1), '--subnet6', subnet6(h1), ...fast])
    await waitAgents(lab, [h1])
    const want = [`${subnet6(h2)} via ${addr6(h2)} dev eth0`, `${subnet6(h3)} via ${addr6(h3)} dev eth0`].sort()
    t.deepEqual(await waitRoutes6(h1.ns, '233', want), want, `the agent installs ${kind}'s subnet6 (proto 233), learned over IPv4 and IPv6 sessions`)
    for (const d of [d2, d3]) {
      const theirs = await waitFor(async () => ((await d.kernelRoutes()).some((x) => x.startsWith(`${subnet6(h1)} via `)) ? true : undefined), 30_000, 200)
      t.truthy(theirs, `${kind} on ${d.host.name} installs the agent's subnet6: ${JSON.stringify(await d.kernelRoutes())}`)
    }
    // RFC 2545: to the on-link iBGP peer the agent sends its global next hop and the underlay's link-local one (32 octets)
    if (kind === 'bird') t.regex(await d2.cli('show', 'route', 'for', subnet6(h1), 'all'), new RegExp(`BGP\\.next_hop: ${addr6(h1)} fe80::`))
    // IPv4 over the IPv6 session: the agent installs h3's IPv4 subnet via its IPv4 address
    t.truthy(await waitFor(async () => ((await routesIn(h1.ns, 'proto', '233')).some((r) => r.dst === h3.subnet && r.gateway === h3.address) ? true : undefined), 30_000, 200),
      `${h3.subnet} via ${h3.address} learned over the IPv6 session: ${JSON.stringify(await routesIn(h1.ns, 'proto', '233'))}`)
    const rows = (await getJson<{ routes: RouteRow[] }>(h1.socket, '/v1/routes', 3000)).routes.filter((r) => r.family === 6 && r.source === 'bgp')
    t.deepEqual(rows.map((r) => `${r.prefix} ${r.nextHop} ${r.peer} ${r.state}`).sort(),
      [`${subnet6(h2)} ${addr6(h2)} ${h2.address} installed`, `${subnet6(h3)} ${addr6(h3)} ${addr6(h3)} installed`].sort())
    const peers = (await getJson<{ peers: { address: string; state: string; details?: Record<string, unknown> }[] }>(h1.socket, '/v1/peers', 3000)).peers
    t.deepEqual(peers.map((p) => [p.address, p.state, ((p.details?.capabilities ?? []) as string[]).includes('ipv6-unicast')]).sort(),
      [[h2.address, 'Established', true], [addr6(h3), 'Established', true]].sort())
  })
}

for (const kind of ['bird', 'frr'] as const) {
  const start = kind === 'bird' ? startBird6 : startFrr6
  const serial = kind === 'bird' ? birdTest : frrTest

  serial(`${kind}: graceful restart keeps fabric's subnet6 at the daemon while the speaker restarts (IPv6 unicast with F in the capability)`, async (t) => {
    const lab = await withLab(t, { ...LAB, tag: kind === 'bird' ? 'b8' : 'f8' })
    const [h1, h2] = lab.hosts as [LabHost, LabHost]
    await dualStack([h1, h2])
    const d = await start(t, h2, ASN, [{ name: 'fabric', address: h1.address, asn: ASN }])
    const f = await startFabric(t, lab, h1, { peers: [h2.address] })
    t.true(await established(f, h2.address))
    const has = async () => (await d.kernelRoutes()).some((x) => x.startsWith(`${subnet6(h1)} via `))
    t.truthy(await waitFor(async () => ((await has()) ? true : undefined), 30_000, 200), `${kind} installs fabric's subnet6`)
    await f.stop()
    // the daemon is helper: the route stays while fabric is away
    for (let i = 0; i < 10; i++) {
      t.true(await has(), `${kind} kept fabric's subnet6 ${i * 300} ms after the stop`)
      await new Promise((r) => setTimeout(r, 300))
    }
    const f2 = await startFabric(t, lab, h1, { peers: [h2.address] })
    t.true(await established(f2, h2.address))
    t.truthy(await waitFor(() => (f2.status().ready ? true : undefined), 30_000, 100), 'the restarted speaker is ready (End-of-RIB of both families)')
    await new Promise((r) => setTimeout(r, 1500))
    t.true(await has(), `${kind} has fabric's subnet6 after the restart`)
    t.deepEqual(await routes6(h1.ns, '233'), [`${subnet6(h2)} via ${addr6(h2)} dev eth0`], `fabric's kernel route kept through the restart: ${readFileSync(f2.log, 'utf8').split('\n').filter((l) => !l.includes('"level":20')).join('\n').slice(-6000)}`)
  })
}
