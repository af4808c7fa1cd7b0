/** OPEN message body (RFC 4271 4.2) with capabilities (RFC 5492) and extended optional parameters (RFC 9072). */
import { type Result, err, ok } from '../../../util/result.js'
import { AS_TRANS, CapabilityCode, ErrorCode, HEADER_LENGTH, OpenSubcode } from './constants.js'
import { type BgpDecodeError, decodeError } from './errors.js'
import type { Capability, OpenMessage } from './types.js'

const PARAM_CAPABILITIES = 2
const PARAM_EXTENDED = 255

function openErr(subcode: number, message: string, data?: Buffer): { ok: false; error: BgpDecodeError } {
  return err(decodeError(ErrorCode.OPEN_MESSAGE, subcode, message, data))
}

function decodeCapability(code: number, buf: Buffer, start: number, len: number): Result<Capability, BgpDecodeError> {
  const bad = (what: string) => openErr(OpenSubcode.UNSPECIFIC, `malformed ${what} capability (code ${code}, length ${len})`)
  switch (code) {
    case CapabilityCode.MULTIPROTOCOL:
      if (len !== 4) return bad('multiprotocol')
      return ok({ kind: 'multiprotocol', afi: buf.readUInt16BE(start), safi: buf[start + 3]! })
    case CapabilityCode.ROUTE_REFRESH:
    case CapabilityCode.ROUTE_REFRESH_OLD:
      if (len !== 0) return bad('route refresh')
      return ok({ kind: 'routeRefresh', code })
    case CapabilityCode.ENHANCED_ROUTE_REFRESH:
      if (len !== 0) return bad('enhanced route refresh')
      return ok({ kind: 'enhancedRouteRefresh' })
    case CapabilityCode.EXTENDED_MESSAGE:
      if (len !== 0) return bad('extended message')
      return ok({ kind: 'extendedMessage' })
    case CapabilityCode.AS4:
      if (len !== 4) return bad('4-octet AS')
      return ok({ kind: 'as4', asn: buf.readUInt32BE(start) })
    case CapabilityCode.GRACEFUL_RESTART: {
      if (len < 2 || (len - 2) % 4 !== 0) return bad('graceful restart')
      const word = buf.readUInt16BE(start)
      const families: Array<{ afi: number; safi: number; forwarding: boolean }> = []
      for (let p = start + 2; p < start + len; p += 4) {
        families.push({ afi: buf.readUInt16BE(p), safi: buf[p + 2]!, forwarding: (buf[p + 3]! & 0x80) !== 0 })
      }
      return ok({
        kind: 'gracefulRestart',
        restarting: (word & 0x8000) !== 0,
        notification: (word & 0x4000) !== 0,
        restartTime: word & 0x0fff,
        families,
      })
    }
    default:
      return ok({ kind: 'unknown', code, data: Buffer.from(buf.subarray(start, start + len)) })
  }
}

/** Decodes the capabilities inside one Capabilities optional parameter. */
function decodeCapabilities(buf: Buffer, start: number, end: number, out: Capability[]): BgpDecodeError | undefined {
  let pos = start
  while (pos < end) {
    if (pos + 2 > end) return decodeError(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSPECIFIC, `truncated capability header at offset ${pos}`)
    const code = buf[pos]!
    const len = buf[pos + 1]!
    if (pos + 2 + len > end) return decodeError(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSPECIFIC, `capability ${code} length ${len} overruns its parameter`)
    const cap = decodeCapability(code, buf, pos + 2, len)
    if (!cap.ok) return cap.error
    out.push(cap.value)
    pos += 2 + len
  }
  return undefined
}

/** Decodes an OPEN; `buf` is the whole message, `end` its length. */
export function decodeOpen(buf: Buffer, end: number): Result<OpenMessage, BgpDecodeError> {
  const b = HEADER_LENGTH
  const version = buf[b]!
  if (version !== 4) {
    return openErr(OpenSubcode.UNSUPPORTED_VERSION, `unsupported BGP version ${version} (only 4)`, Buffer.from([0, 4]))
  }
  const myAs = buf.readUInt16BE(b + 1)
  const holdTime = buf.readUInt16BE(b + 3)
  if (holdTime === 1 || holdTime === 2) return openErr(OpenSubcode.UNACCEPTABLE_HOLD_TIME, `hold time ${holdTime} s (must be 0 or >= 3)`)
  const bgpId = buf.readUInt32BE(b + 5)
  if (bgpId === 0) return openErr(OpenSubcode.BAD_BGP_IDENTIFIER, 'BGP identifier 0.0.0.0')
  const optLen = buf[b + 9]!
  let pos = b + 10
  let paramsEnd = pos + optLen
  let extended = false
  if (optLen === 255 && pos < end && buf[pos] === PARAM_EXTENDED) {
    // RFC 9072: Non-Ext OP Len 255, Non-Ext OP Type 255, 2-octet Extended Opt. Parm. Length
    if (pos + 3 > end) return openErr(OpenSubcode.UNSPECIFIC, 'truncated extended optional parameters length')
    extended = true
    paramsEnd = pos + 3 + buf.readUInt16BE(pos + 1)
    pos += 3
  }
  if (paramsEnd !== end) {
    return openErr(OpenSubcode.UNSPECIFIC, `optional parameters length ${paramsEnd - pos} does not match the message (${end - pos} octets)`)
  }
  const capabilities: Capability[] = []
  const groups: number[] = []
  const headerLen = extended ? 3 : 2
  while (pos < paramsEnd) {
    if (pos + headerLen > paramsEnd) return openErr(OpenSubcode.UNSPECIFIC, `truncated optional parameter at offset ${pos}`)
    const type = buf[pos]!
    const len = extended ? buf.readUInt16BE(pos + 1) : buf[pos + 1]!
    const start = pos + headerLen
    if (start + len > paramsEnd) return openErr(OpenSubcode.UNSPECIFIC, `optional parameter ${type} length ${len} overruns the message`)
    if (type !== PARAM_CAPABILITIES) {
      return openErr(OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, `unsupported optional parameter type ${type}`, Buffer.from(buf.subarray(pos, start + len)))
    }
    const before = capabilities.length
    const e = decodeCapabilities(buf, start, start + len, capabilities)
    if (e) return err(e)
    groups.push(capabilities.length - before)
    pos = start + len
  }
  return ok({ type: 'open', version, myAs, holdTime, bgpId, capabilities, layout: { groups, extended } })
}

export function encodeCapability(cap: Capability): Buffer {
  switch (cap.kind) {
    case 'multiprotocol': {
      const b = Buffer.from([CapabilityCode.MULTIPROTOCOL, 4, 0, 0, 0, cap.safi])
      b.writeUInt16BE(cap.afi, 2)
      return b
    }
    case 'routeRefresh':
      return Buffer.from([cap.code, 0])
    case 'enhancedRouteRefresh':
      return Buffer.from([CapabilityCode.ENHANCED_ROUTE_REFRESH, 0])
    case 'extendedMessage':
      return Buffer.from([CapabilityCode.EXTENDED_MESSAGE, 0])
    case 'as4': {
      const b = Buffer.from([CapabilityCode.AS4, 4, 0, 0, 0, 0])
      b.writeUInt32BE(cap.asn >>> 0, 2)
      return b
    }
    case 'gracefulRestart': {
      const len = 2 + 4 * cap.families.length
      const b = Buffer.alloc(2 + len)
      b[0] = CapabilityCode.GRACEFUL_RESTART
      b[1] = len
      b.writeUInt16BE((cap.restarting ? 0x8000 : 0) | (cap.notification ? 0x4000 : 0) | (cap.restartTime & 0x0fff), 2)
      cap.families.forEach((f, i) => {
        b.writeUInt16BE(f.afi, 4 + 4 * i)
        b[6 + 4 * i] = f.safi
        b[7 + 4 * i] = f.forwarding ? 0x80 : 0
      })
      return b
    }
    case 'unknown':
      return Buffer.concat([Buffer.from([cap.code, cap.data.length]), cap.data])
  }
}

/** Encodes the OPEN body (without the header). */
export function encodeOpenBody(msg: OpenMessage): Buffer {
  const caps = msg.capabilities.map(encodeCapability)
  let groups = msg.layout?.groups
  if (!groups || groups.reduce((a, n) => a + n, 0) !== caps.length) groups = caps.length > 0 ? [caps.length] : []
  const groupBodies: Buffer[] = []
  let i = 0
  for (const n of groups) {
    groupBodies.push(Buffer.concat(caps.slice(i, i + n)))
    i += n
  }
  const plainSize = groupBodies.reduce((a, g) => a + 2 + g.length, 0)
  const extended = msg.layout?.extended === true || plainSize > 255 || groupBodies.some((g) => g.length > 255)
  const params: Buffer[] = []
  for (const g of groupBodies) {
    const h = extended ? Buffer.from([PARAM_CAPABILITIES, 0, 0]) : Buffer.from([PARAM_CAPABILITIES, g.length])
    if (extended) h.writeUInt16BE(g.length, 1)
    params.push(h, g)
  }
  const paramBytes = Buffer.concat(params)
  const fixed = Buffer.alloc(10)
  fixed[0] = msg.version
  fixed.writeUInt16BE(msg.myAs & 0xffff, 1)
  fixed.writeUInt16BE(msg.holdTime & 0xffff, 3)
  fixed.writeUInt32BE(msg.bgpId >>> 0, 5)
  if (!extended) {
    fixed[9] = paramBytes.length
    return Buffer.concat([fixed, paramBytes])
  }
  fixed[9] = 255
  const ext = Buffer.from([PARAM_EXTENDED, 0, 0])
  ext.writeUInt16BE(paramBytes.length, 1)
  return Buffer.concat([fixed, ext, paramBytes])
}

export interface OpenOptions {
  /** our AS number (4-octet values are written as AS_TRANS in My AS) */
  readonly asn: number
  /** seconds: 0 or >= 3 */
  readonly holdTime: number
  readonly bgpId: number
  readonly capabilities: readonly Capability[]
}

/** Builds an OPEN with all capabilities in one optional parameter. */
export function makeOpen(opts: OpenOptions): OpenMessage {
  return {
    type: 'open',
    version: 4,
    myAs: opts.asn > 0xffff ? AS_TRANS : opts.asn,
    holdTime: opts.holdTime,
    bgpId: opts.bgpId,
    capabilities: opts.capabilities,
  }
}

/** The sender's AS: the 4-octet AS capability when present, else My AS. */
export function openAsn(open: OpenMessage): number {
  for (const c of open.capabilities) if (c.kind === 'as4') return c.asn
  return open.myAs
}

export function findCapability<K extends Capability['kind']>(caps: readonly Capability[], kind: K): Extract<Capability, { kind: K }> | undefined {
  return caps.find((c): c is Extract<Capability, { kind: K }> => c.kind === kind)
}
