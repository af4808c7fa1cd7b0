/** NLRI prefix encoding (RFC 4271 section 4.3, RFC 4760 section 5) and IPv6 text helpers. */
import { type Prefix, prefix } from '../../../net/ipv4.js'
import type { Prefix6 } from './types.js'

/** Formats 16 bytes as RFC 5952 text (lowercase, longest zero run compressed). */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0))
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}

/** Parses IPv6 text (no zone, no embedded IPv4) to 16 bytes; undefined when invalid. */
export function parseIpv6(text: string): Buffer | undefined {
  const parts = text.split('::')
  if (parts.length > 2) return undefined
  const side = (s: string): number[] | undefined => {
    if (s === '') return []
    const out: number[] = []
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
      out.push(parseInt(g, 16))
    }
    return out
  }
  const head = side(parts[0]!)
  const tail = parts.length === 2 ? side(parts[1]!) : []
  if (!head || !tail) return undefined
  const fill = 8 - head.length - tail.length
  if (parts.length === 2 ? fill < 1 : fill !== 0) return undefined
  const groups = [...head, ...new Array<number>(fill).fill(0), ...tail]
  const buf = Buffer.alloc(16)
  groups.forEach((g, i) => buf.writeUInt16BE(g, i * 2))
  return buf
}

export type NlriResult<P> = { ok: true; prefixes: P[] } | { ok: false; message: string }

/** Decodes a run of IPv4 <len, prefix> pairs filling exactly buf[start, end). */
export function decodeIpv4Prefixes(buf: Buffer, start: number, end: number): NlriResult<Prefix> {
  const prefixes: Prefix[] = []
  let pos = start
  while (pos < end) {
    const len = buf[pos]!
    if (len > 32) return { ok: false, message: `prefix length ${len} > 32 at offset ${pos}` }
    const bytes = (len + 7) >> 3
    if (pos + 1 + bytes > end) return { ok: false, message: `prefix /${len} at offset ${pos} needs ${bytes} octets, ${end - pos - 1} left` }
    let addr = 0
    for (let i = 0; i < 4; i++) addr = addr * 256 + (i < bytes ? buf[pos + 1 + i]! : 0)
    // trailing bits beyond the length are ignored (RFC 4271: "irrelevant")
    prefixes.push(prefix(addr, len))
    pos += 1 + bytes
  }
  return { ok: true, prefixes }
}

export function decodeIpv6Prefixes(buf: Buffer, start: number, end: number): NlriResult<Prefix6> {
  const prefixes: Prefix6[] = []
  let pos = start
  while (pos < end) {
    const len = buf[pos]!
    if (len > 128) return { ok: false, message: `IPv6 prefix length ${len} > 128 at offset ${pos}` }
    const bytes = (len + 7) >> 3
    if (pos + 1 + bytes > end) return { ok: false, message: `IPv6 prefix /${len} at offset ${pos} needs ${bytes} octets, ${end - pos - 1} left` }
    const addr = Buffer.alloc(16)
    buf.copy(addr, 0, pos + 1, pos + 1 + bytes)
    if (len % 8 !== 0) addr[bytes - 1] = addr[bytes - 1]! & ((0xff << (8 - (len % 8))) & 0xff)
    prefixes.push({ addr: formatIpv6(addr), len })
    pos += 1 + bytes
  }
  return { ok: true, prefixes }
}

export function ipv4PrefixLength(p: Prefix): number {
  return 1 + ((p.len + 7) >> 3)
}

export function writeIpv4Prefix(buf: Buffer, pos: number, p: Prefix): number {
  buf[pos++] = p.len
  const bytes = (p.len + 7) >> 3
  for (let i = 0; i < bytes; i++) buf[pos++] = (p.addr >>> (24 - 8 * i)) & 0xff
  return pos
}

export function encodeIpv4Prefixes(prefixes: readonly Prefix[]): Buffer {
  let size = 0
  for (const p of prefixes) size += ipv4PrefixLength(p)
  const buf = Buffer.alloc(size)
  let pos = 0
  for (const p of prefixes) pos = writeIpv4Prefix(buf, pos, p)
  return buf
}

export function encodeIpv6Prefixes(prefixes: readonly Prefix6[]): Buffer {
  const parts: Buffer[] = []
  for (const p of prefixes) {
    const addr = parseIpv6(p.addr) ?? Buffer.alloc(16)
    const bytes = (p.len + 7) >> 3
    parts.push(Buffer.from([p.len]), addr.subarray(0, bytes))
  }
  return Buffer.concat(parts)
}
