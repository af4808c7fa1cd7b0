/**
 * fabric.ini + flags + env -> a validated FabricConfig. Nothing here touches
 * the host: callers load and validate first, and change the host only after.
 */
import { readFileSync } from 'node:fs'
import {
  type Prefix, containsAddress, containsPrefix, formatAddress, formatPrefix, overlaps, parseAddress, parsePrefix,
} from '../net/ipv4.js'
import type { Prefix6 } from '../net/ipv6.js'
import { type BgpConfig, parseBgp } from './bgp-config.js'
import { ConfigError, ConfigErrors } from './errors.js'
import { type NetworkConfig, checkHostAddresses, hostNetworkSubnets, parseNetworks } from './networks.js'
import { type RipConfig, parseRip } from './rip-config.js'
import { type IniDocument, type IniSection, parseIni } from './ini.js'
import { parseIpv6Config } from './ipv6-config.js'
import { DEFAULT_ROUTE_PROTOCOL, parseRouteProtocol } from './route-protocol.js'

export type Mode = 'static' | 'rip' | 'bgp'
export const MODES: readonly Mode[] = ['static', 'rip', 'bgp']

export interface HostEntry {
  name: string
  address: number
  subnet: Prefix
  /** this host's subnet in each [network.NAME] (given as subnet.NAME, or derived; see config/networks.ts).
   *  Always set by loadConfig; optional for entries built elsewhere (--subnet hosts). */
  networks?: Record<string, Prefix>
  /** [host.NAME] address6: the host's global underlay IPv6 address (RFC 5952 text); subnet6: its container subnet inside pool6 */
  address6?: string
  subnet6?: Prefix6
}

export interface FabricConfig {
  /** the fabric.ini path, when one was read */
  file?: string
  pool: Prefix
  hostPrefix: number
  mode: Mode
  routeProtocol: number
  /** the underlay network, when declared: every host address must be in it */
  underlay?: Prefix
  /** seconds between full kernel reconciles */
  reconcileInterval: number
  hosts: HostEntry[]
  /** the [network.NAME] sections (the default network, docker0's, is `pool`/`hostPrefix` above) */
  networks: NetworkConfig[]
  /** this host's subnet given by --subnet (modes rip/bgp without a [host.*] entry) */
  subnet?: Prefix
  /** [fabric] pool6: the IPv6 container pool; absent: the fabric is IPv4-only */
  pool6?: Prefix6
  /** [fabric] host-prefix6: length of each host's IPv6 subnet (48-120, default 64) */
  hostPrefix6: number
  /** --subnet6: this host's IPv6 subnet (modes rip/bgp without a [host.*] entry) */
  subnet6?: Prefix6
  /** --address6: this host's underlay IPv6 address (RFC 5952 text); absent: from its [host.*] entry or its interface */
  address6?: string
  bgp: BgpConfig
  rip: RipConfig
}

/** Values given as flags (or their FABRIC_* env vars); they win over the file. */
export interface ConfigOverrides {
  pool?: string
  hostPrefix?: string | number
  mode?: string
  routeProtocol?: string
  underlay?: string
  reconcileInterval?: string | number
  /** --subnet: this host's subnet */
  subnet?: string
  /** IPv6: --pool6, --host-prefix6, --subnet6 (this host's), --address6 (this host's underlay IPv6 address) */
  pool6?: string
  hostPrefix6?: string | number
  subnet6?: string
  address6?: string
  /** BGP flags by flag name (asn, router-id, hold-time, ...) */
  bgp?: Record<string, string | undefined>
  /** repeatable --peer ADDRESS[@ASN] */
  peers?: string[]
  /** RIP flags by flag name (interface, neighbor, auth, key-file, ...) */
  rip?: Record<string, string | undefined>
}

/** The pool of a host joining by flags alone (no fabric.ini) without --pool: Kubernetes' and flannel's usual one. */
export const DEFAULT_FLAGS_ONLY_POOL = '10.244.0.0/16'

export const DEFAULTS = {
  hostPrefix: 24,
  hostPrefix6: 64,
  mode: 'static' as Mode,
  routeProtocol: DEFAULT_ROUTE_PROTOCOL,
  reconcileInterval: 5,
}

/** [fabric] keys, the flag that overrides each, and its description (docs/configuration.md mirrors this). */
export const FABRIC_KEYS = {
  pool: { flag: 'pool', env: 'FABRIC_POOL' },
  'host-prefix': { flag: 'host-prefix', env: 'FABRIC_HOST_PREFIX' },
  mode: { flag: 'mode', env: 'FABRIC_MODE' },
  'route-protocol': { flag: 'route-protocol', env: 'FABRIC_ROUTE_PROTOCOL' },
  underlay: { flag: 'underlay', env: 'FABRIC_UNDERLAY' },
  'reconcile-interval': { flag: 'reconcile-interval', env: 'FABRIC_RECONCILE_INTERVAL' },
  pool6: { flag: 'pool6', env: 'FABRIC_POOL6' },
  'host-prefix6': { flag: 'host-prefix6', env: 'FABRIC_HOST_PREFIX6' },
} as const
type FabricKey = keyof typeof FABRIC_KEYS

const HOST_KEYS = new Set(['address', 'subnet', 'address6', 'subnet6'])
const HOST_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/

interface Located {
  value: string
  where: string
  section?: string
  key: string
}

function fromFlag(key: FabricKey, value: string): Located {
  const spec = FABRIC_KEYS[key]
  return { value, where: `--${spec.flag} (or ${spec.env})`, key }
}

/** Reads and validates fabric.ini (if any) with overrides. Throws ConfigErrors. */
export function loadConfig(opts: { file?: string; overrides?: ConfigOverrides }): FabricConfig {
  let doc: IniDocument = { file: opts.file ?? '(none)', sections: [] }
  const errors: ConfigError[] = []
  if (opts.file !== undefined) {
    let text: string
    try {
      text = readFileSync(opts.file, 'utf8')
    } catch (error) {
      const e = error as NodeJS.ErrnoException
      throw new ConfigErrors([new ConfigError({ where: opts.file, expected: `cannot read the file (${e.code ?? e.message})` })])
    }
    const parsed = parseIni(text, opts.file)
    doc = parsed.doc
    errors.push(...parsed.errors)
  }
  const config = validate(doc, opts.overrides ?? {}, errors)
  if (errors.length > 0 || config === undefined) throw new ConfigErrors(errors)
  if (opts.file !== undefined) config.file = opts.file
  return config
}

/** Validates a parsed document; exported for tests that build text in memory. */
/** Whether this host installs the routes it learns: [bgp] install-routes, which applies in mode bgp only. */
export function installsRoutes(c: Pick<FabricConfig, 'mode' | 'bgp'>): boolean {
  return c.mode !== 'bgp' || c.bgp.installRoutes
}

export function loadConfigText(text: string, file = 'fabric.ini', overrides: ConfigOverrides = {}): FabricConfig {
  const parsed = parseIni(text, file)
  const errors = [...parsed.errors]
  const config = validate(parsed.doc, overrides, errors)
  if (errors.length > 0 || config === undefined) throw new ConfigErrors(errors)
  config.file = file
  return config
}

function validate(doc: IniDocument, overrides: ConfigOverrides, errors: ConfigError[]): FabricConfig | undefined {
  const fabricValues = new Map<FabricKey, Located>()
  const hostSections: IniSection[] = []
  const peerSections: IniSection[] = []
  let bgpSection: IniSection | undefined
  let ripSection: IniSection | undefined
  const networkSections: IniSection[] = []
  for (const section of doc.sections) {
    const where = `${doc.file}:${section.line}`
    if (section.name === 'fabric') {
      for (const [key, entry] of section.entries) {
        if (!(key in FABRIC_KEYS)) {
          errors.push(new ConfigError({ where: `${doc.file}:${entry.line}`, section: 'fabric', key, value: entry.value, expected: `unknown key; [fabric] accepts ${Object.keys(FABRIC_KEYS).join(', ')}` }))
          continue
        }
        fabricValues.set(key as FabricKey, { value: entry.value, where: `${doc.file}:${entry.line}`, section: 'fabric', key })
      }
    } else if (section.name.startsWith('host.')) {
      hostSections.push(section)
    } else if (section.name.startsWith('peer.')) {
      peerSections.push(section)
    } else if (section.name.startsWith('network.')) {
      networkSections.push(section)
    } else if (section.name === 'bgp') {
      bgpSection = section
    } else if (section.name === 'rip') {
      ripSection = section
    } else {
      errors.push(new ConfigError({ where, section: section.name, expected: 'unknown section; expected [fabric], [host.NAME], [network.NAME], [bgp], [peer.NAME] or [rip]' }))
    }
  }
  const o = overrides
  const flagValues: [FabricKey, string | number | undefined][] = [
    ['pool', o.pool], ['host-prefix', o.hostPrefix], ['mode', o.mode], ['route-protocol', o.routeProtocol],
    ['underlay', o.underlay], ['reconcile-interval', o.reconcileInterval], ['pool6', o.pool6], ['host-prefix6', o.hostPrefix6],
  ]
  for (const [key, value] of flagValues) if (value !== undefined) fabricValues.set(key, fromFlag(key, String(value)))

  const fail = (loc: Located, expected: string): void => {
    errors.push(new ConfigError({ where: loc.where, section: loc.section, key: loc.key, value: loc.value, expected }))
  }

  // [fabric]
  let pool: Prefix | undefined
  let poolLoc = fabricValues.get('pool')
  if (poolLoc === undefined && doc.sections.length === 0 && fabricValues.get('mode')?.value !== undefined && fabricValues.get('mode')!.value !== 'static') {
    // a host joining by flags alone (no fabric.ini) with no --pool: the usual container pool
    poolLoc = { value: DEFAULT_FLAGS_ONLY_POOL, where: 'default pool', key: 'pool' }
  }
  if (poolLoc === undefined) {
    errors.push(new ConfigError({ where: doc.file, section: 'fabric', key: 'pool', expected: 'required: the CIDR all container subnets are cut from (or --pool)' }))
  } else {
    const p = parsePrefix(poolLoc.value)
    if (!p.ok) fail(poolLoc, p.error)
    else if (p.value.len < 8 || p.value.len > 30) fail(poolLoc, 'a pool length between /8 and /30')
    else pool = p.value
  }
  let hostPrefix = DEFAULTS.hostPrefix
  const hpLoc = fabricValues.get('host-prefix')
  if (hpLoc !== undefined) {
    const n = /^\/?\d{1,2}$/.test(hpLoc.value) ? Number(hpLoc.value.replace('/', '')) : NaN
    if (!(n >= 8 && n <= 30)) fail(hpLoc, 'a prefix length from 8 to 30 (usually 24 or 16)')
    else hostPrefix = n
  }
  if (pool !== undefined && hostPrefix < pool.len) {
    const loc = hpLoc ?? { value: String(hostPrefix), where: doc.file, section: 'fabric', key: 'host-prefix' }
    fail(loc, `a length >= the pool's /${pool.len} (host subnets are cut from ${formatPrefix(pool)})`)
  }
  let mode: Mode = DEFAULTS.mode
  const modeLoc = fabricValues.get('mode')
  if (modeLoc !== undefined) {
    if (!(MODES as readonly string[]).includes(modeLoc.value)) fail(modeLoc, `one of ${MODES.join(', ')}`)
    else mode = modeLoc.value as Mode
  }
  let routeProtocol = DEFAULTS.routeProtocol
  const rpLoc = fabricValues.get('route-protocol')
  if (rpLoc !== undefined) {
    const r = parseRouteProtocol(rpLoc.value)
    if (!r.ok) fail(rpLoc, r.error)
    else routeProtocol = r.value
  }
  let underlay: Prefix | undefined
  const ulLoc = fabricValues.get('underlay')
  if (ulLoc !== undefined) {
    const u = parsePrefix(ulLoc.value)
    if (!u.ok) fail(ulLoc, u.error)
    else if (pool !== undefined && overlaps(u.value, pool)) fail(ulLoc, `an underlay network that does not overlap the pool ${formatPrefix(pool)}`)
    else underlay = u.value
  }
  let reconcileInterval = DEFAULTS.reconcileInterval
  const riLoc = fabricValues.get('reconcile-interval')
  if (riLoc !== undefined) {
    const n = /^\d+(\.\d+)?$/.test(riLoc.value) ? Number(riLoc.value) : NaN
    if (!(n >= 0.5 && n <= 300)) fail(riLoc, 'seconds between kernel reconciles, 0.5 to 300')
    else reconcileInterval = n
  }

  // [network.NAME]
  const netCtx = { file: doc.file, defaultPool: pool, defaultHostPrefix: hostPrefix, underlay, errors }
  const networks = parseNetworks(networkSections, netCtx)

  // [host.NAME]
  const hosts: HostEntry[] = []
  const hostSectionOf = new Map<string, IniSection>()
  const byAddress = new Map<number, string>()
  for (const section of hostSections) {
    const name = section.name.slice('host.'.length)
    const where = `${doc.file}:${section.line}`
    if (!HOST_NAME.test(name)) {
      errors.push(new ConfigError({ where, section: section.name, expected: 'a host name of letters, digits, _ . - (at most 63)' }))
      continue
    }
    for (const [key, entry] of section.entries) {
      if (!HOST_KEYS.has(key) && !key.startsWith('subnet.')) {
        errors.push(new ConfigError({ where: `${doc.file}:${entry.line}`, section: section.name, key, value: entry.value, expected: `unknown key; [host.NAME] accepts ${[...HOST_KEYS].join(', ')}, subnet.NETWORK` }))
      }
    }
    const loc = (key: string): Located | undefined => {
      const e = section.entries.get(key)
      return e === undefined ? undefined : { value: e.value, where: `${doc.file}:${e.line}`, section: section.name, key }
    }
    const aLoc = loc('address')
    const sLoc = loc('subnet')
    let address: number | undefined
    let subnet: Prefix | undefined
    if (aLoc === undefined) errors.push(new ConfigError({ where, section: section.name, key: 'address', expected: "required: the host's underlay IPv4 address" }))
    else {
      const a = parseAddress(aLoc.value)
      if (!a.ok) fail(aLoc, a.error)
      else if (underlay !== undefined && !containsAddress(underlay, a.value)) fail(aLoc, `an address inside the underlay ${formatPrefix(underlay)}`)
      else if (byAddress.has(a.value)) fail(aLoc, `a unique address; host "${byAddress.get(a.value)}" already uses it`)
      else {
        address = a.value
        byAddress.set(a.value, name)
      }
    }
    if (sLoc === undefined) errors.push(new ConfigError({ where, section: section.name, key: 'subnet', expected: "required: the host's docker0 subnet (CIDR inside the pool)" }))
    else {
      const s = parsePrefix(sLoc.value)
      if (!s.ok) fail(sLoc, s.error)
      else if (pool !== undefined && !containsPrefix(pool, s.value)) fail(sLoc, `a subnet inside the pool ${formatPrefix(pool)}`)
      else if (s.value.len !== hostPrefix) fail(sLoc, `a /${hostPrefix} (host-prefix), not a /${s.value.len}`)
      else {
        const clash = hosts.find((h) => overlaps(h.subnet, s.value))
        if (clash) fail(sLoc, `a subnet that overlaps no other host's; host "${clash.name}" has ${formatPrefix(clash.subnet)}`)
        else subnet = s.value
      }
    }
    if (address !== undefined && subnet !== undefined) {
      hosts.push({ name, address, subnet, networks: {} })
      hostSectionOf.set(name, section)
    }
  }
  // No container subnet (nor the pool) may contain an underlay address:
  // routing the pool would then capture the underlay itself.
  if (pool !== undefined) {
    for (const h of hosts) {
      if (containsAddress(pool, h.address)) {
        const section = doc.sections.find((s) => s.name === `host.${h.name}`)
        const e = section?.entries.get('address')
        errors.push(new ConfigError({
          where: e ? `${doc.file}:${e.line}` : doc.file, section: `host.${h.name}`, key: 'address', value: formatAddress(h.address),
          expected: `an underlay address outside the pool ${formatPrefix(pool)} (the container subnets would overlap the underlay network)`,
        }))
      }
    }
  }
  const withSections = hosts.map((h) => ({ ...h, section: hostSectionOf.get(h.name)! }))
  checkHostAddresses(networks, withSections, netCtx)
  for (const [name, subnets] of hostNetworkSubnets(networks, withSections, netCtx)) {
    const h = hosts.find((x) => x.name === name)!
    for (const [net, p] of subnets) h.networks![net] = p
  }
  let subnet: Prefix | undefined
  if (o.subnet !== undefined) {
    const loc: Located = { value: o.subnet, where: '--subnet (or FABRIC_SUBNET)', key: 'subnet' }
    const s = parsePrefix(o.subnet)
    if (!s.ok) fail(loc, s.error)
    else if (pool !== undefined && !containsPrefix(pool, s.value)) fail(loc, `a subnet inside the pool ${formatPrefix(pool)}`)
    else if (s.value.len !== hostPrefix) fail(loc, `a /${hostPrefix} (host-prefix), not a /${s.value.len}`)
    else subnet = s.value
  }
  // IPv6: pool6, host-prefix6, [host.*] address6/subnet6, --subnet6, --address6 (config/ipv6-config.ts)
  const v6 = parseIpv6Config({
    file: doc.file, mode, pool6: fabricValues.get('pool6'), hostPrefix6: fabricValues.get('host-prefix6'),
    hosts: hostSections.filter((s) => HOST_NAME.test(s.name.slice('host.'.length))).map((s) => ({ name: s.name.slice('host.'.length), section: s })),
    subnet6: o.subnet6, address6: o.address6, errors, defaultHostPrefix6: DEFAULTS.hostPrefix6,
  })
  for (const h of hosts) {
    const six = v6.hosts.get(h.name)
    if (six?.address6 !== undefined) h.address6 = six.address6
    if (six?.subnet6 !== undefined) h.subnet6 = six.subnet6
  }
  const bgp = parseBgp({ file: doc.file, bgpSection, peerSections, overrides: o.bgp ?? {}, peerFlags: o.peers ?? [], errors })
  const rip = parseRip({ file: doc.file, section: ripSection, overrides: o.rip ?? {}, errors })
  if (pool === undefined) return undefined
  return {
    pool, hostPrefix, mode, routeProtocol, underlay, reconcileInterval, hosts, networks, subnet,
    hostPrefix6: v6.hostPrefix6,
    ...(v6.pool6 !== undefined ? { pool6: v6.pool6 } : {}),
    ...(v6.subnet6 !== undefined ? { subnet6: v6.subnet6 } : {}),
    ...(v6.address6 !== undefined ? { address6: v6.address6 } : {}),
    bgp, rip,
  }
}
