/**
 * Host identification at start: which [host.*] this host is (or, joined by
 * flags, its address and subnet), its underlay interface and network.
 * Refuses (exit 2) before anything on the host is changed. The pure
 * matching is src/api/host-identity.ts, which `fabric doctor` uses too.
 */
import { hostname } from 'node:os'
import { type LocalAddress, type LocalAddress6, type LocalLink, chooseAddress6, matchHostEntry, placeOf, underlayCandidates } from '../api/host-identity.js'
import type { FabricConfig, HostEntry } from '../config/fabric-config.js'
import { AgentStartError, EXIT } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import type { SelfInfo } from '../core/self.js'
import { persistedSubnet, resolveSubnet } from '../host/hooks.js'
import { hostIdentity } from '../host/ipam.js'
import { allocateSubnet6, persistedSubnet6 } from '../host/ipam6.js'
import { type Prefix, containsAddress, formatAddress, formatPrefix, overlaps, parseAddress } from '../net/ipv4.js'
import { type Prefix6, PrefixMap6, containsAddress6, containsPrefix6, formatPrefix6, overlaps6 } from '../net/ipv6.js'
import { PrefixMap } from '../net/prefix-map.js'
import { resolveNetworkSubnets } from './networks.js'
import { SOURCES } from './sources.js'

/** Longest wait for the fabric's table before an automatic subnet is chosen. */
const DISCOVERY_TIMEOUT_S = 90

export interface IdentifyOptions {
  config: FabricConfig
  addrs: readonly LocalAddress[]
  /** IPv6 addresses (read when pool6 is set) */
  addrs6?: readonly LocalAddress6[]
  links: readonly LocalLink[]
  /** --address */
  address?: string
  stateDir: string
  log: Logger
  hostOptions: Record<string, unknown>
  /** a warning shown by `fabric status` */
  warn: (event: string, message: string) => void
}

/** Finds this host among the [host.*] entries by its interface addresses (or by --address). */
export async function identifyHost(o: IdentifyOptions): Promise<SelfInfo> {
  const { config } = o
  const where = config.file ?? '(flags)'
  const local = underlayCandidates(o.addrs)
  const localText = local.map((x) => formatAddress(x.address)).join(', ') || 'none'
  let entry: HostEntry | undefined
  let addr: LocalAddress | undefined
  let learned: Prefix[] = []
  /** IPv6 subnets learned by subnet discovery (undefined: it did not run) */
  let learned6: Prefix6[] | undefined
  if (o.address !== undefined) {
    const a = parseAddress(o.address)
    if (!a.ok) throw new AgentStartError(`--address "${o.address}": ${a.error}`, EXIT.USAGE)
    addr = local.find((x) => x.address === a.value)
    if (!addr) throw new AgentStartError(`--address ${o.address} is not assigned to any interface of this host (local: ${localText})`, EXIT.USAGE)
    entry = config.hosts.find((h) => h.address === a.value)
    if (!entry && config.mode === 'static') throw new AgentStartError(`--address ${o.address} matches no [host.*] address in ${where}`, EXIT.USAGE)
    if (!entry) {
      // rip/bgp joined by flags: the subnet comes from --subnet, else automatic allocation (ipam),
      // which, the first time, learns the subnets the fabric already uses
      if (config.subnet === undefined) {
        if (!persistedSubnet(o.stateDir)) {
          const taken = await discoverTaken(o, { name: hostname(), address: a.value, subnet: { addr: 0, len: 32 }, ...placeOf(addr, o.links), ...discoverySelf6(o, addr) })
          learned = taken.v4
          learned6 = taken.v6
        }
        config.subnet = await resolveSubnet({ config, address: a.value, stateDir: o.stateDir, log: o.log, options: o.hostOptions, learned })
      }
      const subnet = config.subnet
      if (subnet === undefined) throw new AgentStartError(`mode ${config.mode} needs this host's container subnet: pass --subnet CIDR (inside ${formatPrefix(config.pool)}) or add a [host.*] entry for ${o.address}`, EXIT.USAGE)
      const clash = config.hosts.find((h) => overlaps(h.subnet, subnet))
      if (clash) throw new AgentStartError(`--subnet ${formatPrefix(subnet)} overlaps host ${clash.name}'s ${formatPrefix(clash.subnet)} in ${where}`, EXIT.USAGE)
      entry = { name: hostname(), address: a.value, subnet }
    }
    if (config.subnet !== undefined && formatPrefix(config.subnet) !== formatPrefix(entry.subnet)) {
      throw new AgentStartError(`--subnet ${formatPrefix(config.subnet)} differs from ${formatPrefix(entry.subnet)} of [host.${entry.name}] in ${where}`, EXIT.USAGE)
    }
  } else {
    const m = matchHostEntry(config.hosts, o.addrs)
    if (m.kind === 'none' && config.mode !== 'static') {
      throw new AgentStartError(`mode ${config.mode}: pass --address (this host's underlay address) and --subnet, or list this host as a [host.*] in ${where}`, EXIT.USAGE)
    }
    if (m.kind === 'none') {
      throw new AgentStartError(`none of this host's addresses (${localText}) is the address of a [host.*] in ${where}; add this host or pass --address`, EXIT.USAGE)
    }
    if (m.kind === 'several') throw new AgentStartError(`this host has the addresses of several hosts in ${where} (${m.names.join(', ')}); pass --address`, EXIT.USAGE)
    entry = m.entry
    addr = m.addr
  }
  const { interface: iface, underlay } = placeOf(addr, o.links)
  if (overlaps(underlay, config.pool)) {
    throw new AgentStartError(`${where}: pool ${formatPrefix(config.pool)} overlaps the underlay network ${formatPrefix(underlay)} of ${iface}; pick a pool outside it`, EXIT.USAGE)
  }
  for (const h of config.hosts) {
    if (h.name !== entry.name && !containsAddress(underlay, h.address) && !(config.underlay && containsAddress(config.underlay, h.address))) {
      // not fatal: reported per route as not-on-link with the interface named
      o.warn('host-not-on-link', `host ${h.name} (${formatAddress(h.address)}) is not on ${iface} ${formatPrefix(underlay)}; its route will not be installed`)
    }
  }
  const listed = config.hosts.find((h) => h.name === entry.name && h.address === entry.address)
  const networks = resolveNetworkSubnets({ config, entry: listed, subnet: entry.subnet, address: entry.address, stateDir: o.stateDir, log: o.log, learned })
  const self: SelfInfo = { name: entry.name, address: entry.address, subnet: entry.subnet, interface: iface, underlay, networks }
  if (config.pool6 === undefined) return self
  // dual-stack: address6 / underlay6 on the underlay interface, subnet6 given or allocated
  const place6 = placeOf6(o, addr, listed)
  const pool6 = config.pool6
  if (overlaps6(place6.underlay6, pool6)) {
    throw new AgentStartError(`${where}: pool6 ${formatPrefix6(pool6)} overlaps the IPv6 underlay network ${formatPrefix6(place6.underlay6)} of ${iface}; pick a pool6 outside it`, EXIT.USAGE)
  }
  let subnet6 = listed?.subnet6
  if (config.subnet6 !== undefined) {
    if (subnet6 !== undefined && formatPrefix6(subnet6) !== formatPrefix6(config.subnet6)) {
      throw new AgentStartError(`--subnet6 ${formatPrefix6(config.subnet6)} differs from ${formatPrefix6(subnet6)} of [host.${entry.name}] in ${where}`, EXIT.USAGE)
    }
    subnet6 = config.subnet6
  }
  const others6 = config.hosts.filter((h) => h.name !== entry.name && h.subnet6 !== undefined)
  if (subnet6 === undefined) {
    if (config.mode === 'static') throw new AgentStartError(`mode static with pool6: [host.${entry.name}] needs subnet6 in ${where}`, EXIT.USAGE)
    if (learned6 === undefined && !persistedSubnet6(o.stateDir)) {
      learned6 = (await discoverTaken(o, { ...self, ...place6, pool6, subnet6: UNSET_SUBNET6 })).v6
    }
    const taken = [...others6.map((h) => h.subnet6!), ...(learned6 ?? []).filter((p) => overlaps6(p, pool6))]
    const slot = slotOfPool(config.pool, entry.subnet)
    const r = allocateSubnet6({ pool6, hostPrefix6: config.hostPrefix6, taken, identity: hostIdentity(entry.address), preferredSlot: slot, stateDir: o.stateDir })
    if (!r.ok) throw new AgentStartError(`automatic IPv6 subnet allocation: ${r.error}; pass --subnet6 CIDR`, EXIT.USAGE)
    o.log.info('subnet6-allocated', { subnet6: formatPrefix6(r.subnet), pool6: formatPrefix6(pool6), hostPrefix6: config.hostPrefix6, how: r.reason, taken: taken.length, learned: learned6?.length ?? 0 })
    subnet6 = r.subnet
  } else {
    const clash = others6.find((h) => overlaps6(h.subnet6!, subnet6!))
    if (clash) throw new AgentStartError(`subnet6 ${formatPrefix6(subnet6)} overlaps host ${clash.name}'s ${formatPrefix6(clash.subnet6!)} in ${where}`, EXIT.USAGE)
    if (!containsPrefix6(pool6, subnet6)) throw new AgentStartError(`subnet6 ${formatPrefix6(subnet6)} is outside pool6 ${formatPrefix6(pool6)}`, EXIT.USAGE)
  }
  for (const h of config.hosts) {
    if (h.name !== entry.name && h.address6 !== undefined && !containsAddress6(place6.underlay6, h.address6)) {
      o.warn('host-not-on-link6', `host ${h.name} (${h.address6}) is not on ${iface} ${formatPrefix6(place6.underlay6)}; its IPv6 route will not be installed`)
    }
  }
  return { ...self, ...place6, subnet6, pool6 }
}

/** The placeholder subnet6 of subnet discovery (announcing nothing), like the IPv4 0.0.0.0/32. */
const UNSET_SUBNET6: Prefix6 = { addr: '::', len: 128 }

/** The IPv6 parts of the self given to subnet discovery: address6/underlay6/pool6 when pool6 is set and they can be found. */
function discoverySelf6(o: IdentifyOptions, addr: LocalAddress): Partial<SelfInfo> {
  const pool6 = o.config.pool6
  if (pool6 === undefined) return {}
  try {
    return { ...placeOf6(o, addr, undefined), pool6, subnet6: UNSET_SUBNET6 }
  } catch {
    return {} // reported by the identification that follows
  }
}

/** address6 and underlay6 of this host on the interface of its IPv4 underlay address (refused: exit 2). */
function placeOf6(o: IdentifyOptions, addr: LocalAddress, listed: HostEntry | undefined): { address6: string; underlay6: Prefix6 } {
  const { interface: iface } = placeOf(addr, o.links)
  const given = o.config.address6 !== undefined
    ? { address6: o.config.address6, from: '--address6' }
    : listed?.address6 !== undefined ? { address6: listed.address6, from: `[host.${listed.name}] address6` } : undefined
  if (o.config.address6 !== undefined && listed?.address6 !== undefined && listed.address6 !== o.config.address6) {
    throw new AgentStartError(`--address6 ${o.config.address6} differs from ${listed.address6} of [host.${listed.name}] in ${o.config.file ?? '(flags)'}`, EXIT.USAGE)
  }
  const c = chooseAddress6(o.addrs6 ?? [], addr.index, iface, given)
  if (!c.ok) throw new AgentStartError(c.error, EXIT.USAGE)
  return { address6: c.address6, underlay6: c.underlay6 }
}

/** The 0-based slot of a subnet in its pool (IPv4). */
function slotOfPool(pool: Prefix, subnet: Prefix): number {
  return Math.floor((subnet.addr - pool.addr) / 2 ** (32 - subnet.len))
}

/**
 * Before choosing a subnet automatically for the first time: run the mode's
 * source listening only (announcing nothing) until it has the fabric's full
 * table (End-of-RIB / a RIP update interval), and return the subnets the
 * other hosts announce.
 */
async function discoverTaken(o: IdentifyOptions, self: SelfInfo): Promise<{ v4: Prefix[]; v6: Prefix6[] }> {
  const { config } = o
  const log = o.log.child({ source: config.mode, phase: 'subnet-discovery' })
  const learned = new PrefixMap<Prefix>()
  const learned6 = new PrefixMap6<Prefix6>()
  let ready!: () => void
  const isReady = new Promise<void>((r) => (ready = r))
  const source = await SOURCES[config.mode]({ config, self, log, stateDir: o.stateDir, onReady: () => ready(), listenOnly: true })
  log.info('subnet-discovery', { note: 'learning which subnets the fabric uses before choosing one', timeoutSeconds: DISCOVERY_TIMEOUT_S })
  await source.start({
    add: (r) => learned.set(r.prefix, { addr: r.prefix.addr, len: r.prefix.len }),
    withdraw: (p) => void learned.delete(p),
    withdrawPeer: () => 0,
  }, self.subnet6 === undefined ? undefined : {
    add: (r) => learned6.set(r.prefix, r.prefix),
    withdraw: (p) => void learned6.delete(p),
    withdrawPeer: () => 0,
  })
  let timer: NodeJS.Timeout | undefined
  await Promise.race([isReady, new Promise<void>((r) => (timer = setTimeout(r, DISCOVERY_TIMEOUT_S * 1000)))])
  if (timer) clearTimeout(timer)
  await source.stop()
  const taken = [...learned.values()]
  const taken6 = [...learned6.values()]
  log.info('subnet-discovery-done', { ready: source.ready(), learned: taken.length, learned6: taken6.length })
  return { v4: taken, v6: taken6 }
}
