/**
 * RIPng packets (RFC 2080) as bytes <-> typed objects, in the style of the
 * RIPv2 codec (src/protocols/rip/codec.ts) and src/core/codec.ts.
 *
 * Wire layout:
 *   header  command(1) version(1) = 1, must-be-zero(2)
 *   RTEs    n x 20 octets: IPv6 prefix(16) route tag(2) prefix length(1) metric(1)
 *   next-hop RTE (2.1.1): metric 0xFF, address(16) = next hop for the RTEs
 *           that follow it (:: = the sender), tag and length 0 on sending
 *   whole-table request (2.4.1): exactly one RTE, prefix ::/0, metric 16
 *
 * RIPng has no authentication (RFC 2080 1: it relies on IPsec); nothing
 * here authenticates. The number of RTEs per packet is bounded by the
 * link's MTU (2.1): (MTU - 40 IPv6 - 8 UDP - 4 header) / 20.
 *
 * The decoder is structural: every length and field is checked, a typed
 * RipngDecodeError is returned, nothing throws. A response RTE with a metric
 * outside 1..16 is set aside (rejected, RFC 2080 2.4.2 "ignore the entry")
 * and the rest of the packet is processed, like RIPv2.
 */
import type { DecodeError } from '../../core/codec.js'
import { type Prefix6, formatIpv6, hasHostBits6, parseIpv6 } from '../../net/ipv6.js'
import { type Result, err, ok } from '../../util/result.js'

export const RIPNG_PORT = 521
export const RIPNG_VERSION = 1
export const RIPNG_MULTICAST = 'ff02::9'
export const COMMAND_REQUEST = 1
export const COMMAND_RESPONSE = 2
export const RIPNG_INFINITY = 16
export const RIPNG_HEADER_SIZE = 4
export const RIPNG_RTE_SIZE = 20
export const NEXT_HOP_METRIC = 0xff
/** IPv6 header + UDP header */
export const IPV6_UDP_OVERHEAD = 48
export const DEFAULT_MTU = 1500
/** the IPv6 minimum MTU (RFC 8200 5) */
export const MIN_MTU = 1280

/** RTEs that fit one datagram on a link with this MTU (RFC 2080 2.1): 72 at 1500, 61 at 1280. */
export function maxEntriesForMtu(mtu: number): number {
  const m = Math.max(MIN_MTU, Math.min(Math.floor(mtu), 65535))
  return Math.floor((m - IPV6_UDP_OVERHEAD - RIPNG_HEADER_SIZE) / RIPNG_RTE_SIZE)
}

export type RipngCommand = 'request' | 'response'

export interface RipngRouteEntry {
  readonly kind: 'route'
  readonly prefix: Prefix6
  readonly tag: number
  /** 1..16 in a response, 0..16 in a request */
  readonly metric: number
}

/** Next hop for the route entries after it; '::' = the sender (RFC 2080 2.1.1). */
export interface RipngNextHopEntry {
  readonly kind: 'next-hop'
  /** RFC 5952 text */
  readonly address: string
}

export interface RipngWholeTableEntry {
  readonly kind: 'whole-table'
}

export type RipngEntry = RipngRouteEntry | RipngNextHopEntry | RipngWholeTableEntry

export interface RipngRejectedEntry {
  /** 1-based RTE position */
  readonly index: number
  readonly kind: 'bad-metric'
  readonly reason: string
}

export interface RipngPacket {
  readonly command: RipngCommand
  readonly entries: readonly RipngEntry[]
  /** decoded packets only: response RTEs left out of `entries` for a bad metric (still 20 bytes on the wire) */
  readonly rejected?: readonly RipngRejectedEntry[]
}

export type RipngDecodeErrorKind =
  | 'truncated'
  | 'too-long'
  | 'bad-command'
  | 'bad-version'
  | 'bad-length'
  | 'no-entries'
  | 'too-many-entries'
  | 'bad-prefix-length'
  | 'bad-prefix'
  | 'bad-next-hop'
  | 'bad-request'

export interface RipngDecodeError extends DecodeError {
  readonly codec: 'ripng'
  readonly reason: RipngDecodeErrorKind
}

export interface RipngDecodeOptions {
  /** RTEs accepted per packet (default: what a 1500-octet MTU carries, 72); at most 3274 (64 KiB) */
  readonly maxEntries?: number
}

function fail(reason: RipngDecodeErrorKind, message: string, offset?: number): { ok: false; error: RipngDecodeError } {
  return err({ codec: 'ripng', reason, message, ...(offset !== undefined ? { offset } : {}) })
}

export function packetEncodingLength(pkt: RipngPacket): number {
  return RIPNG_HEADER_SIZE + pkt.entries.length * RIPNG_RTE_SIZE
}

function writeAddress(buf: Buffer, off: number, text: string, field: string): void {
  const a = parseIpv6(text)
  if (!a) throw new RangeError(`RIPng ${field} "${text}" is not an IPv6 address`)
  a.copy(buf, off)
}

/** Encodes a packet; the caller supplies valid fields (RangeError names a wrong one). `rejected` is ignored. */
export function encodePacket(pkt: RipngPacket): Buffer {
  const buf = Buffer.alloc(packetEncodingLength(pkt))
  buf[0] = pkt.command === 'request' ? COMMAND_REQUEST : COMMAND_RESPONSE
  buf[1] = RIPNG_VERSION
  let off = RIPNG_HEADER_SIZE
  for (const e of pkt.entries) {
    if (e.kind === 'whole-table') {
      buf[off + 19] = RIPNG_INFINITY
    } else if (e.kind === 'next-hop') {
      writeAddress(buf, off, e.address, 'next hop')
      buf[off + 19] = NEXT_HOP_METRIC
    } else {
      if (!Number.isInteger(e.prefix.len) || e.prefix.len < 0 || e.prefix.len > 128) throw new RangeError(`RIPng prefix length ${e.prefix.len} is outside 0..128`)
      if (!Number.isInteger(e.metric) || e.metric < 0 || e.metric > RIPNG_INFINITY) throw new RangeError(`RIPng metric ${e.metric} is outside 0..16`)
      writeAddress(buf, off, e.prefix.addr, 'prefix')
      buf.writeUInt16BE(e.tag & 0xffff, off + 16)
      buf[off + 18] = e.prefix.len
      buf[off + 19] = e.metric
    }
    off += RIPNG_RTE_SIZE
  }
  return buf
}

/** Decodes one RIPng datagram (the UDP payload). Never throws. */
export function decodePacket(bytes: Uint8Array, opts: RipngDecodeOptions = {}): Result<RipngPacket, RipngDecodeError> {
  const maxEntries = Math.max(1, Math.min(opts.maxEntries ?? maxEntriesForMtu(DEFAULT_MTU), 3274))
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (b.length < RIPNG_HEADER_SIZE) return fail('truncated', `packet of ${b.length} octets is shorter than the 4-octet header`)
  const maxBytes = RIPNG_HEADER_SIZE + maxEntries * RIPNG_RTE_SIZE
  if (b.length > maxBytes) return fail('too-long', `packet of ${b.length} octets exceeds ${maxBytes} octets (${maxEntries} RTEs)`)
  const cmd = b[0]!
  if (cmd !== COMMAND_REQUEST && cmd !== COMMAND_RESPONSE) return fail('bad-command', `command ${cmd} is not request(1) or response(2)`, 0)
  const command: RipngCommand = cmd === COMMAND_REQUEST ? 'request' : 'response'
  if (b[1] !== RIPNG_VERSION) return fail('bad-version', `version ${b[1]} is not 1 (RIPng)`, 1)
  const body = b.length - RIPNG_HEADER_SIZE
  if (body % RIPNG_RTE_SIZE !== 0) return fail('bad-length', `${body} octets of RTEs is not a multiple of 20 (${body % RIPNG_RTE_SIZE} trailing octets)`)
  const count = body / RIPNG_RTE_SIZE
  if (count === 0) return fail('no-entries', 'packet carries no RTE')

  const entries: RipngEntry[] = []
  const rejected: RipngRejectedEntry[] = []
  for (let i = 0, off = RIPNG_HEADER_SIZE; i < count; i++, off += RIPNG_RTE_SIZE) {
    const addr = b.subarray(off, off + 16)
    const tag = b.readUInt16BE(off + 16)
    const len = b[off + 18]!
    const metric = b[off + 19]!
    if (metric === NEXT_HOP_METRIC) {
      // RFC 2080 2.1.1: tag and prefix length are ignored on reception
      if (command === 'request') return fail('bad-next-hop', `RTE ${i + 1}: next-hop RTE in a request`, off)
      entries.push({ kind: 'next-hop', address: formatIpv6(addr) })
      continue
    }
    if (len > 128) return fail('bad-prefix-length', `RTE ${i + 1}: prefix length ${len} > 128`, off + 18)
    if (hasHostBits6(addr, len)) return fail('bad-prefix', `RTE ${i + 1}: prefix ${formatIpv6(addr)}/${len} has bits beyond its length`, off)
    if (command === 'request' && count === 1 && len === 0 && metric === RIPNG_INFINITY && tag === 0 && addr.every((x) => x === 0)) {
      entries.push({ kind: 'whole-table' })
      continue
    }
    const minMetric = command === 'request' ? 0 : 1
    if (metric < minMetric || metric > RIPNG_INFINITY) {
      if (command === 'request') return fail('bad-request', `RTE ${i + 1}: metric ${metric} is outside 0..16`, off + 19)
      rejected.push({ index: i + 1, kind: 'bad-metric', reason: `RTE ${i + 1}: metric ${metric} is outside 1..16` })
      continue
    }
    entries.push({ kind: 'route', prefix: { addr: formatIpv6(addr), len }, tag, metric })
  }
  return ok({ command, entries, ...(rejected.length > 0 ? { rejected } : {}) })
}
