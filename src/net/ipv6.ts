/**
 * IPv6 addresses and prefixes, the one implementation in fabric.
 *
 * An address is 16 bytes (Uint8Array/Buffer) for math and the RFC 5952
 * canonical text for keys and display; a prefix is Prefix6 {addr, len} with
 * addr the canonical text of the network address (host bits zero) and len
 * 0..128 (the shape the BGP codec already uses). IPv6 tables in fabric are
 * small (a subnet per host), so string keys are fine.
 *
 * Text accepted (RFC 4291 2.2): full and "::"-compressed forms, hex groups of
 * 1-4 digits in either case, a trailing embedded IPv4 dotted quad
 * (::ffff:192.0.2.1, 64:ff9b::10.0.0.1). Not accepted: zone ids ("%eth0"),
 * brackets, leading/trailing single colons, groups over 4 digits.
 * Text produced (RFC 5952 4): lowercase, no leading zeros, the longest run
 * of two or more zero groups compressed (the first of equal runs), and
 * IPv4-mapped addresses (::ffff:0:0/96) in mixed notation (RFC 5952 5).
 */
import { type Result, err, ok } from '../util/result.js'

/** An IPv6 prefix; addr is the RFC 5952 text form with host bits zero. */
export interface Prefix6 {
  readonly addr: string
  readonly len: number
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/
const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

function parseGroups(side: string, last: boolean): number[] | string {
  if (side === '') return []
  const out: number[] = []
  const parts = side.split(':')
  for (let i = 0; i < parts.length; i++) {
    const g = parts[i]!
    if (last && i === parts.length - 1 && g.includes('.')) {
      const m = DOTTED.exec(g)
      if (!m) return `embedded IPv4 "${g}" is not a dotted quad`
      const octets = m.slice(1, 5).map((o) => (o.length > 1 && o.startsWith('0') ? NaN : Number(o)))
      if (octets.some((o) => !(o >= 0 && o <= 255))) return `embedded IPv4 "${g}" has an octet outside 0..255 or a leading zero`
      out.push((octets[0]! << 8) | octets[1]!, (octets[2]! << 8) | octets[3]!)
      continue
    }
    if (!HEX_GROUP.test(g)) return g === '' ? 'empty group (a single ":" where "::" or a group was expected)' : `group "${g}" is not 1-4 hex digits`
    out.push(parseInt(g, 16))
  }
  return out
}

/** Parses IPv6 text to 16 bytes; the error names what is wrong. */
export function parseAddress6(text: string): Result<Buffer, string> {
  const s = text.trim()
  const bad = (why: string) => err(`"${text}" is not an IPv6 address (${why})`)
  if (s.length === 0) return bad('empty')
  if (s.length > 45) return bad('too long')
  if (s.includes('%')) return bad('zone ids ("%eth0") are not accepted; name the interface separately')
  const halves = s.split('::')
  if (halves.length > 2) return bad('"::" appears more than once')
  const head = parseGroups(halves[0]!, halves.length === 1)
  if (typeof head === 'string') return bad(head)
  const tail = halves.length === 2 ? parseGroups(halves[1]!, true) : []
  if (typeof tail === 'string') return bad(tail)
  const fill = 8 - head.length - tail.length
  if (halves.length === 2 ? fill < 1 : fill !== 0) {
    return bad(halves.length === 2 ? `"::" with ${head.length + tail.length} groups around it stands for no group` : `${head.length} groups, expected 8`)
  }
  const buf = Buffer.alloc(16)
  head.forEach((g, i) => {
    buf.writeUInt16BE(g, i * 2)
  })
  tail.forEach((g, i) => {
    buf.writeUInt16BE(g, (8 - tail.length + i) * 2)
  })
  return ok(buf)
}

/** Parses IPv6 text to 16 bytes; undefined when invalid (the BGP codec's signature). */
export function parseIpv6(text: string): Buffer | undefined {
  const r = parseAddress6(text)
  return r.ok ? r.value : undefined
}

/** Formats 16 bytes as RFC 5952 text. */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0))
  // RFC 5952 5: IPv4-mapped addresses keep the dotted quad
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${bytes[12] ?? 0}.${bytes[13] ?? 0}.${bytes[14] ?? 0}.${bytes[15] ?? 0}`
  }
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}

/** The canonical (RFC 5952) text of an address given in any accepted form. */
export function canonicalAddress6(text: string): Result<string, string> {
  const r = parseAddress6(text)
  return r.ok ? ok(formatIpv6(r.value)) : r
}

/** Bytes of an address already known to be valid (canonical text from this module); all zero otherwise. */
export function bytesOf6(addr: string): Buffer {
  return parseIpv6(addr) ?? Buffer.alloc(16)
}

/** 16-byte network mask for a prefix length. */
export function maskOf6(len: number): Buffer {
  const m = Buffer.alloc(16)
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, len - i * 8))
    m[i] = bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff
  }
  return m
}

/** Copies `bytes` with every bit beyond `len` cleared. */
export function maskBytes6(bytes: Uint8Array, len: number): Buffer {
  const out = Buffer.alloc(16)
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, len - i * 8))
    out[i] = bits === 0 ? 0 : (bytes[i] ?? 0) & ((0xff << (8 - bits)) & 0xff)
  }
  return out
}

/** True when any bit beyond `len` is set. */
export function hasHostBits6(bytes: Uint8Array, len: number): boolean {
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, len - i * 8))
    const hostMask = bits === 0 ? 0xff : ~(0xff << (8 - bits)) & 0xff
    if (((bytes[i] ?? 0) & hostMask) !== 0) return true
  }
  return false
}

/** Builds a prefix from address bytes, zeroing host bits. */
export function prefix6(bytes: Uint8Array, len: number): Prefix6 {
  return { addr: formatIpv6(maskBytes6(bytes, len)), len }
}

/** Parses "addr/len" (len 0..128). With strict (default) the host bits must be zero. */
export function parsePrefix6(text: string, strict = true): Result<Prefix6, string> {
  const slash = text.indexOf('/')
  if (slash < 0) return err(`"${text}" is not an IPv6 prefix (expected address/len, e.g. fd00:fab::/48)`)
  const a = parseAddress6(text.slice(0, slash))
  if (!a.ok) return err(`"${text}" is not an IPv6 prefix: ${a.error}`)
  const lenText = text.slice(slash + 1).trim()
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > 128 || (lenText.length > 1 && lenText.startsWith('0'))) {
    return err(`"${text}" is not an IPv6 prefix (length must be 0..128)`)
  }
  const len = Number(lenText)
  const p = prefix6(a.value, len)
  if (strict && hasHostBits6(a.value, len)) return err(`"${text}" has host bits set (did you mean ${formatPrefix6(p)}?)`)
  return ok(p)
}

export function formatPrefix6(p: Prefix6): string {
  return `${p.addr}/${p.len}`
}

/** A stable string key for maps (the canonical CIDR text). */
export function prefixKey6(p: Prefix6): string {
  return `${p.addr}/${p.len}`
}

export function samePrefix6(a: Prefix6, b: Prefix6): boolean {
  return a.len === b.len && a.addr === b.addr
}

function prefixBitsEqual(a: Uint8Array, b: Uint8Array, len: number): boolean {
  const whole = len >> 3
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false
  const rest = len & 7
  if (rest === 0) return true
  const m = (0xff << (8 - rest)) & 0xff
  return ((a[whole] ?? 0) & m) === ((b[whole] ?? 0) & m)
}

/** True when the address (bytes or text) is inside the prefix. */
export function containsAddress6(p: Prefix6, addr: Uint8Array | string): boolean {
  const a = typeof addr === 'string' ? parseIpv6(addr) : addr
  if (!a) return false
  return prefixBitsEqual(bytesOf6(p.addr), a, p.len)
}

/** True when `inner` is equal to or more specific than `outer` and inside it. */
export function containsPrefix6(outer: Prefix6, inner: Prefix6): boolean {
  return inner.len >= outer.len && prefixBitsEqual(bytesOf6(outer.addr), bytesOf6(inner.addr), outer.len)
}

export function overlaps6(a: Prefix6, b: Prefix6): boolean {
  return containsPrefix6(a, b) || containsPrefix6(b, a)
}

// ---- classification (RFC 4291 2.4, RFC 4193) --------------------------------

function bytesArg(addr: Uint8Array | string): Uint8Array | undefined {
  return typeof addr === 'string' ? parseIpv6(addr) : addr
}

/** :: */
export function isUnspecified6(addr: Uint8Array | string): boolean {
  const b = bytesArg(addr)
  return b?.every((x) => x === 0) ?? false
}

/** ::1 */
export function isLoopback6(addr: Uint8Array | string): boolean {
  const b = bytesArg(addr)
  if (!b) return false
  for (let i = 0; i < 15; i++) if (b[i] !== 0) return false
  return b[15] === 1
}

/** ff00::/8 */
export function isMulticast6(addr: Uint8Array | string): boolean {
  const b = bytesArg(addr)
  return b !== undefined && b[0] === 0xff
}

/** fe80::/10 (link-local unicast) */
export function isLinkLocal6(addr: Uint8Array | string): boolean {
  const b = bytesArg(addr)
  return b !== undefined && b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80
}

/** fc00::/7 (unique local, RFC 4193) */
export function isUniqueLocal6(addr: Uint8Array | string): boolean {
  const b = bytesArg(addr)
  return b !== undefined && ((b[0] ?? 0) & 0xfe) === 0xfc
}

/** ::ffff:0:0/96 (IPv4-mapped) */
export function isIpv4Mapped6(addr: Uint8Array | string): boolean {
  const b = bytesArg(addr)
  if (!b) return false
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false
  return b[10] === 0xff && b[11] === 0xff
}

export type AddressClass6 = 'unspecified' | 'loopback' | 'multicast' | 'link-local' | 'ipv4-mapped' | 'unique-local' | 'global'

export function classify6(addr: Uint8Array | string): AddressClass6 {
  if (isUnspecified6(addr)) return 'unspecified'
  if (isLoopback6(addr)) return 'loopback'
  if (isMulticast6(addr)) return 'multicast'
  if (isLinkLocal6(addr)) return 'link-local'
  if (isIpv4Mapped6(addr)) return 'ipv4-mapped'
  if (isUniqueLocal6(addr)) return 'unique-local'
  return 'global'
}

/**
 * Destinations a routing protocol must never install: ::/128, ::1/128,
 * anything inside ff00::/8 (multicast), fe80::/10 (link-local) or
 * ::ffff:0:0/96 (IPv4-mapped). The default route ::/0 is not a martian
 * (policy decides on it).
 */
export function isMartian6(p: Prefix6): boolean {
  if (p.len === 0) return false
  const b = bytesOf6(p.addr)
  if (p.len >= 8 && b[0] === 0xff) return true
  if (p.len >= 10 && isLinkLocal6(b)) return true
  if (p.len >= 96 && isIpv4Mapped6(b)) return true
  if (p.len === 128 && (isUnspecified6(b) || isLoopback6(b))) return true
  return false
}

// ---- next hops --------------------------------------------------------------

export type NextHopProblem6 = 'not-unicast' | 'not-on-underlay' | 'own-address' | 'inside-pool' | 'ipv4-mapped'

export interface NextHopScope6 {
  /** this host's global underlay prefix (undefined: only link-local next hops are acceptable) */
  readonly underlay?: Prefix6
  /** this host's own addresses on the underlay (global and link-local), canonical text */
  readonly self: readonly string[]
  /** IPv6 container pools (pool6): a next hop there faces a container */
  readonly pools?: readonly Prefix6[]
}

export const NEXT_HOP_PROBLEM_TEXT6: Record<NextHopProblem6, string> = {
  'not-unicast': 'not a unicast address (::, ::1 or multicast)',
  'not-on-underlay': 'a global address not on the underlay prefix',
  'own-address': "this host's own address",
  'inside-pool': 'inside the IPv6 container pool (a container, not a host)',
  'ipv4-mapped': 'an IPv4-mapped address',
}

/**
 * The IPv6 counterpart of net/next-hop.ts: undefined when `addr` may be a
 * learned route's next hop. Link-local next hops (fe80::/10) are acceptable
 * (RIPng and MP-BGP use them; the caller knows they are on the underlay
 * interface because that is where it heard them); global (and ULA) ones must
 * be on the underlay prefix. Never inside pool6, never ::, ::1, multicast,
 * IPv4-mapped, or this host's own address. IPv6 has no broadcast address,
 * and the subnet-router anycast address (host bits zero) is accepted
 * (RFC 4291 2.6.1: any router on the link answers it).
 */
export function nextHopProblem6(addr: Uint8Array | string, scope: NextHopScope6): NextHopProblem6 | undefined {
  const b = bytesArg(addr)
  if (b?.length !== 16) return 'not-unicast'
  if (isUnspecified6(b) || isLoopback6(b) || isMulticast6(b)) return 'not-unicast'
  if (isIpv4Mapped6(b)) return 'ipv4-mapped'
  const text = typeof addr === 'string' && addr === formatIpv6(b) ? addr : formatIpv6(b)
  if (scope.self.includes(text)) return 'own-address'
  if (isLinkLocal6(b)) return undefined
  for (const p of scope.pools ?? []) if (containsAddress6(p, b)) return 'inside-pool'
  if (!scope.underlay || !containsAddress6(scope.underlay, b)) return 'not-on-underlay'
  return undefined
}

// ---- a small prefix-keyed map -------------------------------------------------

/** A map keyed by IPv6 prefix (string keys: IPv6 tables in fabric are small). */
export class PrefixMap6<V> {
  readonly #map = new Map<string, { prefix: Prefix6; value: V }>()

  get size(): number {
    return this.#map.size
  }
  get(p: Prefix6): V | undefined {
    return this.#map.get(prefixKey6(p))?.value
  }
  has(p: Prefix6): boolean {
    return this.#map.has(prefixKey6(p))
  }
  set(p: Prefix6, value: V): void {
    this.#map.set(prefixKey6(p), { prefix: p, value })
  }
  delete(p: Prefix6): boolean {
    return this.#map.delete(prefixKey6(p))
  }
  clear(): void {
    this.#map.clear()
  }
  *values(): Generator<V> {
    for (const e of this.#map.values()) yield e.value
  }
  *entries(): Generator<[Prefix6, V]> {
    for (const e of this.#map.values()) yield [e.prefix, e.value]
  }
  /** The most specific prefix containing `addr`, O(entries). */
  lookup(addr: Uint8Array | string): [Prefix6, V] | undefined {
    const b = bytesArg(addr)
    if (!b) return undefined
    let best: { prefix: Prefix6; value: V } | undefined
    for (const e of this.#map.values()) {
      if ((best === undefined || e.prefix.len > best.prefix.len) && containsAddress6(e.prefix, b)) best = e
    }
    return best ? [best.prefix, best.value] : undefined
  }
}
