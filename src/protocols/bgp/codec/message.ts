/** Message header (RFC 4271 4.1) and the decodeMessage / encodeMessage entry points. */
import { type Result, err, ok } from '../../../util/result.js'
import {
  ErrorCode, HEADER_LENGTH, HeaderSubcode, MARKER_LENGTH, MAX_EXTENDED_MESSAGE_LENGTH, MAX_MESSAGE_LENGTH,
  MessageType, RouteRefreshSubcode,
} from './constants.js'
import { type BgpDecodeError, decodeError } from './errors.js'
import { decodeNotificationBody, encodeNotificationBody } from './notification.js'
import { decodeOpen, encodeOpenBody } from './open.js'
import type { CodecContext, Message, NotificationMessage } from './types.js'
import { decodeUpdate, encodeUpdateMessage, sharedUpdateBytes, updateBodyEncodingLength } from './update.js'

const MIN_LENGTH: Record<number, number> = {
  [MessageType.OPEN]: 29,
  [MessageType.UPDATE]: 23,
  [MessageType.NOTIFICATION]: 21,
  [MessageType.KEEPALIVE]: 19,
  [MessageType.ROUTE_REFRESH]: 19,
}

export function maxMessageLength(ctx?: Pick<CodecContext, 'extendedMessage'>): number {
  return ctx?.extendedMessage ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH
}

function lengthField(length: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(length)
  return b
}

/**
 * Validates the marker of the first `available` octets at buf[offset] (a
 * partial header is checked as far as it goes). Returns an error or undefined.
 */
export function checkMarker(buf: Buffer, offset: number, available: number): BgpDecodeError | undefined {
  const n = Math.min(available, MARKER_LENGTH)
  for (let i = 0; i < n; i++) {
    if (buf[offset + i] !== 0xff) return decodeError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED, `marker octet ${i} is 0x${buf[offset + i]!.toString(16)}, expected 0xff`)
  }
  return undefined
}

/** Validates a complete 19-octet header at buf[offset]: marker, length range and per-type length. */
export function decodeHeader(buf: Buffer, offset: number, maxLength: number): { length: number; type: number } | BgpDecodeError {
  const bad = checkMarker(buf, offset, MARKER_LENGTH)
  if (bad) return bad
  const length = buf.readUInt16BE(offset + 16)
  const type = buf[offset + 18]!
  if (length < HEADER_LENGTH || length > maxLength) {
    return decodeError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, `message length ${length} outside ${HEADER_LENGTH}..${maxLength}`, lengthField(length))
  }
  const min = MIN_LENGTH[type]
  if (min === undefined) return decodeError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_TYPE, `unknown message type ${type}`, Buffer.from([type]))
  if (length < min || (type === MessageType.KEEPALIVE && length !== HEADER_LENGTH)) {
    return decodeError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, `message type ${type} with length ${length}`, lengthField(length))
  }
  return { length, type }
}

/**
 * Decodes exactly one message (buf holds the whole message, header included).
 * Never throws: every problem comes back as a BgpDecodeError carrying the
 * NOTIFICATION code/subcode/data to send.
 */
export function decodeMessage(buf: Buffer, ctx: CodecContext): Result<Message, BgpDecodeError> {
  try {
    return decodeUnchecked(buf, ctx)
  } catch (e) {
    // defensive: a bug in a decoder must not take the process down
    return err(decodeError(ErrorCode.MESSAGE_HEADER, 0, `internal decoder error: ${e instanceof Error ? e.message : String(e)}`))
  }
}

function decodeUnchecked(buf: Buffer, ctx: CodecContext): Result<Message, BgpDecodeError> {
  if (buf.length < HEADER_LENGTH) {
    const marker = checkMarker(buf, 0, buf.length)
    if (marker) return err(marker)
    return err(decodeError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, `${buf.length} octets, shorter than a header`, lengthField(buf.length)))
  }
  const h = decodeHeader(buf, 0, maxMessageLength(ctx))
  if ('codec' in h) return err(h)
  if (h.length !== buf.length) {
    return err(decodeError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, `length field ${h.length} but ${buf.length} octets given`, lengthField(h.length)))
  }
  switch (h.type) {
    case MessageType.OPEN:
      return decodeOpen(buf, h.length)
    case MessageType.UPDATE:
      return decodeUpdate(buf, h.length, ctx)
    case MessageType.NOTIFICATION:
      return ok(decodeNotificationBody(buf.subarray(HEADER_LENGTH, h.length)))
    case MessageType.KEEPALIVE:
      return ok({ type: 'keepalive' })
    default: {
      // ROUTE-REFRESH: RFC 7313 section 5
      if (h.length !== 23) {
        return err(decodeError(ErrorCode.ROUTE_REFRESH, RouteRefreshSubcode.INVALID_MESSAGE_LENGTH, `ROUTE-REFRESH length ${h.length}, expected 23`, Buffer.from(buf.subarray(0, h.length))))
      }
      return ok({ type: 'routeRefresh', afi: buf.readUInt16BE(19), subtype: buf[21]!, safi: buf[22]! })
    }
  }
}

function frame(type: number, body: Buffer, maxLength: number): Buffer {
  const length = HEADER_LENGTH + body.length
  if (length > maxLength) throw new RangeError(`BGP message type ${type} would be ${length} octets, limit ${maxLength}`)
  const head = Buffer.alloc(HEADER_LENGTH, 0xff)
  head.writeUInt16BE(length, 16)
  head[18] = type
  return Buffer.concat([head, body])
}

/**
 * The data of an error NOTIFICATION quotes what was wrong (e.g. a whole
 * attribute, RFC 4271 6.3), which may not fit a message of its own: what
 * fits is sent rather than nothing (the code and subcode carry the meaning).
 */
function fitNotification(msg: NotificationMessage, max: number): NotificationMessage {
  const room = max - HEADER_LENGTH - 2
  return msg.data.length > room ? { ...msg, data: msg.data.subarray(0, room) } : msg
}

/**
 * Octets encodeMessage writes for msg (header included). A message over the
 * negotiated maximum gets its length too (encodeMessage refuses to write it).
 */
export function messageEncodingLength(msg: Message, ctx: CodecContext): number {
  switch (msg.type) {
    case 'open': return HEADER_LENGTH + encodeOpenBody(msg).length
    case 'update': return HEADER_LENGTH + updateBodyEncodingLength(msg, ctx)
    case 'notification': return HEADER_LENGTH + encodeNotificationBody(fitNotification(msg, maxMessageLength(ctx))).length
    case 'keepalive': return HEADER_LENGTH
    case 'routeRefresh': return HEADER_LENGTH + 4
  }
}

/**
 * Encodes a message. Throws RangeError only if the result would exceed the
 * negotiated maximum size. A shared UPDATE (update.ts shareUpdate) comes back
 * as the one buffer encoded for all its peers: the caller must not modify it.
 */
export function encodeMessage(msg: Message, ctx: CodecContext): Buffer {
  const max = maxMessageLength(ctx)
  switch (msg.type) {
    case 'open': return frame(MessageType.OPEN, encodeOpenBody(msg), max)
    case 'update': return sharedUpdateBytes(msg, ctx, max) ?? encodeUpdateMessage(msg, ctx, max)
    case 'notification': return frame(MessageType.NOTIFICATION, encodeNotificationBody(fitNotification(msg, max)), max)
    case 'keepalive': return frame(MessageType.KEEPALIVE, Buffer.alloc(0), max)
    case 'routeRefresh': {
      const body = Buffer.from([0, 0, msg.subtype, msg.safi])
      body.writeUInt16BE(msg.afi)
      return frame(MessageType.ROUTE_REFRESH, body, max)
    }
  }
}
