/**
 * Host identification at start: which [host.*] this host is (or, joined by
 * flags, its address and subnet), its underlay interface and network.
 * Refuses (exit 2) before anything on the host is changed. The pure
 * matching is src/api/host-identity.ts, which `fabric doctor` uses too.
 */
import { hostname } from 'node:os'
import { type LocalAddress, type LocalLink, matchHostEntry, placeOf, underlayCandidates } from '../api/host-identity.js'
import type { FabricConfig, HostEntry } from '../config/fabric-config.js'
import { AgentStartError, EXIT } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import type { SelfInfo } from '../core/self.js'
import { persistedSubnet, resolveSubnet } from '../host/hooks.js'
import { type Prefix, containsAddress, formatAddress, formatPrefix, overlaps, parseAddress } from '../net/ipv4.js'
import { PrefixMap } from '../net/prefix-map.js'
import { resolveNetworkSubnets } from './networks.js'
import { SOURCES } from './sources.js'

/** Longest wait for the fabric's table before an automatic subnet is chosen. */
const DISCOVERY_TIMEOUT_S = 90

export interface IdentifyOptions {
  config: FabricConfig
  addrs: readonly LocalAddress[]
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
        learned = persistedSubnet(o.stateDir) ? [] : await discoverTaken(o, {
          name: hostname(), address: a.value, subnet: { addr: 0, len: 32 }, ...placeOf(addr, o.links),
        })
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
  const networks = resolveNetworkSubnets({ config, entry: config.hosts.find((h) => h.name === entry.name && h.address === entry.address), subnet: entry.subnet, address: entry.address, stateDir: o.stateDir, log: o.log, learned })
  return { name: entry.name, address: entry.address, subnet: entry.subnet, interface: iface, underlay, networks }
}

/**
 * Before choosing a subnet automatically for the first time: run the mode's
 * source listening only (announcing nothing) until it has the fabric's full
 * table (End-of-RIB / a RIP update interval), and return the subnets the
 * other hosts announce.
 */
async function discoverTaken(o: IdentifyOptions, self: SelfInfo): Promise<Prefix[]> {
  const { config } = o
  const log = o.log.child({ source: config.mode, phase: 'subnet-discovery' })
  const learned = new PrefixMap<Prefix>()
  let ready!: () => void
  const isReady = new Promise<void>((r) => (ready = r))
  const source = await SOURCES[config.mode]({ config, self, log, stateDir: o.stateDir, onReady: () => ready(), listenOnly: true })
  log.info('subnet-discovery', { note: 'learning which subnets the fabric uses before choosing one', timeoutSeconds: DISCOVERY_TIMEOUT_S })
  await source.start({
    add: (r) => learned.set(r.prefix, { addr: r.prefix.addr, len: r.prefix.len }),
    withdraw: (p) => void learned.delete(p),
    withdrawPeer: () => 0,
  })
  let timer: NodeJS.Timeout | undefined
  await Promise.race([isReady, new Promise<void>((r) => (timer = setTimeout(r, DISCOVERY_TIMEOUT_S * 1000)))])
  if (timer) clearTimeout(timer)
  await source.stop()
  const taken = [...learned.values()]
  log.info('subnet-discovery-done', { ready: source.ready(), learned: taken.length })
  return taken
}
