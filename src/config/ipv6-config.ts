/**
 * IPv6 keys of fabric.ini and their flags: `[fabric] pool6`, `host-prefix6`,
 * `[host.NAME] address6`, `subnet6`, `--subnet6`, `--address6`. Without
 * pool6 the fabric is IPv4-only and no other IPv6 key may be given.
 *
 * Refused, each naming file:line (or the flag), section, key and value:
 *   pool6        not a prefix, host bits set, shorter than /8 or longer
 *                than /120, or overlapping a block that is not unicast
 *                for containers: ::/8 (::, ::1, IPv4-mapped and
 *                -compatible), fe80::/10 (link-local), ff00::/8 (multicast)
 *   host-prefix6 not 48..120, or shorter than pool6's length
 *   subnet6      not a prefix, host bits set, outside pool6, not a
 *                /host-prefix6, overlapping another host's subnet6
 *   address6     not an address, not global or unique-local unicast
 *                (::, ::1, link-local, multicast, IPv4-mapped, anything in
 *                ::/8), inside pool6, another host's address6
 *   any of them  given without pool6 (IPv6 is off)
 *   mode static  with pool6, every [host.*] needs address6 and subnet6: the
 *                fabric.ini is the whole routing table, so a host without
 *                subnet6 would have no IPv6 containers anyone routes to and
 *                one without address6 no next hop; a dual-stack fabric is
 *                all hosts or none (rip/bgp hosts announce their own)
 */
import {
  type Prefix6, classify6, containsAddress6, containsPrefix6, formatIpv6, formatPrefix6, overlaps6, parseAddress6, parsePrefix6,
} from '../net/ipv6.js'
import { ConfigError } from './errors.js'
import type { IniSection } from './ini.js'

/** Accepted lengths of `[fabric] host-prefix6`. */
export const HOST_PREFIX6_MIN = 48
export const HOST_PREFIX6_MAX = 120
/** Accepted lengths of `[fabric] pool6`. */
export const POOL6_MIN_LEN = 8
export const POOL6_MAX_LEN = 120

/** Blocks a pool6 may not overlap, with why. */
const NOT_FOR_POOLS: readonly { block: Prefix6; why: string }[] = [
  { block: { addr: '::', len: 8 }, why: 'the reserved ::/8 (unspecified ::, loopback ::1, IPv4-mapped ::ffff:0:0/96)' },
  { block: { addr: 'fe80::', len: 10 }, why: 'link-local fe80::/10' },
  { block: { addr: 'ff00::', len: 8 }, why: 'multicast ff00::/8' },
]

const CLASS_TEXT: Record<string, string> = {
  unspecified: 'the unspecified address ::', loopback: 'the loopback ::1', multicast: 'a multicast address (ff00::/8)',
  'link-local': 'a link-local address (fe80::/10)', 'ipv4-mapped': 'an IPv4-mapped address (::ffff:0:0/96)',
}

/** A value and where it was given (file:line, or the flag). */
export interface Located6 {
  value: string
  where: string
  section?: string
  key: string
}

export interface Ipv6Host {
  name: string
  section: IniSection
}

export interface Ipv6Input {
  file: string
  mode: string
  pool6?: Located6
  hostPrefix6?: Located6
  /** every [host.NAME] section (also those whose IPv4 keys were refused, so their IPv6 keys are checked too) */
  hosts: readonly Ipv6Host[]
  /** --subnet6, --address6 */
  subnet6?: string
  address6?: string
  errors: ConfigError[]
  defaultHostPrefix6: number
}

export interface Ipv6Config {
  pool6?: Prefix6
  hostPrefix6: number
  /** --subnet6 */
  subnet6?: Prefix6
  /** --address6 (RFC 5952 text) */
  address6?: string
  /** per host name */
  hosts: Map<string, { address6?: string; subnet6?: Prefix6 }>
}

/** A pool6 value: a unicast prefix /8../120 overlapping none of the non-unicast blocks. */
export function parsePool6(text: string): { ok: true; value: Prefix6 } | { ok: false; error: string } {
  const p = parsePrefix6(text.trim())
  if (!p.ok) return p
  if (p.value.len < POOL6_MIN_LEN || p.value.len > POOL6_MAX_LEN) {
    return { ok: false, error: `an IPv6 pool length between /${POOL6_MIN_LEN} and /${POOL6_MAX_LEN} (usually /48 or /56, e.g. fd00:fab::/48)` }
  }
  for (const b of NOT_FOR_POOLS) {
    if (overlaps6(p.value, b.block)) return { ok: false, error: `a unicast prefix for containers (global or unique-local, e.g. fd00:fab::/48), not one overlapping ${b.why}` }
  }
  return p
}

/** An address6 value: global or unique-local unicast, canonical (RFC 5952) text. */
export function parseHostAddress6(text: string): { ok: true; value: string } | { ok: false; error: string } {
  const a = parseAddress6(text)
  if (!a.ok) return a
  const cls = classify6(a.value)
  if (cls !== 'global' && cls !== 'unique-local') {
    return { ok: false, error: `a global or unique-local unicast underlay address, not ${CLASS_TEXT[cls]}` }
  }
  if (containsAddress6({ addr: '::', len: 8 }, a.value)) return { ok: false, error: 'a global or unique-local unicast underlay address, not one in the reserved ::/8 (IPv4-compatible and other reserved forms)' }
  return { ok: true, value: formatIpv6(a.value) }
}

/** host-prefix6: 48..120, optionally written with a slash. */
export function parseHostPrefix6(text: string): { ok: true; value: number } | { ok: false; error: string } {
  const t = text.trim()
  const n = /^\/?\d{1,3}$/.test(t) ? Number(t.replace('/', '')) : NaN
  if (!(n >= HOST_PREFIX6_MIN && n <= HOST_PREFIX6_MAX)) return { ok: false, error: `a prefix length from ${HOST_PREFIX6_MIN} to ${HOST_PREFIX6_MAX} (usually 64)` }
  return { ok: true, value: n }
}

/** Validates every IPv6 key; errors are pushed, invalid values left out. */
export function parseIpv6Config(i: Ipv6Input): Ipv6Config {
  const { errors } = i
  const fail = (loc: Located6, expected: string): void => {
    errors.push(new ConfigError({ where: loc.where, section: loc.section, key: loc.key, value: loc.value, expected }))
  }
  const out: Ipv6Config = { hostPrefix6: i.defaultHostPrefix6, hosts: new Map() }
  let pool6: Prefix6 | undefined
  if (i.pool6 !== undefined) {
    const p = parsePool6(i.pool6.value)
    if (!p.ok) fail(i.pool6, p.error)
    else pool6 = p.value
  }
  const noPool = (loc: Located6): void => fail(loc, 'given without [fabric] pool6 (or --pool6): IPv6 is off; set pool6, e.g. fd00:fab::/48, or remove this key')
  if (i.hostPrefix6 !== undefined) {
    const n = parseHostPrefix6(i.hostPrefix6.value)
    if (!n.ok) fail(i.hostPrefix6, n.error)
    else if (i.pool6 === undefined) noPool(i.hostPrefix6)
    else {
      out.hostPrefix6 = n.value
      if (pool6 !== undefined && n.value < pool6.len) fail(i.hostPrefix6, `a length >= pool6's /${pool6.len} (host subnets are cut from ${formatPrefix6(pool6)})`)
    }
  } else if (pool6 !== undefined && out.hostPrefix6 < pool6.len) {
    fail({ value: String(out.hostPrefix6), where: i.file, section: 'fabric', key: 'host-prefix6' }, `a length >= pool6's /${pool6.len}: the default /${out.hostPrefix6} is shorter; set host-prefix6`)
  }
  const hp6 = out.hostPrefix6
  const subnetProblem = (s: Prefix6): string | undefined => {
    if (pool6 !== undefined && !containsPrefix6(pool6, s)) return `a subnet inside pool6 ${formatPrefix6(pool6)}`
    if (s.len !== hp6) return `a /${hp6} (host-prefix6), not a /${s.len}`
    return undefined
  }
  const addressProblem = (a: string): string | undefined => {
    if (pool6 !== undefined && containsAddress6(pool6, a)) return `an underlay address outside pool6 ${formatPrefix6(pool6)} (the container subnets would overlap the underlay network)`
    return undefined
  }

  // [host.NAME] address6 / subnet6
  const byAddress = new Map<string, string>()
  const subnets: { host: string; subnet: Prefix6 }[] = []
  for (const h of i.hosts) {
    const loc = (key: string): Located6 | undefined => {
      const e = h.section.entries.get(key)
      return e === undefined ? undefined : { value: e.value, where: `${i.file}:${e.line}`, section: h.section.name, key }
    }
    const mine: { address6?: string; subnet6?: Prefix6 } = {}
    const aLoc = loc('address6')
    const sLoc = loc('subnet6')
    if (aLoc !== undefined) {
      const a = parseHostAddress6(aLoc.value)
      if (!a.ok) fail(aLoc, a.error)
      else if (i.pool6 === undefined) noPool(aLoc)
      else if (addressProblem(a.value)) fail(aLoc, addressProblem(a.value)!)
      else if (byAddress.has(a.value)) fail(aLoc, `a unique address6; host "${byAddress.get(a.value)}" already uses ${a.value}`)
      else {
        mine.address6 = a.value
        byAddress.set(a.value, h.name)
      }
    }
    if (sLoc !== undefined) {
      const s = parsePrefix6(sLoc.value.trim())
      if (!s.ok) fail(sLoc, s.error)
      else if (i.pool6 === undefined) noPool(sLoc)
      else if (subnetProblem(s.value)) fail(sLoc, subnetProblem(s.value)!)
      else {
        const clash = subnets.find((o) => overlaps6(o.subnet, s.value))
        if (clash) fail(sLoc, `a subnet6 that overlaps no other host's; host "${clash.host}" has ${formatPrefix6(clash.subnet)}`)
        else {
          mine.subnet6 = s.value
          subnets.push({ host: h.name, subnet: s.value })
        }
      }
    }
    if (i.pool6 !== undefined && i.mode === 'static') {
      const where = `${i.file}:${h.section.line}`
      const why = 'in mode static with [fabric] pool6 every host is dual-stack: fabric.ini is the whole IPv6 routing table'
      if (aLoc === undefined) errors.push(new ConfigError({ where, section: h.section.name, key: 'address6', expected: `required: the host's underlay IPv6 address, the next hop of its IPv6 route (${why})` }))
      if (sLoc === undefined) errors.push(new ConfigError({ where, section: h.section.name, key: 'subnet6', expected: `required: the host's IPv6 container subnet, a /${hp6} inside pool6 (${why})` }))
    }
    out.hosts.set(h.name, mine)
  }

  // --subnet6 / --address6
  if (i.subnet6 !== undefined) {
    const loc: Located6 = { value: i.subnet6, where: '--subnet6 (or FABRIC_SUBNET6)', key: 'subnet6' }
    const s = parsePrefix6(i.subnet6.trim())
    if (!s.ok) fail(loc, s.error)
    else if (i.pool6 === undefined) noPool(loc)
    else if (subnetProblem(s.value)) fail(loc, subnetProblem(s.value)!)
    else out.subnet6 = s.value
  }
  if (i.address6 !== undefined) {
    const loc: Located6 = { value: i.address6, where: '--address6 (or FABRIC_ADDRESS6)', key: 'address6' }
    const a = parseHostAddress6(i.address6)
    if (!a.ok) fail(loc, a.error)
    else if (i.pool6 === undefined) noPool(loc)
    else if (addressProblem(a.value)) fail(loc, addressProblem(a.value)!)
    else out.address6 = a.value
  }
  out.pool6 = pool6
  return out
}
