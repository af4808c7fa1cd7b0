/**
 * The lab: simulated fabric hosts in network namespaces on this machine.
 *
 *   NAME-sw   a "switch" namespace with bridge br0: the underlay 10.99.0.0/24
 *             (10.99.0.0/16 above 244 hosts)
 *   NAME-hI   host I: eth0 on the underlay (10.99.0.0 + 10 + I, so 10.99.0.11
 *             for host 1), a docker0 bridge owning the I-th /24 of the pool
 *             (10.244.I.1/24 up to 255 hosts), and a real `fabric join`
 *   NAME-cI   a "container" of host I: eth0 10.244.I.2/24 on docker0,
 *             default route via docker0's address
 *   NAME-rK   with --topology rr and a BIRD or FRR engine: reflector K
 *             (10.99.0.(1+K)); with fabric's own reflectors hosts 1..K reflect
 *
 * With --ipv6 (dual-stack) every host and container also gets IPv6 (see
 * labAddress6, V6CONTRACT's lab addressing): eth0 fd00:99::I/64 on the
 * underlay, docker0 fd00:fab:0:I::1/64 (host I's subnet6 in pool6
 * fd00:fab::/48), the container fd00:fab:0:I::2 with its default route via
 * docker0's ::1. I is written with the host's decimal digits (host 12:
 * fd00:99::12, fd00:fab:0:12::/64), as in the IPv4 addresses.
 *
 * Labs above ~30 hosts need a larger kernel neighbour table (dual-stack
 * labs IPv6's too): see neigh.ts.
 *
 * Nothing is created in the root namespace (veths are created directly in
 * their target namespaces). Everything carries the lab name, so `lab down`
 * finds and removes it all, also after a crash.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getJson } from '../api/client.js'
import type { Mode } from '../config/fabric-config.js'
import { formatAddress, parseAddress } from '../net/ipv4.js'
import { canonicalAddress6 } from '../net/ipv6.js'
import { type NeighFamily, claimedLabs, ensureNeigh, neighShortfall, readNeigh, releaseNeigh, sysctlName } from './neigh.js'
import { type RrEngine, removeFrrDirs, startBirdReflector, startFrrReflector } from './reflectors.js'
import { must, run, sleep, waitFor } from './sh.js'

export const LAB_ROOT = process.env.FABRIC_LAB_ROOT ?? '/run/fabric-lab'
const NAME = /^[a-z][a-z0-9]{0,11}$/

export interface LabHost {
  index: number
  name: string
  ns: string
  containerNs: string
  address: string
  subnet: string
  gateway: string
  containerIp: string
  /** dual-stack lab (--ipv6): underlay IPv6 address, container subnet6, container's IPv6 address (RFC 5952) */
  address6?: string
  subnet6?: string
  containerIp6?: string
  /** dual-stack lab: docker0's IPv6 address (::1 of subnet6), the container's default gateway */
  gateway6?: string
  dir: string
  socket: string
  log: string
}

export type Topology = 'mesh' | 'rr'

/** A route reflector of a `--topology rr` lab. */
export interface LabReflector {
  index: number
  engine: RrEngine
  /** its namespace: a host's (engine fabric) or NAME-rK (bird, frr) */
  ns: string
  address: string
  /** BIRD's files; FRR's are in /var/run/frr/NS; fabric's are the host's */
  dir: string
}

export interface LabSpec {
  name: string
  mode: Mode
  hosts: LabHost[]
  /** mesh: every host peers with every other ([host.*] in fabric.ini); rr: hosts peer only with the reflectors */
  topology: Topology
  reflectors: LabReflector[]
  clusterId?: string
  pool: string
  underlay: string
  /** dual-stack lab (--ipv6): the IPv6 pool and underlay prefix; absent: IPv4 only */
  pool6?: string
  underlay6?: string
  config: string
  created: string
  /** extra `fabric join` arguments every agent gets */
  joinArgs: string[]
  /** extra fabric.ini lines (e.g. a [bgp] or [rip] section) */
  iniExtra: string[]
  /** --bfd: every agent runs BFD with its neighbours (BGP peers, RIP neighbours), BIRD/FRR reflectors with their clients */
  bfd?: LabBfd
}

/** A lab's BFD timers: detection after interval x multiplier ms without a packet. */
export interface LabBfd { interval: number; multiplier: number }
export const LAB_BFD: LabBfd = { interval: 100, multiplier: 3 }

export interface LabUpOptions {
  name: string
  hosts: number
  mode?: Mode
  joinArgs?: string[]
  /** extra fabric.ini lines appended after [fabric] (e.g. a [bgp] or [rip] section) */
  iniExtra?: string[]
  /** start the agents (default true) */
  start?: boolean
  logLevel?: string
  /** mesh (default) or rr: every host peers only with the reflectors, by --peer flags (mode bgp) */
  topology?: Topology
  /** number of route reflectors with topology rr (default 2) */
  reflectors?: number
  /** who reflects: fabric agents on hosts 1..K (default), or BIRD / FRR in namespaces NAME-rK */
  rrEngine?: RrEngine
  /** may raise the kernel's neighbour-table limits for the run (default true); false: refuse when they are too small */
  sysctl?: boolean
  /** environment for every agent */
  env?: Record<string, string>
  /** agents started at once while earlier ones are still coming up (default 8) */
  startConcurrency?: number
  /** dual-stack hosts and containers (IPv6 addressing of labAddress6, pool6 in fabric.ini); default false: IPv4 only */
  ipv6?: boolean
  /** BFD between every agent and its neighbours, and between BIRD/FRR reflectors and their clients (mode bgp or rip); true: LAB_BFD's timers */
  bfd?: boolean | Partial<LabBfd>
}

/** The underlay: 10.99.0.0/24 while every host fits (up to 244 hosts: the addresses the docs and tests show), /16 beyond. */
export function labUnderlay(hosts: number): string {
  return hosts + 10 <= 254 ? '10.99.0.0/24' : '10.99.0.0/16'
}
export const CLUSTER_ID = '10.99.0.1'
export const MAX_HOSTS = 500
/** Above this many hosts the lab spaces the agents' periodic checks (kernel reconcile, firewall) to 30 s. */
export const LARGE_LAB = 30
const UNDERLAY_BASE = addr('10.99.0.0')
const POOL_BASE = addr('10.244.0.0')

function addr(text: string): number {
  const r = parseAddress(text)
  if (!r.ok) throw new Error(r.error)
  return r.value
}

/** The pool: 10.244.0.0/16 while every host's /24 fits (the addresses the docs show), /15 beyond. */
export function labPool(hosts: number): string {
  return hosts <= 255 ? '10.244.0.0/16' : '10.244.0.0/15'
}

export function validateLabName(name: string): void {
  if (!NAME.test(name)) throw new Error(`lab name "${name}": expected 1-12 lowercase letters/digits starting with a letter`)
}

export function labDir(name: string): string {
  return join(LAB_ROOT, name)
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
const fabricBin = join(repoRoot, 'bin', 'fabric.js')

/** The lab's IPv6 pool and underlay (dual-stack labs). */
export const LAB_POOL6 = 'fd00:fab::/48'
export const LAB_UNDERLAY6 = 'fd00:99::/64'
/** Every host index is written as one IPv6 group of its decimal digits, so at most 9999 (MAX_HOSTS is far below). */
const MAX_HOSTS6 = 9999

/**
 * Host I's IPv6 addresses in a dual-stack lab: underlay fd00:99::I, subnet6
 * fd00:fab:0:I::/64, docker0 (gateway6) ::1 of it, the container ::2; I in
 * decimal digits read as one hex group (host 12: fd00:99::12), all RFC 5952 text.
 */
export function labAddress6(i: number): { address6: string; subnet6: string; gateway6: string; containerIp6: string } {
  if (!Number.isInteger(i) || i < 1 || i > MAX_HOSTS6) throw new Error(`lab host index ${i}: expected 1 to ${MAX_HOSTS6} for IPv6 addressing`)
  const canon = (text: string): string => {
    const r = canonicalAddress6(text)
    if (!r.ok) throw new Error(r.error)
    return r.value
  }
  const net = canon(`fd00:fab:0:${i}::`)
  return { address6: canon(`fd00:99::${i}`), subnet6: `${net}/64`, gateway6: canon(`fd00:fab:0:${i}::1`), containerIp6: canon(`fd00:fab:0:${i}::2`) }
}

function hostSpec(name: string, dir: string, i: number, ipv6 = false): LabHost {
  const h = `h${i}`
  return {
    index: i,
    name: `node${i}`,
    ns: `${name}-${h}`,
    containerNs: `${name}-c${i}`,
    address: formatAddress(UNDERLAY_BASE + 10 + i),
    subnet: `${formatAddress(POOL_BASE + i * 256)}/24`,
    gateway: formatAddress(POOL_BASE + i * 256 + 1),
    containerIp: formatAddress(POOL_BASE + i * 256 + 2),
    ...(ipv6 ? labAddress6(i) : {}),
    dir: join(dir, h),
    socket: join(dir, h, 'fabric.sock'),
    log: join(dir, h, 'agent.log'),
  }
}

/** Lab defaults per mode: short timers so tests and the demo converge in seconds. */
export function modeDefaults(mode: Mode): string[] {
  if (mode === 'rip') return ['', '[rip]', 'update-interval = 5', 'timeout = 15', 'garbage-collection = 10', 'triggered-min = 0.2', 'triggered-max = 1']
  if (mode === 'bgp') return ['', '[bgp]', 'asn = 64512', 'hold-time = 9', 'connect-retry-time = 1']
  return []
}

export function renderLabIni(spec: Pick<LabSpec, 'pool' | 'mode' | 'hosts'> & { topology?: Topology; pool6?: string }, extra: string[] = []): string {
  const lines = [
    '; written by `fabric lab up`',
    '[fabric]',
    `pool = ${spec.pool}`,
    'host-prefix = 24',
    ...(spec.pool6 ? [`pool6 = ${spec.pool6}`, 'host-prefix6 = 64'] : []),
    `mode = ${spec.mode}`,
    'route-protocol = fabric',
    // short in small labs (tests see a deleted route come back quickly); in large
    // labs 200 agents reconciling every 2 s would take most of this machine's CPU
    `reconcile-interval = ${spec.hosts.length > LARGE_LAB ? 30 : 2}`,
    ...extra,
  ]
  // with reflectors no host is listed: each one gets its subnet and its peers (the reflectors) by flags
  if (spec.topology !== 'rr') {
    for (const h of spec.hosts) {
      lines.push('', `[host.${h.name}]`, `address = ${h.address}`, `subnet = ${h.subnet}`)
      if (spec.pool6 && h.address6 && h.subnet6) lines.push(`address6 = ${h.address6}`, `subnet6 = ${h.subnet6}`)
    }
  }
  return `${lines.join('\n')}\n`
}

export function readLab(name: string): LabSpec | undefined {
  const file = join(labDir(name), 'lab.json')
  if (!existsSync(file)) return undefined
  const spec = JSON.parse(readFileSync(file, 'utf8')) as LabSpec
  spec.topology ??= 'mesh'
  spec.reflectors ??= []
  return spec
}

function reflectorsOf(name: string, dir: string, hosts: LabHost[], count: number, engine: RrEngine): LabReflector[] {
  return Array.from({ length: count }, (_, k) => {
    if (engine === 'fabric') return { index: k + 1, engine, ns: hosts[k]!.ns, address: hosts[k]!.address, dir: hosts[k]!.dir }
    return { index: k + 1, engine, ns: `${name}-r${k + 1}`, address: formatAddress(UNDERLAY_BASE + 1 + k + 1), dir: join(dir, `r${k + 1}`) }
  })
}

/**
 * The `fabric join` arguments a lab host gets from the lab's size and
 * topology: above LARGE_LAB hosts a 30 s firewall check; none more in a mesh
 * (fabric.ini lists every host); with reflectors its subnet (dual-stack: and
 * its subnet6 and address6) and
 * `--peer` for each reflector, and on a fabric reflector `--route-reflector`,
 * the shared cluster id, a listen range for the clients and the other reflectors as peers.
 */
export function topologyArgs(spec: LabSpec, h: LabHost): string[] {
  const scale = spec.hosts.length > LARGE_LAB ? ['--firewall-check-interval', '30'] : []
  return [...scale, ...peeringArgs(spec, h)]
}

/**
 * The `fabric join` flags of a --bfd lab: `--bfd yes` and its timers in mode
 * bgp (every peer: the mesh, the reflectors, a fabric reflector's dynamic
 * neighbours), `--rip-bfd yes` ... in mode rip; none without BFD.
 */
export function bfdArgs(spec: Pick<LabSpec, 'mode' | 'bfd'>): string[] {
  if (!spec.bfd) return []
  const p = spec.mode === 'rip' ? '--rip-bfd' : '--bfd'
  return [p, 'yes', `${p}-interval`, String(spec.bfd.interval), `${p}-multiplier`, String(spec.bfd.multiplier)]
}

/** The lab's BFD timers from `bfd` of LabUpOptions (validated as fabric's config would: interval 10-10000 ms, multiplier 1-255); refused in mode static. */
export function labBfd(mode: Mode, bfd: LabUpOptions['bfd']): LabBfd | undefined {
  if (bfd === undefined || bfd === false) return undefined
  if (mode !== 'bgp' && mode !== 'rip') throw new Error(`--bfd: BFD runs with BGP peers or RIP neighbours, so it needs --mode bgp or rip (not ${mode})`)
  const b = { ...LAB_BFD, ...(bfd === true ? {} : bfd) }
  if (!Number.isInteger(b.interval) || b.interval < 10 || b.interval > 10_000) throw new Error(`--bfd-interval ${b.interval}: expected 10 to 10000 ms`)
  if (!Number.isInteger(b.multiplier) || b.multiplier < 1 || b.multiplier > 255) throw new Error(`--bfd-multiplier ${b.multiplier}: expected 1 to 255`)
  return b
}

function peeringArgs(spec: LabSpec, h: LabHost): string[] {
  if (spec.topology !== 'rr') return []
  const self = spec.reflectors.find((r) => r.engine === 'fabric' && r.ns === h.ns)
  const peers = spec.reflectors.filter((r) => r !== self).flatMap((r) => ['--peer', r.address])
  // dual-stack: this host's IPv6 subnet and underlay address by flags too; MP-BGP carries IPv6 over the same IPv4 sessions
  const own = spec.pool6 && h.subnet6 && h.address6 ? ['--subnet', h.subnet, '--subnet6', h.subnet6, '--address6', h.address6] : ['--subnet', h.subnet]
  if (!self) return [...own, ...peers]
  return [...own, '--route-reflector', 'yes', '--cluster-id', spec.clusterId ?? CLUSTER_ID, '--listen-range', spec.underlay, ...peers]
}

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

/** Namespaces whose name starts with `NAME-`. */
export async function labNamespaces(name: string): Promise<string[]> {
  const out = await run('ip', ['netns', 'list'])
  return out.stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${name}-`))
}

export async function labUp(opts: LabUpOptions): Promise<LabSpec> {
  validateLabName(opts.name)
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > MAX_HOSTS) throw new Error(`--hosts ${opts.hosts}: expected 1 to ${MAX_HOSTS}`)
  const topology = opts.topology ?? 'mesh'
  const engine = opts.rrEngine ?? 'fabric'
  const nrr = topology === 'rr' ? opts.reflectors ?? 2 : 0
  if (topology === 'rr') {
    if ((opts.mode ?? 'static') !== 'bgp') throw new Error(`--topology rr: route reflectors need --mode bgp (not ${opts.mode ?? 'static'})`)
    if (nrr < 1 || nrr > 8) throw new Error(`--reflectors ${nrr}: expected 1 to 8`)
    if (engine === 'fabric' && nrr >= opts.hosts) throw new Error(`--reflectors ${nrr} with --rr-engine fabric: the reflectors are hosts 1..${nrr}, so --hosts must be larger`)
    if (opts.ipv6 && engine !== 'fabric') throw new Error(`--ipv6 with --rr-engine ${engine}: the lab's BIRD and FRR reflector templates are IPv4 only; a dual-stack lab with reflectors uses fabric's own (--rr-engine fabric)`)
  }
  const bfd = labBfd(opts.mode ?? 'static', opts.bfd)
  const families: NeighFamily[] = opts.ipv6 ? ['ipv4', 'ipv6'] : ['ipv4']
  if (opts.ipv6) ipv6Check()
  if ((await labNamespaces(opts.name)).length > 0 || existsSync(labDir(opts.name))) {
    throw new Error(`lab "${opts.name}" already exists; run \`fabric lab down --name ${opts.name}\` first`)
  }
  const nodes = opts.hosts + (engine === 'fabric' ? 0 : nrr)
  // before anything is created: refuse without --no-sysctl's consent, or raise (and record) the limits
  if (opts.sysctl === false && families.some((f) => neighShortfall(nodes, readNeigh(f)).length > 0)) await ensureNeigh(LAB_ROOT, opts.name, nodes, false, families)
  const dir = labDir(opts.name)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const ipv6 = opts.ipv6 === true
  const hosts = Array.from({ length: opts.hosts }, (_, k) => hostSpec(opts.name, dir, k + 1, ipv6))
  const reflectors = topology === 'rr' ? reflectorsOf(opts.name, dir, hosts, nrr, engine) : []
  const spec: LabSpec = {
    name: opts.name, mode: opts.mode ?? 'static', hosts, topology, reflectors, clusterId: topology === 'rr' ? CLUSTER_ID : undefined,
    pool: labPool(opts.hosts), underlay: labUnderlay(opts.hosts),
    ...(ipv6 ? { pool6: LAB_POOL6, underlay6: LAB_UNDERLAY6 } : {}),
    config: join(dir, 'fabric.ini'), created: new Date().toISOString(), joinArgs: opts.joinArgs ?? [],
    iniExtra: opts.iniExtra ?? modeDefaults(opts.mode ?? 'static'),
    ...(bfd ? { bfd } : {}),
  }
  writeFileSync(join(dir, 'lab.json'), `${JSON.stringify(spec, null, 2)}\n`)
  try {
    await ensureNeigh(LAB_ROOT, opts.name, nodes, opts.sysctl !== false, families)
    const sw = `${opts.name}-sw`
    const dedicated = reflectors.filter((r) => r.engine !== 'fabric')
    const namespaces = [sw, ...hosts.flatMap((h) => [h.ns, h.containerNs]), ...dedicated.map((r) => r.ns)]
    await must('ip', ['-batch', '-'], `${namespaces.map((n) => `netns add ${n}`).join('\n')}\n`, 60_000)
    // links are created from here directly inside their namespaces; then each
    // namespace is configured with one `ip -n NS -batch -`, several at once
    const create: string[] = []
    // dual-stack: no MLD snooping on the underlay switch, so IPv6 multicast (ND, RIPng's ff02::9) is flooded as on a plain segment
    const perNs = new Map<string, string[]>([[sw, ['link set lo up', `link add br0 type bridge${ipv6 ? ' mcast_snooping 0' : ''}`, 'link set br0 up']]])
    for (const h of hosts) {
      mkdirSync(h.dir, { recursive: true })
      create.push(
        `link add eth0 netns ${h.ns} type veth peer name h${h.index} netns ${sw}`,
        `link add veth0 netns ${h.ns} type veth peer name eth0 netns ${h.containerNs}`,
      )
      perNs.get(sw)!.push(`link set h${h.index} master br0 up`)
      perNs.set(h.ns, hostLinkSetup(h, spec.underlay))
      perNs.set(h.containerNs, containerLinkSetup(h))
    }
    for (const r of dedicated) {
      mkdirSync(r.dir, { recursive: true })
      create.push(`link add eth0 netns ${r.ns} type veth peer name r${r.index} netns ${sw}`)
      perNs.get(sw)!.push(`link set r${r.index} master br0 up`)
      perNs.set(r.ns, ['link set lo up', `addr add ${r.address}/${prefixLen(spec.underlay)} dev eth0`, 'link set eth0 up'])
    }
    await must('ip', ['-batch', '-'], `${create.join('\n')}\n`, 120_000)
    const sws = perNs.get(sw)!
    perNs.delete(sw)
    await must('ip', ['-n', sw, '-batch', '-'], `${sws.join('\n')}\n`, 60_000)
    await pool([...perNs], 8, async ([ns, lines]) => {
      await must('ip', ['-n', ns, '-batch', '-'], `${lines.join('\n')}\n`)
    })
    if (ipv6) {
      await staticUnderlay6(hosts.map((h) => h.ns))
      await waitIpv6Settled(namespaces.filter((n) => n !== sw))
    }
    writeFileSync(spec.config, renderLabIni(spec, spec.iniExtra))
    for (const r of dedicated) {
      const p = { ns: r.ns, dir: r.dir, address: r.address, asn: 64512, clusterId: CLUSTER_ID, clientRange: spec.underlay, holdTime: 9, clients: opts.hosts, ...(bfd ? { bfd } : {}) }
      if (r.engine === 'bird') await startBirdReflector(p)
      else await startFrrReflector(p)
    }
    if (opts.start !== false) await startAgents(spec, hosts, { logLevel: opts.logLevel, env: opts.env, concurrency: opts.startConcurrency })
    return spec
  } catch (e) {
    await labDown(opts.name)
    throw e
  }
}

function prefixLen(cidr: string): number {
  return Number(cidr.split('/')[1])
}

/**
 * `ip -batch` lines of a host namespace. IPv6 addresses are added with
 * nodad, so they are usable at once (no duplicate on the lab's segments);
 * IPv6 forwarding is the agent's to enable, like IPv4's.
 */
export function hostLinkSetup(h: LabHost, underlay: string): string[] {
  const v6 = h.address6 && h.gateway6 && h.subnet6
  return [
    'link set lo up',
    `addr add ${h.address}/${prefixLen(underlay)} dev eth0`,
    ...(v6 ? [`addr add ${h.address6}/${prefixLen(LAB_UNDERLAY6)} dev eth0 nodad`] : []),
    'link set eth0 up',
    'link add docker0 type bridge',
    `addr add ${h.gateway}/24 dev docker0`,
    ...(v6 ? [`addr add ${h.gateway6}/${prefixLen(h.subnet6!)} dev docker0 nodad`] : []),
    'link set docker0 up',
    'link set veth0 master docker0 up',
  ]
}

/** `ip -batch` lines of a container namespace: its address(es) and default route(s) via docker0. */
export function containerLinkSetup(h: LabHost): string[] {
  const v6 = h.containerIp6 && h.gateway6 && h.subnet6
  return [
    'link set lo up',
    `addr add ${h.containerIp}/24 dev eth0`,
    ...(v6 ? [`addr add ${h.containerIp6}/${prefixLen(h.subnet6!)} dev eth0 nodad`] : []),
    'link set eth0 up',
    `route add default via ${h.gateway}`,
    ...(v6 ? [`route add default via ${h.gateway6}`] : []),
  ]
}

/**
 * Waits until no IPv6 address in these namespaces is tentative: the
 * link-local addresses the kernel gives every interface pass duplicate
 * address detection about 1-2 s after the link is up, and until then a
 * namespace sends no neighbour solicitation (a ping leaves only after it),
 * RIPng has no link-local source. The lab's own addresses are nodad; a
 * duplicate (dadfailed) is an error.
 */
export async function waitIpv6Settled(namespaces: string[], timeoutMs = 10_000): Promise<void> {
  await pool(namespaces, 8, async (ns) => {
    let last = ''
    const ok = await waitFor(async () => {
      const r = await run('ip', ['-n', ns, '-6', '-o', 'addr', 'show', 'tentative'])
      last = r.stdout.trim()
      if (/\bdadfailed\b/.test(last)) throw new Error(`IPv6 duplicate address detection failed in ${ns}: ${last}`)
      return r.code === 0 && last === '' ? true : undefined
    }, timeoutMs, 100)
    if (!ok) throw new Error(`IPv6 addresses in ${ns} still tentative after ${timeoutMs / 1000} s: ${last}`)
  })
}

/**
 * The lab's IPv6 underlay is configured statically (no router sends Router
 * Advertisements on it), as a server's usually is: accept_ra = 0 on each
 * host's eth0, so the agent's warning about RAs ignored once it forwards
 * (meant for underlays configured by SLAAC) does not apply. One process per
 * host namespace (a sysctl is per namespace), 8 at a time.
 */
async function staticUnderlay6(namespaces: string[]): Promise<void> {
  await pool(namespaces, 8, async (ns) => {
    await must('nsenter', [`--net=/run/netns/${ns}`, 'sh', '-c', 'echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_ra'])
  })
}

/** A dual-stack lab needs a kernel with IPv6 (its neighbour table's limits are read as the check): refused before anything is created. */
export function ipv6Check(read: () => unknown = () => readNeigh('ipv6')): void {
  try {
    read()
  } catch {
    throw new Error('--ipv6: this kernel has no IPv6 (net.ipv6.neigh.default is missing: booted with ipv6.disable=1?)')
  }
}

/**
 * Starts the agents of these hosts, `concurrency` at a time: the next one is
 * started as soon as one of those coming up answers on its control socket.
 */
export async function startAgents(spec: LabSpec, hosts: LabHost[], opts: { logLevel?: string; env?: Record<string, string>; concurrency?: number; timeoutMs?: number } = {}): Promise<void> {
  await pool(hosts, opts.concurrency ?? 8, async (h) => {
    const child = startAgent(spec, h, { logLevel: opts.logLevel, env: opts.env })
    let exit: string | undefined
    child.once('exit', (code, signal) => {
      exit = signal ? `signal ${signal}` : `code ${code}`
    })
    await waitAgentUp(h, opts.timeoutMs ?? 60_000, () => exit)
  })
}

/**
 * Starts `fabric join` inside a lab host's namespace, detached, logging to
 * its agent.log. In a --bfd lab `bfd: false` starts this one agent without
 * BFD (its neighbours' sessions to it stay Down: nothing but the hold time
 * and graceful restart notice its failure).
 */
export function startAgent(spec: LabSpec, h: LabHost, opts: { logLevel?: string; extraArgs?: string[]; env?: Record<string, string>; bfd?: boolean } = {}): ChildProcess {
  const bfd = opts.bfd === false ? [] : bfdArgs(spec)
  return spawnJoin(h, ['--config', spec.config, '--address', h.address, ...topologyArgs(spec, h), ...bfd, ...spec.joinArgs, ...(opts.extraArgs ?? [])], opts)
}

/** `fabric join ARGS` in the host's namespace, detached, with its state dir, socket and JSON log. */
function spawnJoin(h: LabHost, args: string[], opts: { logLevel?: string; env?: Record<string, string> }): ChildProcess {
  mkdirSync(h.dir, { recursive: true })
  const out = openSync(h.log, 'a')
  const argv = [
    'netns', 'exec', h.ns, process.execPath, fabricBin, 'join', '--state-dir', h.dir, '--socket', h.socket,
    '--log-level', opts.logLevel ?? 'debug', '--log-format', 'json', ...args,
  ]
  const child = spawn('ip', argv, {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, FABRIC_RT_PROTOS_DIR: join(dirname(h.dir), 'rt_protos.d'), ...opts.env },
  })
  child.unref()
  writeFileSync(join(h.dir, 'agent.pid'), `${child.pid}\n`)
  return child
}

/** Waits until every agent (or the given ones) answers on its control socket. */
export async function waitAgents(spec: LabSpec, hosts: LabHost[] = spec.hosts, timeoutMs = 30_000): Promise<void> {
  await pool(hosts, 16, (h) => waitAgentUp(h, timeoutMs))
}

/** Waits until a host's agent answers; fails at once when `exited` says the process is gone (e.g. refused its config). */
async function waitAgentUp(h: LabHost, timeoutMs: number, exited: () => string | undefined = () => undefined): Promise<void> {
  const r = await waitFor(async () => {
    try {
      await getJson(h.socket, '/v1/status', 1000)
      return 'up'
    } catch {
      return exited() === undefined ? undefined : 'exited'
    }
  }, timeoutMs, 100)
  if (r === 'up') return
  const tail = existsSync(h.log) ? readFileSync(h.log, 'utf8').split('\n').slice(-15).join('\n') : '(no log)'
  if (r === 'exited') throw new Error(`agent of ${h.name} exited (${exited()}) before answering; last log lines:\n${tail}`)
  throw new Error(`agent of ${h.name} did not come up within ${timeoutMs / 1000} s; last log lines:\n${tail}`)
}

/** The pid of the agent process (node) running in a host namespace, if any. */
export async function agentPids(h: LabHost): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', h.ns])
  const pids = r.stdout.split('\n').filter(Boolean).map(Number)
  const out: number[] = []
  for (const pid of pids) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      if (cmdline.includes(`${fabricBin}\u0000join`)) out.push(pid)
    } catch {
      /* exited */
    }
  }
  return out
}

/** Sends a signal to a host's agent; with wait, waits for it to exit. */
export async function signalAgent(h: LabHost, signal: NodeJS.Signals, wait = true): Promise<void> {
  const pids = await agentPids(h)
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      /* gone */
    }
  }
  if (wait && signal !== 'SIGHUP') await waitFor(async () => ((await agentPids(h)).length === 0 ? true : undefined), 10_000, 50)
}

/**
 * Processes whose network namespace is one of these (by the namespace's inode
 * under /run/netns), found by reading /proc once instead of one
 * `ip netns pids` per namespace.
 */
export function pidsInNamespaces(namespaces: string[]): Map<string, number[]> {
  const byInode = new Map<string, string>()
  for (const ns of namespaces) {
    try {
      byInode.set(String(statSync(join('/run/netns', ns)).ino), ns)
    } catch {
      /* gone */
    }
  }
  const out = new Map<string, number[]>(namespaces.map((n) => [n, []]))
  if (byInode.size === 0) return out
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    let link: string
    try {
      link = readlinkSync(`/proc/${d}/ns/net`)
    } catch {
      continue
    }
    const ns = byInode.get(/^net:\[(\d+)\]$/.exec(link)?.[1] ?? '')
    if (ns) out.get(ns)!.push(Number(d))
  }
  return out
}

/** Removes everything of a lab: processes in its namespaces, namespaces, files; puts back neighbour-table limits it raised. Idempotent. */
/**
 * Whether another lab (or bench run) that claimed neighbour-table limits is
 * still there: its namespaces exist or its directory does. Releasing a
 * claim with anything less would put the old limits back under running labs.
 */
export async function labsAlive(): Promise<(name: string) => boolean> {
  const live = new Set((await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => /^([a-z][a-z0-9]{0,11})-/.exec(l)?.[1]))
  return (other) => live.has(other) || existsSync(labDir(other))
}

export async function labDown(name: string): Promise<{ namespaces: number; processes: number; restored: string[] }> {
  validateLabName(name)
  const namespaces = await labNamespaces(name)
  let processes = 0
  const all = (): number[] => [...pidsInNamespaces(namespaces).values()].flat()
  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    const pids = all()
    if (pids.length === 0) break
    if (sig === 'SIGTERM') processes = pids.length
    for (const pid of pids) {
      try {
        process.kill(pid, sig)
      } catch {
        /* gone */
      }
    }
    await waitFor(() => (all().length === 0 ? true : undefined), sig === 'SIGTERM' ? 5000 : 2000, 50)
  }
  if (namespaces.length > 0) await run('ip', ['-batch', '-'], { input: `${namespaces.map((n) => `netns del ${n}`).join('\n')}\n`, timeoutMs: 120_000 })
  // a namespace `ip -batch` could not delete (it stops at the first error) is retried alone
  for (const ns of await labNamespaces(name)) await run('ip', ['netns', 'del', ns])
  removeFrrDirs(name)
  rmSync(labDir(name), { recursive: true, force: true })
  const { restored } = await releaseNeigh(LAB_ROOT, name, await labsAlive())
  return { namespaces: namespaces.length, processes, restored: restored.map((r) => `${sysctlName(r.key, r.family)}=${r.to}`) }
}

/** Labs present on this machine (by directory or namespace). */
export async function listLabs(): Promise<string[]> {
  const names = new Set<string>()
  const r = await run('ip', ['netns', 'list'])
  for (const l of r.stdout.split('\n')) {
    const m = /^([a-z][a-z0-9]{0,11})-(sw|h\d+|c\d+|r\d+)\b/.exec(l)
    if (m) names.add(m[1]!)
  }
  if (existsSync(LAB_ROOT)) {
    for (const d of readdirSync(LAB_ROOT)) if (existsSync(join(LAB_ROOT, d, 'lab.json'))) names.add(d)
    // a lab that crashed after raising the neighbour-table limits and lost its files
    for (const d of claimedLabs(LAB_ROOT)) names.add(d)
  }
  return [...names].sort()
}

export interface PingResult {
  from: string
  to: string
  ok: boolean
}

/** Pings every container from every other container (one shell per source container, 4 sources at a time); family 6: their IPv6 addresses (dual-stack lab). */
export async function reachability(spec: LabSpec, timeoutS = 1, family: 4 | 6 = 4): Promise<PingResult[]> {
  return reachabilityFrom(spec, spec.hosts, { timeoutS, family })
}

/**
 * Pings every other container from each of these containers: one shell per
 * source inside its container's namespace sends all its pings at once
 * (sources `parallel` at a time), so a 200-host sample takes seconds.
 * family 6 pings the containers' IPv6 addresses (containerIp6) instead;
 * a lab without IPv6 has none to ping, which is an error.
 */
export async function reachabilityFrom(spec: LabSpec, sources: LabHost[], opts: { timeoutS?: number; parallel?: number; family?: 4 | 6 } = {}): Promise<PingResult[]> {
  const script = 'w=$1; shift; for a; do (ping -n -q -c 1 -W "$w" "$a" >/dev/null 2>&1 && echo "ok $a" || echo "fail $a") & done; wait'
  const v6 = opts.family === 6
  const target = (h: LabHost): string => {
    if (!v6) return h.containerIp
    if (!h.containerIp6) throw new Error(`lab ${spec.name}: ${h.name} has no IPv6 address (the lab was not brought up with --ipv6)`)
    return h.containerIp6
  }
  const byIp = new Map(spec.hosts.map((h) => [target(h), h.name]))
  const results: PingResult[] = []
  const queue = [...sources]
  const worker = async (): Promise<void> => {
    for (let a = queue.shift(); a; a = queue.shift()) {
      const targets = spec.hosts.filter((b) => b !== a).map(target)
      const r = await run('nsenter', [`--net=/run/netns/${a.containerNs}`, 'sh', '-c', script, 'sh', String(opts.timeoutS ?? 1), ...targets], { timeoutMs: 60_000 })
      const seen = new Map<string, boolean>()
      for (const line of r.stdout.split('\n')) {
        const m = /^(ok|fail) (\S+)$/.exec(line)
        if (m) seen.set(m[2]!, m[1] === 'ok')
      }
      for (const ip of targets) results.push({ from: a.name, to: byIp.get(ip)!, ok: seen.get(ip) === true })
    }
  }
  await Promise.all(Array.from({ length: Math.min(opts.parallel ?? 10, sources.length) }, worker))
  return results
}

/** fabric's IPv6 kernel routes (proto 233) in a namespace, as `ip -6 -j route` gives them. */
export async function fabricRoutes6(ns: string): Promise<{ dst: string; gateway?: string; dev?: string; protocol?: string }[]> {
  const r = await run('ip', ['-n', ns, '-6', '-j', 'route', 'show', 'proto', '233'])
  if (r.code !== 0) throw new Error(`ip -n ${ns} -6 route: ${r.stderr.trim()}`)
  return JSON.parse(r.stdout || '[]') as { dst: string; gateway?: string; dev?: string; protocol?: string }[]
}

/**
 * Waits until every host of a dual-stack lab has a fabric IPv6 route
 * (proto 233, in its kernel) to every other host's subnet6; false at the timeout.
 */
export async function waitConverged6(spec: LabSpec, timeoutMs = 30_000): Promise<boolean> {
  if (!spec.pool6) throw new Error(`lab ${spec.name} has no IPv6 (not brought up with --ipv6)`)
  const ok = await waitFor(async () => {
    for (const h of spec.hosts) {
      const have = new Set((await fabricRoutes6(h.ns)).map((r) => r.dst))
      if (spec.hosts.some((o) => o !== h && !have.has(o.subnet6!))) return undefined
    }
    return true
  }, timeoutMs, 250)
  return ok === true
}

export function renderMatrix(spec: LabSpec, results: PingResult[]): string {
  const names = spec.hosts.map((h) => h.name)
  const w = Math.max(6, ...names.map((n) => n.length)) + 2
  const head = 'from \\ to'.padEnd(w + 4) + names.map((n) => n.padEnd(w)).join('')
  const ok = new Map(results.map((x) => [`${x.from} ${x.to}`, x.ok]))
  const rows = spec.hosts.map((a) => `${a.name}/c`.padEnd(w + 4) + spec.hosts.map((b) => {
    if (a === b) return '-'.padEnd(w)
    return (ok.get(`${a.name} ${b.name}`) ? 'ok' : 'FAIL').padEnd(w)
  }).join(''))
  return [head, ...rows].join('\n')
}

export { sleep }

/**
 * Adds host I to a running lab without listing it in fabric.ini (a host that
 * joins by flags only): namespaces NAME-hI and NAME-cI wired like the others.
 * The returned host is not added to lab.json; `labDown` still removes it (by name).
 */
export async function addLabHost(spec: LabSpec, index: number): Promise<LabHost> {
  const dir = labDir(spec.name)
  const h = hostSpec(spec.name, dir, index, spec.pool6 !== undefined)
  mkdirSync(h.dir, { recursive: true })
  await must('ip', ['netns', 'add', h.ns])
  await must('ip', ['netns', 'add', h.containerNs])
  await must('ip', ['-batch', '-'], [
    `link add eth0 netns ${h.ns} type veth peer name h${h.index} netns ${spec.name}-sw`,
    `link add veth0 netns ${h.ns} type veth peer name eth0 netns ${h.containerNs}`,
  ].join('\n') + '\n')
  await must('ip', ['-n', `${spec.name}-sw`, 'link', 'set', `h${h.index}`, 'master', 'br0', 'up'])
  await must('ip', ['-n', h.ns, '-batch', '-'], `${hostLinkSetup(h, spec.underlay).join('\n')}\n`)
  await must('ip', ['-n', h.containerNs, '-batch', '-'], `${containerLinkSetup(h).join('\n')}\n`)
  if (h.subnet6) {
    await staticUnderlay6([h.ns])
    await waitIpv6Settled([h.ns, h.containerNs])
  }
  return h
}

/**
 * Starts `fabric join` in a lab host's namespace with exactly these
 * arguments (no --config, no lab join args): a host joining by flags only.
 * State dir, socket and JSON logging are added.
 */
export function startAgentArgs(h: LabHost, args: string[], opts: { logLevel?: string; env?: Record<string, string> } = {}): ChildProcess {
  return spawnJoin(h, args, opts)
}
