/**
 * rtnetlink messages fabric needs (routes, addresses, links), as bytes, in
 * the one codec style of src/core/codec.ts: encode<Thing> / decode<Thing> /
 * <thing>EncodingLength. Pure: no socket. Netlink headers and structs are
 * host-endian; addresses in attributes are network order. Decoders validate
 * every length and return a typed DecodeError (`codec: 'rtnl'`), never throw.
 */
import { endianness } from 'node:os'
import type { DecodeError } from '../core/codec.js'
import { type Result, err, ok } from '../util/result.js'
import { type Prefix6, formatIpv6, hasHostBits6, parseIpv6 } from '../net/ipv6.js'
import type { KernelRoute, KernelRoute6 } from './types.js'

const LE = endianness() === 'LE'

export const NLMSG = { ERROR: 2, DONE: 3 } as const
export const RTM = {
  NEWLINK: 16, DELLINK: 17, GETLINK: 18,
  NEWADDR: 20, DELADDR: 21, GETADDR: 22,
  NEWROUTE: 24, DELROUTE: 25, GETROUTE: 26,
} as const
export const NLM_F = {
  REQUEST: 0x1, MULTI: 0x2, ACK: 0x4,
  DUMP: 0x300,
  REPLACE: 0x100, EXCL: 0x200, CREATE: 0x400,
} as const
export const RTA = { DST: 1, OIF: 4, GATEWAY: 5, PRIORITY: 6, TABLE: 15 } as const
export const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3, FLAGS: 8 } as const
/** ifa_flags an address is not usable with (yet): IFA_F_TENTATIVE, IFA_F_DADFAILED */
export const IFA_F = { NODAD: 0x02, DADFAILED: 0x08, TENTATIVE: 0x40, PERMANENT: 0x80 } as const
export const IFLA = { IFNAME: 3, MTU: 4, MASTER: 10 } as const
export const IFF = { UP: 0x1 } as const
export const RTN = { UNICAST: 1 } as const
export const RT_SCOPE = { UNIVERSE: 0, HOST: 254, NOWHERE: 255 } as const
/** rtm_table value meaning "see RTA_TABLE" (tables above 255) */
export const RT_TABLE_COMPAT = 252
export const AF_INET = 2
export const AF_INET6 = 10
/** rtnetlink multicast groups (numbers for addMembership) */
export const RTNLGRP = { LINK: 1, IPV4_IFADDR: 5, IPV4_ROUTE: 7, IPV6_IFADDR: 9, IPV6_ROUTE: 11 } as const
/** the metric the kernel gives an IPv6 route added without RTA_PRIORITY (IP6_RT_PRIO_USER) */
export const IP6_RT_PRIO_USER = 1024

/** nlmsghdr */
export const NLMSG_HDRLEN = 16
const RTMSG_LEN = 12
const IFADDRMSG_LEN = 8
const IFINFOMSG_LEN = 16
const NLMSGERR_LEN = 4 + NLMSG_HDRLEN

export interface NlMessage {
  type: number
  flags: number
  seq: number
  pid: number
  /** payload after the 16-byte header */
  payload: Buffer
}

export interface NlHeader {
  type: number
  flags: number
  seq: number
}

export type RtnlDecodeError = DecodeError & { readonly codec: 'rtnl' }

function fail(reason: string, message: string, offset?: number): Result<never, RtnlDecodeError> {
  return err({ codec: 'rtnl', reason, message, offset })
}

function u16(b: Buffer, o: number): number { return LE ? b.readUInt16LE(o) : b.readUInt16BE(o) }
function u32(b: Buffer, o: number): number { return LE ? b.readUInt32LE(o) : b.readUInt32BE(o) }
function i32(b: Buffer, o: number): number { return LE ? b.readInt32LE(o) : b.readInt32BE(o) }
function w16(b: Buffer, v: number, o: number): void { if (LE) b.writeUInt16LE(v, o); else b.writeUInt16BE(v, o) }
function w32(b: Buffer, v: number, o: number): void { if (LE) b.writeUInt32LE(v >>> 0, o); else b.writeUInt32BE(v >>> 0, o) }

const align4 = (n: number): number => (n + 3) & ~3

/** Splits a datagram into netlink messages. */
export function decodeMessages(buf: Buffer): Result<NlMessage[], RtnlDecodeError> {
  const out: NlMessage[] = []
  let off = 0
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = u32(buf, off)
    if (len < NLMSG_HDRLEN || off + len > buf.length) return fail('bad-length', `message length ${len} at offset ${off} exceeds datagram of ${buf.length}`, off)
    out.push({ type: u16(buf, off + 4), flags: u16(buf, off + 6), seq: u32(buf, off + 8), pid: u32(buf, off + 12), payload: buf.subarray(off + NLMSG_HDRLEN, off + len) })
    off += align4(len)
  }
  return ok(out)
}

/** rtattrs into type -> value (last wins). */
function decodeAttributes(buf: Buffer, start: number): Result<Map<number, Buffer>, RtnlDecodeError> {
  const attrs = new Map<number, Buffer>()
  let off = start
  while (off + 4 <= buf.length) {
    const len = u16(buf, off)
    const type = u16(buf, off + 2) & 0x3fff
    if (len < 4 || off + len > buf.length) return fail('bad-attribute', `attribute ${type} length ${len} overruns message`, off)
    attrs.set(type, buf.subarray(off + 4, off + len))
    off += align4(len)
  }
  return ok(attrs)
}

/** A 4-octet attribute: undefined when absent, an error when of another length. */
function attr4(attrs: Map<number, Buffer>, type: number, name: string, read: (a: Buffer) => number): Result<number | undefined, RtnlDecodeError> {
  const a = attrs.get(type)
  if (a === undefined) return ok(undefined)
  if (a.length !== 4) return fail('bad-attribute', `${name} of ${a.length} octets (expected 4)`)
  return ok(read(a))
}
const hostU32 = (a: Buffer): number => u32(a, 0)
const netU32 = (a: Buffer): number => a.readUInt32BE(0)

function attrString(a: Buffer | undefined): string | undefined {
  return a === undefined ? undefined : a.toString('utf8').replace(/\0.*$/s, '')
}

/** What the route and address codecs need to know of an address family. */
interface Family<A> {
  af: number
  name: 'IPv4' | 'IPv6'
  bits: number
  /** the address of a prefix with no RTA_DST (the default route) */
  zero: A
  /** reads an address attribute: undefined when absent, an error when of another length */
  addr(attrs: Map<number, Buffer>, type: number, name: string): Result<A | undefined, RtnlDecodeError>
  /** a reason the destination's bytes are invalid for prefix length `len`, if any */
  checkDst?(bytes: Buffer, len: number, text: A): string | undefined
}

interface DecodedRoute<A> {
  prefix: { addr: A; len: number }
  table: number
  protocol: number
  scope: number
  type: number
  metric: number
  gateway: A | undefined
  oif: number | undefined
}

/** rtmsg + attributes of `fam`'s family; undefined for another family. */
function decodeRouteOf<A>(payload: Buffer, fam: Family<A>): Result<DecodedRoute<A> | undefined, RtnlDecodeError> {
  if (payload.length < RTMSG_LEN) return fail('short-struct', `rtmsg of ${payload.length} octets (need ${RTMSG_LEN})`, 0)
  if (payload[0] !== fam.af) return ok(undefined)
  const dstLen = payload[1]!
  if (dstLen > fam.bits) return fail('bad-prefix-length', `${fam.name} route with prefix length ${dstLen}`, 1)
  const attrs = decodeAttributes(payload, RTMSG_LEN)
  if (!attrs.ok) return attrs
  const a = attrs.value
  const dst = fam.addr(a, RTA.DST, 'RTA_DST')
  if (!dst.ok) return dst
  if (dst.value === undefined && dstLen > 0) return fail('bad-attribute', `${fam.name} route with prefix length ${dstLen} and no RTA_DST`)
  if (dst.value !== undefined && fam.checkDst !== undefined) {
    const bad = fam.checkDst(a.get(RTA.DST)!, dstLen, dst.value)
    if (bad !== undefined) return fail('bad-attribute', bad)
  }
  const table = attr4(a, RTA.TABLE, 'RTA_TABLE', hostU32)
  if (!table.ok) return table
  const metric = attr4(a, RTA.PRIORITY, 'RTA_PRIORITY', hostU32)
  if (!metric.ok) return metric
  const gateway = fam.addr(a, RTA.GATEWAY, 'RTA_GATEWAY')
  if (!gateway.ok) return gateway
  const oif = attr4(a, RTA.OIF, 'RTA_OIF', hostU32)
  if (!oif.ok) return oif
  return ok({
    prefix: { addr: dst.value ?? fam.zero, len: dstLen },
    table: table.value ?? payload[4]!,
    protocol: payload[5]!,
    scope: payload[6]!,
    type: payload[7]!,
    metric: metric.value ?? 0,
    gateway: gateway.value,
    oif: oif.value,
  })
}

interface DecodedIfaddr<A> {
  index: number
  address: A
  prefixLen: number
  scope: number
  /** ifa_flags (8 bits) */
  flags: number
  attrs: Map<number, Buffer>
}

/** ifaddrmsg + IFA_LOCAL (else IFA_ADDRESS) of `fam`'s family; undefined for another family or no address. */
function decodeIfaddrOf<A>(payload: Buffer, fam: Family<A>): Result<DecodedIfaddr<A> | undefined, RtnlDecodeError> {
  if (payload.length < IFADDRMSG_LEN) return fail('short-struct', `ifaddrmsg of ${payload.length} octets (need ${IFADDRMSG_LEN})`, 0)
  if (payload[0] !== fam.af) return ok(undefined)
  const prefixLen = payload[1]!
  if (prefixLen > fam.bits) return fail('bad-prefix-length', `${fam.name} address with prefix length ${prefixLen}`, 1)
  const attrs = decodeAttributes(payload, IFADDRMSG_LEN)
  if (!attrs.ok) return attrs
  // IPv6 addresses come as IFA_ADDRESS; IFA_LOCAL only on point-to-point links
  const local = fam.addr(attrs.value, IFA.LOCAL, 'IFA_LOCAL')
  if (!local.ok) return local
  const address = fam.addr(attrs.value, IFA.ADDRESS, 'IFA_ADDRESS')
  if (!address.ok) return address
  const addr = local.value ?? address.value
  if (addr === undefined) return ok(undefined)
  return ok({ index: u32(payload, 4), address: addr, prefixLen, scope: payload[3]!, flags: payload[2]!, attrs: attrs.value })
}

const IPV4: Family<number> = {
  af: AF_INET, name: 'IPv4', bits: 32, zero: 0,
  addr: (attrs, type, name) => attr4(attrs, type, name, netU32),
}

/** Decodes an RTM_NEWROUTE/DELROUTE payload; undefined for non-IPv4 routes. */
export function decodeRoute(payload: Buffer): Result<KernelRoute | undefined, RtnlDecodeError> {
  return decodeRouteOf(payload, IPV4)
}

export interface KernelAddress {
  index: number
  address: number
  prefixLen: number
  label?: string
  scope: number
}

/** Decodes an RTM_NEWADDR/DELADDR payload; undefined for non-IPv4 addresses. */
export function decodeAddress(payload: Buffer): Result<KernelAddress | undefined, RtnlDecodeError> {
  const d = decodeIfaddrOf(payload, IPV4)
  if (!d.ok || d.value === undefined) return d
  const { index, address, prefixLen, scope, attrs } = d.value
  return ok({ index, address, prefixLen, scope, label: attrString(attrs.get(IFA.LABEL)) })
}

export interface KernelLink {
  index: number
  name: string
  flags: number
  mtu?: number
  master?: number
}

/** Decodes an RTM_NEWLINK/DELLINK payload. */
export function decodeLink(payload: Buffer): Result<KernelLink, RtnlDecodeError> {
  if (payload.length < IFINFOMSG_LEN) return fail('short-struct', `ifinfomsg of ${payload.length} octets (need ${IFINFOMSG_LEN})`, 0)
  const attrs = decodeAttributes(payload, IFINFOMSG_LEN)
  if (!attrs.ok) return attrs
  const mtu = attr4(attrs.value, IFLA.MTU, 'IFLA_MTU', hostU32)
  if (!mtu.ok) return mtu
  const master = attr4(attrs.value, IFLA.MASTER, 'IFLA_MASTER', hostU32)
  if (!master.ok) return master
  return ok({
    index: i32(payload, 4),
    flags: u32(payload, 8),
    name: attrString(attrs.value.get(IFLA.IFNAME)) ?? '',
    mtu: mtu.value,
    master: master.value,
  })
}

/** Decodes an NLMSG_ERROR payload (errno 0 is an ACK) and the sequence of the request it answers. */
export function decodeAck(payload: Buffer): Result<{ errno: number; seq: number }, RtnlDecodeError> {
  if (payload.length < NLMSGERR_LEN) return fail('short-struct', `nlmsgerr of ${payload.length} octets (need ${NLMSGERR_LEN})`, 0)
  return ok({ errno: -i32(payload, 0), seq: u32(payload, 4 + 8) })
}

function encodeHeader(buf: Buffer, off: number, len: number, h: NlHeader): void {
  w32(buf, len, off)
  w16(buf, h.type, off + 4)
  w16(buf, h.flags, off + 6)
  w32(buf, h.seq, off + 8)
  w32(buf, 0, off + 12)
}

function putAttr32(buf: Buffer, off: number, type: number, value: number, networkOrder: boolean): number {
  w16(buf, 8, off)
  w16(buf, type, off + 2)
  if (networkOrder) buf.writeUInt32BE(value >>> 0, off + 4)
  else w32(buf, value, off + 4)
  return off + 8
}

/** Writes an rtmsg at b (tables of 256 and above go in RTA_TABLE); returns the offset after it. */
function encodeRtmsg(buf: Buffer, b: number, family: number, dstLen: number, table: number, protocol: number, scope: number, rtype: number): number {
  buf[b] = family
  buf[b + 1] = dstLen
  buf[b + 2] = 0
  buf[b + 3] = 0
  buf[b + 4] = table < 256 ? table : RT_TABLE_COMPAT
  buf[b + 5] = protocol
  buf[b + 6] = scope
  buf[b + 7] = rtype
  w32(buf, 0, b + 8)
  return b + RTMSG_LEN
}

export interface RouteSpec {
  prefix: { addr: number; len: number }
  table: number
  protocol: number
  metric?: number
  gateway?: number
  oif?: number
  type?: number
  scope?: number
}

/** Octets encodeRoute writes for `spec`. */
export function routeEncodingLength(spec: RouteSpec): number {
  return routeRawEncodingLength(spec.metric ?? -1, spec.gateway ?? -1, spec.oif ?? -1, spec.table)
}

/** An RTM_NEWROUTE/RTM_DELROUTE message. */
export function encodeRoute(h: NlHeader, spec: RouteSpec): Buffer {
  const buf = Buffer.alloc(routeEncodingLength(spec))
  encodeRouteInto(buf, 0, h, spec)
  return buf
}

/** Writes an RTM_NEWROUTE/RTM_DELROUTE message into buf at off; returns the offset after it. */
export function encodeRouteInto(buf: Buffer, off: number, h: NlHeader, spec: RouteSpec): number {
  return encodeRouteRaw(buf, off, h.type, h.flags, h.seq, spec.prefix.addr, spec.prefix.len, spec.table, spec.protocol,
    spec.metric ?? -1, spec.gateway ?? -1, spec.oif ?? -1, spec.type ?? RTN.UNICAST, spec.scope ?? RT_SCOPE.UNIVERSE)
}

/** Octets of a route message from plain numbers; -1 marks an absent metric, gateway or oif. Tables below 256 need no RTA_TABLE. */
export function routeRawEncodingLength(metric: number, gateway: number, oif: number, table = 254): number {
  return NLMSG_HDRLEN + RTMSG_LEN + 8 + (table >= 256 ? 8 : 0) + (metric >= 0 ? 8 : 0) + (gateway >= 0 ? 8 : 0) + (oif >= 0 ? 8 : 0)
}

/** encodeRouteInto from plain numbers (no object per route: batches use it). */
export function encodeRouteRaw(
  buf: Buffer, off: number, type: number, flags: number, seq: number,
  addr: number, len: number, table: number, protocol: number, metric: number, gateway: number, oif = -1,
  rtype: number = RTN.UNICAST, scope: number = RT_SCOPE.UNIVERSE,
): number {
  const size = routeRawEncodingLength(metric, gateway, oif, table)
  encodeHeader(buf, off, size, { type, flags, seq })
  // a delete with scope "nowhere" matches a route of any scope
  let o = encodeRtmsg(buf, off + NLMSG_HDRLEN, AF_INET, len, table, protocol, type === RTM.DELROUTE ? RT_SCOPE.NOWHERE : scope, rtype)
  o = putAttr32(buf, o, RTA.DST, addr, true)
  // rtm_table holds tables below 256; the attribute is only needed above
  if (table >= 256) o = putAttr32(buf, o, RTA.TABLE, table, false)
  if (metric >= 0) o = putAttr32(buf, o, RTA.PRIORITY, metric, false)
  if (gateway >= 0) o = putAttr32(buf, o, RTA.GATEWAY, gateway, true)
  if (oif >= 0) o = putAttr32(buf, o, RTA.OIF, oif, false)
  return off + size
}

const dumpBodyLength = (type: number): number => (type === RTM.GETLINK ? IFINFOMSG_LEN : type === RTM.GETADDR ? IFADDRMSG_LEN : RTMSG_LEN)

export function dumpRequestEncodingLength(type: number): number {
  return NLMSG_HDRLEN + dumpBodyLength(type)
}

/** A dump request (RTM_GETROUTE / GETADDR / GETLINK) for IPv4 or IPv6 (all families, for links). */
export function encodeDumpRequest(type: number, seq: number, family: typeof AF_INET | typeof AF_INET6 = AF_INET): Buffer {
  const buf = Buffer.alloc(dumpRequestEncodingLength(type))
  encodeHeader(buf, 0, buf.length, { type, flags: NLM_F.REQUEST | NLM_F.DUMP, seq })
  buf[NLMSG_HDRLEN] = type === RTM.GETLINK ? 0 : family
  return buf
}

// ---- IPv6 -----------------------------------------------------------------------

/** A 16-octet address attribute as RFC 5952 text: undefined when absent, an error when of another length. */
function attr16(attrs: Map<number, Buffer>, type: number, name: string): Result<string | undefined, RtnlDecodeError> {
  const a = attrs.get(type)
  if (a === undefined) return ok(undefined)
  if (a.length !== 16) return fail('bad-attribute', `${name} of ${a.length} octets (expected 16)`)
  return ok(formatIpv6(a))
}

const IPV6: Family<string> = {
  af: AF_INET6, name: 'IPv6', bits: 128, zero: '::',
  addr: attr16,
  checkDst: (bytes, len, text) => (hasHostBits6(bytes, len) ? `IPv6 route ${text}/${len} has host bits set` : undefined),
}

/** Decodes an RTM_NEWROUTE/DELROUTE payload; undefined for non-IPv6 routes. */
export function decodeRoute6(payload: Buffer): Result<KernelRoute6 | undefined, RtnlDecodeError> {
  return decodeRouteOf(payload, IPV6)
}

export interface KernelAddress6 {
  index: number
  /** RFC 5952 text */
  address: string
  prefixLen: number
  scope: number
  /** IFA_FLAGS when present (32 bits), else ifa_flags */
  flags: number
}

/** Decodes an RTM_NEWADDR/DELADDR payload; undefined for non-IPv6 addresses. */
export function decodeAddress6(payload: Buffer): Result<KernelAddress6 | undefined, RtnlDecodeError> {
  const d = decodeIfaddrOf(payload, IPV6)
  if (!d.ok || d.value === undefined) return d
  const flags = attr4(d.value.attrs, IFA.FLAGS, 'IFA_FLAGS', hostU32)
  if (!flags.ok) return flags
  const { index, address, prefixLen, scope } = d.value
  return ok({ index, address, prefixLen, scope, flags: flags.value ?? d.value.flags })
}

export interface RouteSpec6 {
  prefix: Prefix6
  table: number
  protocol: number
  /** RTA_PRIORITY; the kernel makes an absent or 0 metric 1024 on add, and a delete without one matches any metric */
  metric?: number
  /** RFC 5952 text */
  gateway?: string
  oif?: number
  type?: number
}

/** Octets encodeRoute6 writes for `spec`. */
export function route6EncodingLength(spec: RouteSpec6): number {
  return NLMSG_HDRLEN + RTMSG_LEN + (spec.prefix.len > 0 ? 20 : 0) + (spec.table >= 256 ? 8 : 0) + (spec.metric !== undefined ? 8 : 0) + (spec.gateway !== undefined ? 20 : 0) + (spec.oif !== undefined ? 8 : 0)
}

function putAttr16(buf: Buffer, off: number, type: number, text: string): number {
  const bytes = parseIpv6(text)
  if (bytes === undefined) throw new RangeError(`encodeRoute6: "${text}" is not an IPv6 address`)
  w16(buf, 20, off)
  w16(buf, type, off + 2)
  bytes.copy(buf, off + 4)
  return off + 20
}

/** An IPv6 RTM_NEWROUTE/RTM_DELROUTE message. */
export function encodeRoute6(h: NlHeader, spec: RouteSpec6): Buffer {
  const buf = Buffer.alloc(route6EncodingLength(spec))
  encodeRoute6Into(buf, 0, h, spec)
  return buf
}

/** Writes an IPv6 route message into buf at off; returns the offset after it. Throws a RangeError for a spec the program built wrongly. */
export function encodeRoute6Into(buf: Buffer, off: number, h: NlHeader, spec: RouteSpec6): number {
  if (!(spec.prefix.len >= 0 && spec.prefix.len <= 128)) throw new RangeError(`encodeRoute6: prefix length ${spec.prefix.len}`)
  const size = route6EncodingLength(spec)
  encodeHeader(buf, off, size, h)
  // IPv6 routes have no scope of their own (the kernel ignores rtm_scope for them)
  let o = encodeRtmsg(buf, off + NLMSG_HDRLEN, AF_INET6, spec.prefix.len, spec.table, spec.protocol, RT_SCOPE.UNIVERSE, spec.type ?? RTN.UNICAST)
  if (spec.prefix.len > 0) o = putAttr16(buf, o, RTA.DST, spec.prefix.addr)
  if (spec.table >= 256) o = putAttr32(buf, o, RTA.TABLE, spec.table, false)
  if (spec.metric !== undefined) o = putAttr32(buf, o, RTA.PRIORITY, spec.metric, false)
  if (spec.gateway !== undefined) o = putAttr16(buf, o, RTA.GATEWAY, spec.gateway)
  if (spec.oif !== undefined) o = putAttr32(buf, o, RTA.OIF, spec.oif, false)
  return off + size
}
