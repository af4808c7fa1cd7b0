/**
 * [bgp] and [peer.NAME] sections, and the BGP flags of `fabric join`.
 * In mode bgp every [host.*] other than this host is also an iBGP peer
 * (full mesh); the agent adds those once it knows which host it is.
 */
import { type Prefix, formatAddress } from '../net/ipv4.js'
import { type Prefix6, canonicalAddress6, classify6, parsePrefix6 } from '../net/ipv6.js'
import { type BfdConfig, bfdFromValues, bfdKeys } from './bfd-config.js'
import { ConfigError } from './errors.js'
import type { IniSection } from './ini.js'
import { type KeySpec, get, readSection } from './section.js'
import * as v from './values.js'

export const DEFAULT_ASN = 64512

export interface BgpPeerConfig {
  /** [peer.NAME] name, the host name for mesh peers, or the address for --peer */
  name: string
  address: number
  /** the peer's AS; the fabric ASN (iBGP) when absent */
  asn: number
  /** wait for the peer to connect, never connect out */
  passive: boolean
  /** per-peer limit; overrides [bgp] max-prefixes */
  maxPrefixes?: number
  /** this peer is a route-reflector client (we are its reflector) */
  rrClient: boolean
  /** where it was configured, for messages */
  where: string
  /** BFD with this peer ([peer.NAME] bfd* keys, else [bgp]'s) */
  bfd: BfdConfig
}

/**
 * A peer reached over IPv6 (`[peer.NAME] address = fd00:99::2`, `--peer
 * fd00:99::2@65010`): the TCP session runs from this host's address6 and
 * carries IPv6 unicast (and IPv4 unicast when both negotiate it). Only on a
 * dual-stack host; the router id stays IPv4.
 */
export interface BgpPeer6Config extends Omit<BgpPeerConfig, 'address'> {
  /** RFC 5952 text of the peer's global (or unique local) IPv6 address */
  address6: string
}

export interface BgpConfig {
  asn: number
  /** router id; this host's underlay address when absent */
  routerId?: number
  holdTime: number
  keepaliveTime: number
  connectRetryTime: number
  /** accept sessions from any address in these ranges (dynamic neighbours) */
  listenRanges: Prefix[]
  /** AS expected from dynamic neighbours (default: the fabric ASN) */
  listenRangeAsn?: number
  /** reflect routes between iBGP peers (RFC 4456); every iBGP peer is a client */
  routeReflector: boolean
  clusterId?: number
  /** install the learned routes in the kernel (false: a control-plane-only host; FIB sync wants nothing) */
  installRoutes: boolean
  /** prefixes accepted besides the pool */
  allow: Prefix[]
  /** longest prefix accepted */
  maxPrefixLength: number
  /** IPv6 prefixes accepted besides pool6 (MP-BGP IPv6 unicast, dual-stack hosts) */
  allow6: Prefix6[]
  /** longest IPv6 prefix accepted */
  maxPrefixLength6: number
  /** per-peer limit of accepted prefixes; over it the session is closed (Cease 1) */
  maxPrefixes: number
  /** TCP port to listen on and connect to */
  port: number
  /** listen for incoming sessions */
  listen: boolean
  /** graceful restart time advertised (RFC 4724), 0 = not advertised (and no helper mode) */
  gracefulRestartTime: number
  /** restarting side: seconds to wait for End-of-RIB from every peer before announcing and sweeping */
  gracefulRestartDeferral: number
  /** helper side: longest time a restarted peer's stale routes wait for its End-of-RIB, seconds */
  gracefulRestartStalepathTime: number
  /** BFD for the mesh peers, --peer peers, dynamic neighbours; the default of every [peer.NAME] */
  bfd: BfdConfig
  peers: BgpPeerConfig[]
  /** peers with an IPv6 address (IPv6 TCP sessions) */
  peers6: BgpPeer6Config[]
}

export const BGP_KEYS: Record<string, KeySpec> = {
  asn: { parse: v.asn, flag: 'asn', description: "the fabric's AS number (iBGP among fabric hosts)", default: String(DEFAULT_ASN) },
  'router-id': { parse: v.routerId, flag: 'router-id', description: 'BGP identifier', default: "this host's underlay address" },
  'hold-time': { parse: (s) => holdTime(s), flag: 'hold-time', description: 'hold time offered, seconds (0 or 3-65535)', default: '9' },
  'keepalive-time': { parse: (s) => v.seconds(s, 1, 21845), flag: 'keepalive-time', description: 'keepalive interval, seconds (hold/3 when hold is negotiated lower)', default: '3' },
  'connect-retry-time': { parse: (s) => v.seconds(s, 1, 65535), flag: 'connect-retry-time', description: 'seconds between connection attempts', default: '5' },
  'listen-range': { parse: (s) => v.list(s, v.prefix), flag: 'listen-range', description: 'accept sessions from any address in these CIDRs (comma-separated)', default: 'none' },
  'listen-range-asn': { parse: v.asn, flag: 'listen-range-asn', description: 'AS expected from dynamic neighbours', default: 'the fabric asn' },
  'route-reflector': { parse: v.bool, flag: 'route-reflector', description: 'act as route reflector for every iBGP peer (RFC 4456)', default: 'no' },
  'cluster-id': { parse: v.routerId, flag: 'cluster-id', description: 'route-reflector cluster id', default: 'the router id' },
  'install-routes': { parse: v.bool, flag: 'install-routes', description: "install the routes learned in this host's kernel; no: a control-plane-only host (a dedicated route reflector) that installs none and removes fabric's own", default: 'yes' },
  allow: { parse: (s) => v.list(s, v.prefix), flag: 'allow', description: 'prefixes accepted besides the pool (comma-separated CIDRs)', default: 'none' },
  'max-prefix-length': { parse: (s) => v.intIn(s, 1, 32, 'prefix length'), flag: 'max-prefix-length', description: 'longest prefix accepted', default: '32' },
  allow6: { parse: (s) => v.list(s, prefix6), flag: 'allow6', description: 'IPv6 prefixes accepted besides pool6 (comma-separated CIDRs; dual-stack hosts)', default: 'none' },
  'max-prefix-length6': { parse: (s) => v.intIn(s, 1, 128, 'prefix length'), flag: 'max-prefix-length6', description: 'longest IPv6 prefix accepted', default: '128' },
  'max-prefixes': { parse: (s) => v.intIn(s, 1, 100_000_000, 'count'), flag: 'max-prefixes', description: 'per-peer limit of accepted prefixes (Cease/Maximum Number of Prefixes Reached over it)', default: '100000' },
  port: { parse: (s) => v.intIn(s, 1, 65535, 'port'), flag: 'bgp-port', description: 'TCP port', default: '179' },
  listen: { parse: v.bool, flag: 'bgp-listen', description: 'accept incoming sessions', default: 'yes' },
  'graceful-restart-time': { parse: (s) => v.intIn(s, 0, 4095, 'seconds'), flag: 'graceful-restart-time', description: 'graceful restart time advertised (RFC 4724): how long peers keep our routes while we restart; 0 turns graceful restart off (also helper mode)', default: '120' },
  'graceful-restart-deferral': { parse: (s) => v.intIn(s, 1, 3600, 'seconds'), flag: 'graceful-restart-deferral', description: 'after a restart: longest wait for End-of-RIB from every peer before announcing and removing stale routes', default: '60' },
  'graceful-restart-stalepath-time': { parse: (s) => v.intIn(s, 1, 3600, 'seconds'), flag: 'graceful-restart-stalepath-time', description: "helper: longest wait for a restarted peer's End-of-RIB before its stale routes are removed", default: '360' },
  ...bfdKeys(''),
}

export const PEER_KEYS: Record<string, KeySpec> = {
  address: { parse: peerAddress, description: "the peer's address (IPv4, or IPv6 on a dual-stack host: a session over IPv6)" },
  asn: { parse: v.asn, description: "the peer's AS (eBGP when it differs from the fabric asn)", default: 'the fabric asn' },
  passive: { parse: v.bool, description: 'only accept the session, never connect', default: 'no' },
  'max-prefixes': { parse: (s) => v.intIn(s, 1, 100_000_000, 'count'), description: 'limit for this peer', default: '[bgp] max-prefixes' },
  'rr-client': { parse: v.bool, description: 'this peer is a route-reflector client (when route-reflector = yes every iBGP peer is)', default: 'no' },
  // BFD per peer; absent keys come from [bgp]
  ...Object.fromEntries(Object.entries(bfdKeys(undefined)).map(([k, spec]) => [k, { ...spec, default: `[bgp] ${k}` }])),
}

/** A peer's address: IPv4 (a number), or a global / unique-local IPv6 address (canonical text). */
function peerAddress(s: string): v.Parsed<number | string> {
  const t = s.trim()
  if (!t.includes(':')) return v.address(t)
  const r = canonicalAddress6(t)
  if (!r.ok) return { ok: false, error: `an IPv4 or IPv6 address (${r.error})` }
  const kind = classify6(r.value)
  if (kind !== 'global' && kind !== 'unique-local') return { ok: false, error: `a global or unique-local IPv6 address, not ${kind} (link-local peers are not supported: a session needs an address without a zone)` }
  return { ok: true, value: r.value }
}

/** `ADDRESS[@ASN]` with an IPv4 or IPv6 address (the --peer flag). */
function peerFlag(text: string): v.Parsed<{ address: number | string; asn?: number }> {
  const [a, n, ...rest] = text.trim().split('@')
  if (rest.length > 0 || a === undefined) return { ok: false, error: 'ADDRESS or ADDRESS@ASN' }
  const addr = peerAddress(a)
  if (!addr.ok) return { ok: false, error: `ADDRESS or ADDRESS@ASN (${addr.error})` }
  if (n === undefined) return { ok: true, value: { address: addr.value } }
  const as = v.asn(n)
  if (!as.ok) return { ok: false, error: `ADDRESS@ASN (${as.error})` }
  return { ok: true, value: { address: addr.value, asn: as.value } }
}

/** An IPv6 prefix in CIDR form (host bits zero), e.g. fd00:beef::/48. */
function prefix6(s: string): v.Parsed<Prefix6> {
  const r = parsePrefix6(s.trim())
  return r.ok ? { ok: true, value: r.value } : { ok: false, error: `an IPv6 prefix (${r.error})` }
}

function holdTime(s: string): v.Parsed<number> {
  const r = v.intIn(s, 0, 65535, 'seconds')
  if (!r.ok) return { ok: false, error: '0 or 3 to 65535 seconds' }
  if (r.value === 1 || r.value === 2) return { ok: false, error: '0 or 3 to 65535 seconds (RFC 4271: 1 and 2 are not allowed)' }
  return r
}

export interface BgpOverrides {
  [flag: string]: string | undefined
}

export function parseBgp(opts: {
  file: string
  bgpSection: IniSection | undefined
  peerSections: IniSection[]
  overrides: BgpOverrides
  /** repeatable --peer ADDRESS[@ASN] flags */
  peerFlags: string[]
  errors: ConfigError[]
}): BgpConfig {
  const { file, errors } = opts
  const values = readSection({ file, sectionName: 'bgp', section: opts.bgpSection, keys: BGP_KEYS, overrides: opts.overrides, errors })
  const fabricAsn = get(values, 'asn', DEFAULT_ASN)
  const hold = get<number>(values, 'hold-time', 9)
  const config: BgpConfig = {
    asn: fabricAsn,
    routerId: get<number | undefined>(values, 'router-id', undefined),
    holdTime: hold,
    keepaliveTime: get(values, 'keepalive-time', hold === 0 ? 0 : Math.min(3, Math.floor(hold / 3))),
    connectRetryTime: get(values, 'connect-retry-time', 5),
    listenRanges: get(values, 'listen-range', []),
    listenRangeAsn: get<number | undefined>(values, 'listen-range-asn', undefined),
    routeReflector: get(values, 'route-reflector', false),
    clusterId: get<number | undefined>(values, 'cluster-id', undefined),
    installRoutes: get(values, 'install-routes', true),
    allow: get(values, 'allow', []),
    maxPrefixLength: get(values, 'max-prefix-length', 32),
    allow6: get(values, 'allow6', []),
    maxPrefixLength6: get(values, 'max-prefix-length6', 128),
    maxPrefixes: get(values, 'max-prefixes', 100_000),
    port: get(values, 'port', 179),
    listen: get(values, 'listen', true),
    gracefulRestartTime: get(values, 'graceful-restart-time', 120),
    gracefulRestartDeferral: get(values, 'graceful-restart-deferral', 60),
    gracefulRestartStalepathTime: get(values, 'graceful-restart-stalepath-time', 360),
    bfd: bfdFromValues({ file, sectionName: 'bgp', values, errors }),
    peers: [],
    peers6: [],
  }
  if (config.holdTime > 0 && config.keepaliveTime * 3 > config.holdTime) {
    const w = values.get('keepalive-time')?.where ?? values.get('hold-time')?.where ?? file
    errors.push(new ConfigError({ where: w, section: 'bgp', key: 'keepalive-time', value: String(config.keepaliveTime), expected: `at most a third of hold-time (${config.holdTime} s)` }))
  }
  const byAddress = new Map<number | string, string>()
  for (const section of opts.peerSections) {
    const name = section.name.slice('peer.'.length)
    const where = `${file}:${section.line}`
    const pv = readSection({ file, sectionName: section.name, section, keys: PEER_KEYS, overrides: {}, errors })
    const address = pv.get('address')
    if (address === undefined) {
      if (!section.entries.has('address')) errors.push(new ConfigError({ where, section: section.name, key: 'address', expected: "required: the peer's address" }))
      continue
    }
    const a = address.value as number | string
    if (byAddress.has(a)) {
      errors.push(new ConfigError({ where: address.where, section: section.name, key: 'address', value: typeof a === 'string' ? a : formatAddress(a), expected: `a unique peer address; ${byAddress.get(a)} already uses it` }))
      continue
    }
    byAddress.set(a, `[peer.${name}]`)
    const peer = {
      name, asn: get(pv, 'asn', fabricAsn), passive: get(pv, 'passive', false),
      maxPrefixes: get<number | undefined>(pv, 'max-prefixes', undefined), rrClient: get(pv, 'rr-client', false), where: address.where,
      bfd: bfdFromValues({ file, sectionName: section.name, values: pv, base: config.bfd, errors }),
    }
    if (typeof a === 'string') config.peers6.push({ ...peer, address6: a })
    else config.peers.push({ ...peer, address: a })
  }
  for (const text of opts.peerFlags) {
    const r = peerFlag(text)
    if (!r.ok) {
      errors.push(new ConfigError({ where: '--peer (or FABRIC_PEER)', key: 'peer', value: text, expected: r.error }))
      continue
    }
    const prev = byAddress.get(r.value.address)
    if (prev !== undefined) {
      errors.push(new ConfigError({ where: '--peer (or FABRIC_PEER)', key: 'peer', value: text, expected: `a peer not already configured (${prev})` }))
      continue
    }
    byAddress.set(r.value.address, `--peer ${text}`)
    const a = r.value.address
    const peer = { asn: r.value.asn ?? fabricAsn, passive: false, rrClient: false, where: '--peer', bfd: config.bfd }
    if (typeof a === 'string') config.peers6.push({ ...peer, name: a, address6: a })
    else config.peers.push({ ...peer, name: formatAddress(a), address: a })
  }
  return config
}
