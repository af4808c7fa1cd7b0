/**
 * The one codec style of fabric (BGP, RIP, BFD, rtnetlink):
 *
 *   encode<Thing>(value, ...)          -> Buffer (or writes into a given buffer)
 *   decode<Thing>(bytes, ...)          -> Result<Thing, <Proto>DecodeError>
 *   <thing>EncodingLength(value, ...)  -> number of octets encode<Thing> writes
 *
 * Decoders work on bytes, never see a socket, validate every length and
 * field, and never throw: hostile input yields a typed DecodeError.
 * Encoders may throw only for values the program itself built wrongly
 * (a RangeError naming the field), never for anything received.
 */
import type { Result } from '../util/result.js'

export type CodecName = 'bgp' | 'rip' | 'ripng' | 'bfd' | 'rtnl'

/** What every decoder returns when the bytes are wrong. */
export interface DecodeError {
  /** which codec refused the bytes */
  readonly codec: CodecName
  /** a stable, machine-readable reason (a counter label: 'bad-length', ...) */
  readonly reason: string
  /** what was wrong, for logs: names the field, the value and what was expected */
  readonly message: string
  /** octet offset of the offending field, where known */
  readonly offset?: number
}

export type Decoded<T, E extends DecodeError = DecodeError> = Result<T, E>

export function isDecodeError(value: unknown): value is DecodeError {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Partial<DecodeError>
  return typeof v.codec === 'string' && typeof v.reason === 'string' && typeof v.message === 'string'
}
