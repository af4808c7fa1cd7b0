/**
 * RIPv2 authentication: simple password (RFC 2453 5.2), keyed MD5
 * (RFC 2082) and HMAC-SHA-256 (RFC 4822), with a key chain for rotation and
 * sequence-number replay protection. Pure: time is passed in, state lives in
 * a caller-owned ReplayGuard.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { type Result, err, ok } from '../../util/result.js'
import {
  AUTH_TRAILER_HEADER_SIZE,
  PASSWORD_SIZE,
  RIP_MAX_ENTRIES,
  type RipAuth,
  type RipPacket,
  encodePacket,
  trailerOffset,
} from './codec.js'

export type RipAuthAlgorithm = 'password' | 'md5' | 'hmac-sha256'

export interface RipKey {
  /** key id 0..255 (ignored for passwords) */
  readonly id: number
  /** the shared secret; passwords and MD5 keys are at most 16 bytes */
  readonly secret: string | Buffer
  readonly algorithm: RipAuthAlgorithm
  /** validity windows in ms since the epoch (inclusive start, exclusive end); absent = unbounded */
  readonly sendFrom?: number
  readonly sendUntil?: number
  readonly acceptFrom?: number
  readonly acceptUntil?: number
}

export interface RipAuthConfig {
  readonly keys: readonly RipKey[]
  /**
   * "Auth Data Len" written for keyed MD5: 16 (RFC 2082/4822) or 20 (counts
   * the 4-byte trailer header; what FRR ripd and BIRD write by default).
   * Both are accepted on receive. Default 20, which FRR and BIRD accept.
   */
  readonly md5AuthDataLength?: 16 | 20
}

export type RipAuthErrorKind =
  | 'auth-missing'
  | 'auth-unexpected'
  | 'auth-bad-type'
  | 'auth-unknown-key'
  | 'auth-bad-length'
  | 'auth-bad-password'
  | 'auth-bad-digest'
  | 'auth-replay'
  | 'auth-no-send-key'

export interface RipAuthError {
  readonly kind: RipAuthErrorKind
  readonly reason: string
}

/** RFC 4822 2.5: Apad is 0x878FE1F3 repeated L/4 times. */
const APAD_WORD = 0x878fe1f3
const MD5_SIZE = 16
const SHA256_SIZE = 32

function fail(kind: RipAuthErrorKind, reason: string): { ok: false; error: RipAuthError } {
  return err({ kind, reason })
}

function secretBytes(key: RipKey): Buffer {
  return Buffer.isBuffer(key.secret) ? key.secret : Buffer.from(key.secret, 'utf8')
}

/** Digest size of an algorithm (0 for password). */
export function digestSize(alg: RipAuthAlgorithm): number {
  return alg === 'md5' ? MD5_SIZE : alg === 'hmac-sha256' ? SHA256_SIZE : 0
}

/** Route entries that fit in one packet with this auth config (25, or 24 with auth). */
export function maxRouteEntries(cfg: RipAuthConfig | undefined): number {
  return cfg && cfg.keys.length > 0 ? RIP_MAX_ENTRIES - 1 : RIP_MAX_ENTRIES
}

/** Checks a key chain for configuration errors (for the config layer). */
export function validateKeyChain(cfg: RipAuthConfig): Result<void, string> {
  const ids = new Set<number>()
  for (const k of cfg.keys) {
    if (!Number.isInteger(k.id) || k.id < 0 || k.id > 255) return err(`RIP key id ${k.id} is not an integer 0..255`)
    if (k.algorithm !== 'password' && ids.has(k.id)) return err(`RIP key id ${k.id} is used twice`)
    ids.add(k.id)
    const len = secretBytes(k).length
    if (len === 0) return err(`RIP key ${k.id} has an empty secret`)
    if ((k.algorithm === 'password' || k.algorithm === 'md5') && len > 16) {
      return err(`RIP key ${k.id}: a ${k.algorithm} secret is at most 16 bytes (got ${len})`)
    }
  }
  if (cfg.md5AuthDataLength !== undefined && cfg.md5AuthDataLength !== 16 && cfg.md5AuthDataLength !== 20) {
    return err(`md5AuthDataLength ${String(cfg.md5AuthDataLength)} is not 16 or 20`)
  }
  return ok(undefined)
}

function within(t: number, from: number | undefined, until: number | undefined): boolean {
  return (from === undefined || t >= from) && (until === undefined || t < until)
}

/** The newest key valid for sending at `now` (latest sendFrom, then highest id). */
export function selectSendKey(cfg: RipAuthConfig, now: number): RipKey | undefined {
  let best: RipKey | undefined
  for (const k of cfg.keys) {
    if (!within(now, k.sendFrom, k.sendUntil)) continue
    if (!best) {
      best = k
      continue
    }
    const a = k.sendFrom ?? -Infinity
    const b = best.sendFrom ?? -Infinity
    if (a > b || (a === b && k.id > best.id)) best = k
  }
  return best
}

/** Keyed MD5 (RFC 2082 3.2.1): MD5(packet through trailer header || key zero-padded to 16). */
export function md5Digest(covered: Uint8Array, secret: Buffer): Buffer {
  const key = Buffer.alloc(MD5_SIZE)
  secret.copy(key, 0, 0, Math.min(MD5_SIZE, secret.length))
  return createHash('md5').update(covered).update(key).digest()
}

/**
 * HMAC-SHA-256 per RFC 4822 2.5: key Ko = Ks zero-padded to L (or H(Ks) when
 * longer than L); HMAC over the packet through the trailer header followed by
 * Apad (0x878FE1F3 repeated to L bytes) in place of the digest.
 */
export function hmacSha256Digest(covered: Uint8Array, secret: Buffer): Buffer {
  const ko = secret.length > SHA256_SIZE ? createHash('sha256').update(secret).digest() : secret
  const apad = Buffer.alloc(SHA256_SIZE)
  for (let i = 0; i < SHA256_SIZE; i += 4) apad.writeUInt32BE(APAD_WORD, i)
  return createHmac('sha256', ko).update(covered).update(apad).digest()
}

/**
 * Encodes `pkt` (its own auth field is ignored) signed with the newest valid
 * send key of `cfg`; without keys it is encoded unauthenticated.
 * `sequence` is the sender's non-decreasing crypto sequence number.
 */
export function signPacket(pkt: RipPacket, cfg: RipAuthConfig | undefined, now: number, sequence: number): Result<Buffer, RipAuthError> {
  const bare: RipPacket = { command: pkt.command, entries: pkt.entries }
  if (!cfg || cfg.keys.length === 0) return ok(encodePacket(bare))
  const key = selectSendKey(cfg, now)
  if (!key) return fail('auth-no-send-key', 'no key of the key chain is valid for sending now')
  const secret = secretBytes(key)
  if (key.algorithm === 'password') {
    const password = Buffer.alloc(PASSWORD_SIZE)
    secret.copy(password, 0, 0, Math.min(PASSWORD_SIZE, secret.length))
    return ok(encodePacket({ ...bare, auth: { type: 'password', password } }))
  }
  const size = digestSize(key.algorithm)
  const authDataLength = key.algorithm === 'md5' ? (cfg.md5AuthDataLength ?? 20) : size
  const auth: RipAuth = { type: 'crypto', keyId: key.id, authDataLength, sequence: sequence >>> 0, digest: Buffer.alloc(size) }
  const withAuth: RipPacket = { ...bare, auth }
  const buf = encodePacket(withAuth)
  const covered = buf.subarray(0, trailerOffset(withAuth) + AUTH_TRAILER_HEADER_SIZE)
  const digest = key.algorithm === 'md5' ? md5Digest(covered, secret) : hmacSha256Digest(covered, secret)
  digest.copy(buf, covered.length)
  return ok(buf)
}

export interface ReplayGuardOptions {
  /** senders remembered at most (oldest forgotten first); default 1024 */
  readonly maxSenders?: number
  /**
   * A sender silent for this long may restart its sequence numbers (a reboot);
   * default 180 000 ms, the RIP route timeout (its routes are gone by then).
   */
  readonly restartAfterMs?: number
  /** senders whose digests are remembered (least recently heard forgotten first); default 64 */
  readonly digestSenders?: number
  /** digests remembered per sender (its oldest forgotten first); default 2048: over half an hour of updates at 1 a second */
  readonly digestsPerSender?: number
  /** a new sender's clock-reading sequence may be this old at most; default 1800 s */
  readonly clockWindowS?: number
}

/** One authenticated packet, as the replay check sees it. */
export interface ReplayProbe {
  /** the source address the packet came from */
  readonly sender: string
  readonly keyId: number
  readonly sequence: number
  /** the packet's authentication data (digest): identifies a copy of a packet */
  readonly digest: Buffer
}

interface SeqState {
  seq: number
  at: number
}

/** Sequence numbers are within this distance of 2^32 before a wrap is allowed. */
const WRAP_WINDOW = 0x10000000
const SEQ_SPACE = 0x100000000

/**
 * Sequence-number replay protection (RFC 2082 3.2.2 / RFC 4822 3.2.2),
 * tied to the key as well as the sender. The digest authenticates a key
 * holder, not the source address (the address is not covered), so a
 * captured packet can be sent again from any on-link address. A packet is
 * refused as a replay when:
 *
 *   1. its digest equals that of a packet already accepted from another
 *      sender (a copy). Digests are remembered per sender (the last
 *      digestsPerSender of each, for the digestSenders senders heard most
 *      recently), so a flood from one sender, even a key holder's, cannot
 *      push another neighbour's packets out of the memory;
 *   2. its sequence is lower than the last one accepted from the same sender
 *      with the same key id (RFC 2082), except a counter wrap (last near
 *      2^32, new near 0) or a sender silent for restartAfterMs starting over;
 *   3. its sequence is a clock reading (BIRD and fabric number their packets
 *      with the Unix time in seconds) more than clockWindowS in the past, and
 *      the sender has no stream with this key yet: an old capture replayed
 *      from a new address. A stream once accepted is judged by rule 2 alone.
 *
 * Sequence numbers are otherwise not compared across senders: neighbours
 * sharing a key number their packets independently (FRR ripd counts from 1;
 * captured in test/fixtures/rip), so one sender's numbers say nothing about
 * another's. What is left: a packet of a counting sender (FRR), captured
 * longer ago than its digests are remembered, can be sent again from an
 * address that has not sent with this key before.
 *
 * Bounded in memory: maxSenders sequence streams (each with its key ids, at
 * most 256); digestSenders x digestsPerSender digests.
 */
export class ReplayGuard {
  /** sender -> key id -> last accepted sequence */
  readonly #streams = new Map<string, Map<number, SeqState>>()
  /** `${keyId}/${digest hex}` -> the sender it was accepted from (the index of #bySender) */
  readonly #digests = new Map<string, string>()
  /** sender -> its remembered digest keys, oldest first; the map's order is least recently heard first */
  readonly #bySender = new Map<string, Set<string>>()
  readonly #max: number
  readonly #digestSenders: number
  readonly #perSender: number
  readonly #restartAfter: number
  readonly #clockWindowS: number

  constructor(opts: ReplayGuardOptions = {}) {
    this.#max = Math.max(1, opts.maxSenders ?? 1024)
    this.#digestSenders = Math.max(1, opts.digestSenders ?? 64)
    this.#perSender = Math.max(1, opts.digestsPerSender ?? 2048)
    this.#restartAfter = opts.restartAfterMs ?? 180_000
    this.#clockWindowS = opts.clockWindowS ?? 1800
  }

  /** undefined when the packet is acceptable at `now` (nothing is recorded); else why it is a replay. */
  check(p: ReplayProbe, now: number): string | undefined {
    const copyOf = this.#digests.get(digestKey(p))
    if (copyOf !== undefined && copyOf !== p.sender) return `a copy of a packet accepted from ${copyOf} (key id ${p.keyId}, sequence ${p.sequence})`
    const last = this.#streams.get(p.sender)?.get(p.keyId)
    if (last) {
      if (p.sequence >= last.seq) return undefined
      if (last.seq >= SEQ_SPACE - WRAP_WINDOW && p.sequence < WRAP_WINDOW) return undefined
      if (now - last.at >= this.#restartAfter) return undefined
      return `sequence ${p.sequence} is lower than ${last.seq}, the last accepted from this sender with key id ${p.keyId}`
    }
    const nowS = Math.floor(now / 1000)
    if (looksLikeClock(p.sequence, nowS) && p.sequence < nowS - this.#clockWindowS) {
      return `sequence ${p.sequence} is a clock reading ${nowS - p.sequence} s old from a sender new to key id ${p.keyId} (an old capture sent again?)`
    }
    return undefined
  }

  /** Records an accepted packet. */
  record(p: ReplayProbe, now: number): void {
    let streams = this.#streams.get(p.sender)
    this.#streams.delete(p.sender)
    if (!streams) {
      streams = new Map()
      if (this.#streams.size >= this.#max) {
        const oldest = this.#streams.keys().next()
        if (!oldest.done) this.#streams.delete(oldest.value)
      }
    }
    streams.set(p.keyId, { seq: p.sequence, at: now })
    this.#streams.set(p.sender, streams)
    this.#remember(p.sender, digestKey(p))
  }

  #remember(sender: string, dk: string): void {
    let own = this.#bySender.get(sender)
    this.#bySender.delete(sender)
    if (!own) {
      own = new Set()
      if (this.#bySender.size >= this.#digestSenders) {
        const oldest = this.#bySender.entries().next()
        if (!oldest.done) this.#dropSender(oldest.value[0], oldest.value[1])
      }
    }
    this.#bySender.set(sender, own)
    const holder = this.#digests.get(dk)
    if (holder !== undefined && holder !== sender) return // accepted from another sender before: stays theirs
    own.delete(dk)
    own.add(dk)
    this.#digests.set(dk, sender)
    if (own.size > this.#perSender) {
      const first = own.values().next()
      if (!first.done) {
        own.delete(first.value)
        if (this.#digests.get(first.value) === sender) this.#digests.delete(first.value)
      }
    }
  }

  #dropSender(sender: string, own: Set<string>): void {
    for (const dk of own) if (this.#digests.get(dk) === sender) this.#digests.delete(dk)
    this.#bySender.delete(sender)
  }

  /** A neighbour forgotten by the engine: its sequence streams go (its digests stay, bounded per sender). */
  forget(sender: string): void {
    this.#streams.delete(sender)
  }

  /** senders tracked */
  get size(): number {
    return this.#streams.size
  }

  /** digests remembered in all */
  get digests(): number {
    return this.#digests.size
  }
}

/** A sequence number that reads as the Unix time in seconds (within a year of now). */
function looksLikeClock(seq: number, nowS: number): boolean {
  return Math.abs(seq - nowS) < 366 * 86_400
}

function digestKey(p: ReplayProbe): string {
  return `${p.keyId}/${p.digest.toString('hex')}`
}

export interface VerifiedAuth {
  readonly algorithm: RipAuthAlgorithm | 'none'
  readonly keyId?: number
  readonly sequence?: number
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * Verifies a decoded packet against the key chain. `bytes` are the exact
 * bytes `pkt` was decoded from. On success the sequence is recorded in
 * `replay` (when given) for `sender`.
 */
export function verifyPacket(
  bytes: Uint8Array,
  pkt: RipPacket,
  cfg: RipAuthConfig | undefined,
  now: number,
  replay?: ReplayGuard,
  sender = '',
): Result<VerifiedAuth, RipAuthError> {
  const keys = cfg?.keys ?? []
  const auth = pkt.auth
  if (keys.length === 0) {
    if (auth) return fail('auth-unexpected', `${auth.type} authenticated packet but no authentication is configured`)
    return ok({ algorithm: 'none' })
  }
  if (!auth) return fail('auth-missing', 'packet is not authenticated but authentication is required')
  const valid = keys.filter((k) => within(now, k.acceptFrom, k.acceptUntil))
  if (auth.type === 'password') {
    const passwords = valid.filter((k) => k.algorithm === 'password')
    if (passwords.length === 0) return fail('auth-bad-type', 'simple password authentication is not accepted (no valid password key)')
    for (const k of passwords) {
      const expect = Buffer.alloc(PASSWORD_SIZE)
      secretBytes(k).copy(expect, 0, 0, PASSWORD_SIZE)
      if (safeEqual(expect, auth.password)) return ok({ algorithm: 'password' })
    }
    return fail('auth-bad-password', 'simple password does not match')
  }
  const key = valid.find((k) => k.algorithm !== 'password' && k.id === auth.keyId)
  if (!key) {
    const known = keys.some((k) => k.algorithm !== 'password' && k.id === auth.keyId)
    return fail('auth-unknown-key', known ? `key id ${auth.keyId} is not valid for accepting now` : `key id ${auth.keyId} is not in the key chain`)
  }
  const size = digestSize(key.algorithm)
  if (key.algorithm === 'md5') {
    if (auth.authDataLength !== 16 && auth.authDataLength !== 20) {
      return fail('auth-bad-length', `MD5 auth data length ${auth.authDataLength} is not 16 or 20`)
    }
  } else if (auth.authDataLength !== size) {
    return fail('auth-bad-length', `${key.algorithm} auth data length ${auth.authDataLength} is not ${size}`)
  }
  if (auth.digest.length !== size) {
    return fail('auth-bad-length', `trailer carries ${auth.digest.length} bytes, ${key.algorithm} needs ${size}`)
  }
  const off = trailerOffset(pkt)
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (off < 0 || off + AUTH_TRAILER_HEADER_SIZE + size !== b.length) {
    return fail('auth-bad-length', 'packet bytes do not match the decoded packet')
  }
  const covered = b.subarray(0, off + AUTH_TRAILER_HEADER_SIZE)
  const secret = secretBytes(key)
  const expect = key.algorithm === 'md5' ? md5Digest(covered, secret) : hmacSha256Digest(covered, secret)
  if (!safeEqual(expect, auth.digest)) return fail('auth-bad-digest', `${key.algorithm} digest with key id ${key.id} does not match`)
  if (replay) {
    const probe: ReplayProbe = { sender, keyId: key.id, sequence: auth.sequence, digest: auth.digest }
    const why = replay.check(probe, now)
    if (why !== undefined) return fail('auth-replay', `from ${sender || 'sender'}: ${why}`)
    replay.record(probe, now)
  }
  return ok({ algorithm: key.algorithm, keyId: key.id, sequence: auth.sequence })
}
