/**
 * What the distance-vector engine (engine.ts) needs to know of an address
 * family. The engine keeps timers, the table, neighbours, split horizon,
 * triggered updates and the per-packet O(entries) work; a family supplies
 * the address and prefix types, their keys and containment, the next-hop
 * rules, how datagrams are decoded/authenticated and split/encoded, and
 * the route object emitted to the caller.
 *
 *   RIPv2 (this file, ipv4Family):  A = number (uint32), P = net/ipv4 Prefix,
 *     packets RipPacket, routes rib/route Route, auth from auth.ts
 *   RIPng (protocols/ripng/family.ts): A = string (RFC 5952), P = Prefix6,
 *     packets RipngPacket, routes Route6, no authentication
 *
 * Type parameters: A address, P prefix, Pkt the family's packet object
 * (as carried by 'send' actions), R the route object of route-add/withdraw.
 */
import {
  type Prefix,
  containsAddress,
  containsPrefix,
  formatAddress,
  formatPrefix,
  isMartian,
  prefixKey,
} from '../../net/ipv4.js'
import { NEXT_HOP_PROBLEM_TEXT, type NextHopProblem, nextHopProblem } from '../../net/next-hop.js'
import type { Route } from '../../rib/route.js'
import type { Result } from '../../util/result.js'
import { type RipAuthConfig, type ReplayGuard, maxRouteEntries, signPacket, verifyPacket } from './auth.js'
import { type DecodeOptions, RIP_PORT, type RipPacket, decodePacket } from './codec.js'

export type SplitHorizonMode = 'poisoned-reverse' | 'simple' | 'off'

/** One interface the engine speaks on, in the family's address types. */
export interface DvInterfaceConfig<A, P> {
  /** interface name, as the transport reports it in received events */
  readonly name: string
  /** our address on this interface (RIPng: the link-local address responses are sent from) */
  readonly address: A
  /** the interface's directly connected network (RIPng: the global underlay prefix, if any) */
  readonly subnet?: P
  /** added to received metrics (default 1) */
  readonly cost?: number
  /** default 'poisoned-reverse' */
  readonly splitHorizon?: SplitHorizonMode
  /** authentication and key chain (RIPv2 only; RIPng has none, the family ignores it) */
  readonly auth?: RipAuthConfig
  /** send updates unicast to these neighbours instead of to the multicast group */
  readonly neighbors?: readonly A[]
  /** listen and answer requests only; never send updates or requests */
  readonly passive?: boolean
}

/** A route entry in family-neutral form: the next hop per entry (zero = via the sender). */
export interface DvRouteEntry<A, P> {
  readonly kind: 'route'
  readonly tag: number
  readonly prefix: P
  readonly nextHop: A
  readonly metric: number
}

export type DvEntry<A, P> = DvRouteEntry<A, P> | { readonly kind: 'whole-table' }

/** A datagram decoded (and authenticated) by the family. */
export interface DvDecoded<A, P> {
  readonly command: 'request' | 'response'
  readonly entries: readonly DvEntry<A, P>[]
  /** entries the decoder set aside (bad metric), each counted and dropped alone */
  readonly rejected?: readonly { readonly kind: string; readonly reason: string }[]
}

/** A learned route as the family sees it when building the emitted route object. */
export interface DvLearnedView<A, P> {
  readonly prefix: P
  readonly nextHop: A
  readonly from: A
  readonly iface: string
  readonly metric: number
  readonly tag: number
}

export interface AddressFamily<A, P, Pkt, R> {
  /** the UDP port responses must come from and updates go to (520 / 521) */
  readonly port: number
  /** infinity metric (16 for both) */
  readonly infinity: number
  /** the "no next hop / via the sender" address (0 / '::') */
  readonly zero: A
  /** canonical form of an address received from the transport */
  norm(a: A): A
  formatAddress(a: A): string
  formatPrefix(p: P): string
  prefixKey(p: P): string
  containsPrefix(outer: P, inner: P): boolean
  isMartian(p: P): boolean
  /** why any packet from `from` on `iface` is refused before decoding (off-link, ...) */
  senderProblem(iface: DvInterfaceConfig<A, P>, from: A): string | undefined
  /** why a response (not a request) from `from` is refused (RIPng: not link-local) */
  responderProblem(iface: DvInterfaceConfig<A, P>, from: A): string | undefined
  /** decodes and authenticates one datagram; reason is the counter label */
  decode(bytes: Uint8Array, iface: DvInterfaceConfig<A, P>, now: number, replay: ReplayGuard, sender: string): Result<DvDecoded<A, P>, { reason: string; detail: string }>
  /** why `addr` cannot be a next hop on `iface` (net/next-hop rules); undefined when it can */
  nextHopProblem(addr: A, iface: DvInterfaceConfig<A, P>, pools: readonly P[]): string | undefined
  nextHopProblemText(problem: string): string
  /**
   * Whether a next-hop field with this problem (or a field the family does
   * not take as a next hop at all, problem 'ignored') falls back to the
   * sender instead of refusing the entry. RIPv2: not on this network or one
   * of our own (RFC 2453 4.4); RIPng: not link-local (RFC 2080 2.1.1).
   */
  fieldFallsBack(problem: string): boolean
  /** a next-hop field the family never takes (RIPng: a global address): treated as the sender */
  ignoresField(addr: A): boolean
  /** the next hop to announce for a learned route on `iface` (zero = via us) */
  advertisedNextHop(iface: DvInterfaceConfig<A, P>, l: DvLearnedView<A, P>): A
  /** splits entries into the datagrams of one update/request/reply, in order */
  chunk(iface: DvInterfaceConfig<A, P>, entries: readonly DvEntry<A, P>[]): DvEntry<A, P>[][]
  /** builds and encodes (and signs) one datagram; error kind is a counter label */
  encode(iface: DvInterfaceConfig<A, P>, command: 'request' | 'response', entries: readonly DvEntry<A, P>[], now: number, sequence: () => number): Result<{ packet: Pkt; bytes: Buffer }, { kind: string }>
  /** the route object of route-add / route-withdraw actions */
  route(l: DvLearnedView<A, P>): R
}

/** RIPv2 over IPv4 (RFC 2453, auth RFC 2082/4822). */
export function ipv4Family(decode?: DecodeOptions, port: number = RIP_PORT): AddressFamily<number, Prefix, RipPacket, Route> {
  return {
    port,
    infinity: 16,
    zero: 0,
    norm: (a) => a >>> 0,
    formatAddress,
    formatPrefix,
    prefixKey,
    containsPrefix,
    isMartian,
    senderProblem: (iface, from) => (iface.subnet && containsAddress(iface.subnet, from) ? undefined : 'off-link'),
    responderProblem: () => undefined,
    decode(bytes, iface, now, replay, sender) {
      const decoded = decodePacket(bytes, decode)
      if (!decoded.ok) return { ok: false, error: { reason: decoded.error.reason, detail: decoded.error.message } }
      const pkt = decoded.value
      const verified = verifyPacket(bytes, pkt, iface.auth, now, replay, sender)
      if (!verified.ok) return { ok: false, error: { reason: verified.error.kind, detail: verified.error.reason } }
      return { ok: true, value: pkt }
    },
    nextHopProblem: (addr, iface, pools) => nextHopProblem(addr, { underlay: iface.subnet ?? { addr: 0, len: 32 }, self: iface.address, pools }),
    nextHopProblemText: (p) => NEXT_HOP_PROBLEM_TEXT[p as NextHopProblem] ?? p,
    fieldFallsBack: (p) => p === 'not-on-underlay' || p === 'own-address',
    ignoresField: () => false,
    // a next hop on the outgoing subnet lets receivers skip us (RFC 2453 4.4)
    advertisedNextHop: (iface, l) => (l.metric < 16 && l.nextHop !== l.from && iface.subnet && containsAddress(iface.subnet, l.nextHop) ? l.nextHop : 0),
    chunk(iface, entries) {
      // 25 per packet, 24 with auth
      const per = maxRouteEntries(iface.auth)
      const out: DvEntry<number, Prefix>[][] = []
      for (let i = 0; i < entries.length; i += per) out.push(entries.slice(i, i + per))
      return out
    },
    encode(iface, command, entries, now, sequence) {
      const packet: RipPacket = { command, entries }
      const signed = signPacket(packet, iface.auth, now, sequence())
      if (!signed.ok) return { ok: false, error: { kind: signed.error.kind } }
      return { ok: true, value: { packet, bytes: signed.value } }
    },
    route: (l) => ({ prefix: l.prefix, nextHop: l.nextHop, source: 'rip', peer: formatAddress(l.from), metric: l.metric, attrs: { tag: l.tag } }),
  }
}
