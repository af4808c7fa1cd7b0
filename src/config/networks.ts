/**
 * Fabric networks: `[network.NAME]` sections (their own pool and host-prefix,
 * `allow`, an optional bridge name) and the per-host subnets of each network
 * (`[host.NAME] subnet.NETWORK = CIDR`, or derived). The default network is
 * docker0 with `[fabric] pool`; it is called `default` here and takes no
 * section, so configs without networks read exactly as before.
 *
 * allow is symmetric: traffic between A and B passes when either lists the
 * other (an unordered pair), the way `docker network connect` makes two
 * containers reach each other both ways. A one-sided entry that did nothing
 * would be a silent trap, and the rules are per pool, not per direction
 * (replies travel the other way), so a direction-only allowance could not be
 * kept anyway.
 *
 * Derived subnets (static mode, no `subnet.NETWORK` on a host): the host keeps
 * the same slot number in every network as its default subnet has in the
 * default pool, so 10.244.3.0/24 in 10.244.0.0/16 gives 10.245.3.0/24 in
 * 10.245.0.0/16. A host's derived subnets depend on nothing but its own
 * default subnet: adding or removing hosts never moves another host's.
 */
import { type Prefix, containsAddress, containsPrefix, formatPrefix, overlaps, parsePrefix, prefix } from '../net/ipv4.js'
import { ConfigError } from './errors.js'
import type { IniSection } from './ini.js'

/** fabric's name for docker0's network (`[fabric] pool`): usable in `allow`, shown by status/routes. */
export const DEFAULT_NETWORK = 'default'

/** Names Docker or fabric already use for a network of their own. */
export const RESERVED_NETWORK_NAMES = new Set([DEFAULT_NETWORK, 'bridge', 'host', 'none'])

/** Docker's name rule for networks and containers ([a-zA-Z0-9][a-zA-Z0-9_.-]*), at most 63 characters here. */
export const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/

/** A Linux interface name (IFNAMSIZ 16 with its NUL): 1-15 characters, no '/', ':' or whitespace. */
const BRIDGE_NAME = /^[A-Za-z0-9_.-]{1,15}$/

export const NETWORK_KEYS = {
  pool: 'CIDR this network\'s per-host subnets are cut from, /8 to /30; overlaps no other pool nor the underlay (required)',
  'host-prefix': 'length of each host\'s subnet of this network, 8 to 30, not shorter than the pool (default: [fabric] host-prefix)',
  allow: 'other fabric networks (`default` for docker0\'s) this one may talk to, comma/space separated; symmetric',
  bridge: 'Linux bridge name of the Docker network (at most 15 characters; default: Docker\'s br-ID)',
} as const

export interface NetworkConfig {
  name: string
  pool: Prefix
  hostPrefix: number
  /** the names as written, validated (other networks, maybe `default`); see allowedPairs for the symmetric closure */
  allow: string[]
  bridge?: string
}

/** What validation of the networks needs from [fabric] and the [host.*] sections. */
export interface NetworkContext {
  file: string
  defaultPool: Prefix | undefined
  defaultHostPrefix: number
  underlay: Prefix | undefined
  errors: ConfigError[]
}

export interface HostSubnetInput {
  name: string
  section: IniSection
  address: number
  /** the default network's subnet of this host */
  subnet: Prefix
}

/** Reads and validates the [network.NAME] sections (errors pushed; invalid networks left out). */
export function parseNetworks(sections: IniSection[], ctx: NetworkContext): NetworkConfig[] {
  const { file, errors } = ctx
  const out: NetworkConfig[] = []
  const names = new Set(sections.map((s) => s.name.slice('network.'.length)))
  const bridges = new Map<string, string>()
  const fail = (section: string, line: number, key: string | undefined, value: string | undefined, expected: string): void => {
    errors.push(new ConfigError({ where: `${file}:${line}`, section, key, value, expected }))
  }
  for (const section of sections) {
    const name = section.name.slice('network.'.length)
    if (!NETWORK_NAME.test(name)) {
      fail(section.name, section.line, undefined, undefined, 'a network name as Docker accepts it: a letter or digit, then letters, digits, _ . - (at most 63)')
      continue
    }
    if (RESERVED_NETWORK_NAMES.has(name)) {
      fail(section.name, section.line, undefined, undefined, `a network name other than ${[...RESERVED_NETWORK_NAMES].join(', ')} (${name === DEFAULT_NETWORK ? "fabric's name for docker0's network ([fabric] pool)" : "one of Docker's own networks"})`)
      continue
    }
    for (const [key, entry] of section.entries) {
      if (!(key in NETWORK_KEYS)) fail(section.name, entry.line, key, entry.value, `unknown key; [network.NAME] accepts ${Object.keys(NETWORK_KEYS).join(', ')}`)
    }
    let ok = true
    let pool: Prefix | undefined
    const poolEntry = section.entries.get('pool')
    if (poolEntry === undefined) {
      fail(section.name, section.line, 'pool', undefined, "required: the CIDR this network's per-host subnets are cut from")
      ok = false
    } else {
      const p = parsePrefix(poolEntry.value)
      const v = poolEntry.value
      if (!p.ok) fail(section.name, poolEntry.line, 'pool', v, p.error)
      else if (p.value.len < 8 || p.value.len > 30) fail(section.name, poolEntry.line, 'pool', v, 'a pool length between /8 and /30')
      else if (ctx.defaultPool !== undefined && overlaps(p.value, ctx.defaultPool)) fail(section.name, poolEntry.line, 'pool', v, `a pool that does not overlap the default network's pool ${formatPrefix(ctx.defaultPool)} ([fabric] pool)`)
      else if (ctx.underlay !== undefined && overlaps(p.value, ctx.underlay)) fail(section.name, poolEntry.line, 'pool', v, `a pool that does not overlap the underlay ${formatPrefix(ctx.underlay)}`)
      else {
        const clash = out.find((n) => overlaps(n.pool, p.value))
        if (clash) fail(section.name, poolEntry.line, 'pool', v, `a pool that does not overlap network "${clash.name}"'s ${formatPrefix(clash.pool)}`)
        else pool = p.value
      }
      if (pool === undefined) ok = false
    }
    let hostPrefix = ctx.defaultHostPrefix
    const hpEntry = section.entries.get('host-prefix')
    if (hpEntry !== undefined) {
      const n = /^\/?\d{1,2}$/.test(hpEntry.value) ? Number(hpEntry.value.replace('/', '')) : NaN
      if (!(n >= 8 && n <= 30)) {
        fail(section.name, hpEntry.line, 'host-prefix', hpEntry.value, 'a prefix length from 8 to 30 (usually 24 or 16)')
        ok = false
      } else hostPrefix = n
    }
    if (pool !== undefined && hostPrefix < pool.len) {
      fail(section.name, hpEntry?.line ?? section.line, 'host-prefix', String(hpEntry?.value ?? hostPrefix), `a length >= the pool's /${pool.len} (host subnets are cut from ${formatPrefix(pool)})${hpEntry ? '' : '; the default comes from [fabric] host-prefix'}`)
      ok = false
    }
    const allow: string[] = []
    const allowEntry = section.entries.get('allow')
    if (allowEntry !== undefined) {
      for (const other of allowEntry.value.split(/[,\s]+/).filter(Boolean)) {
        if (other === name) fail(section.name, allowEntry.line, 'allow', allowEntry.value, `other networks than ${name} itself (a network always reaches its own containers)`)
        else if (other !== DEFAULT_NETWORK && !names.has(other)) fail(section.name, allowEntry.line, 'allow', allowEntry.value, `"${other}" is not a network; known: ${[DEFAULT_NETWORK, ...[...names].filter((n) => n !== name)].join(', ')}`)
        else if (allow.includes(other)) fail(section.name, allowEntry.line, 'allow', allowEntry.value, `"${other}" listed twice`)
        else {
          allow.push(other)
          continue
        }
        ok = false
      }
    }
    let bridge: string | undefined
    const brEntry = section.entries.get('bridge')
    if (brEntry !== undefined) {
      const b = brEntry.value
      if (!BRIDGE_NAME.test(b) || b === '.' || b === '..') fail(section.name, brEntry.line, 'bridge', b, 'a Linux interface name: 1 to 15 letters, digits, _ . -')
      else if (b === 'docker0' || b === 'lo') fail(section.name, brEntry.line, 'bridge', b, `a bridge of its own, not ${b}`)
      else if (bridges.has(b)) fail(section.name, brEntry.line, 'bridge', b, `a bridge name no other network uses; network "${bridges.get(b)}" has it`)
      else {
        bridge = b
        bridges.set(b, name)
      }
      if (bridge === undefined) ok = false
    }
    if (ok && pool !== undefined) out.push({ name, pool, hostPrefix, allow, ...(bridge !== undefined ? { bridge } : {}) })
  }
  return out
}

/** Every network's pool may contain no host's underlay address (routing the pool would capture the underlay). */
export function checkHostAddresses(networks: NetworkConfig[], hosts: { name: string; address: number; section: IniSection }[], ctx: NetworkContext): void {
  for (const n of networks) {
    for (const h of hosts) {
      if (!containsAddress(n.pool, h.address)) continue
      const e = h.section.entries.get('address')
      ctx.errors.push(new ConfigError({
        where: `${ctx.file}:${e?.line ?? h.section.line}`, section: h.section.name, key: 'address', value: e?.value,
        expected: `an underlay address outside network "${n.name}"'s pool ${formatPrefix(n.pool)}`,
      }))
    }
  }
}

/** The slot (0-based index of its /hostPrefix) of a subnet in a pool. */
export function slotOf(pool: Prefix, subnet: Prefix): number {
  return Math.floor((subnet.addr - pool.addr) / 2 ** (32 - subnet.len))
}

/** The subnet a host gets in a network when fabric.ini lists none: the slot of its default subnet. */
export function derivedSubnet(defaultPool: Prefix, defaultSubnet: Prefix, network: Pick<NetworkConfig, 'pool' | 'hostPrefix'>): Prefix | undefined {
  const slot = slotOf(defaultPool, defaultSubnet)
  const count = 2 ** (network.hostPrefix - network.pool.len)
  if (slot >= count) return undefined
  return prefix((network.pool.addr + slot * 2 ** (32 - network.hostPrefix)) >>> 0, network.hostPrefix)
}

/**
 * The per-network subnets of every [host.*]: `subnet.NETWORK` keys (validated:
 * a known network, inside its pool, of its host-prefix, overlapping no other
 * host's), else derived. Returns host name -> network name -> subnet.
 */
export function hostNetworkSubnets(networks: NetworkConfig[], hosts: HostSubnetInput[], ctx: NetworkContext): Map<string, Map<string, Prefix>> {
  const out = new Map<string, Map<string, Prefix>>()
  const { file, errors } = ctx
  const byName = new Map(networks.map((n) => [n.name, n]))
  // explicit entries first, so that a derived subnet clashing with one names the explicit host
  const taken = new Map<string, { host: string; subnet: Prefix }[]>(networks.map((n) => [n.name, []]))
  for (const h of hosts) {
    const mine = new Map<string, Prefix>()
    out.set(h.name, mine)
    for (const [key, entry] of h.section.entries) {
      if (!key.startsWith('subnet.')) continue
      const netName = key.slice('subnet.'.length)
      const fail = (expected: string): void => {
        errors.push(new ConfigError({ where: `${file}:${entry.line}`, section: h.section.name, key, value: entry.value, expected }))
      }
      const n = byName.get(netName)
      if (n === undefined) {
        fail(netName === DEFAULT_NETWORK ? 'the default network\'s subnet is `subnet`' : `a subnet of a [network.NAME]; "${netName}" is none${networks.length ? ` (known: ${networks.map((x) => x.name).join(', ')})` : ''}`)
        continue
      }
      const s = parsePrefix(entry.value)
      if (!s.ok) fail(s.error)
      else if (!containsPrefix(n.pool, s.value)) fail(`a subnet inside network "${n.name}"'s pool ${formatPrefix(n.pool)}`)
      else if (s.value.len !== n.hostPrefix) fail(`a /${n.hostPrefix} (network "${n.name}"'s host-prefix), not a /${s.value.len}`)
      else {
        const clash = taken.get(n.name)!.find((o) => overlaps(o.subnet, s.value))
        if (clash) fail(`a subnet that overlaps no other host's; host "${clash.host}" has ${formatPrefix(clash.subnet)} in network "${n.name}"`)
        else {
          mine.set(n.name, s.value)
          taken.get(n.name)!.push({ host: h.name, subnet: s.value })
        }
      }
    }
  }
  if (ctx.defaultPool === undefined) return out
  for (const h of hosts) {
    const mine = out.get(h.name)!
    for (const n of networks) {
      if (mine.has(n.name) || h.section.entries.has(`subnet.${n.name}`)) continue
      const d = derivedSubnet(ctx.defaultPool, h.subnet, n)
      const where = `${file}:${h.section.line}`
      if (d === undefined) {
        errors.push(new ConfigError({ where, section: h.section.name, key: `subnet.${n.name}`, expected: `required: the derived subnet (slot ${slotOf(ctx.defaultPool, h.subnet)} of ${formatPrefix(ctx.defaultPool)}) does not fit in network "${n.name}"'s pool ${formatPrefix(n.pool)} with /${n.hostPrefix}; give subnet.${n.name} = CIDR` }))
        continue
      }
      const clash = taken.get(n.name)!.find((o) => overlaps(o.subnet, d))
      if (clash) {
        errors.push(new ConfigError({ where, section: h.section.name, key: `subnet.${n.name}`, value: formatPrefix(d), expected: `a subnet that overlaps no other host's: derived from this host's default subnet, it is host "${clash.host}"'s ${formatPrefix(clash.subnet)}; give subnet.${n.name} = CIDR` }))
        continue
      }
      mine.set(n.name, d)
      taken.get(n.name)!.push({ host: h.name, subnet: d })
    }
  }
  return out
}

/** The unordered allowed pairs (each as [a, b] with a < b), from every network's allow list. */
export function allowedPairs(networks: Pick<NetworkConfig, 'name' | 'allow'>[]): [string, string][] {
  const seen = new Set<string>()
  const out: [string, string][] = []
  for (const n of networks) {
    for (const o of n.allow) {
      const pair: [string, string] = n.name < o ? [n.name, o] : [o, n.name]
      const k = pair.join('\0')
      if (seen.has(k)) continue
      seen.add(k)
      out.push(pair)
    }
  }
  return out.sort((x, y) => (x[0] === y[0] ? (x[1] < y[1] ? -1 : 1) : x[0] < y[0] ? -1 : 1))
}
