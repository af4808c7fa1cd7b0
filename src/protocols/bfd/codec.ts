/**
 * BFD Control packets (RFC 5880 4.1-4.4) as bytes <-> typed objects,
 * dns-packet style: encodePacket / decodePacket / encodingLength.
 *
 * The codec never sees a socket, validates every length and field, returns a
 * typed error and never throws on input. It performs every reception check
 * of RFC 5880 6.8.6 that is about the packet itself (version, Length against
 * the A bit and the payload, Detect Mult 0, M bit, My Discriminator 0, Your
 * Discriminator 0 outside Down/AdminDown) and the structure of the
 * authentication section. Computing and checking digests, key ids and
 * sequence numbers is auth.ts's job.
 *
 * Wire layout (24 bytes, then the optional authentication section):
 *   Vers(3) Diag(5) | Sta(2) P F C A D M | Detect Mult(8) | Length(8)
 *   My Discriminator(32) Your Discriminator(32)
 *   Desired Min TX Interval(32) Required Min RX Interval(32)
 *   Required Min Echo RX Interval(32)                 (all intervals in us)
 *   auth: Type(8) Len(8) Key ID(8) then
 *     simple password (type 1): password (1..16 bytes), Len = 3 + password
 *     keyed / meticulous keyed MD5 (2/3): Reserved(8) Seq(32) Digest(16), Len 24
 *     keyed / meticulous keyed SHA1 (4/5): Reserved(8) Seq(32) Hash(20), Len 28
 */
import type { BfdAuthType } from '../../config/bfd-config.js'
export type { BfdAuthType }
import type { DecodeError } from '../../core/codec.js'
import { type Result, err, ok } from '../../util/result.js'

export const BFD_VERSION = 1
export const BFD_HEADER_SIZE = 24
/** single-hop control packets (RFC 5881 4) */
export const BFD_PORT = 3784
/** largest Length a packet can carry (one byte) */
export const BFD_MAX_LENGTH = 255

export type BfdState = 'AdminDown' | 'Down' | 'Init' | 'Up'
export const STATE_CODE: Record<BfdState, number> = { AdminDown: 0, Down: 1, Init: 2, Up: 3 }
const STATE_OF_CODE: readonly BfdState[] = ['AdminDown', 'Down', 'Init', 'Up']

/** Diagnostic codes (RFC 5880 4.1). */
export const Diag = {
  None: 0,
  ControlDetectionTimeExpired: 1,
  EchoFunctionFailed: 2,
  NeighborSignaledDown: 3,
  ForwardingPlaneReset: 4,
  PathDown: 5,
  ConcatenatedPathDown: 6,
  AdministrativelyDown: 7,
  ReverseConcatenatedPathDown: 8,
} as const

export const DIAG_TEXT: Record<number, string> = {
  0: 'no diagnostic',
  1: 'control detection time expired',
  2: 'echo function failed',
  3: 'neighbor signaled session down',
  4: 'forwarding plane reset',
  5: 'path down',
  6: 'concatenated path down',
  7: 'administratively down',
  8: 'reverse concatenated path down',
}

export const AUTH_TYPE_CODE: Record<BfdAuthType, number> = { simple: 1, md5: 2, 'meticulous-md5': 3, sha1: 4, 'meticulous-sha1': 5 }
const AUTH_TYPE_OF_CODE: Record<number, BfdAuthType> = { 1: 'simple', 2: 'md5', 3: 'meticulous-md5', 4: 'sha1', 5: 'meticulous-sha1' }
/** Auth Len of the digest types (RFC 5880 4.3, 4.4) */
export const MD5_AUTH_LENGTH = 24
export const SHA1_AUTH_LENGTH = 28
export const MD5_DIGEST_SIZE = 16
export const SHA1_DIGEST_SIZE = 20
export const MAX_PASSWORD_SIZE = 16

export interface BfdSimpleAuth {
  readonly type: 'simple'
  readonly keyId: number
  /** 1..16 bytes */
  readonly password: Buffer
}

export interface BfdDigestAuth {
  readonly type: 'md5' | 'meticulous-md5' | 'sha1' | 'meticulous-sha1'
  readonly keyId: number
  readonly sequence: number
  /** 16 bytes (MD5) or 20 bytes (SHA1) as on the wire */
  readonly digest: Buffer
}

export type BfdAuth = BfdSimpleAuth | BfdDigestAuth

export interface BfdControlPacket {
  readonly diag: number
  readonly state: BfdState
  readonly poll: boolean
  readonly final: boolean
  /** C bit: control plane independent */
  readonly cpi: boolean
  /** D bit */
  readonly demand: boolean
  readonly detectMult: number
  readonly myDiscriminator: number
  readonly yourDiscriminator: number
  /** microseconds */
  readonly desiredMinTx: number
  /** microseconds */
  readonly requiredMinRx: number
  /** microseconds; 0 = no echo */
  readonly requiredMinEchoRx: number
  /** present = A bit set */
  readonly auth?: BfdAuth
}

export type BfdDecodeErrorKind =
  | 'truncated'
  | 'bad-version'
  | 'bad-length'
  | 'length-exceeds-payload'
  | 'zero-detect-mult'
  | 'multipoint'
  | 'zero-my-discriminator'
  | 'zero-your-discriminator'
  | 'auth-bad-type'
  | 'auth-bad-length'

/** A refused control packet (src/core/codec.ts shape); `message` names the field and value. */
export interface BfdDecodeError extends DecodeError {
  readonly codec: 'bfd'
  readonly reason: BfdDecodeErrorKind
}

function fail(reason: BfdDecodeErrorKind, message: string): { ok: false; error: BfdDecodeError } {
  return err({ codec: 'bfd', reason, message })
}

/** The Auth Len byte of an authentication section. */
export function authLength(auth: BfdAuth): number {
  if (auth.type === 'simple') return 3 + auth.password.length
  return auth.type === 'md5' || auth.type === 'meticulous-md5' ? MD5_AUTH_LENGTH : SHA1_AUTH_LENGTH
}

export function digestSize(type: BfdDigestAuth['type']): number {
  return type === 'md5' || type === 'meticulous-md5' ? MD5_DIGEST_SIZE : SHA1_DIGEST_SIZE
}

/** Bytes the packet takes on the wire (= its Length field). */
export function encodingLength(pkt: BfdControlPacket): number {
  return BFD_HEADER_SIZE + (pkt.auth ? authLength(pkt.auth) : 0)
}

/** Offset of the digest in an encoded packet with digest authentication. */
export const DIGEST_OFFSET = BFD_HEADER_SIZE + 8

/**
 * Encodes a packet. The caller supplies valid field values (see
 * BfdControlPacket); numbers are masked to their field widths.
 */
export function encodePacket(pkt: BfdControlPacket): Buffer {
  const len = encodingLength(pkt)
  const buf = Buffer.alloc(len)
  buf[0] = (BFD_VERSION << 5) | (pkt.diag & 0x1f)
  buf[1] =
    (STATE_CODE[pkt.state] << 6) |
    (pkt.poll ? 0x20 : 0) |
    (pkt.final ? 0x10 : 0) |
    (pkt.cpi ? 0x08 : 0) |
    (pkt.auth ? 0x04 : 0) |
    (pkt.demand ? 0x02 : 0)
  buf[2] = pkt.detectMult & 0xff
  buf[3] = len
  buf.writeUInt32BE(pkt.myDiscriminator >>> 0, 4)
  buf.writeUInt32BE(pkt.yourDiscriminator >>> 0, 8)
  buf.writeUInt32BE(pkt.desiredMinTx >>> 0, 12)
  buf.writeUInt32BE(pkt.requiredMinRx >>> 0, 16)
  buf.writeUInt32BE(pkt.requiredMinEchoRx >>> 0, 20)
  const a = pkt.auth
  if (a) {
    const off = BFD_HEADER_SIZE
    buf[off] = AUTH_TYPE_CODE[a.type]
    buf[off + 1] = authLength(a)
    buf[off + 2] = a.keyId & 0xff
    if (a.type === 'simple') {
      a.password.copy(buf, off + 3)
    } else {
      buf.writeUInt32BE(a.sequence >>> 0, off + 4)
      a.digest.copy(buf, DIGEST_OFFSET, 0, digestSize(a.type))
    }
  }
  return buf
}

/**
 * Decodes one BFD Control packet (the UDP payload). Never throws. Bytes
 * after Length (the UDP payload may be longer) are ignored, RFC 5880 6.8.6.
 */
export function decodePacket(buf: Uint8Array): Result<BfdControlPacket, BfdDecodeError> {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  if (b.length < BFD_HEADER_SIZE) return fail('truncated', `packet of ${b.length} bytes is shorter than the 24-byte header`)
  const version = b[0]! >> 5
  if (version !== BFD_VERSION) return fail('bad-version', `version ${version} is not 1`)
  const diag = b[0]! & 0x1f
  const flags = b[1]!
  const state = STATE_OF_CODE[flags >> 6]!
  const hasAuth = (flags & 0x04) !== 0
  const detectMult = b[2]!
  const length = b[3]!
  const minLength = hasAuth ? BFD_HEADER_SIZE + 2 : BFD_HEADER_SIZE
  if (length < minLength) return fail('bad-length', `Length ${length} is below ${minLength} (A bit ${hasAuth ? 'set' : 'clear'})`)
  if (length > b.length) return fail('length-exceeds-payload', `Length ${length} exceeds the ${b.length}-byte payload`)
  if (!hasAuth && length !== BFD_HEADER_SIZE) return fail('bad-length', `Length ${length} without the A bit: expected 24`)
  if (detectMult === 0) return fail('zero-detect-mult', 'Detect Mult is 0')
  if ((flags & 0x01) !== 0) return fail('multipoint', 'Multipoint (M) bit is set')
  const myDiscriminator = b.readUInt32BE(4)
  const yourDiscriminator = b.readUInt32BE(8)
  if (myDiscriminator === 0) return fail('zero-my-discriminator', 'My Discriminator is 0')
  if (yourDiscriminator === 0 && state !== 'Down' && state !== 'AdminDown') {
    return fail('zero-your-discriminator', `Your Discriminator is 0 in state ${state}`)
  }
  let auth: BfdAuth | undefined
  if (hasAuth) {
    const off = BFD_HEADER_SIZE
    const typeCode = b[off]!
    const alen = b[off + 1]!
    const type = AUTH_TYPE_OF_CODE[typeCode]
    if (!type) return fail('auth-bad-type', `authentication type ${typeCode} is not 1..5`)
    if (alen > length - BFD_HEADER_SIZE) return fail('auth-bad-length', `Auth Len ${alen} exceeds the ${length - BFD_HEADER_SIZE} bytes after the header`)
    if (alen !== length - BFD_HEADER_SIZE) return fail('bad-length', `Length ${length} is not 24 + Auth Len ${alen}`)
    const keyId = b[off + 2]!
    if (type === 'simple') {
      if (alen < 4 || alen > 3 + MAX_PASSWORD_SIZE) return fail('auth-bad-length', `simple password Auth Len ${alen} is not 4..19`)
      auth = { type, keyId, password: Buffer.from(b.subarray(off + 3, off + alen)) }
    } else {
      const want = type === 'md5' || type === 'meticulous-md5' ? MD5_AUTH_LENGTH : SHA1_AUTH_LENGTH
      if (alen !== want) return fail('auth-bad-length', `${type} Auth Len ${alen} is not ${want}`)
      auth = { type, keyId, sequence: b.readUInt32BE(off + 4), digest: Buffer.from(b.subarray(DIGEST_OFFSET, off + alen)) }
    }
  }
  const pkt: BfdControlPacket = {
    diag,
    state,
    poll: (flags & 0x20) !== 0,
    final: (flags & 0x10) !== 0,
    cpi: (flags & 0x08) !== 0,
    demand: (flags & 0x02) !== 0,
    detectMult,
    myDiscriminator,
    yourDiscriminator,
    desiredMinTx: b.readUInt32BE(12),
    requiredMinRx: b.readUInt32BE(16),
    requiredMinEchoRx: b.readUInt32BE(20),
    ...(auth ? { auth } : {}),
  }
  return ok(pkt)
}
