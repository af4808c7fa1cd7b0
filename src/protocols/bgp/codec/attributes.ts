/**
 * Path attributes (RFC 4271 4.3/5, RFC 4760, RFC 1997, RFC 4456, RFC 6793)
 * with RFC 7606 revised error handling.
 */
import { AFI_IPV4, AFI_IPV6, AS_TRANS, AttrFlag, AttrType, ErrorCode, SAFI_UNICAST, UpdateSubcode } from './constants.js'
import { type BgpDecodeError, decodeError } from './errors.js'
import { isLinkLocal6 } from '../../../net/ipv6.js'
import { decodeIpv4Prefixes, decodeIpv6Prefixes, encodeIpv4Prefixes, encodeIpv6Prefixes, formatIpv6, parseIpv6 } from './nlri.js'
import type { AsPathSegment, AsPathSegmentType, AttributeError, CodecContext, MpReach, PathAttribute } from './types.js'

const O = AttrFlag.OPTIONAL
const T = AttrFlag.TRANSITIVE

/** Expected Optional/Transitive bits per known attribute type. */
const EXPECTED_FLAGS: Record<number, number> = {
  [AttrType.ORIGIN]: T,
  [AttrType.AS_PATH]: T,
  [AttrType.NEXT_HOP]: T,
  [AttrType.MULTI_EXIT_DISC]: O,
  [AttrType.LOCAL_PREF]: T,
  [AttrType.ATOMIC_AGGREGATE]: T,
  [AttrType.AGGREGATOR]: O | T,
  [AttrType.COMMUNITIES]: O | T,
  [AttrType.ORIGINATOR_ID]: O,
  [AttrType.CLUSTER_LIST]: O,
  [AttrType.MP_REACH_NLRI]: O,
  [AttrType.MP_UNREACH_NLRI]: O,
  [AttrType.AS4_PATH]: O | T,
  [AttrType.AS4_AGGREGATOR]: O | T,
}

type Severity = 'treat-as-withdraw' | 'attribute-discard' | 'session-reset'

/** RFC 7606 section 7: the approach for a malformed instance of each attribute. */
function malformedAction(code: number): Severity {
  switch (code) {
    case AttrType.ATOMIC_AGGREGATE:
    case AttrType.AGGREGATOR:
    case AttrType.AS4_PATH:
    case AttrType.AS4_AGGREGATOR:
      return 'attribute-discard'
    case AttrType.MP_REACH_NLRI:
    case AttrType.MP_UNREACH_NLRI:
      return 'session-reset'
    default:
      return 'treat-as-withdraw'
  }
}

const SEGMENT_TYPES: Record<number, AsPathSegmentType> = { 1: 'set', 2: 'sequence', 3: 'confedSequence', 4: 'confedSet' }
const SEGMENT_CODES: Record<AsPathSegmentType, number> = { set: 1, sequence: 2, confedSequence: 3, confedSet: 4 }

/** Decodes AS_PATH / AS4_PATH segments; a string describes why it is malformed (RFC 7606 7.2). */
export function decodeAsPath(buf: Buffer, start: number, end: number, asSize: 2 | 4): AsPathSegment[] | string {
  const segments: AsPathSegment[] = []
  let pos = start
  while (pos < end) {
    if (pos + 2 > end) return 'AS path segment header truncated'
    const type = SEGMENT_TYPES[buf[pos]!]
    if (!type) return `unknown AS path segment type ${buf[pos]}`
    const count = buf[pos + 1]!
    if (count === 0) return 'AS path segment of length 0'
    if (pos + 2 + count * asSize > end) return `AS path segment of ${count} ASNs overruns the attribute`
    const asns: number[] = []
    for (let i = 0; i < count; i++) {
      const p = pos + 2 + i * asSize
      asns.push(asSize === 4 ? buf.readUInt32BE(p) : buf.readUInt16BE(p))
    }
    segments.push({ type, asns })
    pos += 2 + count * asSize
  }
  return segments
}

export function encodeAsPath(segments: readonly AsPathSegment[], asSize: 2 | 4): Buffer {
  const parts: Buffer[] = []
  for (const seg of segments) {
    for (let i = 0; i < seg.asns.length || (i === 0 && seg.asns.length === 0); i += 255) {
      const chunk = seg.asns.slice(i, i + 255)
      const b = Buffer.alloc(2 + chunk.length * asSize)
      b[0] = SEGMENT_CODES[seg.type]
      b[1] = chunk.length
      chunk.forEach((asn, j) => {
        if (asSize === 4) b.writeUInt32BE(asn >>> 0, 2 + 4 * j)
        else b.writeUInt16BE(asn > 0xffff ? AS_TRANS : asn, 2 + 2 * j)
      })
      parts.push(b)
      if (seg.asns.length === 0) break
    }
  }
  return Buffer.concat(parts)
}

function isMartianNextHop(addr: number): boolean {
  const first = addr >>> 24
  return addr === 0 || first === 0 || first === 127 || first >= 224
}

export interface AttributesResult {
  readonly attributes: PathAttribute[]
  readonly errors: AttributeError[]
  /** codes of attributes present, malformed ones included */
  readonly present: Set<number>
}

/** The whole attribute (header included) at buf[hs, ve), copied: the data of a NOTIFICATION. */
function rawAttribute(buf: Buffer, hs: number, ve: number): Buffer {
  return Buffer.from(buf.subarray(hs, ve))
}

/**
 * A malformed attribute (its header at buf[hs], value ending at ve): the
 * RFC 7606 outcome for its type is recorded in errors, or, for a session
 * reset, returned as the error to send. Plain functions, not closures made
 * per attribute: a decoder run through tsx (tests, agents from source)
 * pays for every closure it makes (esbuild keepNames wraps each in a
 * __name() call).
 */
function malformed(errors: AttributeError[], buf: Buffer, hs: number, ve: number, subcode: number, message: string): BgpDecodeError | undefined {
  const code = buf[hs + 1]!
  const action = malformedAction(code)
  if (action === 'session-reset') return decodeError(ErrorCode.UPDATE_MESSAGE, subcode, message, rawAttribute(buf, hs, ve))
  errors.push({ action, attrType: code, subcode, message })
  return undefined
}

/** An attribute whose length is not what its type needs (see malformed). */
function lengthError(errors: AttributeError[], buf: Buffer, hs: number, ve: number, len: number, want: string): BgpDecodeError | undefined {
  return malformed(errors, buf, hs, ve, UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `attribute ${buf[hs + 1]} length ${len}, expected ${want}`)
}

/**
 * Decodes the path attributes in buf[start, end). Returns the attributes kept
 * and the RFC 7606 errors, or a decode error when the session must be reset.
 */
export function decodeAttributes(buf: Buffer, start: number, end: number, ctx: CodecContext): AttributesResult | BgpDecodeError {
  const attributes: PathAttribute[] = []
  const errors: AttributeError[] = []
  const present = new Set<number>()
  const asSize = ctx.as4 ? 4 : 2
  let pos = start
  while (pos < end) {
    if (end - pos < 3 || ((buf[pos]! & AttrFlag.EXTENDED_LENGTH) !== 0 && end - pos < 4)) {
      errors.push({ action: 'treat-as-withdraw', attrType: 0, subcode: UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, message: `${end - pos} octets left after the last attribute, too few for an attribute header` })
      break
    }
    const flags = buf[pos]!
    const code = buf[pos + 1]!
    const ext = (flags & AttrFlag.EXTENDED_LENGTH) !== 0
    const len = ext ? buf.readUInt16BE(pos + 2) : buf[pos + 2]!
    const vs = pos + (ext ? 4 : 3)
    const ve = vs + len
    if (ve > end) {
      // RFC 7606 section 4: treat-as-withdraw; the NLRI are still located by the total length
      errors.push({ action: 'treat-as-withdraw', attrType: code, subcode: UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, message: `attribute ${code} length ${len} overruns the path attributes (${end - vs} octets left)` })
      break
    }
    const hs = pos
    pos = ve
    if (present.has(code)) {
      if (code === AttrType.MP_REACH_NLRI || code === AttrType.MP_UNREACH_NLRI) {
        return decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, `attribute ${code} appears twice`)
      }
      errors.push({ action: 'attribute-discard', attrType: code, subcode: UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, message: `attribute ${code} appears more than once, later copies discarded` })
      continue
    }
    present.add(code)
    const expected = EXPECTED_FLAGS[code]
    const extendedLength = ext && len < 256 ? { extendedLength: true as const } : {}
    const partial = (flags & AttrFlag.PARTIAL) !== 0 && (flags & (O | T)) === (O | T) ? { partial: true as const } : {}

    if (expected === undefined) {
      if ((flags & O) === 0) {
        return decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, `unrecognized well-known attribute ${code}`, rawAttribute(buf, hs, ve))
      }
      if ((flags & T) !== 0) {
        attributes.push({ type: 'unknown', code, flags: (flags & 0xe0) | AttrFlag.PARTIAL, data: Buffer.from(buf.subarray(vs, ve)), ...extendedLength })
      }
      continue
    }
    if ((flags & (O | T)) !== expected) {
      const e = malformed(errors, buf, hs, ve, UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, `attribute ${code} has flags 0x${flags.toString(16)}, expected optional/transitive 0x${expected.toString(16)}`)
      if (e) return e
      continue
    }
    let e: BgpDecodeError | undefined
    switch (code) {
      case AttrType.ORIGIN: {
        if (len !== 1) { e = lengthError(errors, buf, hs, ve, len, '1'); break }
        const origin = buf[vs]!
        if (origin > 2) { e = malformed(errors, buf, hs, ve, UpdateSubcode.INVALID_ORIGIN_ATTRIBUTE, `ORIGIN value ${origin}`); break }
        attributes.push({ type: 'origin', origin: origin as 0 | 1 | 2, ...extendedLength })
        break
      }
      case AttrType.AS_PATH:
      case AttrType.AS4_PATH: {
        const as4path = code === AttrType.AS4_PATH
        const segments = decodeAsPath(buf, vs, ve, as4path ? 4 : asSize)
        if (typeof segments === 'string') { e = malformed(errors, buf, hs, ve, UpdateSubcode.MALFORMED_AS_PATH, segments); break }
        if (!as4path) attributes.push({ type: 'asPath', segments, ...extendedLength })
        else if (ctx.as4) errors.push({ action: 'attribute-discard', attrType: code, subcode: 0, message: 'AS4_PATH from a 4-octet AS speaker discarded (RFC 6793)' })
        else attributes.push({ type: 'as4Path', segments, ...extendedLength, ...partial })
        break
      }
      case AttrType.NEXT_HOP: {
        if (len !== 4) { e = lengthError(errors, buf, hs, ve, len, '4'); break }
        const nextHop = buf.readUInt32BE(vs)
        if (isMartianNextHop(nextHop)) { e = malformed(errors, buf, hs, ve, UpdateSubcode.INVALID_NEXT_HOP_ATTRIBUTE, `NEXT_HOP ${buf.subarray(vs, ve).join('.')} is not a unicast host address`); break }
        attributes.push({ type: 'nextHop', nextHop, ...extendedLength })
        break
      }
      case AttrType.MULTI_EXIT_DISC:
        if (len !== 4) { e = lengthError(errors, buf, hs, ve, len, '4'); break }
        attributes.push({ type: 'med', med: buf.readUInt32BE(vs), ...extendedLength })
        break
      case AttrType.LOCAL_PREF:
        if (len !== 4) { e = lengthError(errors, buf, hs, ve, len, '4'); break }
        attributes.push({ type: 'localPref', localPref: buf.readUInt32BE(vs), ...extendedLength })
        break
      case AttrType.ATOMIC_AGGREGATE:
        if (len !== 0) { e = lengthError(errors, buf, hs, ve, len, '0'); break }
        attributes.push({ type: 'atomicAggregate', ...extendedLength })
        break
      case AttrType.AGGREGATOR:
      case AttrType.AS4_AGGREGATOR: {
        const as4agg = code === AttrType.AS4_AGGREGATOR
        const size = as4agg ? 4 : asSize
        if (len !== size + 4) { e = lengthError(errors, buf, hs, ve, len, String(size + 4)); break }
        const asn = size === 4 ? buf.readUInt32BE(vs) : buf.readUInt16BE(vs)
        const address = buf.readUInt32BE(vs + size)
        if (!as4agg) attributes.push({ type: 'aggregator', asn, address, ...extendedLength, ...partial })
        else if (ctx.as4) errors.push({ action: 'attribute-discard', attrType: code, subcode: 0, message: 'AS4_AGGREGATOR from a 4-octet AS speaker discarded (RFC 6793)' })
        else attributes.push({ type: 'as4Aggregator', asn, address, ...extendedLength, ...partial })
        break
      }
      case AttrType.COMMUNITIES: {
        if (len === 0 || len % 4 !== 0) { e = lengthError(errors, buf, hs, ve, len, 'a non-zero multiple of 4'); break }
        const communities: number[] = []
        for (let p = vs; p < ve; p += 4) communities.push(buf.readUInt32BE(p))
        attributes.push({ type: 'communities', communities, ...extendedLength, ...partial })
        break
      }
      case AttrType.ORIGINATOR_ID:
        if (len !== 4) { e = lengthError(errors, buf, hs, ve, len, '4'); break }
        attributes.push({ type: 'originatorId', id: buf.readUInt32BE(vs), ...extendedLength })
        break
      case AttrType.CLUSTER_LIST: {
        if (len === 0 || len % 4 !== 0) { e = lengthError(errors, buf, hs, ve, len, 'a non-zero multiple of 4'); break }
        const ids: number[] = []
        for (let p = vs; p < ve; p += 4) ids.push(buf.readUInt32BE(p))
        attributes.push({ type: 'clusterList', ids, ...extendedLength })
        break
      }
      case AttrType.MP_REACH_NLRI: {
        if (len < 5) return decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `MP_REACH_NLRI length ${len} < 5`, rawAttribute(buf, hs, ve))
        const afi = buf.readUInt16BE(vs)
        const safi = buf[vs + 2]!
        const nhLen = buf[vs + 3]!
        const nhStart = vs + 4
        const nlriStart = nhStart + nhLen + 1 // one reserved octet
        if (nlriStart > ve) return decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `MP_REACH_NLRI next hop length ${nhLen} overruns the attribute`, rawAttribute(buf, hs, ve))
        if (afi === AFI_IPV4 && safi === SAFI_UNICAST && nhLen === 4) {
          const nlri = decodeIpv4Prefixes(buf, nlriStart, ve)
          if (!nlri.ok) return decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `MP_REACH_NLRI: ${nlri.message}`, rawAttribute(buf, hs, ve))
          attributes.push({ type: 'mpReach', afi: 1, safi: 1, nextHop: buf.readUInt32BE(nhStart), nlri: nlri.prefixes, ...extendedLength })
        } else if (afi === AFI_IPV6 && safi === SAFI_UNICAST) {
          // RFC 2545 3: 16 octets (global) or 32 (global + link-local). Any other length
          // leaves the NLRI unlocatable: RFC 7606 7.11 "session reset" (or AFI/SAFI disable),
          // UPDATE Message Error / Optional Attribute Error (RFC 4760 7), the attribute as data.
          if (nhLen !== 16 && nhLen !== 32) return decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `MP_REACH_NLRI IPv6 unicast next hop length ${nhLen} (expected 16, or 32 with a link-local address)`, rawAttribute(buf, hs, ve))
          const nlri = decodeIpv6Prefixes(buf, nlriStart, ve)
          if (!nlri.ok) return decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `MP_REACH_NLRI: ${nlri.message}`, rawAttribute(buf, hs, ve))
          const nextHop = formatIpv6(buf.subarray(nhStart, nhStart + 16))
          const ll = nhLen === 32 ? { linkLocalNextHop: formatIpv6(buf.subarray(nhStart + 16, nhStart + 32)) } : {}
          attributes.push({ type: 'mpReach', afi: 2, safi: 1, nextHop, ...ll, nlri: nlri.prefixes, ...extendedLength })
        } else if (afi === AFI_IPV4 && safi === SAFI_UNICAST && nhLen !== 16 && nhLen !== 32) {
          return decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `MP_REACH_NLRI IPv4 next hop length ${nhLen}`, rawAttribute(buf, hs, ve))
        } else {
          attributes.push({ type: 'mpReach', afi, safi, raw: true, nextHop: Buffer.from(buf.subarray(nhStart, nhStart + nhLen)), nlri: Buffer.from(buf.subarray(nlriStart, ve)), ...extendedLength })
        }
        break
      }
      case AttrType.MP_UNREACH_NLRI: {
        if (len < 3) return decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `MP_UNREACH_NLRI length ${len} < 3`, rawAttribute(buf, hs, ve))
        const afi = buf.readUInt16BE(vs)
        const safi = buf[vs + 2]!
        if (afi === AFI_IPV4 && safi === SAFI_UNICAST) {
          const w = decodeIpv4Prefixes(buf, vs + 3, ve)
          if (!w.ok) return decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `MP_UNREACH_NLRI: ${w.message}`, rawAttribute(buf, hs, ve))
          attributes.push({ type: 'mpUnreach', afi: 1, safi: 1, withdrawn: w.prefixes, ...extendedLength })
        } else if (afi === AFI_IPV6 && safi === SAFI_UNICAST) {
          const w = decodeIpv6Prefixes(buf, vs + 3, ve)
          if (!w.ok) return decodeError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `MP_UNREACH_NLRI: ${w.message}`, rawAttribute(buf, hs, ve))
          attributes.push({ type: 'mpUnreach', afi: 2, safi: 1, withdrawn: w.prefixes, ...extendedLength })
        } else {
          attributes.push({ type: 'mpUnreach', afi, safi, raw: true, withdrawn: Buffer.from(buf.subarray(vs + 3, ve)), ...extendedLength })
        }
        break
      }
    }
    if (e) return e
  }
  return { attributes, errors, present }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}

function asAndAddress(asn: number, address: number, asSize: 2 | 4): Buffer {
  const b = Buffer.alloc(asSize + 4)
  if (asSize === 4) b.writeUInt32BE(asn >>> 0)
  else b.writeUInt16BE(asn > 0xffff ? AS_TRANS : asn)
  b.writeUInt32BE(address >>> 0, asSize)
  return b
}

/** Attribute type code, canonical flags and value bytes. */
function attributeValue(attr: PathAttribute, ctx: CodecContext): [code: number, flags: number, value: Buffer] {
  const asSize = ctx.as4 ? 4 : 2
  switch (attr.type) {
    case 'origin': return [AttrType.ORIGIN, T, Buffer.from([attr.origin])]
    case 'asPath': return [AttrType.AS_PATH, T, encodeAsPath(attr.segments, asSize)]
    case 'nextHop': return [AttrType.NEXT_HOP, T, u32(attr.nextHop)]
    case 'med': return [AttrType.MULTI_EXIT_DISC, O, u32(attr.med)]
    case 'localPref': return [AttrType.LOCAL_PREF, T, u32(attr.localPref)]
    case 'atomicAggregate': return [AttrType.ATOMIC_AGGREGATE, T, Buffer.alloc(0)]
    case 'aggregator': return [AttrType.AGGREGATOR, O | T, asAndAddress(attr.asn, attr.address, asSize)]
    case 'communities': return [AttrType.COMMUNITIES, O | T, Buffer.concat(attr.communities.map(u32))]
    case 'originatorId': return [AttrType.ORIGINATOR_ID, O, u32(attr.id)]
    case 'clusterList': return [AttrType.CLUSTER_LIST, O, Buffer.concat(attr.ids.map(u32))]
    case 'as4Path': return [AttrType.AS4_PATH, O | T, encodeAsPath(attr.segments, 4)]
    case 'as4Aggregator': return [AttrType.AS4_AGGREGATOR, O | T, asAndAddress(attr.asn, attr.address, 4)]
    case 'unknown': return [attr.code, attr.flags & 0xe0, attr.data]
    case 'mpReach': {
      let nh: Buffer
      let nlri: Buffer
      if ('raw' in attr) {
        nh = attr.nextHop
        nlri = attr.nlri
      } else if (attr.afi === AFI_IPV4) {
        nh = u32(attr.nextHop)
        nlri = encodeIpv4Prefixes(attr.nlri)
      } else {
        const ll = attr.linkLocalNextHop === undefined ? [] : [parseIpv6(attr.linkLocalNextHop) ?? Buffer.alloc(16)]
        nh = Buffer.concat([parseIpv6(attr.nextHop) ?? Buffer.alloc(16), ...ll])
        nlri = encodeIpv6Prefixes(attr.nlri)
      }
      const head = Buffer.from([0, 0, attr.safi, nh.length])
      head.writeUInt16BE(attr.afi)
      return [AttrType.MP_REACH_NLRI, O, Buffer.concat([head, nh, Buffer.from([0]), nlri])]
    }
    case 'mpUnreach': {
      const head = Buffer.from([0, 0, attr.safi])
      head.writeUInt16BE(attr.afi)
      let w: Buffer
      if ('raw' in attr) w = attr.withdrawn
      else if (attr.afi === AFI_IPV4) w = encodeIpv4Prefixes(attr.withdrawn)
      else w = encodeIpv6Prefixes(attr.withdrawn)
      return [AttrType.MP_UNREACH_NLRI, O, Buffer.concat([head, w])]
    }
  }
}

/**
 * The next hops of an IPv6 unicast MP_REACH_NLRI as RFC 2545 means them: the
 * global address, and the link-local one only when the 32-octet form carries
 * an fe80::/10 address in its second half (FRR writes "::" there on a link
 * without IPv6; such a second half is no link-local next hop).
 */
export function ipv6NextHops(attr: Extract<MpReach, { afi: 2 }>): { global: string; linkLocal?: string } {
  const ll = attr.linkLocalNextHop
  return ll !== undefined && isLinkLocal6(ll) ? { global: attr.nextHop, linkLocal: ll } : { global: attr.nextHop }
}

export function encodeAttribute(attr: PathAttribute, ctx: CodecContext): Buffer {
  const [code, baseFlags, value] = attributeValue(attr, ctx)
  let flags = baseFlags
  if (attr.partial && (flags & (O | T)) === (O | T)) flags |= AttrFlag.PARTIAL
  const ext = value.length > 255 || attr.extendedLength === true
  if (ext) flags |= AttrFlag.EXTENDED_LENGTH
  const head = ext ? Buffer.from([flags, code, 0, 0]) : Buffer.from([flags, code, value.length])
  if (ext) head.writeUInt16BE(value.length, 2)
  return Buffer.concat([head, value])
}

export function encodeAttributes(attrs: readonly PathAttribute[], ctx: CodecContext): Buffer {
  return Buffer.concat(attrs.map((a) => encodeAttribute(a, ctx)))
}

const EMPTY_BLOCK = Buffer.alloc(0)
/** encoded blocks per attribute list: [2-octet AS encoding, 4-octet AS encoding] */
const blocks = new WeakMap<readonly PathAttribute[], [Buffer | undefined, Buffer | undefined]>()

/**
 * The encoded attributes of a list, remembered per list object: the speaker
 * sends one exported list (export-policy.ts keeps one per path and kind of
 * peer) to many peers, and a reflector with 1,000 clients would otherwise
 * encode it 1,000 times (twice each: once to measure, once to write). Lists
 * are never changed once built (readonly throughout). Only the AS number size
 * (ctx.as4) changes how a list encodes. The caller must not modify the buffer.
 */
export function attributeBlock(attrs: readonly PathAttribute[], ctx: CodecContext): Buffer {
  if (attrs.length === 0) return EMPTY_BLOCK
  let m = blocks.get(attrs)
  if (m === undefined) {
    m = [undefined, undefined]
    blocks.set(attrs, m)
  }
  const i = ctx.as4 ? 1 : 0
  return (m[i] ??= encodeAttributes(attrs, ctx))
}

/** Octets encodeAttribute writes: flags, type, a 1- or 2-octet length, the value. */
export function attributeEncodingLength(attr: PathAttribute, ctx: CodecContext): number {
  const value = attributeValue(attr, ctx)[2].length
  return (value > 255 || attr.extendedLength === true ? 4 : 3) + value
}

/** Octets encodeAttributes writes. */
export function attributesEncodingLength(attrs: readonly PathAttribute[], ctx: CodecContext): number {
  let n = 0
  for (const a of attrs) n += attributeEncodingLength(a, ctx)
  return n
}

// ---------------------------------------------------------------- RFC 6793 helpers

/** Number of ASes a path counts for (AS_SET counts 1, confederation segments 0). */
export function asPathLength(segments: readonly AsPathSegment[]): number {
  let n = 0
  for (const s of segments) {
    if (s.type === 'sequence') n += s.asns.length
    else if (s.type === 'set') n += 1
  }
  return n
}

/**
 * RFC 6793 4.2.3: reconstructs the path from AS_PATH and AS4_PATH received
 * from a 2-octet speaker. When AS4_PATH is longer than AS_PATH it is ignored.
 */
export function mergeAs4Path(asPath: readonly AsPathSegment[], as4Path: readonly AsPathSegment[]): AsPathSegment[] {
  const n = asPathLength(asPath)
  const n4 = asPathLength(as4Path)
  if (n < n4) return [...asPath]
  // keep the leading (n - n4) ASes of AS_PATH (confederation segments kept whole), then AS4_PATH
  let keep = n - n4
  const out: AsPathSegment[] = []
  for (const s of asPath) {
    if (keep <= 0) break
    if (s.type === 'confedSequence' || s.type === 'confedSet') { out.push(s); continue }
    if (s.type === 'set') { out.push(s); keep -= 1; continue }
    const take = s.asns.slice(0, keep)
    out.push({ type: 'sequence', asns: take })
    keep -= take.length
  }
  const merged = [...out, ...as4Path]
  // join adjacent sequences for a canonical result
  const joined: AsPathSegment[] = []
  for (const s of merged) {
    const last = joined[joined.length - 1]
    if (last && last.type === 'sequence' && s.type === 'sequence' && last.asns.length + s.asns.length <= 255) {
      joined[joined.length - 1] = { type: 'sequence', asns: [...last.asns, ...s.asns] }
    } else joined.push(s)
  }
  return joined
}

/**
 * The attributes as seen with 4-octet ASNs: on a 2-octet session AS4_PATH and
 * AS4_AGGREGATOR are merged into AS_PATH and AGGREGATOR (RFC 6793 4.2.3) and removed.
 */
export function normalizeAs4(attrs: readonly PathAttribute[]): PathAttribute[] {
  const as4Path = attrs.find((a) => a.type === 'as4Path')
  const agg = attrs.find((a) => a.type === 'aggregator')
  const as4Agg = attrs.find((a) => a.type === 'as4Aggregator')
  // an AGGREGATOR with a real 2-octet AS means a 2-octet speaker aggregated: ignore AS4_* (4.2.3)
  const ignoreAs4 = agg !== undefined && agg.type === 'aggregator' && agg.asn !== AS_TRANS
  const out: PathAttribute[] = []
  for (const a of attrs) {
    if (a.type === 'as4Path' || a.type === 'as4Aggregator') continue
    if (!ignoreAs4 && a.type === 'asPath' && as4Path?.type === 'as4Path') {
      out.push({ type: 'asPath', segments: mergeAs4Path(a.segments, as4Path.segments) })
    } else if (!ignoreAs4 && a.type === 'aggregator' && as4Agg?.type === 'as4Aggregator') {
      out.push({ type: 'aggregator', asn: as4Agg.asn, address: as4Agg.address })
    } else out.push(a)
  }
  return out
}

/**
 * Prepares attributes for a 2-octet session (RFC 6793 4.2.2): adds AS4_PATH
 * and AS4_AGGREGATOR when an ASN does not fit 2 octets; the encoder writes
 * AS_TRANS in its place in AS_PATH and AGGREGATOR.
 */
export function as2Attributes(attrs: readonly PathAttribute[]): PathAttribute[] {
  const out: PathAttribute[] = attrs.filter((a) => a.type !== 'as4Path' && a.type !== 'as4Aggregator')
  for (const a of attrs) {
    if (a.type === 'asPath' && a.segments.some((s) => s.asns.some((n) => n > 0xffff))) {
      const segs = a.segments.filter((s) => s.type === 'sequence' || s.type === 'set')
      if (segs.length > 0) out.push({ type: 'as4Path', segments: segs })
    }
    if (a.type === 'aggregator' && a.asn > 0xffff) out.push({ type: 'as4Aggregator', asn: a.asn, address: a.address })
  }
  return out
}
