/** UPDATE message body (RFC 4271 4.3), RFC 7606 outcome, End-of-RIB (RFC 4724) and packing. */
import type { Prefix } from '../../../net/ipv4.js'
import { type Result, err, ok } from '../../../util/result.js'
import { attributeBlock, decodeAttributes } from './attributes.js'
import { AFI_IPV4, AFI_IPV6, AttrType, ErrorCode, HEADER_LENGTH, MAX_MESSAGE_LENGTH, SAFI_UNICAST, UpdateSubcode } from './constants.js'
import { type BgpDecodeError, decodeError } from './errors.js'
import { decodeIpv4Prefixes, encodeIpv4Prefix, ipv4PrefixEncodingLength, ipv4PrefixesEncodingLength } from './nlri.js'
import type { AttributeError, CodecContext, PathAttribute, UpdateMessage } from './types.js'

/** Decodes an UPDATE; `buf` is the whole message, `end` its length (>= 23). */
export function decodeUpdate(buf: Buffer, end: number, ctx: CodecContext): Result<UpdateMessage, BgpDecodeError> {
  const wlenPos = HEADER_LENGTH
  const wlen = buf.readUInt16BE(wlenPos)
  const wEnd = wlenPos + 2 + wlen
  if (wEnd + 2 > end) {
    return err(decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, `withdrawn routes length ${wlen} overruns the message`))
  }
  const withdrawn = decodeIpv4Prefixes(buf, wlenPos + 2, wEnd)
  if (!withdrawn.ok) return err(decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.INVALID_NETWORK_FIELD, `withdrawn routes: ${withdrawn.message}`))
  const alen = buf.readUInt16BE(wEnd)
  const aStart = wEnd + 2
  const aEnd = aStart + alen
  if (aEnd > end) {
    return err(decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, `total path attribute length ${alen} overruns the message (${end - aStart} octets left)`))
  }
  const nlri = decodeIpv4Prefixes(buf, aEnd, end)
  if (!nlri.ok) return err(decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.INVALID_NETWORK_FIELD, `NLRI: ${nlri.message}`))
  const attrs = decodeAttributes(buf, aStart, aEnd, ctx)
  if ('codec' in attrs) return err(attrs)
  const errors: AttributeError[] = attrs.errors
  const hasMpReach = attrs.present.has(AttrType.MP_REACH_NLRI)
  if (nlri.prefixes.length > 0 || hasMpReach) {
    const required: Array<[number, string]> = [[AttrType.ORIGIN, 'ORIGIN'], [AttrType.AS_PATH, 'AS_PATH']]
    if (nlri.prefixes.length > 0) required.push([AttrType.NEXT_HOP, 'NEXT_HOP'])
    for (const [code, name] of required) {
      if (!attrs.present.has(code)) {
        errors.push({ action: 'treat-as-withdraw', attrType: code, subcode: UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE, message: `missing well-known attribute ${name}` })
      }
    }
  }
  const msg: UpdateMessage = { type: 'update', withdrawn: withdrawn.prefixes, attributes: attrs.attributes, nlri: nlri.prefixes }
  return ok(errors.length > 0 ? { ...msg, errors } : msg)
}

export function encodeUpdateBody(msg: UpdateMessage, ctx: CodecContext): Buffer {
  return encodeUpdateInto(msg, ctx, 0, 0)
}

/**
 * A whole UPDATE message (marker, length, type, body) in one buffer; the
 * attributes are encoded once per list (attributeBlock). RangeError when it
 * would exceed maxLength.
 */
export function encodeUpdateMessage(msg: UpdateMessage, ctx: CodecContext, maxLength: number): Buffer {
  const buf = encodeUpdateInto(msg, ctx, HEADER_LENGTH, maxLength)
  buf.fill(0xff, 0, 16)
  buf.writeUInt16BE(buf.length, 16)
  buf[18] = 2 // UPDATE
  return buf
}

/** The body written at `head` octets into a new buffer of exactly the needed size (maxLength 0: no limit). */
function encodeUpdateInto(msg: UpdateMessage, ctx: CodecContext, head: number, maxLength: number): Buffer {
  const a = attributeBlock(msg.attributes, ctx)
  const wLen = ipv4PrefixesEncodingLength(msg.withdrawn)
  const total = head + 4 + wLen + a.length + ipv4PrefixesEncodingLength(msg.nlri)
  if (maxLength > 0 && total > maxLength) throw new RangeError(`BGP message type 2 would be ${total} octets, limit ${maxLength}`)
  const buf = Buffer.allocUnsafe(total)
  let pos = head
  buf.writeUInt16BE(wLen, pos)
  pos += 2
  for (const p of msg.withdrawn) pos = encodeIpv4Prefix(p, buf, pos)
  buf.writeUInt16BE(a.length, pos)
  pos += 2
  pos += a.copy(buf, pos)
  for (const p of msg.nlri) pos = encodeIpv4Prefix(p, buf, pos)
  return buf
}

/** encodings of UPDATEs sent unchanged to many peers (shareUpdate): [2-octet AS, 4-octet AS] */
const sharedEncodings = new WeakMap<UpdateMessage, [Buffer | undefined, Buffer | undefined]>()

/**
 * Marks an UPDATE that goes unchanged to many peers (a reflector's change to
 * all its clients): encodeMessage then encodes it once per AS number size and
 * returns that same buffer every time, which no caller may modify. The
 * encoding lives as long as the message object.
 */
export function shareUpdate(msg: UpdateMessage): UpdateMessage {
  if (!sharedEncodings.has(msg)) sharedEncodings.set(msg, [undefined, undefined])
  return msg
}

/** The encoding of a shared UPDATE (made on first use), or undefined for a message not shared. RangeError over maxLength. */
export function sharedUpdateBytes(msg: UpdateMessage, ctx: CodecContext, maxLength: number): Buffer | undefined {
  const slot = sharedEncodings.get(msg)
  if (slot === undefined) return undefined
  const i = ctx.as4 ? 1 : 0
  const buf = (slot[i] ??= encodeUpdateMessage(msg, ctx, 0))
  if (buf.length > maxLength) throw new RangeError(`BGP message type 2 would be ${buf.length} octets, limit ${maxLength}`)
  return buf
}

/** Octets encodeUpdateBody writes: two length fields, withdrawn routes, attributes, NLRI. */
export function updateBodyEncodingLength(msg: UpdateMessage, ctx: CodecContext): number {
  return 4 + ipv4PrefixesEncodingLength(msg.withdrawn) + attributeBlock(msg.attributes, ctx).length + ipv4PrefixesEncodingLength(msg.nlri)
}

/** True when RFC 7606 asks to treat every route in this UPDATE as withdrawn. */
export function isTreatAsWithdraw(msg: UpdateMessage): boolean {
  return msg.errors?.some((e) => e.action === 'treat-as-withdraw') ?? false
}

/** The AFI/SAFI whose End-of-RIB marker this UPDATE is (RFC 4724 section 2), or undefined. */
export function endOfRib(msg: UpdateMessage): { afi: number; safi: number } | undefined {
  if (msg.withdrawn.length > 0 || msg.nlri.length > 0) return undefined
  if (msg.attributes.length === 0) return msg.errors ? undefined : { afi: AFI_IPV4, safi: SAFI_UNICAST }
  if (msg.attributes.length !== 1) return undefined
  const a = msg.attributes[0]!
  if (a.type !== 'mpUnreach') return undefined
  const empty = 'raw' in a ? a.withdrawn.length === 0 : a.withdrawn.length === 0
  return empty ? { afi: a.afi, safi: a.safi } : undefined
}

export function makeEndOfRib(afi = AFI_IPV4, safi = SAFI_UNICAST): UpdateMessage {
  if (afi === AFI_IPV4 && safi === SAFI_UNICAST) return { type: 'update', withdrawn: [], attributes: [], nlri: [] }
  const attr: PathAttribute = afi === AFI_IPV6 && safi === SAFI_UNICAST
    ? { type: 'mpUnreach', afi: 2, safi: 1, withdrawn: [] }
    : { type: 'mpUnreach', afi, safi, raw: true, withdrawn: Buffer.alloc(0) }
  return { type: 'update', withdrawn: [], attributes: [attr], nlri: [] }
}

/** Prefixes in groups whose NLRI encodings (sizeOf each) fit `room` octets; a group has at least one prefix. */
export function chunkPrefixes<P>(prefixes: readonly P[], room: number, sizeOf: (p: P) => number): P[][] {
  const out: P[][] = []
  let cur: P[] = []
  let used = 0
  for (const p of prefixes) {
    const size = sizeOf(p)
    if (used + size > room && cur.length > 0) {
      out.push(cur)
      cur = []
      used = 0
    }
    cur.push(p)
    used += size
  }
  if (cur.length > 0) out.push(cur)
  return out
}

/**
 * Packs IPv4 prefixes sharing the same attributes into as few UPDATEs as
 * possible, each at most maxLength octets once encoded with ctx.
 * Throws RangeError when the attributes alone leave no room for a /32.
 */
export function packUpdates(attributes: readonly PathAttribute[], nlri: readonly Prefix[], ctx: CodecContext, maxLength = MAX_MESSAGE_LENGTH): UpdateMessage[] {
  const room = maxLength - HEADER_LENGTH - 4 - attributeBlock(attributes, ctx).length
  if (room < 5) throw new RangeError(`path attributes leave ${room} octets for NLRI in a ${maxLength}-octet UPDATE`)
  return chunkPrefixes(nlri, room, ipv4PrefixEncodingLength).map((group) => ({ type: 'update', withdrawn: [], attributes, nlri: group }))
}

/** Packs IPv4 withdrawals into as few UPDATEs as possible (each <= maxLength octets). */
export function packWithdrawals(withdrawn: readonly Prefix[], maxLength = MAX_MESSAGE_LENGTH): UpdateMessage[] {
  const room = maxLength - HEADER_LENGTH - 4
  return chunkPrefixes(withdrawn, room, ipv4PrefixEncodingLength).map((group) => ({ type: 'update', withdrawn: group, attributes: [], nlri: [] }))
}
