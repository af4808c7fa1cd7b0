/**
 * IPv4 addresses and prefixes as plain numbers: an address is an unsigned
 * 32-bit integer, a prefix is {addr, len} with the host bits zero. Hot paths
 * and edges (config, CLI) alike use these (docs/architecture.md,
 * "Libraries": why not ip-cidr).
 */
import { type Result, err, ok } from '../util/result.js'
import { quoted } from '../util/text.js'

export interface Prefix {
  /** network address, host bits zero, as uint32 */
  readonly addr: number
  /** prefix length 0..32 */
  readonly len: number
}

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

/** Parses a dotted-quad IPv4 address; no leading zeros, no shorthand. */
export function parseAddress(text: string): Result<number, string> {
  const m = DOTTED.exec(text.trim())
  if (!m) return err(`${quoted(text)} is not an IPv4 address (expected a.b.c.d)`)
  let value = 0
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!
    if (part.length > 1 && part.startsWith('0')) return err(`${quoted(text)} is not an IPv4 address (leading zero in ${quoted(part)})`)
    const octet = Number(part)
    if (octet > 255) return err(`${quoted(text)} is not an IPv4 address (octet ${part} > 255)`)
    value = value * 256 + octet
  }
  return ok(value >>> 0)
}

export function formatAddress(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`
}

/** Network mask for a prefix length, as uint32. */
export function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0
}

/** Builds a prefix, zeroing host bits. */
export function prefix(addr: number, len: number): Prefix {
  return { addr: (addr & maskOf(len)) >>> 0, len }
}

/**
 * Parses "a.b.c.d/len". With strict (default) the host bits must be zero,
 * as an operator who typed 10.1.2.3/24 most likely made a mistake.
 */
export function parsePrefix(text: string, strict = true): Result<Prefix, string> {
  const slash = text.indexOf('/')
  if (slash < 0) return err(`${quoted(text)} is not a CIDR prefix (expected a.b.c.d/len)`)
  const a = parseAddress(text.slice(0, slash))
  if (!a.ok) return err(`${quoted(text)} is not a CIDR prefix: ${a.error}`)
  const lenText = text.slice(slash + 1).trim()
  if (!/^\d{1,2}$/.test(lenText) || Number(lenText) > 32) return err(`${quoted(text)} is not a CIDR prefix (length must be 0..32)`)
  const len = Number(lenText)
  const p = prefix(a.value, len)
  if (strict && p.addr !== a.value) {
    return err(`${quoted(text)} has host bits set (did you mean ${formatPrefix(p)}?)`)
  }
  return ok(p)
}

export function formatPrefix(p: Prefix): string {
  return `${formatAddress(p.addr)}/${p.len}`
}

/** A stable string key for maps (the CIDR text). */
export function prefixKey(p: Prefix): string {
  return formatPrefix(p)
}

export function containsAddress(p: Prefix, addr: number): boolean {
  return ((addr & maskOf(p.len)) >>> 0) === p.addr
}

/** True when `inner` is equal to or more specific than `outer` and inside it. */
export function containsPrefix(outer: Prefix, inner: Prefix): boolean {
  return inner.len >= outer.len && containsAddress(outer, inner.addr)
}

export function overlaps(a: Prefix, b: Prefix): boolean {
  return containsPrefix(a, b) || containsPrefix(b, a)
}

/** First usable host address of a prefix (the gateway docker0 takes). */
export function firstHost(p: Prefix): number {
  return p.len >= 31 ? p.addr : (p.addr + 1) >>> 0
}

/**
 * Martian destinations a routing protocol must never install
 * (0/8, 127/8, 169.254/16, 224/4 multicast, 240/4 reserved, broadcast).
 */
export function isMartian(p: Prefix): boolean {
  const first = p.addr >>> 24
  if (p.len === 0) return false
  return first === 0 || first === 127 || first >= 224 || ((p.addr >>> 16) === 0xa9fe)
}
