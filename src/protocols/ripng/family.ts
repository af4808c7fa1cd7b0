/**
 * RIPng (RFC 2080) as an address family of the distance-vector engine
 * (protocols/rip/family.ts): A = RFC 5952 text, P = Prefix6, no
 * authentication (RFC 2080 relies on IPsec; fabric on the underlay's
 * security, see docs/protocols.md), RTEs per packet from the link MTU,
 * next hops carried in next-hop RTEs and always link-local.
 */
import {
  type Prefix6,
  NEXT_HOP_PROBLEM_TEXT6,
  type NextHopProblem6,
  canonicalAddress6,
  containsAddress6,
  containsPrefix6,
  formatPrefix6,
  isLinkLocal6,
  isMartian6,
  nextHopProblem6,
  prefixKey6,
} from '../../net/ipv6.js'
import type { AddressFamily, DvDecoded, DvEntry, DvInterfaceConfig } from '../rip/family.js'
import { DEFAULT_MTU, RIPNG_INFINITY, RIPNG_PORT, type RipngEntry, type RipngPacket, decodePacket, encodePacket, maxEntriesForMtu } from './codec.js'
import type { Route6 } from './route6.js'

export interface RipngFamilyOptions {
  /** the underlay link's MTU (default 1500): RTEs per packet, sent and accepted */
  readonly mtu?: number
  /** UDP port (default 521) */
  readonly port?: number
}

const ZERO = '::'

/** Canonical text of a received address; an unparsable one is kept as is (and refused by the checks). */
function norm(a: string): string {
  const pct = a.indexOf('%')
  const c = canonicalAddress6(pct >= 0 ? a.slice(0, pct) : a)
  return c.ok ? c.value : a
}

export function ripngFamily(opts: RipngFamilyOptions = {}): AddressFamily<string, Prefix6, RipngPacket, Route6> {
  const per = maxEntriesForMtu(opts.mtu ?? DEFAULT_MTU)
  return {
    port: opts.port ?? RIPNG_PORT,
    infinity: RIPNG_INFINITY,
    zero: ZERO,
    norm,
    formatAddress: (a) => a,
    formatPrefix: formatPrefix6,
    prefixKey: prefixKey6,
    containsPrefix: containsPrefix6,
    isMartian: isMartian6,
    // requests may come from a global address on the link (queries); anything else is off-link
    senderProblem: (iface, from) => (isLinkLocal6(from) || (iface.subnet !== undefined && containsAddress6(iface.subnet, from)) ? undefined : 'off-link'),
    // RFC 2080 2.4.2: a response must come from a link-local address
    responderProblem: (_iface, from) => (isLinkLocal6(from) ? undefined : 'not-link-local'),
    decode(bytes) {
      const d = decodePacket(bytes, { maxEntries: per })
      if (!d.ok) return { ok: false, error: { reason: d.error.reason, detail: d.error.message } }
      const entries: DvEntry<string, Prefix6>[] = []
      let nextHop = ZERO
      for (const e of d.value.entries) {
        if (e.kind === 'next-hop') {
          // RFC 2080 2.1.1: a next hop that is not link-local is taken as ::, i.e. the sender
          nextHop = isLinkLocal6(e.address) ? e.address : ZERO
        } else if (e.kind === 'whole-table') entries.push(e)
        else entries.push({ kind: 'route', tag: e.tag, prefix: e.prefix, nextHop, metric: e.metric })
      }
      const out: DvDecoded<string, Prefix6> = { command: d.value.command, entries, ...(d.value.rejected ? { rejected: d.value.rejected } : {}) }
      return { ok: true, value: out }
    },
    nextHopProblem: (addr, iface, pools) => nextHopProblem6(addr, { ...(iface.subnet ? { underlay: iface.subnet } : {}), self: [iface.address], pools }),
    nextHopProblemText: (p) => NEXT_HOP_PROBLEM_TEXT6[p as NextHopProblem6] ?? p,
    fieldFallsBack: (p) => p === 'own-address' || p === 'not-on-underlay',
    ignoresField: (a) => !isLinkLocal6(a),
    advertisedNextHop: (iface, l) => (l.iface === iface.name && l.nextHop !== l.from && isLinkLocal6(l.nextHop) ? l.nextHop : ZERO),
    chunk(_iface, entries) {
      // a change of next hop costs one next-hop RTE; each packet starts at "via the sender"
      const out: DvEntry<string, Prefix6>[][] = []
      let cur: DvEntry<string, Prefix6>[] = []
      let used = 0
      let hop = ZERO
      for (const e of entries) {
        const eh = e.kind === 'route' ? e.nextHop : ZERO
        let need = eh !== hop ? 2 : 1
        if (used + need > per) {
          out.push(cur)
          cur = []
          used = 0
          hop = ZERO
          need = eh !== hop ? 2 : 1
        }
        cur.push(e)
        used += need
        hop = eh
      }
      if (cur.length > 0) out.push(cur)
      return out
    },
    encode(_iface, command, entries) {
      const wire: RipngEntry[] = []
      let hop = ZERO
      for (const e of entries) {
        if (e.kind === 'whole-table') {
          wire.push(e)
          continue
        }
        if (e.nextHop !== hop) {
          wire.push({ kind: 'next-hop', address: e.nextHop })
          hop = e.nextHop
        }
        wire.push({ kind: 'route', prefix: e.prefix, tag: e.tag, metric: e.metric })
      }
      const packet: RipngPacket = { command, entries: wire }
      return { ok: true, value: { packet, bytes: encodePacket(packet) } }
    },
    route: (l) => ({ prefix: l.prefix, nextHop: l.nextHop, interface: l.iface, source: 'ripng', peer: l.from, metric: l.metric, attrs: { tag: l.tag } }),
  }
}

/** A RIPng interface: `address` is the link-local address; `subnet` the global underlay prefix, if any. No auth. */
export interface RipngInterfaceConfig extends DvInterfaceConfig<string, Prefix6> {
  readonly auth?: never
}
