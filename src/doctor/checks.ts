/**
 * `fabric doctor`: preflight and live checks, each pass/warn/fail with a fix
 * hint. Reads the configuration, the kernel, the firewall and, when it
 * answers, the agent; works with the agent stopped. Changes nothing.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'
import { connect } from 'node:net'
import { getPeers, getStatus } from '../api/client.js'
import { INSTALLS_NO_ROUTE } from '../api/render.js'
import { matchHostEntry, placeOf, underlayCandidates } from '../api/host-identity.js'
import { readState } from '../api/state-file.js'
import type { DoctorCheck, PeerRow, StatusResponse } from '../api/types.js'
import { bfdDiagText, peerBfd } from '../api/peer-details.js'
import { ConfigErrors } from '../config/errors.js'
import { type FabricConfig, loadConfig } from '../config/fabric-config.js'
import { RESERVED_ROUTE_PROTOCOLS } from '../config/route-protocol.js'
import { connectedNetworks } from '../kernel/connected.js'
import { Rtnl } from '../kernel/rtnl.js'
import type { KernelAddress, KernelLink } from '../kernel/rtnl-codec.js'
import { readSysctl } from '../kernel/sysctl.js'
import { type KernelRoute, MAIN_TABLE } from '../kernel/types.js'
import { type Prefix, containsAddress, firstHost, formatAddress, formatPrefix, overlaps, parseAddress, parsePrefix } from '../net/ipv4.js'
import { run } from '../util/process.js'
import { checkIpv6 } from './ipv6.js'
import { checkNetworks } from './networks.js'

export type Check = DoctorCheck

export interface DoctorOptions {
  configFile?: string
  socket: string
  stateDir: string
  address?: string
  /** seconds to wait for each peer probe */
  timeoutS?: number
}

interface Peer { name: string; address: number }

interface Ctx {
  config?: FabricConfig
  self?: { name: string; address: number; subnet?: Prefix; iface?: string; underlay?: Prefix }
  addrs: KernelAddress[]
  links: KernelLink[]
  routes: KernelRoute[]
  status?: StatusResponse
  peers: Peer[]
  timeoutS: number
  socket: string
}

export async function runDoctor(opts: DoctorOptions): Promise<Check[]> {
  const checks: Check[] = []
  const add = (c: Check): void => { checks.push(c) }
  const rtnl = new Rtnl()
  let ctx: Ctx
  try {
    const [addrs, links, routes] = await Promise.all([rtnl.dumpAddresses(), rtnl.dumpLinks(), rtnl.dumpRoutes()])
    ctx = { addrs, links, routes, peers: [], timeoutS: opts.timeoutS ?? 2, socket: opts.socket }
  } finally {
    rtnl.close()
  }
  // configuration
  try {
    if (opts.configFile === undefined) throw new Error('no fabric.ini (pass --config)')
    ctx.config = loadConfig({ file: opts.configFile })
    add({ name: 'config', result: 'pass', detail: `${opts.configFile}: mode ${ctx.config.mode}, pool ${formatPrefix(ctx.config.pool)}, ${ctx.config.hosts.length} hosts` })
  } catch (e) {
    const msg = e instanceof ConfigErrors ? e.errors.map((x) => x.message).join('; ') : (e as Error).message
    add({ name: 'config', result: opts.configFile === undefined ? 'skip' : 'fail', detail: msg, fix: 'fix fabric.ini (docs/configuration.md); `fabric join` refuses to start with it' })
  }
  // agent
  try {
    const status = await getStatus(opts.socket, 3000)
    ctx.status = status
    add({ name: 'agent', result: 'pass', detail: `running, pid ${status.pid}, up ${status.uptime}s` })
  } catch (e) {
    add({ name: 'agent', result: 'fail', detail: (e as Error).message, fix: 'start it: `fabric join --config ...` (or the fabric service/container); routes stay in the kernel while it is down' })
  }
  identifySelf(ctx, opts)
  if (ctx.self) {
    add({ name: 'this host', result: 'pass', detail: `${ctx.self.name} ${formatAddress(ctx.self.address)}${ctx.self.iface ? ` on ${ctx.self.iface} (${formatPrefix(ctx.self.underlay!)})` : ''}${ctx.self.subnet ? `, subnet ${formatPrefix(ctx.self.subnet)}` : ''}` })
  } else if (ctx.config) {
    add({ name: 'this host', result: 'fail', detail: `none of this host's addresses (${underlayCandidates(ctx.addrs).map((a) => formatAddress(a.address)).join(', ')}) is a [host.*] address`, fix: 'add this host to fabric.ini or pass --address' })
  }
  collectPeers(ctx)

  checkForwarding(ctx, add)
  checkRpFilter(ctx, add)
  await checkFirewall(ctx, add)
  checkOnLink(ctx, add)
  checkOverlaps(ctx, add)
  checkDocker0(ctx, add)
  checkForeignDaemons(ctx, add)
  checkAgentHealth(ctx, add)
  checkMtu(ctx, add)
  await checkPeersReachable(ctx, add)
  if (ctx.status) {
    const peers = await getPeers(opts.socket, 3000).then((r) => r.peers, () => undefined)
    if (peers) for (const c of checkBfd(peers)) add(c)
  }
  await checkNetworks(ctx, add)
  await checkIpv6({ ...ctx, stateDir: opts.stateDir }, add)
  return checks
}

function identifySelf(ctx: Ctx, opts: DoctorOptions): void {
  const st = ctx.status?.host
  const state = readState(opts.stateDir)
  const fromText = (s: string | undefined): number | undefined => {
    if (!s) return undefined
    const a = parseAddress(s)
    return a.ok ? a.value : undefined
  }
  let address = fromText(opts.address) ?? fromText(st?.address) ?? fromText(state?.address)
  if (address === undefined && ctx.config) {
    const m = matchHostEntry(ctx.config.hosts, ctx.addrs)
    if (m.kind === 'one') address = m.entry.address
  }
  if (address === undefined) return
  const entry = ctx.config?.hosts.find((h) => h.address === address)
  const name = entry?.name ?? st?.name ?? state?.host ?? formatAddress(address)
  let subnet: Prefix | undefined = entry?.subnet
  const sub = st?.subnet ?? state?.subnet
  if (!subnet && sub) {
    const p = parsePrefix(sub)
    if (p.ok) subnet = p.value
  }
  const la = underlayCandidates(ctx.addrs).find((a) => a.address === address)
  const place = la ? placeOf(la, ctx.links) : undefined
  ctx.self = { name, address, subnet, iface: place?.interface, underlay: place?.underlay }
}

function collectPeers(ctx: Ctx): void {
  const c = ctx.config
  if (!c || !ctx.self) return
  const seen = new Set<number>([ctx.self.address])
  const push = (name: string, address: number): void => {
    if (seen.has(address)) return
    seen.add(address)
    ctx.peers.push({ name, address })
  }
  if (c.mode === 'static' || c.mode === 'bgp') for (const h of c.hosts) push(h.name, h.address)
  if (c.mode === 'bgp') for (const p of c.bgp.peers) push(p.name, p.address)
  if (c.mode === 'rip') {
    for (const n of c.rip.neighbors) push(formatAddress(n), n)
    for (const h of c.hosts) push(h.name, h.address)
  }
}

function checkForwarding(_ctx: Ctx, add: (c: Check) => void): void {
  const v = readSysctl('ip_forward')
  if (v === '1') add({ name: 'ip_forward', result: 'pass', detail: 'net.ipv4.ip_forward = 1' })
  else add({ name: 'ip_forward', result: 'fail', detail: `net.ipv4.ip_forward = ${v ?? '?'}: this host does not forward container traffic`, fix: 'sysctl -w net.ipv4.ip_forward=1 (fabric join sets it at start)' })
}

function checkRpFilter(ctx: Ctx, add: (c: Check) => void): void {
  const ifaces = [ctx.self?.iface, 'docker0'].filter((x): x is string => !!x && ctx.links.some((l) => l.name === x))
  const strict: string[] = []
  for (const i of ifaces) {
    const all = Number(readSysctl('conf/all/rp_filter') ?? 0)
    const dev = Number(readSysctl(`conf/${i}/rp_filter`) ?? 0)
    if (Math.max(all, dev) === 1) strict.push(i)
  }
  if (strict.length === 0) add({ name: 'rp_filter', result: 'pass', detail: `not strict on ${ifaces.join(', ') || 'the fabric interfaces'}` })
  else add({ name: 'rp_filter', result: 'warn', detail: `strict reverse-path filtering (1) on ${strict.join(', ')}: routed traffic arriving where the reverse route does not point is dropped`, fix: 'sysctl -w net.ipv4.conf.all.rp_filter=2 (loose), and the same for the interface' })
}

async function iptablesS(table: string, chain: string): Promise<string[] | undefined> {
  const r = await run('iptables', ['-w', '5', '-t', table, '-S', chain], { timeoutMs: 10_000 })
  if (r.code !== 0) return undefined
  return r.stdout.split('\n').filter(Boolean)
}

async function checkFirewall(ctx: Ctx, add: (c: Check) => void): Promise<void> {
  const c = ctx.config
  const which = await run('sh', ['-c', 'command -v iptables'])
  if (which.code !== 0) {
    add({ name: 'firewall', result: 'skip', detail: 'iptables is not installed: no firewall rules to check' })
    return
  }
  const forward = await iptablesS('filter', 'FORWARD')
  if (!forward) {
    add({ name: 'firewall', result: 'skip', detail: 'cannot read the FORWARD chain (not root?)' })
    return
  }
  const policy = /^-P FORWARD (\w+)/.exec(forward[0] ?? '')?.[1] ?? 'ACCEPT'
  const pool = c ? formatPrefix(c.pool) : undefined
  const fabricChain = forward.some((l) => /-j FABRIC-FORWARD\b/.test(l)) || ((await iptablesS('filter', 'DOCKER-USER')) ?? []).some((l) => /-j FABRIC-FORWARD\b/.test(l))
  const poolAccept = pool !== undefined && forward.some((l) => l.includes(pool) && /-j ACCEPT/.test(l))
  if (policy === 'ACCEPT') add({ name: 'FORWARD policy', result: 'pass', detail: 'FORWARD policy ACCEPT' })
  else if (fabricChain || poolAccept) add({ name: 'FORWARD policy', result: 'pass', detail: `FORWARD policy ${policy}, fabric traffic accepted (${fabricChain ? 'FABRIC-FORWARD chain' : 'pool ACCEPT rule'})` })
  else add({ name: 'FORWARD policy', result: 'fail', detail: `FORWARD policy ${policy} (Docker sets DROP) and nothing accepts traffic between the pool ${pool ?? ''} and this host's subnet`, fix: 'run the agent with its firewall integration, or: iptables -I DOCKER-USER -s POOL -d SUBNET -j ACCEPT (and the reverse)' })
  const post = await iptablesS('nat', 'POSTROUTING')
  if (!post || !ctx.self?.subnet) {
    add({ name: 'masquerade', result: 'skip', detail: post ? "this host's subnet is unknown" : 'cannot read nat POSTROUTING' })
    return
  }
  const subnet = formatPrefix(ctx.self.subnet)
  const masqIdx = post.findIndex((l) => l.includes(`-s ${subnet}`) && /-j MASQUERADE/.test(l))
  const exemptIdx = post.findIndex((l) => pool !== undefined && l.includes(`-d ${pool}`) && /-j (RETURN|ACCEPT)/.test(l))
  const postChainIdx = post.findIndex((l) => /-j FABRIC-POSTROUTING\b/.test(l))
  if (postChainIdx >= 0 && (masqIdx < 0 || postChainIdx < masqIdx)) add({ name: 'masquerade', result: 'pass', detail: `fabric's FABRIC-POSTROUTING comes first: pool-to-pool traffic keeps container addresses, the rest is masqueraded` })
  else if (masqIdx < 0) add({ name: 'masquerade', result: 'pass', detail: `no MASQUERADE for ${subnet}: container traffic leaves with its own address` })
  else if (exemptIdx >= 0 && exemptIdx < masqIdx) add({ name: 'masquerade', result: 'pass', detail: `pool-to-pool traffic is exempt from the MASQUERADE of ${subnet}` })
  else add({ name: 'masquerade', result: 'fail', detail: `${subnet} is masqueraded to every destination, the pool included: other hosts see this host's address instead of the container's`, fix: `iptables -t nat -I POSTROUTING 1 -s ${subnet} -d ${pool ?? 'POOL'} -j RETURN (the agent's firewall integration does this)` })
}


function checkOnLink(ctx: Ctx, add: (c: Check) => void): void {
  if (ctx.peers.length === 0) {
    add({ name: 'next hops on-link', result: 'skip', detail: 'no configured peers' })
    return
  }
  const conn = connectedNetworks(ctx.addrs, ctx.links)
  const off = ctx.peers.filter((p) => !conn.some((c) => containsAddress(c.net, p.address)))
  if (off.length === 0) add({ name: 'next hops on-link', result: 'pass', detail: `${ctx.peers.length} peers on a connected network` })
  else add({ name: 'next hops on-link', result: 'fail', detail: `not on a directly connected network: ${off.map((p) => `${p.name} ${formatAddress(p.address)}`).join(', ')} (connected: ${conn.map((c) => `${c.name} ${formatPrefix(c.net)}`).join(', ')})`, fix: 'fabric routes only via on-link next hops (no encapsulation): check the addresses in fabric.ini, or put the hosts on one L2 network' })
}

function checkOverlaps(ctx: Ctx, add: (c: Check) => void): void {
  const c = ctx.config
  if (!c) return
  const problems: string[] = []
  for (const conn of connectedNetworks(ctx.addrs, ctx.links)) {
    if (conn.name === 'docker0' || (ctx.self?.subnet && overlaps(conn.net, ctx.self.subnet))) continue
    if (overlaps(conn.net, c.pool)) problems.push(`${conn.name} ${formatPrefix(conn.net)} (a connected network)`)
  }
  const proto = c.routeProtocol
  for (const r of ctx.routes) {
    if (r.table !== MAIN_TABLE || r.protocol === proto || r.protocol === 2 /* kernel: connected */ || r.prefix.len === 0) continue
    if (overlaps(r.prefix, c.pool) && !(ctx.self?.subnet && overlaps(r.prefix, ctx.self.subnet) && r.prefix.len >= ctx.self.subnet.len)) {
      problems.push(`${formatPrefix(r.prefix)}${r.gateway !== undefined ? ` via ${formatAddress(r.gateway)}` : ''} proto ${protoName(r.protocol)}`)
    }
  }
  if (problems.length === 0) add({ name: 'pool overlaps', result: 'pass', detail: `nothing else on this host routes into ${formatPrefix(c.pool)}` })
  else add({ name: 'pool overlaps', result: 'fail', detail: `routes or networks overlapping the pool ${formatPrefix(c.pool)}: ${problems.join('; ')}`, fix: 'remove them or pick a pool that overlaps nothing on the hosts (fabric never overrides another route)' })
}

function protoName(n: number): string {
  return RESERVED_ROUTE_PROTOCOLS.get(n) ?? String(n)
}

function checkDocker0(ctx: Ctx, add: (c: Check) => void): void {
  const subnet = ctx.self?.subnet
  const link = ctx.links.find((l) => l.name === 'docker0')
  if (!subnet) return add({ name: 'docker0', result: 'skip', detail: "this host's subnet is unknown" })
  if (!link) return add({ name: 'docker0', result: 'warn', detail: 'no docker0 bridge on this host', fix: 'install/start Docker, or use --docker-network' })
  const a = ctx.addrs.find((x) => x.index === link.index)
  const want = `${formatAddress(firstHost(subnet))}/${subnet.len}`
  const have = a ? `${formatAddress(a.address)}/${a.prefixLen}` : 'no address'
  if (have === want) add({ name: 'docker0', result: 'pass', detail: `docker0 ${have} matches ${formatPrefix(subnet)}` })
  else add({ name: 'docker0', result: 'fail', detail: `docker0 has ${have}, this host's fabric subnet is ${formatPrefix(subnet)} (expected ${want})`, fix: `set "bip": "${want}" in /etc/docker/daemon.json and restart Docker (fabric join --configure-docker does it)` })
}

function checkForeignDaemons(ctx: Ctx, add: (c: Check) => void): void {
  const c = ctx.config
  if (!c) return
  const owners = new Map<string, string[]>()
  for (const r of ctx.routes) {
    if (r.table !== MAIN_TABLE || r.protocol === c.routeProtocol || [2, 3, 4].includes(r.protocol)) continue
    if (!overlaps(r.prefix, c.pool)) continue
    const who = protoName(r.protocol)
    owners.set(who, [...(owners.get(who) ?? []), formatPrefix(r.prefix)])
  }
  const procs = ['bird', 'bgpd', 'ripd', 'zebra', 'gobgpd'].filter((p) => hasProcess(p))
  if (owners.size === 0) add({ name: 'other routing daemons', result: 'pass', detail: `no other daemon owns routes in the pool${procs.length ? ` (running here: ${procs.join(', ')})` : ''}` })
  else add({ name: 'other routing daemons', result: 'fail', detail: [...owners].map(([who, ps]) => `${who} owns ${ps.slice(0, 5).join(', ')}${ps.length > 5 ? ` and ${ps.length - 5} more` : ''}`).join('; '), fix: 'let one daemon own the fabric pool: stop exporting these prefixes to the kernel from the other daemon' })
}

/** A process of that name in this network namespace (other namespaces' daemons are not ours to judge). */
function hasProcess(name: string): boolean {
  let myNet: string
  try {
    myNet = readlinkSync('/proc/self/ns/net')
  } catch {
    return false
  }
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue
      try {
        if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === name && readlinkSync(`/proc/${d}/ns/net`) === myNet) return true
      } catch {
        /* gone */
      }
    }
  } catch {
    return false
  }
  return false
}

function checkAgentHealth(ctx: Ctx, add: (c: Check) => void): void {
  const s = ctx.status
  if (!s) return
  const k = s.kernel
  const conflicts = s.conflicts
  if (k.inSync && conflicts.length === 0 && (k.routes.notOnLink ?? 0) === 0) {
    add({ name: 'routes', result: 'pass', detail: k.installRoutes === false ? INSTALLS_NO_ROUTE : `${k.routes.installed}/${k.routes.wanted} routes installed` })
  }
  else add({ name: 'routes', result: 'fail', detail: `${k.routes.installed}/${k.routes.wanted} installed${conflicts.length ? `; conflicts: ${conflicts.map((x) => `${x.prefix} (${x.reason})`).join('; ')}` : ''}${k.routes.notOnLink ? `; ${k.routes.notOnLink} not on-link` : ''}${k.routes.error ? `; ${k.routes.error} failed` : ''}`, fix: '`fabric routes` shows the reason for each prefix' })
  for (const w of s.warnings) add({ name: 'agent warning', result: 'warn', detail: w })
}

function checkMtu(ctx: Ctx, add: (c: Check) => void): void {
  const under = ctx.links.find((l) => l.name === ctx.self?.iface)
  const dock = ctx.links.find((l) => l.name === 'docker0')
  if (!under?.mtu) return add({ name: 'MTU', result: 'skip', detail: 'underlay interface unknown' })
  if (dock?.mtu && dock.mtu > under.mtu) add({ name: 'MTU', result: 'fail', detail: `docker0 MTU ${dock.mtu} > underlay ${under.name} MTU ${under.mtu}: large container packets need fragmentation or are dropped`, fix: `set "mtu": ${under.mtu} in daemon.json` })
  else add({ name: 'MTU', result: 'pass', detail: `underlay ${under.name} ${under.mtu}${dock?.mtu ? `, docker0 ${dock.mtu}` : ''} (no encapsulation: no overhead)` })
}

function tcpProbe(address: string, port: number, timeoutS: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect({ host: address, port, timeout: timeoutS * 1000 })
    s.once('connect', () => {
      s.destroy()
      resolve(undefined)
    })
    s.once('timeout', () => {
      s.destroy()
      resolve('timeout')
    })
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
  })
}

async function checkPeersReachable(ctx: Ctx, add: (c: Check) => void): Promise<void> {
  const c = ctx.config
  if (!c || ctx.peers.length === 0) return
  const peers = ctx.peers.slice(0, 64)
  // path MTU along the underlay: a full-size packet with DF set must get through
  const under = ctx.links.find((l) => l.name === ctx.self?.iface)
  if (under?.mtu) {
    const size = under.mtu - 28
    const bad: string[] = []
    await Promise.all(peers.map(async (p) => {
      const r = await run('ping', ['-n', '-c', '1', '-W', String(ctx.timeoutS), '-M', 'do', '-s', String(size), formatAddress(p.address)], { timeoutMs: (ctx.timeoutS + 2) * 1000 })
      if (r.code !== 0) bad.push(`${p.name} ${formatAddress(p.address)}`)
    }))
    if (bad.length === 0) add({ name: 'path MTU', result: 'pass', detail: `${under.mtu}-byte packets with DF reach ${peers.length} peers` })
    else add({ name: 'path MTU', result: 'fail', detail: `no answer to a ${under.mtu}-byte ping with DF from ${bad.join(', ')}: host down, ICMP filtered or a smaller MTU on the path`, fix: 'make the MTU the same on every underlay link (or lower docker0\'s)' })
  }
  if (c.mode === 'bgp') {
    const port = c.bgp.port
    const bad: string[] = []
    await Promise.all(peers.map(async (p) => {
      const err = await tcpProbe(formatAddress(p.address), port, ctx.timeoutS)
      if (err) bad.push(`${p.name} ${formatAddress(p.address)} (${err})`)
    }))
    if (bad.length === 0) add({ name: `TCP ${port} to peers`, result: 'pass', detail: `${peers.length} peers accept BGP connections` })
    else add({ name: `TCP ${port} to peers`, result: 'fail', detail: `cannot connect to ${bad.join(', ')}`, fix: 'is the peer running fabric/BGP? is TCP 179 filtered between the hosts?' })
  }
  if (c.mode === 'rip') {
    if (!ctx.status) {
      add({ name: `UDP ${c.rip.port} from peers`, result: 'skip', detail: 'agent down: RIP neighbours are only heard while it runs' })
      return
    }
    // RIP is heard, not connected to: a neighbour is reachable when its updates arrive
    let heard: { address: string; state: string }[] = []
    try {
      heard = (await getPeers(ctx.socket, 3000)).peers.filter((p) => p.source === 'rip')
    } catch {
      heard = []
    }
    const up = new Set(heard.filter((h) => h.state === 'up').map((h) => h.address))
    const silent = peers.filter((p) => !up.has(formatAddress(p.address)))
    if (silent.length === 0) add({ name: `UDP ${c.rip.port} from peers`, result: 'pass', detail: `RIP updates arrive from ${peers.length} neighbours` })
    else add({ name: `UDP ${c.rip.port} from peers`, result: 'fail', detail: `no RIP updates from ${silent.map((p) => `${p.name} ${formatAddress(p.address)}`).join(', ')}`, fix: 'is RIP running there, with the same authentication? is UDP 520 or multicast 224.0.0.9 filtered? `fabric peers` shows auth failures and dropped packets' })
  }
}

/**
 * BFD packets arrive from every peer configured for BFD (those whose
 * /v1/peers row has details.bfd): the session is Up and its last packet is
 * recent. No check when no peer runs BFD.
 */
export function checkBfd(peers: readonly PeerRow[]): Check[] {
  const withBfd = peers.flatMap((p) => {
    const b = peerBfd(p)
    return b ? [{ p, b }] : []
  })
  if (withBfd.length === 0) return []
  const bad: string[] = []
  for (const { p, b } of withBfd) {
    const name = p.peer === p.address ? p.address : `${p.peer} ${p.address}`
    // Up means a packet within the detection time; allow the status's own delay on top
    const limit = Math.max(2 * b.detectionTimeMs, 1000)
    if (b.lastRxAgoMs === null) bad.push(`${name}: no BFD packet received (${b.packetsOut} sent, state ${b.state})`)
    else if (b.state !== 'Up') {
      const diag = bfdDiagText(b.lastDownDiag)
      bad.push(`${name}: BFD ${b.state}${diag ? ` (${diag})` : ''}, last packet ${(b.lastRxAgoMs / 1000).toFixed(1)} s ago, remote says ${b.remoteState}`)
    } else if (b.lastRxAgoMs > limit) bad.push(`${name}: BFD Up but the last packet is ${(b.lastRxAgoMs / 1000).toFixed(1)} s old (detection time ${b.detectionTimeMs} ms)`)
  }
  if (bad.length === 0) {
    const times = [...new Set(withBfd.map(({ b }) => b.detectionTimeMs))].sort((a, b) => a - b)
    return [{ name: 'BFD', result: 'pass', detail: `BFD Up with ${withBfd.length} peer${withBfd.length > 1 ? 's' : ''}, packets arriving (detection ${times.join('/')} ms)` }]
  }
  return [{
    name: 'BFD',
    result: 'fail',
    detail: `${bad.length} of ${withBfd.length} BFD peers silent: ${bad.join('; ')}`,
    fix: 'turn BFD on at the peer too (fabric: bfd = yes in [bgp], [peer.NAME] or [rip]; BIRD: `protocol bfd {}` and `bfd on`; FRR: bfdd with `neighbor ADDRESS bfd`); let UDP 3784 through between the hosts; the peer must be on-link and send with TTL 255 (RFC 5881 single hop); with bfd-auth both sides need the same keys',
  }]
}
