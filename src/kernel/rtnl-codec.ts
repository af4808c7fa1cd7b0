/**
 * rtnetlink messages fabric needs (routes, addresses, links), as bytes.
 * Pure: no socket. Netlink headers and structs are host-endian; addresses in
 * attributes are network order. Decoding validates every length and returns
 * a typed error for anything malformed.
 */
import { endianness } from 'node:os'
import { type Result, err, ok } from '../util/result.js'
import type { KernelRoute } from './types.js'

const LE = endianness() === 'LE'

export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const
export const RTM = {
  NEWLINK: 16, DELLINK: 17, GETLINK: 18,
  NEWADDR: 20, DELADDR: 21, GETADDR: 22,
  NEWROUTE: 24, DELROUTE: 25, GETROUTE: 26,
} as const
export const NLM_F = {
  REQUEST: 0x1, MULTI: 0x2, ACK: 0x4, ECHO: 0x8,
  ROOT: 0x100, MATCH: 0x200, DUMP: 0x300,
  REPLACE: 0x100, EXCL: 0x200, CREATE: 0x400, APPEND: 0x800,
} as const
export const RTA = { DST: 1, SRC: 2, IIF: 3, OIF: 4, GATEWAY: 5, PRIORITY: 6, PREFSRC: 7, TABLE: 15 } as const
export const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3 } as const
export const IFLA = { IFNAME: 3, MTU: 4, MASTER: 10 } as const
export const IFF = { UP: 0x1, RUNNING: 0x40, LOWER_UP: 0x10000 } as const
export const RTN = { UNICAST: 1, LOCAL: 2, BROADCAST: 3, BLACKHOLE: 6, UNREACHABLE: 7, PROHIBIT: 8 } as const
export const RT_SCOPE = { UNIVERSE: 0, LINK: 253, HOST: 254 } as const
export const AF_INET = 2
/** rtnetlink multicast groups (numbers for addMembership) */
export const RTNLGRP = { LINK: 1, IPV4_IFADDR: 5, IPV4_ROUTE: 7 } as const

const HDR = 16

export interface NlMessage {
  type: number
  flags: number
  seq: number
  pid: number
  /** payload after the 16-byte header */
  payload: Buffer
}

export interface RtnlDecodeError {
  kind: 'rtnl-decode'
  reason: string
}

function u16(b: Buffer, o: number): number { return LE ? b.readUInt16LE(o) : b.readUInt16BE(o) }
function u32(b: Buffer, o: number): number { return LE ? b.readUInt32LE(o) : b.readUInt32BE(o) }
function i32(b: Buffer, o: number): number { return LE ? b.readInt32LE(o) : b.readInt32BE(o) }
function w16(b: Buffer, v: number, o: number): void { if (LE) b.writeUInt16LE(v, o); else b.writeUInt16BE(v, o) }
function w32(b: Buffer, v: number, o: number): void { if (LE) b.writeUInt32LE(v >>> 0, o); else b.writeUInt32BE(v >>> 0, o) }

const align4 = (n: number): number => (n + 3) & ~3

/** Splits a datagram into netlink messages. */
export function splitMessages(buf: Buffer): Result<NlMessage[], RtnlDecodeError> {
  const out: NlMessage[] = []
  let off = 0
  while (off + HDR <= buf.length) {
    const len = u32(buf, off)
    if (len < HDR || off + len > buf.length) return err({ kind: 'rtnl-decode', reason: `message length ${len} at offset ${off} exceeds datagram of ${buf.length}` })
    out.push({ type: u16(buf, off + 4), flags: u16(buf, off + 6), seq: u32(buf, off + 8), pid: u32(buf, off + 12), payload: buf.subarray(off + HDR, off + len) })
    off += align4(len)
  }
  return ok(out)
}

/** Parses rtattrs into type -> value (last wins). */
export function parseAttrs(buf: Buffer, start: number): Result<Map<number, Buffer>, RtnlDecodeError> {
  const attrs = new Map<number, Buffer>()
  let off = start
  while (off + 4 <= buf.length) {
    const len = u16(buf, off)
    const type = u16(buf, off + 2) & 0x3fff
    if (len < 4 || off + len > buf.length) return err({ kind: 'rtnl-decode', reason: `attribute ${type} length ${len} overruns message` })
    attrs.set(type, buf.subarray(off + 4, off + len))
    off += align4(len)
  }
  return ok(attrs)
}

function attrU32(a: Buffer | undefined): number | undefined {
  return a !== undefined && a.length >= 4 ? u32(a, 0) : undefined
}
function attrAddr(a: Buffer | undefined): number | undefined {
  return a !== undefined && a.length === 4 ? a.readUInt32BE(0) : undefined
}

/** Decodes an RTM_NEWROUTE/DELROUTE payload; undefined for non-IPv4 routes. */
export function decodeRoute(payload: Buffer): Result<KernelRoute | undefined, RtnlDecodeError> {
  if (payload.length < 12) return err({ kind: 'rtnl-decode', reason: `rtmsg of ${payload.length} bytes (need 12)` })
  const family = payload[0]!
  if (family !== AF_INET) return ok(undefined)
  const dstLen = payload[1]!
  if (dstLen > 32) return err({ kind: 'rtnl-decode', reason: `IPv4 route with prefix length ${dstLen}` })
  const attrs = parseAttrs(payload, 12)
  if (!attrs.ok) return attrs
  const a = attrs.value
  const dst = attrAddr(a.get(RTA.DST)) ?? 0
  const table = attrU32(a.get(RTA.TABLE)) ?? payload[4]!
  return ok({
    prefix: { addr: dst, len: dstLen },
    table,
    protocol: payload[5]!,
    scope: payload[6]!,
    type: payload[7]!,
    metric: attrU32(a.get(RTA.PRIORITY)) ?? 0,
    gateway: attrAddr(a.get(RTA.GATEWAY)),
    oif: attrU32(a.get(RTA.OIF)),
  })
}

export interface KernelAddress {
  index: number
  address: number
  prefixLen: number
  label?: string
  scope: number
}

export function decodeAddress(payload: Buffer): Result<KernelAddress | undefined, RtnlDecodeError> {
  if (payload.length < 8) return err({ kind: 'rtnl-decode', reason: `ifaddrmsg of ${payload.length} bytes (need 8)` })
  if (payload[0] !== AF_INET) return ok(undefined)
  const attrs = parseAttrs(payload, 8)
  if (!attrs.ok) return attrs
  const local = attrAddr(attrs.value.get(IFA.LOCAL)) ?? attrAddr(attrs.value.get(IFA.ADDRESS))
  if (local === undefined) return ok(undefined)
  const label = attrs.value.get(IFA.LABEL)
  return ok({
    index: u32(payload, 4),
    address: local,
    prefixLen: payload[1]!,
    scope: payload[3]!,
    label: label ? label.toString('utf8').replace(/\0.*$/s, '') : undefined,
  })
}

export interface KernelLink {
  index: number
  name: string
  flags: number
  mtu?: number
  master?: number
}

export function decodeLink(payload: Buffer): Result<KernelLink, RtnlDecodeError> {
  if (payload.length < 16) return err({ kind: 'rtnl-decode', reason: `ifinfomsg of ${payload.length} bytes (need 16)` })
  const attrs = parseAttrs(payload, 16)
  if (!attrs.ok) return attrs
  const name = attrs.value.get(IFLA.IFNAME)
  return ok({
    index: i32(payload, 4),
    flags: u32(payload, 8),
    name: name ? name.toString('utf8').replace(/\0.*$/s, '') : '',
    mtu: attrU32(attrs.value.get(IFLA.MTU)),
    master: attrU32(attrs.value.get(IFLA.MASTER)),
  })
}

/** Decodes an NLMSG_ERROR payload: 0 is an ACK, negative is -errno. */
export function decodeError(payload: Buffer): Result<{ errno: number; seq: number }, RtnlDecodeError> {
  if (payload.length < 4 + HDR) return err({ kind: 'rtnl-decode', reason: `nlmsgerr of ${payload.length} bytes` })
  return ok({ errno: -i32(payload, 0), seq: u32(payload, 4 + 8) })
}

function header(buf: Buffer, len: number, type: number, flags: number, seq: number): void {
  w32(buf, len, 0)
  w16(buf, type, 4)
  w16(buf, flags, 6)
  w32(buf, seq, 8)
  w32(buf, 0, 12)
}

function putAttr32(buf: Buffer, off: number, type: number, value: number, networkOrder: boolean): number {
  w16(buf, 8, off)
  w16(buf, type, off + 2)
  if (networkOrder) buf.writeUInt32BE(value >>> 0, off + 4)
  else w32(buf, value, off + 4)
  return off + 8
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

/** Size of an encoded route message with the given attributes. */
export function routeMessageSize(spec: RouteSpec): number {
  return routeFieldsSize(spec.metric ?? -1, spec.gateway ?? -1, spec.oif ?? -1, spec.table)
}

/** Writes an RTM_NEWROUTE/RTM_DELROUTE message into buf at off; returns the new offset. */
export function encodeRouteInto(buf: Buffer, off: number, type: number, flags: number, seq: number, spec: RouteSpec): number {
  return encodeRouteFields(buf, off, type, flags, seq, spec.prefix.addr, spec.prefix.len, spec.table, spec.protocol,
    spec.metric ?? -1, spec.gateway ?? -1, spec.oif ?? -1, spec.type ?? RTN.UNICAST, spec.scope ?? RT_SCOPE.UNIVERSE)
}

/** Size of a route message; -1 marks an absent metric, gateway or oif. Tables below 256 need no RTA_TABLE. */
export function routeFieldsSize(metric: number, gateway: number, oif: number, table = 254): number {
  return HDR + 12 + 8 + (table >= 256 ? 8 : 0) + (metric >= 0 ? 8 : 0) + (gateway >= 0 ? 8 : 0) + (oif >= 0 ? 8 : 0)
}

/** The same message from plain numbers (no spec object per route; batches use it). */
export function encodeRouteFields(
  buf: Buffer, off: number, type: number, flags: number, seq: number,
  addr: number, len: number, table: number, protocol: number, metric: number, gateway: number, oif = -1,
  rtype: number = RTN.UNICAST, scope: number = RT_SCOPE.UNIVERSE,
): number {
  const size = routeFieldsSize(metric, gateway, oif, table)
  header(buf.subarray(off, off + HDR), size, type, flags, seq)
  const b = off + HDR
  buf[b] = AF_INET
  buf[b + 1] = len
  buf[b + 2] = 0
  buf[b + 3] = 0
  buf[b + 4] = table < 256 ? table : 252 /* RT_TABLE_COMPAT */
  buf[b + 5] = protocol
  buf[b + 6] = type === RTM.DELROUTE ? 0xff /* RT_SCOPE_NOWHERE: match any on delete */ : scope
  buf[b + 7] = rtype
  w32(buf, 0, b + 8)
  let o = b + 12
  o = putAttr32(buf, o, RTA.DST, addr, true)
  // rtm_table holds tables below 256; the attribute is only needed above
  if (table >= 256) o = putAttr32(buf, o, RTA.TABLE, table, false)
  if (metric >= 0) o = putAttr32(buf, o, RTA.PRIORITY, metric, false)
  if (gateway >= 0) o = putAttr32(buf, o, RTA.GATEWAY, gateway, true)
  if (oif >= 0) o = putAttr32(buf, o, RTA.OIF, oif, false)
  return off + size
}

export function encodeRoute(type: number, flags: number, seq: number, spec: RouteSpec): Buffer {
  const buf = Buffer.alloc(routeMessageSize(spec))
  encodeRouteInto(buf, 0, type, flags, seq, spec)
  return buf
}

/** A dump request (RTM_GETROUTE / GETADDR / GETLINK) for IPv4 (or all, for links). */
export function encodeDump(type: number, seq: number): Buffer {
  const bodyLen = type === RTM.GETLINK ? 16 : type === RTM.GETADDR ? 8 : 12
  const buf = Buffer.alloc(HDR + bodyLen)
  header(buf, buf.length, type, NLM_F.REQUEST | NLM_F.DUMP, seq)
  buf[HDR] = type === RTM.GETLINK ? 0 : AF_INET
  return buf
}
