/** NOTIFICATION (RFC 4271 4.5) with RFC 9003 shutdown communication. */
import { CeaseSubcode, ErrorCode } from './constants.js'
import type { NotificationMessage } from './types.js'

/** Maximum RFC 9003 shutdown communication length in octets. */
export const MAX_SHUTDOWN_MESSAGE = 255

function carriesShutdownMessage(code: number, subcode: number): boolean {
  return code === ErrorCode.CEASE && (subcode === CeaseSubcode.ADMINISTRATIVE_SHUTDOWN || subcode === CeaseSubcode.ADMINISTRATIVE_RESET)
}

/** Decodes an RFC 9003 shutdown communication; undefined when absent or invalid. */
export function decodeShutdownMessage(data: Buffer): string | undefined {
  if (data.length === 0) return undefined
  const len = data[0]!
  if (len === 0 || 1 + len > data.length) return undefined
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(1, 1 + len))
  } catch {
    return undefined
  }
}

/** Encodes a shutdown communication, truncated to 255 octets on a UTF-8 character boundary. */
export function encodeShutdownMessage(text: string): Buffer {
  let bytes = Buffer.from(text, 'utf8')
  if (bytes.length > MAX_SHUTDOWN_MESSAGE) {
    let cut = MAX_SHUTDOWN_MESSAGE
    while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--
    bytes = bytes.subarray(0, cut)
  }
  return Buffer.concat([Buffer.from([bytes.length]), bytes])
}

export function decodeNotificationBody(body: Buffer): NotificationMessage {
  const code = body[0]!
  const subcode = body[1]!
  const data = Buffer.from(body.subarray(2))
  const text = carriesShutdownMessage(code, subcode) ? decodeShutdownMessage(data) : undefined
  return text === undefined ? { type: 'notification', code, subcode, data } : { type: 'notification', code, subcode, data, shutdownMessage: text }
}

/** Data wins when non-empty; otherwise a shutdownMessage is encoded per RFC 9003. */
export function encodeNotificationBody(msg: NotificationMessage): Buffer {
  let data = msg.data
  if (data.length === 0 && msg.shutdownMessage !== undefined && msg.shutdownMessage.length > 0) data = encodeShutdownMessage(msg.shutdownMessage)
  return Buffer.concat([Buffer.from([msg.code, msg.subcode]), data])
}

export function makeNotification(code: number, subcode: number, data: Buffer = Buffer.alloc(0)): NotificationMessage {
  return { type: 'notification', code, subcode, data }
}

/** Cease / Administrative Shutdown (or Reset) with an optional RFC 9003 message. */
export function makeCease(subcode: number, shutdownMessage?: string): NotificationMessage {
  if (shutdownMessage && carriesShutdownMessage(ErrorCode.CEASE, subcode)) {
    const data = encodeShutdownMessage(shutdownMessage)
    const text = decodeShutdownMessage(data)
    return text === undefined
      ? { type: 'notification', code: ErrorCode.CEASE, subcode, data }
      : { type: 'notification', code: ErrorCode.CEASE, subcode, data, shutdownMessage: text }
  }
  return makeNotification(ErrorCode.CEASE, subcode)
}
