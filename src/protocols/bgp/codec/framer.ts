/**
 * Reassembles BGP messages from TCP reads. The header is validated as soon as
 * its octets arrive, so a bad marker or length is reported before the body is
 * buffered; at most one (maximum size) message is ever held.
 */
import type { BgpDecodeError } from './errors.js'
import { checkMarker, decodeHeader, maxMessageLength } from './message.js'
import { HEADER_LENGTH } from './constants.js'

export interface FramerResult {
  /** complete messages, header included, in arrival order */
  readonly messages: Buffer[]
  /** set when the stream is broken; the session must send it as a NOTIFICATION and close */
  readonly error?: BgpDecodeError
}

export interface BgpFramer {
  /** Feeds bytes read from the socket. After an error, every later push returns the same error. */
  push(chunk: Buffer): FramerResult
  /** Switches the size limit once RFC 8654 extended messages are negotiated. */
  setExtendedMessage(enabled: boolean): void
  /** Octets held waiting for the rest of a message. */
  buffered(): number
}

export function createFramer(options: { extendedMessage?: boolean } = {}): BgpFramer {
  let pending: Buffer = Buffer.alloc(0)
  let maxLength = maxMessageLength(options)
  let failed: BgpDecodeError | undefined

  return {
    push(chunk: Buffer): FramerResult {
      if (failed) return { messages: [], error: failed }
      const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      const messages: Buffer[] = []
      let pos = 0
      for (;;) {
        const left = buf.length - pos
        if (left < HEADER_LENGTH) {
          const bad = checkMarker(buf, pos, left)
          if (bad) failed = bad
          break
        }
        const h = decodeHeader(buf, pos, maxLength)
        if ('codec' in h) {
          failed = h
          break
        }
        if (left < h.length) break
        // copy so the caller may keep messages while the socket reuses its buffers
        messages.push(Buffer.from(buf.subarray(pos, pos + h.length)))
        pos += h.length
      }
      if (failed) {
        pending = Buffer.alloc(0)
        return { messages, error: failed }
      }
      pending = pos === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos))
      return { messages }
    },
    setExtendedMessage(enabled: boolean): void {
      maxLength = maxMessageLength({ extendedMessage: enabled })
    },
    buffered(): number {
      return pending.length
    },
  }
}
