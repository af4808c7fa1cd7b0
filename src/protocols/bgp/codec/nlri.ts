/** NLRI prefix encoding (RFC 4271 section 4.3, RFC 4760 section 5). */
import { type Prefix, prefix } from '../../../net/ipv4.js'
import { formatIpv6, parseIpv6 } from '../../../net/ipv6.js'
import type { Prefix6 } from './types.js'

// IPv6 text <-> bytes is src/net/ipv6.ts, the one implementation in fabric (RFC 5952
// output, IPv4-mapped addresses in mixed notation); re-exported for the codec's users.
export { formatIpv6, parseIpv6 }

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

/** Octets of one IPv4 NLRI entry (length octet and the significant address octets). */
export function ipv4PrefixEncodingLength(p: Prefix): number {
  return 1 + ((p.len + 7) >> 3)
}

export function ipv4PrefixesEncodingLength(prefixes: readonly Prefix[]): number {
  let size = 0
  for (const p of prefixes) size += ipv4PrefixEncodingLength(p)
  return size
}

/** Writes one IPv4 NLRI entry into buf at pos; returns the position after it. */
export function encodeIpv4Prefix(p: Prefix, buf: Buffer, pos: number): number {
  buf[pos++] = p.len
  const bytes = (p.len + 7) >> 3
  for (let i = 0; i < bytes; i++) buf[pos++] = (p.addr >>> (24 - 8 * i)) & 0xff
  return pos
}

export function encodeIpv4Prefixes(prefixes: readonly Prefix[]): Buffer {
  const buf = Buffer.alloc(ipv4PrefixesEncodingLength(prefixes))
  let pos = 0
  for (const p of prefixes) pos = encodeIpv4Prefix(p, buf, pos)
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
