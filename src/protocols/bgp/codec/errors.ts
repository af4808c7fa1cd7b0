/**
 * Decode errors. Every error carries the NOTIFICATION that RFC 4271 section 6
 * (or the extension's RFC) prescribes, so the session can send it as is.
 */
import type { DecodeError } from '../../../core/codec.js'
import { ErrorCode } from './constants.js'

/** The DecodeError shape of src/core/codec.ts plus the NOTIFICATION to send. */
export interface BgpDecodeError extends DecodeError {
  readonly codec: 'bgp'
  /** stable counter label: the RFC name of code/subcode, e.g. 'update-message-error/malformed-as-path' */
  readonly reason: string
  /** NOTIFICATION error code */
  readonly code: number
  /** NOTIFICATION error subcode */
  readonly subcode: number
  /** NOTIFICATION data */
  readonly data: Buffer
  /** what was wrong, for logs */
  readonly message: string
}

export function decodeError(code: number, subcode: number, message: string, data: Buffer = Buffer.alloc(0)): BgpDecodeError {
  return { codec: 'bgp', reason: notificationReason(code, subcode), code, subcode, data, message }
}

export function isBgpDecodeError(value: unknown): value is BgpDecodeError {
  return typeof value === 'object' && value !== null && (value as { codec?: unknown }).codec === 'bgp' && typeof (value as { code?: unknown }).code === 'number'
}

const kebab = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')

/** A NOTIFICATION code/subcode as a counter label: 'message-header-error/bad-message-length'. */
export function notificationReason(code: number, subcode: number): string {
  const name = CODE_NAMES[code] ?? `code-${code}`
  const sub = subcode === 0 ? 'unspecific' : (SUBCODE_NAMES[code]?.[subcode] ?? `subcode-${subcode}`)
  return `${kebab(name)}/${kebab(sub)}`
}

const CODE_NAMES: Record<number, string> = {
  1: 'Message Header Error',
  2: 'OPEN Message Error',
  3: 'UPDATE Message Error',
  4: 'Hold Timer Expired',
  5: 'Finite State Machine Error',
  6: 'Cease',
  7: 'ROUTE-REFRESH Message Error',
}

const SUBCODE_NAMES: Record<number, Record<number, string>> = {
  [ErrorCode.MESSAGE_HEADER]: {
    1: 'Connection Not Synchronized',
    2: 'Bad Message Length',
    3: 'Bad Message Type',
  },
  [ErrorCode.OPEN_MESSAGE]: {
    1: 'Unsupported Version Number',
    2: 'Bad Peer AS',
    3: 'Bad BGP Identifier',
    4: 'Unsupported Optional Parameter',
    5: 'Authentication Failure (deprecated)',
    6: 'Unacceptable Hold Time',
    7: 'Unsupported Capability',
    11: 'Role Mismatch',
  },
  [ErrorCode.UPDATE_MESSAGE]: {
    1: 'Malformed Attribute List',
    2: 'Unrecognized Well-known Attribute',
    3: 'Missing Well-known Attribute',
    4: 'Attribute Flags Error',
    5: 'Attribute Length Error',
    6: 'Invalid ORIGIN Attribute',
    7: 'AS Routing Loop (deprecated)',
    8: 'Invalid NEXT_HOP Attribute',
    9: 'Optional Attribute Error',
    10: 'Invalid Network Field',
    11: 'Malformed AS_PATH',
  },
  [ErrorCode.FSM]: {
    1: 'Receive Unexpected Message in OpenSent State',
    2: 'Receive Unexpected Message in OpenConfirm State',
    3: 'Receive Unexpected Message in Established State',
  },
  [ErrorCode.CEASE]: {
    1: 'Maximum Number of Prefixes Reached',
    2: 'Administrative Shutdown',
    3: 'Peer De-configured',
    4: 'Administrative Reset',
    5: 'Connection Rejected',
    6: 'Other Configuration Change',
    7: 'Connection Collision Resolution',
    8: 'Out of Resources',
    9: 'Hard Reset',
    10: 'BFD Down',
  },
  [ErrorCode.ROUTE_REFRESH]: {
    1: 'Invalid Message Length',
  },
}

/** Readable name of a NOTIFICATION code/subcode, e.g. "Cease / Administrative Shutdown (6/2)". */
export function describeNotification(code: number, subcode: number): string {
  const name = CODE_NAMES[code] ?? `Unknown error code ${code}`
  const sub = subcode === 0 ? 'Unspecific' : (SUBCODE_NAMES[code]?.[subcode] ?? `Unknown subcode ${subcode}`)
  const hasSubcodes = code !== ErrorCode.HOLD_TIMER_EXPIRED
  return hasSubcodes || subcode !== 0 ? `${name} / ${sub} (${code}/${subcode})` : `${name} (${code}/${subcode})`
}
