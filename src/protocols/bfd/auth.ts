/**
 * BFD authentication (RFC 5880 6.7): signing outgoing packets and checking
 * received ones. Pure: bytes and key material in, bytes or a reason out.
 *
 *   simple (6.7.2)            the password and key id must match a key
 *   md5, meticulous-md5 (6.7.3) and sha1, meticulous-sha1 (6.7.4):
 *     digest = MD5/SHA1 over the packet with the key (zero padded to 16/20
 *     bytes) in the digest field; the sequence number must lie in
 *     [RcvAuthSeq, RcvAuthSeq + 3 * Detect Mult] (keyed) or
 *     (RcvAuthSeq, RcvAuthSeq + 3 * Detect Mult] (meticulous), mod 2^32,
 *     once a sequence number is known.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { type Result, err, ok } from '../../util/result.js'
import { type BfdAuthType, type BfdControlPacket, DIGEST_OFFSET, MAX_PASSWORD_SIZE, digestSize, encodePacket } from './codec.js'

export interface BfdKey {
  /** 0..255, sent in every packet */
  readonly id: number
  /** simple: 1..16 bytes; md5: up to 16; sha1: up to 20 */
  readonly secret: Buffer
}

export interface BfdAuthConfig {
  readonly type: BfdAuthType
  /** the first key signs; any key verifies */
  readonly keys: readonly BfdKey[]
}

/** Receive-side sequence state of one session (bfd.RcvAuthSeq, bfd.AuthSeqKnown). */
export interface AuthSeqState {
  known: boolean
  seq: number
}

export function maxSecretSize(type: BfdAuthType): number {
  return type === 'simple' ? MAX_PASSWORD_SIZE : type === 'md5' || type === 'meticulous-md5' ? 16 : 20
}

export function isMeticulous(type: BfdAuthType): boolean {
  return type === 'meticulous-md5' || type === 'meticulous-sha1'
}

function hashOf(type: BfdAuthType): 'md5' | 'sha1' {
  return type === 'md5' || type === 'meticulous-md5' ? 'md5' : 'sha1'
}

function paddedKey(secret: Buffer, size: number): Buffer {
  const k = Buffer.alloc(size)
  secret.copy(k, 0, 0, Math.min(size, secret.length))
  return k
}

/** Encodes `pkt` (its auth field ignored) signed with the config's first key. */
export function signPacket(pkt: BfdControlPacket, auth: BfdAuthConfig, sequence: number): Buffer {
  const key = auth.keys[0]!
  if (auth.type === 'simple') {
    return encodePacket({ ...pkt, auth: { type: 'simple', keyId: key.id, password: key.secret.subarray(0, MAX_PASSWORD_SIZE) } })
  }
  const size = digestSize(auth.type)
  const bytes = encodePacket({ ...pkt, auth: { type: auth.type, keyId: key.id, sequence: sequence >>> 0, digest: paddedKey(key.secret, size) } })
  createHash(hashOf(auth.type)).update(bytes).digest().copy(bytes, DIGEST_OFFSET)
  return bytes
}

export type AuthFailure = 'auth-missing' | 'auth-unexpected' | 'auth-type' | 'auth-key-id' | 'auth-password' | 'auth-digest' | 'auth-sequence'

/**
 * Checks a received packet (decoded from `bytes`) against the session's
 * auth config and sequence state. On success returns the new sequence
 * state (the caller stores it); the old one is not modified.
 */
export function checkAuth(bytes: Buffer, pkt: BfdControlPacket, auth: BfdAuthConfig | undefined, state: AuthSeqState): Result<AuthSeqState, AuthFailure> {
  const a = pkt.auth
  if (!auth) return a ? err('auth-unexpected') : ok(state)
  if (!a) return err('auth-missing')
  if (a.type !== auth.type) return err('auth-type')
  const key = auth.keys.find((k) => k.id === a.keyId)
  if (!key) return err('auth-key-id')
  if (a.type === 'simple') {
    const want = key.secret.subarray(0, MAX_PASSWORD_SIZE)
    return want.length === a.password.length && timingSafeEqual(want, a.password) ? ok(state) : err('auth-password')
  }
  const size = digestSize(a.type)
  const length = bytes[3]!
  const copy = Buffer.from(bytes.subarray(0, length))
  paddedKey(key.secret, size).copy(copy, DIGEST_OFFSET)
  const digest = createHash(hashOf(a.type)).update(copy).digest()
  if (!timingSafeEqual(digest, a.digest)) return err('auth-digest')
  if (state.known) {
    const ahead = (a.sequence - state.seq) >>> 0
    const window = 3 * pkt.detectMult
    const min = isMeticulous(a.type) ? 1 : 0
    if (ahead < min || ahead > window) return err('auth-sequence')
  }
  return ok({ known: true, seq: a.sequence })
}
