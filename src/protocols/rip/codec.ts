/**
 * RIPv2 packets (RFC 2453) as bytes <-> typed objects, dns-packet style.
 *
 * The codec is purely structural: it validates every length and field and
 * returns a typed error, never throws on input, never loops or allocates more
 * than the (bounded) packet. Authentication fields are decoded here; computing
 * and checking digests is auth.ts's job.
 *
 * Wire layout:
 *   header   command(1) version(1) must-be-zero(2)
 *   entries  n x 20 bytes: AFI(2) tag(2) address(4) mask(4) next hop(4) metric(4)
 *   password auth: first entry AFI 0xFFFF, type 2, 16-byte password
 *   crypto auth (RFC 2082 / RFC 4822): first entry AFI 0xFFFF, type 3,
 *     packet length(2) key id(1) auth data length(1) sequence(4) zero(8),
 *     and a trailer at `packet length`: 0xFFFF 0x0001 + digest
 */
import { type Prefix, maskOf } from '../../net/ipv4.js'
import type { DecodeError } from '../../core/codec.js'
import { type Result, err, ok } from '../../util/result.js'

export const RIP_PORT = 520
export const RIP_VERSION = 2
export const RIP_VERSION_1 = 1
export const COMMAND_REQUEST = 1
export const COMMAND_RESPONSE = 2
/** 224.0.0.9 as uint32 */
export const RIP_MULTICAST = 0xe0000009
export const RIP_INFINITY = 16
export const RIP_HEADER_SIZE = 4
export const RIP_ENTRY_SIZE = 20
/** RFC 2453: at most 25 entries (512 bytes); an auth entry takes one of them */
export const RIP_MAX_ENTRIES = 25
export const AFI_INET = 2
export const AFI_AUTH = 0xffff
export const AUTH_TYPE_PASSWORD = 2
export const AUTH_TYPE_CRYPTO = 3
export const AUTH_TRAILER_TYPE = 0x0001
/** bytes of the trailer before the digest: AFI 0xFFFF + 0x0001 */
export const AUTH_TRAILER_HEADER_SIZE = 4
export const PASSWORD_SIZE = 16
/** largest digest we accept in a trailer (HMAC-SHA-512) */
export const MAX_DIGEST_SIZE = 64
export const MIN_DIGEST_SIZE = 16

export type RipCommand = 'request' | 'response'

/** An AFI 2 entry: a route (response) or a route asked about (request). */
export interface RipRouteEntry {
  readonly kind: 'route'
  readonly tag: number
  readonly prefix: Prefix
  /** 0 = "via the sender" */
  readonly nextHop: number
  /** 1..16 in a response, 0..16 in a request */
  readonly metric: number
}

/** The single AFI 0, metric 16 entry of a whole-table request. */
export interface RipWholeTableEntry {
  readonly kind: 'whole-table'
}

export type RipEntry = RipRouteEntry | RipWholeTableEntry

/**
 * An entry the decoder set aside without refusing the packet. RFC 2453 3.9.2:
 * a response entry with a metric outside 1..16 is ignored, the rest of the
 * packet is still processed. The receiver counts these per entry.
 */
export interface RipRejectedEntry {
  /** 1-based position among the packet's entries (auth entry not counted) */
  readonly index: number
  readonly kind: 'bad-metric'
  readonly reason: string
}

export interface RipPasswordAuth {
  readonly type: 'password'
  /** the 16 password bytes as on the wire (zero padded) */
  readonly password: Buffer
}

/** Keyed MD5 (RFC 2082) or HMAC (RFC 4822) authentication, as on the wire. */
export interface RipCryptoAuth {
  readonly type: 'crypto'
  readonly keyId: number
  /** the "Auth Data Len" byte: 16 or 20 (MD5, see auth.ts), 32 (HMAC-SHA-256), ... */
  readonly authDataLength: number
  readonly sequence: number
  /** the trailer's authentication data (digest) */
  readonly digest: Buffer
}

export type RipAuth = RipPasswordAuth | RipCryptoAuth

export interface RipPacket {
  readonly command: RipCommand
  /** route entries, without the authentication entry */
  readonly entries: readonly RipEntry[]
  readonly auth?: RipAuth
  /**
   * Decoded packets only: entries left out of `entries` (bad metric). They
   * still occupy 20 bytes on the wire; never set when encoding.
   */
  readonly rejected?: readonly RipRejectedEntry[]
}

export type RipDecodeErrorKind =
  | 'truncated'
  | 'too-long'
  | 'bad-command'
  | 'version1'
  | 'bad-version'
  | 'bad-length'
  | 'no-entries'
  | 'too-many-entries'
  | 'bad-afi'
  | 'bad-mask'
  | 'bad-prefix'
  | 'auth-bad-type'
  | 'auth-bad-length'
  | 'bad-trailer'

/** The codec's typed error (src/core/codec.ts DecodeError): reason is the counter label, message names the field and value. */
export interface RipDecodeError extends DecodeError {
  readonly codec: 'rip'
  readonly reason: RipDecodeErrorKind
}

export interface DecodeOptions {
  /**
   * Maximum entries in the body including the authentication entry
   * (default 25, RFC 2453). Raise for peers configured with larger packets.
   */
  readonly maxEntries?: number
}

function fail(reason: RipDecodeErrorKind, message: string, offset?: number): { ok: false; error: RipDecodeError } {
  return err({ codec: 'rip', reason, message, ...(offset !== undefined ? { offset } : {}) })
}

/** Prefix length of a contiguous mask, or -1. */
export function maskLength(mask: number): number {
  const inv = ~mask >>> 0
  if (((inv & (inv + 1)) >>> 0) !== 0) return -1
  let len = 0
  for (let m = mask >>> 0; m !== 0; m = (m << 1) >>> 0) len++
  return len
}

/** Bytes encodePacket writes for the packet. */
export function packetEncodingLength(pkt: RipPacket): number {
  let n = RIP_HEADER_SIZE + pkt.entries.length * RIP_ENTRY_SIZE
  if (pkt.auth) {
    n += RIP_ENTRY_SIZE
    if (pkt.auth.type === 'crypto') n += AUTH_TRAILER_HEADER_SIZE + pkt.auth.digest.length
  }
  return n
}

/**
 * Offset of the crypto trailer in an encoded packet, or in the bytes a
 * packet was decoded from (= the auth entry's "packet length" field; counts
 * rejected entries too), or -1 without crypto auth.
 */
export function trailerOffset(pkt: RipPacket): number {
  if (pkt.auth?.type !== 'crypto') return -1
  return RIP_HEADER_SIZE + (pkt.entries.length + (pkt.rejected?.length ?? 0) + 1) * RIP_ENTRY_SIZE
}

/** Encodes a packet. The caller supplies valid field values (see RipPacket); `rejected` is ignored. */
export function encodePacket(input: RipPacket): Buffer {
  const pkt: RipPacket = input.rejected ? { command: input.command, entries: input.entries, ...(input.auth ? { auth: input.auth } : {}) } : input
  const buf = Buffer.alloc(packetEncodingLength(pkt))
  buf[0] = pkt.command === 'request' ? COMMAND_REQUEST : COMMAND_RESPONSE
  buf[1] = RIP_VERSION
  let off = RIP_HEADER_SIZE
  const auth = pkt.auth
  if (auth) {
    buf.writeUInt16BE(AFI_AUTH, off)
    if (auth.type === 'password') {
      buf.writeUInt16BE(AUTH_TYPE_PASSWORD, off + 2)
      auth.password.copy(buf, off + 4, 0, Math.min(PASSWORD_SIZE, auth.password.length))
    } else {
      buf.writeUInt16BE(AUTH_TYPE_CRYPTO, off + 2)
      buf.writeUInt16BE(trailerOffset(pkt), off + 4)
      buf[off + 6] = auth.keyId & 0xff
      buf[off + 7] = auth.authDataLength & 0xff
      buf.writeUInt32BE(auth.sequence >>> 0, off + 8)
    }
    off += RIP_ENTRY_SIZE
  }
  for (const e of pkt.entries) {
    if (e.kind === 'whole-table') {
      buf.writeUInt32BE(RIP_INFINITY, off + 16)
    } else {
      buf.writeUInt16BE(AFI_INET, off)
      buf.writeUInt16BE(e.tag & 0xffff, off + 2)
      buf.writeUInt32BE(e.prefix.addr >>> 0, off + 4)
      buf.writeUInt32BE(maskOf(e.prefix.len), off + 8)
      buf.writeUInt32BE(e.nextHop >>> 0, off + 12)
      buf.writeUInt32BE(e.metric >>> 0, off + 16)
    }
    off += RIP_ENTRY_SIZE
  }
  if (auth?.type === 'crypto') {
    buf.writeUInt16BE(AFI_AUTH, off)
    buf.writeUInt16BE(AUTH_TRAILER_TYPE, off + 2)
    auth.digest.copy(buf, off + AUTH_TRAILER_HEADER_SIZE)
  }
  return buf
}

/** Decodes one RIP datagram (the UDP payload). Never throws. */
export function decodePacket(buf: Uint8Array, opts: DecodeOptions = {}): Result<RipPacket, RipDecodeError> {
  const maxEntries = Math.max(1, Math.min(opts.maxEntries ?? RIP_MAX_ENTRIES, 4096))
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  const maxBytes = RIP_HEADER_SIZE + maxEntries * RIP_ENTRY_SIZE + AUTH_TRAILER_HEADER_SIZE + MAX_DIGEST_SIZE
  if (b.length < RIP_HEADER_SIZE) return fail('truncated', `packet of ${b.length} bytes is shorter than the 4-byte header`)
  if (b.length > maxBytes) return fail('too-long', `packet of ${b.length} bytes exceeds ${maxBytes} bytes`)
  const cmd = b[0]!
  if (cmd !== COMMAND_REQUEST && cmd !== COMMAND_RESPONSE) return fail('bad-command', `command ${cmd} is not request(1) or response(2)`, 0)
  const command: RipCommand = cmd === COMMAND_REQUEST ? 'request' : 'response'
  const version = b[1]!
  if (version === RIP_VERSION_1) return fail('version1', 'RIP version 1 packet (only version 2 is spoken)')
  if (version !== RIP_VERSION) return fail('bad-version', `version ${version} is not 2`, 1)

  let start = RIP_HEADER_SIZE
  let end = b.length
  let auth: RipAuth | undefined
  if (b.length >= RIP_HEADER_SIZE + RIP_ENTRY_SIZE && b.readUInt16BE(start) === AFI_AUTH) {
    const type = b.readUInt16BE(start + 2)
    if (type === AUTH_TYPE_PASSWORD) {
      auth = { type: 'password', password: Buffer.from(b.subarray(start + 4, start + 4 + PASSWORD_SIZE)) }
    } else if (type === AUTH_TYPE_CRYPTO) {
      const packetLength = b.readUInt16BE(start + 4)
      const keyId = b[start + 6]!
      const authDataLength = b[start + 7]!
      const sequence = b.readUInt32BE(start + 8)
      if (packetLength < RIP_HEADER_SIZE + RIP_ENTRY_SIZE || (packetLength - RIP_HEADER_SIZE) % RIP_ENTRY_SIZE !== 0) {
        return fail('auth-bad-length', `auth packet length ${packetLength} is not 4 + a multiple of 20`, 1)
      }
      if (packetLength + AUTH_TRAILER_HEADER_SIZE > b.length) {
        return fail('bad-trailer', `auth packet length ${packetLength} leaves no room for the ${AUTH_TRAILER_HEADER_SIZE}-byte trailer header in ${b.length} bytes`, start + 4)
      }
      if (b.readUInt16BE(packetLength) !== AFI_AUTH || b.readUInt16BE(packetLength + 2) !== AUTH_TRAILER_TYPE) {
        return fail('bad-trailer', `no 0xFFFF 0x0001 trailer at offset ${packetLength}`, packetLength)
      }
      const digestLength = b.length - packetLength - AUTH_TRAILER_HEADER_SIZE
      if (digestLength < MIN_DIGEST_SIZE || digestLength > MAX_DIGEST_SIZE) {
        return fail('bad-trailer', `trailer carries ${digestLength} bytes of authentication data (expected ${MIN_DIGEST_SIZE}..${MAX_DIGEST_SIZE})`)
      }
      auth = { type: 'crypto', keyId, authDataLength, sequence, digest: Buffer.from(b.subarray(packetLength + AUTH_TRAILER_HEADER_SIZE)) }
      end = packetLength
    } else {
      return fail('auth-bad-type', `authentication type ${type} is not password(2) or cryptographic(3)`, start + 2)
    }
    start += RIP_ENTRY_SIZE
  }
  const body = end - start
  if (body % RIP_ENTRY_SIZE !== 0) {
    return fail('bad-length', `${body} bytes of entries is not a multiple of 20 (${body % RIP_ENTRY_SIZE} trailing bytes)`)
  }
  const count = body / RIP_ENTRY_SIZE
  const total = count + (auth ? 1 : 0)
  if (total > maxEntries) return fail('too-many-entries', `${total} entries exceed the limit of ${maxEntries}`)
  if (count === 0) return fail('no-entries', 'packet carries no route entries')

  const entries: RipEntry[] = []
  const rejected: RipRejectedEntry[] = []
  for (let i = 0, off = start; i < count; i++, off += RIP_ENTRY_SIZE) {
    const afi = b.readUInt16BE(off)
    const metric = b.readUInt32BE(off + 16)
    if (afi === 0) {
      if (command === 'request' && count === 1 && metric === RIP_INFINITY) {
        entries.push({ kind: 'whole-table' })
        continue
      }
      return fail('bad-afi', `entry ${i + 1}: address family 0 is only valid as the single whole-table request entry with metric 16`, off)
    }
    if (afi === AFI_AUTH) return fail('bad-afi', `entry ${i + 1}: authentication entry (AFI 0xFFFF) is only valid first`, off)
    if (afi !== AFI_INET) return fail('bad-afi', `entry ${i + 1}: address family ${afi} is not IPv4 (2)`, off)
    const tag = b.readUInt16BE(off + 2)
    const addr = b.readUInt32BE(off + 4)
    const mask = b.readUInt32BE(off + 8)
    const nextHop = b.readUInt32BE(off + 12)
    const len = maskLength(mask)
    if (len < 0) return fail('bad-mask', `entry ${i + 1}: mask 0x${mask.toString(16).padStart(8, '0')} is not contiguous`, off)
    if (((addr & ~mask) >>> 0) !== 0) return fail('bad-prefix', `entry ${i + 1}: address 0x${addr.toString(16).padStart(8, '0')} has bits outside its /${len} mask`, off)
    const minMetric = command === 'request' ? 0 : 1
    if (metric < minMetric || metric > RIP_INFINITY) {
      // RFC 2453 3.9.2: ignore this entry, keep processing the others
      rejected.push({ index: i + 1, kind: 'bad-metric', reason: `entry ${i + 1}: metric ${metric} is outside ${minMetric}..16` })
      continue
    }
    entries.push({ kind: 'route', tag, prefix: { addr, len }, nextHop, metric })
  }
  const pkt: RipPacket = { command, entries, ...(auth ? { auth } : {}), ...(rejected.length > 0 ? { rejected } : {}) }
  return ok(pkt)
}
