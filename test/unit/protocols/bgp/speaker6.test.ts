/**
 * MP-BGP IPv6 unicast in the speaker without sockets (speaker6.ts through
 * speaker.ts): capability negotiation per host kind, our subnet6 in
 * MP_REACH_NLRI with RFC 2545 next hops (and the bytes on the wire), import
 * policy per family, next-hop choice, End-of-RIB per family and readiness,
 * withdrawal (MP_UNREACH_NLRI, session down), route reflection, graceful
 * restart per family.
 */
import test from 'ava'
import { type Prefix6, formatPrefix6 } from '../../../../src/net/ipv6.js'
import type { Prefix } from '../../../../src/net/ipv4.js'
import type { RibRoute6 } from '../../../../src/rib/rib6.js'
import type { RouteSink, RouteSink6 } from '../../../../src/rib/source.js'
import { hasIpv6Unicast, localCapabilities } from '../../../../src/protocols/bgp/capabilities.js'
import { decodeMessage, encodeMessage } from '../../../../src/protocols/bgp/codec/message.js'
import { makeOpen } from '../../../../src/protocols/bgp/codec/open.js'
import type { MpReach, PathAttribute, UpdateMessage } from '../../../../src/protocols/bgp/codec/types.js'
import { endOfRib } from '../../../../src/protocols/bgp/codec/update.js'
import { resolveFsmOptions, validateOpen } from '../../../../src/protocols/bgp/fsm.js'
import { createImportPolicy } from '../../../../src/protocols/bgp/policy.js'
import { createImportPolicy6 } from '../../../../src/protocols/bgp/policy6.js'
import { type PeerRib, Speaker, type SpeakerPeer } from '../../../../src/protocols/bgp/speaker.js'
import { A, P, P6 } from '../../../helpers/net.js'

const LOCAL_AS = 64512
const SELF = A('10.99.0.11')
const SELF6 = 'fd00:99::1'
const SELF_LL = 'fe80::1'
const OWN6 = 'fd00:fab:0:1::/64'

class NullSink implements RouteSink {
  add(): void {}
  withdraw(_p: Prefix): void {}
  withdrawPeer(): number { return 0 }
}

class Sink6 implements RouteSink6 {
  readonly routes = new Map<string, RibRoute6>()
  readonly log: string[] = []
  add(r: RibRoute6): void {
    this.routes.set(`${formatPrefix6(r.prefix)} ${r.peer}`, r)
    this.log.push(`add ${formatPrefix6(r.prefix)} ${r.peer}`)
  }
  withdraw(p: Prefix6, _s: string, peer: string): void {
    this.routes.delete(`${formatPrefix6(p)} ${peer}`)
    this.log.push(`withdraw ${formatPrefix6(p)} ${peer}`)
  }
  withdrawPeer(_s: string, peer: string): number {
    let n = 0
    for (const k of [...this.routes.keys()]) if (k.endsWith(` ${peer}`)) { this.routes.delete(k); n++ }
    this.log.push(`withdrawPeer ${peer}`)
    return n
  }
  /** "prefix via nexthop dev iface (peer)" */
  table(): string[] {
    return [...this.routes.values()].map((r) => `${formatPrefix6(r.prefix)} via ${r.nextHop} dev ${r.interface} (${r.peer})`).sort()
  }
}

interface PeerOpts { asn?: number; rrClient?: boolean; routerId?: string; ipv6?: boolean; gr6?: boolean; as4?: boolean; maxPrefixes?: number }

function harness(o: { routeReflector?: boolean; linkLocal?: string | null; maxPrefixLength6?: number; allow6?: string[] } = {}) {
  const sink6 = new Sink6()
  const sent = new Map<string, UpdateMessage[]>()
  const logs: string[] = []
  const eors: string[] = []
  const ceased: string[] = []
  const log = { info: (e: string) => logs.push(e), warn: (e: string) => logs.push(e), error: (e: string) => logs.push(e), limited: (_l: string, e: string) => logs.push(e), debug: () => undefined }
  const own = P('10.244.1.0/24')
  const linkLocal = o.linkLocal === null ? undefined : (o.linkLocal ?? SELF_LL)
  const underlay = P('10.99.0.0/24')
  const speaker = new Speaker({
    asn: LOCAL_AS, routerId: SELF, routeReflector: o.routeReflector ?? false, localAddress: SELF, ownSubnet: own,
    policy: createImportPolicy({ pool: P('10.244.0.0/16'), allow: [], ownSubnet: own, maxPrefixLength: 28 }),
    nextHop: { underlay, self: SELF, pools: [P('10.244.0.0/16')] },
    sink: new NullSink(), log, schedule: () => undefined, onEndOfRib: (p) => eors.push(p.peer.key),
    ipv6: {
      address6: SELF6, ...(linkLocal ? { linkLocal } : {}), interface: 'eth0', ownSubnet6: P6(OWN6),
      policy: createImportPolicy6({ pool6: P6('fd00:fab::/48'), allow6: (o.allow6 ?? []).map(P6), ownSubnet6: P6(OWN6), maxPrefixLength6: o.maxPrefixLength6 ?? 128 }),
      nextHop: { underlay: P6('fd00:99::/64'), self: [SELF6, ...(linkLocal ? [linkLocal] : [])], pools: [P6('fd00:fab::/48')] },
      sink6,
      onLink: (peer) => ((peer.address & 0xffffff00) >>> 0) === underlay.addr,
    },
  })
  const peers = new Map<string, SpeakerPeer>()
  return {
    speaker, sink6, sent, logs, eors, ceased,
    spec(addr: string, po: PeerOpts = {}): SpeakerPeer {
      const asn = po.asn ?? LOCAL_AS
      const peer: SpeakerPeer = {
        key: addr, address: A(addr), asn, ibgp: asn === LOCAL_AS, routerId: A(po.routerId ?? addr), rrClient: po.rrClient ?? false,
        ctx: { as4: po.as4 ?? true }, maxPrefixes: po.maxPrefixes ?? 1000,
        ...(po.ipv6 === false ? {} : { ipv6: true }),
        ...(po.gr6 ? { gracefulRestart6: { forwarding: true } } : {}),
        send: (m) => sent.set(addr, [...(sent.get(addr) ?? []), ...m]),
        cease: (sub, reason) => ceased.push(`${addr} ${sub} ${reason}`),
      }
      peers.set(addr, peer)
      return peer
    },
    peer(addr: string, po: PeerOpts = {}): PeerRib {
      return speaker.peerUp(this.spec(addr, po))
    },
  }
}

function reach6Of(m: UpdateMessage): Extract<MpReach, { afi: 2 }> | undefined {
  return m.attributes.find((a): a is Extract<MpReach, { afi: 2 }> => a.type === 'mpReach' && a.afi === 2 && !('raw' in a))
}

/** +prefix / -prefix of every IPv6 announcement and withdrawal, "EoR4"/"EoR6" for End-of-RIB markers, "v4" for IPv4 UPDATEs. */
function v6Log(msgs: UpdateMessage[] | undefined): string[] {
  const out: string[] = []
  for (const m of msgs ?? []) {
    const eor = endOfRib(m)
    if (eor) { out.push(`EoR${eor.afi === 1 ? 4 : 6}`); continue }
    const r = reach6Of(m)
    const u = m.attributes.find((a) => a.type === 'mpUnreach' && a.afi === 2)
    if (u && u.type === 'mpUnreach' && !('raw' in u)) for (const w of u.withdrawn as Prefix6[]) out.push(`-${formatPrefix6(w)}`)
    if (r) for (const n of r.nlri) out.push(`+${formatPrefix6(n)}`)
    if (!r && !u && (m.nlri.length > 0 || m.withdrawn.length > 0)) out.push('v4')
  }
  return out
}

function update6(nlri: string[], o: { nextHop: string; linkLocal?: string; asPath?: number[]; localPref?: number; med?: number; originatorId?: string; clusterList?: string[]; withdrawn?: string[] }): UpdateMessage {
  const attributes: PathAttribute[] = [{ type: 'origin', origin: 0 }, { type: 'asPath', segments: o.asPath?.length ? [{ type: 'sequence', asns: o.asPath }] : [] }]
  if (nlri.length > 0) attributes.push({ type: 'mpReach', afi: 2, safi: 1, nextHop: o.nextHop, ...(o.linkLocal ? { linkLocalNextHop: o.linkLocal } : {}), nlri: nlri.map(P6) })
  if (o.med !== undefined) attributes.push({ type: 'med', med: o.med })
  if (o.localPref !== undefined) attributes.push({ type: 'localPref', localPref: o.localPref })
  if (o.originatorId) attributes.push({ type: 'originatorId', id: A(o.originatorId) })
  if (o.clusterList) attributes.push({ type: 'clusterList', ids: o.clusterList.map(A) })
  if (o.withdrawn) attributes.push({ type: 'mpUnreach', afi: 2, safi: 1, withdrawn: o.withdrawn.map(P6) })
  return { type: 'update', withdrawn: [], attributes, nlri: [] }
}

const EOR4: UpdateMessage = { type: 'update', withdrawn: [], attributes: [], nlri: [] }
const EOR6: UpdateMessage = { type: 'update', withdrawn: [], attributes: [{ type: 'mpUnreach', afi: 2, safi: 1, withdrawn: [] }], nlri: [] }

// ------------------------------------------------------------------ negotiation

test('capabilities: an IPv4-only host advertises exactly what it did before (byte-identical OPEN); a dual-stack host adds AFI 2 SAFI 1 and lists IPv6 with F in graceful restart', (t) => {
  const v4 = localCapabilities({ localAs: LOCAL_AS, gracefulRestartTime: 120 })
  // the OPEN of an IPv4-only host, as encoded before IPv6 existed in the speaker:
  // MP IPv4 unicast, route refresh, 4-octet AS 64512, graceful restart 120 s with N, IPv4 unicast F
  const open = encodeMessage(makeOpen({ asn: LOCAL_AS, holdTime: 9, bgpId: SELF, capabilities: v4 }), { as4: false })
  // (the hex printed by the code of commit ca40f88, before IPv6 unicast was in the speaker)
  t.is(open.subarray(19).toString('hex'), '04fc0000090a63000b18' + '0216' + '010400010001' + '0200' + '41040000fc00' + '40064078' + '00010180')
  t.false(v4.some((c) => c.kind === 'multiprotocol' && c.afi === 2))

  const dual = localCapabilities({ localAs: LOCAL_AS, gracefulRestartTime: 120, ipv6: true })
  t.deepEqual(dual.filter((c) => c.kind === 'multiprotocol'), [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'multiprotocol', afi: 2, safi: 1 }])
  const gr = dual.find((c) => c.kind === 'gracefulRestart')
  t.deepEqual(gr?.kind === 'gracefulRestart' ? gr.families : undefined, [{ afi: 1, safi: 1, forwarding: true }, { afi: 2, safi: 1, forwarding: true }])
})

test('negotiation matrix: IPv6 unicast is active only when both OPENs list AFI 2 SAFI 1; IPv4 unicast as before', (t) => {
  const caps = (ipv6: boolean) => localCapabilities({ localAs: LOCAL_AS, ipv6 })
  const cases: Array<[boolean, boolean | 'none', boolean, boolean]> = [
    // local dual-stack, remote advertises (true: IPv4+IPv6, false: IPv4 only, 'none': no multiprotocol capability at all) -> ipv4, ipv6
    [true, true, true, true],
    [true, false, true, false],
    [true, 'none', true, false],
    [false, true, true, false],
    [false, false, true, false],
  ]
  for (const [local, remote, want4, want6] of cases) {
    const o = resolveFsmOptions({ localAs: LOCAL_AS, localId: SELF, peerAs: LOCAL_AS, capabilities: caps(local) })
    const remoteCaps = remote === 'none' ? [{ kind: 'as4' as const, asn: LOCAL_AS }]
      : [{ kind: 'multiprotocol' as const, afi: 1, safi: 1 }, ...(remote ? [{ kind: 'multiprotocol' as const, afi: 2, safi: 1 }] : []), { kind: 'as4' as const, asn: LOCAL_AS }]
    const n = validateOpen(makeOpen({ asn: LOCAL_AS, holdTime: 9, bgpId: A('10.99.0.12'), capabilities: remoteCaps }), o)
    t.true(n.ok)
    if (!n.ok) continue
    t.is(n.value.families.some((f) => f.afi === 1 && f.safi === 1), want4, `local ${local} remote ${remote}: IPv4`)
    t.is(hasIpv6Unicast(n.value), want6, `local ${local} remote ${remote}: IPv6`)
  }
  // an IPv6-only remote (no IPv4 unicast) with a dual-stack local: only IPv6
  const o = resolveFsmOptions({ localAs: LOCAL_AS, localId: SELF, peerAs: LOCAL_AS, capabilities: caps(true) })
  const n = validateOpen(makeOpen({ asn: LOCAL_AS, holdTime: 9, bgpId: A('10.99.0.12'), capabilities: [{ kind: 'multiprotocol', afi: 2, safi: 1 }] }), o)
  t.true(n.ok && hasIpv6Unicast(n.value) && !n.value.families.some((f) => f.afi === 1))
})

// ------------------------------------------------------------------ announcing

test('a peer that negotiated IPv6 gets our subnet6 in MP_REACH_NLRI after the IPv4 table: next hop global + link-local (on-link), iBGP LOCAL_PREF 100, then the IPv6 End-of-RIB', (t) => {
  const h = harness()
  h.peer('10.99.0.12')
  const msgs = h.sent.get('10.99.0.12')!
  t.deepEqual(v6Log(msgs), ['v4', 'EoR4', `+${OWN6}`, 'EoR6'])
  const ann = msgs.find((m) => reach6Of(m))!
  const r = reach6Of(ann)!
  t.is(r.nextHop, SELF6)
  t.is(r.linkLocalNextHop, SELF_LL)
  t.deepEqual(ann.attributes.map((a) => a.type), ['origin', 'asPath', 'localPref', 'mpReach'])
  t.deepEqual(ann.attributes.find((a) => a.type === 'localPref'), { type: 'localPref', localPref: 100 })
  t.false(ann.attributes.some((a) => a.type === 'nextHop'), 'no IPv4 NEXT_HOP in an IPv6-only UPDATE')

  // on the wire: MP_REACH_NLRI flags 0x80 code 14, AFI 2 SAFI 1, next hop length 32, reserved 0, NLRI /64
  const wire = encodeMessage(ann, { as4: true })
  const i = wire.indexOf(Buffer.from([0x80, 0x0e]))
  t.true(i > 0)
  t.is(wire.subarray(i + 3, i + 3 + 4).toString('hex'), '00020120')
  t.is(wire.subarray(i + 7, i + 7 + 16).toString('hex'), 'fd000099000000000000000000000001')
  t.is(wire.subarray(i + 23, i + 23 + 16).toString('hex'), 'fe800000000000000000000000000001')
  t.is(wire.subarray(i + 39, i + 39 + 10).toString('hex'), '0040fd000fab00000001')
  const back = decodeMessage(wire, { as4: true })
  t.true(back.ok)
  if (back.ok) t.deepEqual(back.value, ann)
})

test('next hops: a peer off our underlay link gets the global next hop alone (16 octets); no known link-local address: 16 octets; eBGP: our AS prepended, no LOCAL_PREF', (t) => {
  const h = harness()
  h.peer('10.98.0.5')
  const r = reach6Of(h.sent.get('10.98.0.5')!.find((m) => reach6Of(m))!)!
  t.is(r.nextHop, SELF6)
  t.is(r.linkLocalNextHop, undefined)

  const h2 = harness({ linkLocal: null })
  h2.peer('10.99.0.12')
  t.is(reach6Of(h2.sent.get('10.99.0.12')!.find((m) => reach6Of(m))!)!.linkLocalNextHop, undefined)

  const h3 = harness()
  h3.peer('10.99.0.14', { asn: 65010 })
  const ann = h3.sent.get('10.99.0.14')!.find((m) => reach6Of(m))!
  t.deepEqual(ann.attributes.find((a) => a.type === 'asPath'), { type: 'asPath', segments: [{ type: 'sequence', asns: [LOCAL_AS] }] })
  t.false(ann.attributes.some((a) => a.type === 'localPref'))
  t.is(reach6Of(ann)!.linkLocalNextHop, SELF_LL)
})

test('a peer without IPv6 unicast gets no IPv6 at all, and its End-of-RIB for IPv4 completes its table', (t) => {
  const h = harness()
  const p = h.peer('10.99.0.12', { ipv6: false })
  t.deepEqual(v6Log(h.sent.get('10.99.0.12')), ['v4', 'EoR4'])
  // an IPv6 announcement from it is ignored (not negotiated)
  h.speaker.receiveUpdate(p, update6(['fd00:fab:0:2::/64'], { nextHop: 'fd00:99::2' }))
  t.deepEqual(h.sink6.table(), [])
  h.speaker.receiveUpdate(p, EOR4)
  t.deepEqual(h.eors, ['10.99.0.12'])
  t.true(p.eor)
})

// ------------------------------------------------------------------ receiving

test('receive: an IPv6 route via the global next hop on underlay6 (interface = underlay), MED as metric, iBGP; MP_UNREACH_NLRI withdraws it', (t) => {
  const h = harness()
  const p = h.peer('10.99.0.12')
  h.speaker.receiveUpdate(p, update6(['fd00:fab:0:2::/64'], { nextHop: 'fd00:99::2', linkLocal: 'fe80::2', med: 7, localPref: 100 }))
  t.deepEqual(h.sink6.table(), ['fd00:fab:0:2::/64 via fd00:99::2 dev eth0 (10.99.0.12)'])
  const r = [...h.sink6.routes.values()][0]!
  t.is(r.metric, 7)
  t.is(r.source, 'bgp')
  t.is(r.attrs?.ibgp, true)
  h.speaker.receiveUpdate(p, update6([], { nextHop: '::', withdrawn: ['fd00:fab:0:2::/64'] }))
  t.deepEqual(h.sink6.table(), [])
  t.deepEqual(h.sink6.log, ['add fd00:fab:0:2::/64 10.99.0.12', 'withdraw fd00:fab:0:2::/64 10.99.0.12'])
})

test('next-hop choice (RFC 2545): global off underlay6 -> the link-local one on the underlay interface; neither usable -> refused, counted, logged', (t) => {
  const h = harness()
  const p = h.peer('10.99.0.12')
  // a global next hop off underlay6 with a link-local one: via the link-local
  h.speaker.receiveUpdate(p, update6(['fd00:fab:0:2::/64'], { nextHop: '2001:db8::2', linkLocal: 'fe80::2' }))
  t.deepEqual(h.sink6.table(), ['fd00:fab:0:2::/64 via fe80::2 dev eth0 (10.99.0.12)'])
  // FRR's "::" global with a link-local (IPv6 session on a link): the link-local
  h.speaker.receiveUpdate(p, update6(['fd00:fab:0:3::/64'], { nextHop: '::', linkLocal: 'fe80::3' }))
  t.true(h.sink6.table().includes('fd00:fab:0:3::/64 via fe80::3 dev eth0 (10.99.0.12)'))
  // refused: off-underlay alone, inside pool6, our own address, our own link-local as the only usable one
  h.speaker.receiveUpdate(p, update6(['fd00:fab:0:4::/64'], { nextHop: '2001:db8::2' }))
  h.speaker.receiveUpdate(p, update6(['fd00:fab:0:5::/64'], { nextHop: 'fd00:fab:0:2::2' }))
  h.speaker.receiveUpdate(p, update6(['fd00:fab:0:6::/64'], { nextHop: SELF6, linkLocal: SELF_LL }))
  h.speaker.receiveUpdate(p, update6(['fd00:fab:0:7::/64'], { nextHop: 'ff02::1' }))
  t.deepEqual(h.sink6.table().map((r) => r.split(' ')[0]), ['fd00:fab:0:2::/64', 'fd00:fab:0:3::/64'])
  const f = h.speaker.stats().filtered6!
  t.is(f['next-hop-not-on-underlay'], 1)
  t.is(f['next-hop-inside-pool'], 1)
  t.is(f['next-hop-own-address'], 1)
  t.is(f['next-hop-not-unicast'], 1)
  t.true(h.logs.filter((l) => l === 'bgp-next-hop-refused').length >= 4)
  // the IPv4 counters are untouched
  t.deepEqual(h.speaker.stats().filtered, {})
  // a refused re-announcement withdraws what the peer had for the prefix (treat-as-withdraw)
  h.speaker.receiveUpdate(p, update6(['fd00:fab:0:2::/64'], { nextHop: '2001:db8::9' }))
  t.false(h.sink6.table().some((r) => r.startsWith('fd00:fab:0:2::/64')))
})

test('import policy per family: outside pool6, shorter than pool6, longer than max-prefix-length6, martian refused; allow6 accepted; own subnet6 refused and reported as a conflict', (t) => {
  const h = harness({ maxPrefixLength6: 120, allow6: ['fd00:beef::/48'] })
  const p = h.peer('10.99.0.12')
  const nh = { nextHop: 'fd00:99::2' }
  h.speaker.receiveUpdate(p, update6(['fd00:fab:0:2::/64', 'fd00:beef:0:1::/64', 'fd00:fab:0:2::1/128', 'fd00:aaaa::/64', 'fd00::/16', 'fd00:fab:0:3::/120'], nh))
  h.speaker.receiveUpdate(p, update6([OWN6, 'fd00:fab:0:1:1::/80'], nh))
  h.speaker.receiveUpdate(p, update6(['fe80::/64'], nh))
  t.deepEqual(h.sink6.table().map((r) => r.split(' ')[0]), ['fd00:beef:0:1::/64', 'fd00:fab:0:2::/64', 'fd00:fab:0:3::/120'])
  t.deepEqual(h.speaker.stats().filtered6, { 'too-specific': 1, 'outside-pool': 3, 'own-subnet': 2 })
  t.deepEqual(h.speaker.subnetConflicts6().map((c) => `${c.peer} ${formatPrefix6(c.prefix)}`), ['10.99.0.12 fd00:fab:0:1:1::/80'])
  t.true(h.logs.includes('bgp-subnet-conflict6'))
  t.deepEqual(h.speaker.subnetConflicts(), [], 'not an IPv4 conflict')
  // fe80::/64 is outside pool6 first (the policy's order, as for IPv4)
  t.is(h.speaker.v6!.peerView(p)!.filtered, 6)
})

test('RFC 7606 treat-as-withdraw applies to IPv6 NLRI too; eBGP AS_PATH checks and AS loops refuse IPv6 paths', (t) => {
  const h = harness()
  const p = h.peer('10.99.0.12')
  h.speaker.receiveUpdate(p, update6(['fd00:fab:0:2::/64'], { nextHop: 'fd00:99::2' }))
  h.speaker.receiveUpdate(p, { ...update6(['fd00:fab:0:2::/64'], { nextHop: 'fd00:99::2' }), errors: [{ action: 'treat-as-withdraw', attrType: 2, subcode: 11, message: 'bad' }] })
  t.deepEqual(h.sink6.table(), [])
  const e = h.peer('10.99.0.14', { asn: 65010 })
  h.speaker.receiveUpdate(e, update6(['fd00:fab:0:4::/64'], { nextHop: 'fd00:99::4', asPath: [65099] }))
  h.speaker.receiveUpdate(e, update6(['fd00:fab:0:5::/64'], { nextHop: 'fd00:99::4', asPath: [65010, LOCAL_AS] }))
  h.speaker.receiveUpdate(e, update6(['fd00:fab:0:6::/64'], { nextHop: 'fd00:99::4', asPath: [65010] }))
  t.deepEqual(h.sink6.table(), ['fd00:fab:0:6::/64 via fd00:99::4 dev eth0 (10.99.0.14)'])
  t.like(h.speaker.stats().filtered6, { 'treat-as-withdraw': 1, 'first-as-mismatch': 1, 'as-loop': 1 })
})

test('best path across peers (RFC 4271 9.1.2.2 as for IPv4): the RIB gets only the Loc-RIB best, add before withdraw when it moves', (t) => {
  const h2 = harness({ allow6: ['fd00:beef::/48'] })
  const i2 = h2.peer('10.99.0.12')
  const e2 = h2.peer('10.99.0.14', { asn: 65010 })
  // equal LOCAL_PREF: the shorter AS path wins
  h2.speaker.receiveUpdate(i2, update6(['fd00:beef::/48'], { nextHop: 'fd00:99::2', localPref: 100, asPath: [65020, 65021] }))
  h2.speaker.receiveUpdate(e2, update6(['fd00:beef::/48'], { nextHop: 'fd00:99::4', asPath: [65010] }))
  t.deepEqual(h2.sink6.table(), ['fd00:beef::/48 via fd00:99::4 dev eth0 (10.99.0.14)'])
  h2.speaker.flush()
  h2.sink6.log.length = 0
  h2.speaker.receiveUpdate(e2, update6([], { nextHop: '::', withdrawn: ['fd00:beef::/48'] }))
  t.deepEqual(h2.sink6.log, ['add fd00:beef::/48 10.99.0.12', 'withdraw fd00:beef::/48 10.99.0.14'])
  h2.speaker.flush()
  // the iBGP peer gets the eBGP route while it is best, then a withdrawal (its own route is not sent back to it)
  t.deepEqual(v6Log(h2.sent.get('10.99.0.12')).slice(4), ['+fd00:beef::/48', '-fd00:beef::/48'])
  // a higher LOCAL_PREF beats the shorter path
  h2.speaker.receiveUpdate(e2, update6(['fd00:beef::/48'], { nextHop: 'fd00:99::4', asPath: [65010] }))
  h2.speaker.receiveUpdate(i2, update6(['fd00:beef::/48'], { nextHop: 'fd00:99::2', localPref: 200, asPath: [65020, 65021] }))
  t.deepEqual(h2.sink6.table(), ['fd00:beef::/48 via fd00:99::2 dev eth0 (10.99.0.12)'])
  // without allow6 the prefix is outside pool6
  const h = harness()
  h.speaker.receiveUpdate(h.peer('10.99.0.12'), update6(['fd00:beef::/48'], { nextHop: 'fd00:99::2' }))
  t.deepEqual(h.sink6.table(), [])
})

// ------------------------------------------------------------------ End-of-RIB, readiness

test('End-of-RIB per family: a peer that negotiated IPv6 is complete (onEndOfRib, eor) only after both End-of-RIBs, in either order', (t) => {
  for (const order of [[EOR4, EOR6], [EOR6, EOR4]]) {
    const h = harness()
    const p = h.peer('10.99.0.12')
    h.speaker.receiveUpdate(p, order[0]!)
    t.false(p.eor)
    t.deepEqual(h.eors, [])
    h.speaker.receiveUpdate(p, order[1]!)
    t.true(p.eor)
    t.deepEqual(h.eors, ['10.99.0.12'])
    t.true(h.speaker.v6!.peerView(p)!.endOfRib)
    // a second marker changes nothing
    h.speaker.receiveUpdate(p, EOR6)
    t.deepEqual(h.eors, ['10.99.0.12'])
  }
})

test('deferral (restarting side): no IPv6 UPDATE and no IPv6 End-of-RIB until the deferral ends, then table and both End-of-RIBs', (t) => {
  const sent: UpdateMessage[] = []
  const own = P('10.244.1.0/24')
  const speaker = new Speaker({
    asn: LOCAL_AS, routerId: SELF, routeReflector: false, localAddress: SELF, ownSubnet: own, deferring: true,
    policy: createImportPolicy({ pool: P('10.244.0.0/16'), allow: [], ownSubnet: own, maxPrefixLength: 28 }),
    nextHop: { underlay: P('10.99.0.0/24'), self: SELF, pools: [P('10.244.0.0/16')] },
    sink: new NullSink(), log: { info: () => undefined, warn: () => undefined, error: () => undefined, limited: () => undefined, debug: () => undefined }, schedule: () => undefined,
    ipv6: {
      address6: SELF6, interface: 'eth0', ownSubnet6: P6(OWN6), sink6: new Sink6(), onLink: () => false,
      policy: createImportPolicy6({ pool6: P6('fd00:fab::/48'), allow6: [], ownSubnet6: P6(OWN6), maxPrefixLength6: 128 }),
      nextHop: { underlay: P6('fd00:99::/64'), self: [SELF6], pools: [P6('fd00:fab::/48')] },
    },
  })
  speaker.peerUp({ key: 'x', address: A('10.99.0.12'), asn: LOCAL_AS, ibgp: true, routerId: A('10.99.0.12'), rrClient: false, ctx: { as4: true }, maxPrefixes: 10, ipv6: true, send: (m) => sent.push(...m), cease: () => undefined })
  t.deepEqual(sent, [])
  speaker.endDeferral()
  t.deepEqual(v6Log(sent), ['v4', 'EoR4', `+${OWN6}`, 'EoR6'])
})

// ------------------------------------------------------------------ session down, graceful restart

test('session down withdraws every IPv6 route of the peer (another peer takes over) and from the other peers', (t) => {
  const h = harness({ routeReflector: true })
  const a = h.peer('10.99.0.12')
  const b = h.peer('10.99.0.13')
  h.speaker.receiveUpdate(a, update6(['fd00:fab:0:2::/64', 'fd00:fab:0:9::/64'], { nextHop: 'fd00:99::2' }))
  h.speaker.receiveUpdate(b, update6(['fd00:fab:0:9::/64'], { nextHop: 'fd00:99::3' }))
  t.is(h.sink6.table().length, 2)
  h.sent.clear()
  t.is(h.speaker.peerDown(a), 2)
  t.deepEqual(h.sink6.table(), ['fd00:fab:0:9::/64 via fd00:99::3 dev eth0 (10.99.0.13)'])
  h.speaker.flush()
  // fd00:fab:0:9::/64 is its own route now: withdrawn from it, as the reflected copy it had
  t.deepEqual(v6Log(h.sent.get('10.99.0.13')), ['-fd00:fab:0:2::/64', '-fd00:fab:0:9::/64'])
  t.is(h.speaker.v6!.size, 1)
})

test('graceful restart helper: IPv6 routes kept stale when the peer listed IPv6, swept at End-of-RIB of every family; not listed: withdrawn at once', (t) => {
  const h = harness()
  const p = h.peer('10.99.0.12', { gr6: true })
  h.speaker.receiveUpdate(p, update6(['fd00:fab:0:2::/64', 'fd00:fab:0:3::/64'], { nextHop: 'fd00:99::2' }))
  const mark = { since: 1, reason: 'peer-restarting' as const, until: 2 }
  t.is(h.speaker.peerStale(p, mark), 2)
  t.is(h.sink6.table().length, 2)
  t.deepEqual([...h.sink6.routes.values()][0]!.attrs?.stale, mark)
  // back with F for IPv6: stale until End-of-RIB, re-announced ones replace theirs
  h.speaker.peerResume(p, h.spec('10.99.0.12', { gr6: true }))
  t.is(h.sink6.table().length, 2)
  h.speaker.receiveUpdate(p, update6(['fd00:fab:0:2::/64'], { nextHop: 'fd00:99::2' }))
  t.is(h.speaker.v6!.staleCount(p), 1)
  h.speaker.receiveUpdate(p, EOR4)
  h.speaker.receiveUpdate(p, EOR6)
  t.is(h.speaker.sweepStale(p), 1)
  t.deepEqual(h.sink6.table(), ['fd00:fab:0:2::/64 via fd00:99::2 dev eth0 (10.99.0.12)'])
  t.is([...h.sink6.routes.values()][0]!.attrs?.stale, undefined)

  // the peer's capability did not list IPv6: its IPv6 routes go when the session is lost
  const h2 = harness()
  const q = h2.peer('10.99.0.12')
  h2.speaker.receiveUpdate(q, update6(['fd00:fab:0:2::/64'], { nextHop: 'fd00:99::2' }))
  h2.speaker.peerStale(q, mark)
  t.deepEqual(h2.sink6.table(), [])

  // back without F for IPv6: the stale IPv6 routes go at once
  const h3 = harness()
  const r = h3.peer('10.99.0.12', { gr6: true })
  h3.speaker.receiveUpdate(r, update6(['fd00:fab:0:2::/64'], { nextHop: 'fd00:99::2' }))
  h3.speaker.peerStale(r, mark)
  h3.speaker.peerResume(r, h3.spec('10.99.0.12'))
  t.deepEqual(h3.sink6.table(), [])

  // helper mode ends (restart time over): everything withdrawn
  const h4 = harness()
  const s = h4.peer('10.99.0.12', { gr6: true })
  h4.speaker.receiveUpdate(s, update6(['fd00:fab:0:2::/64'], { nextHop: 'fd00:99::2' }))
  h4.speaker.peerStale(s, mark)
  h4.speaker.peerDown(s)
  t.deepEqual(h4.sink6.table(), [])
})

// ------------------------------------------------------------------ route reflection

test('route reflector: a client learns another client\'s subnet6 with ORIGINATOR_ID and CLUSTER_LIST, next hops kept; loops refused', (t) => {
  const h = harness({ routeReflector: true })
  const a = h.peer('10.99.0.12')
  h.peer('10.99.0.13')
  h.speaker.receiveUpdate(a, update6(['fd00:fab:0:2::/64'], { nextHop: 'fd00:99::2', linkLocal: 'fe80::2', localPref: 100, med: 5 }))
  h.speaker.flush()
  const toB = h.sent.get('10.99.0.13')!
  const ann = toB.find((m) => reach6Of(m)?.nlri.some((n) => formatPrefix6(n) === 'fd00:fab:0:2::/64'))!
  t.truthy(ann)
  t.deepEqual(reach6Of(ann)!.nextHop, 'fd00:99::2')
  t.deepEqual(reach6Of(ann)!.linkLocalNextHop, 'fe80::2')
  t.deepEqual(ann.attributes.find((a) => a.type === 'originatorId'), { type: 'originatorId', id: A('10.99.0.12') })
  t.deepEqual(ann.attributes.find((a) => a.type === 'clusterList'), { type: 'clusterList', ids: [SELF] })
  t.deepEqual(ann.attributes.find((a) => a.type === 'med'), { type: 'med', med: 5 })
  // never back to the client it came from
  t.false((h.sent.get('10.99.0.12') ?? []).some((m) => reach6Of(m)?.nlri.some((n) => formatPrefix6(n) === 'fd00:fab:0:2::/64')))
  // a reflected path carrying our cluster id or our router id as originator is a loop
  h.speaker.receiveUpdate(a, update6(['fd00:fab:0:7::/64'], { nextHop: 'fd00:99::2', clusterList: ['10.99.0.11'] }))
  h.speaker.receiveUpdate(a, update6(['fd00:fab:0:8::/64'], { nextHop: 'fd00:99::2', originatorId: '10.99.0.11' }))
  t.like(h.speaker.stats().filtered6, { 'cluster-loop': 1, 'originator-loop': 1 })

  // not a reflector: iBGP-learned IPv6 routes do not go to other iBGP peers
  const h2 = harness()
  const c = h2.peer('10.99.0.12')
  h2.peer('10.99.0.13')
  h2.speaker.receiveUpdate(c, update6(['fd00:fab:0:2::/64'], { nextHop: 'fd00:99::2' }))
  h2.speaker.flush()
  t.deepEqual(v6Log(h2.sent.get('10.99.0.13')), ['v4', 'EoR4', `+${OWN6}`, 'EoR6'])
})

test('route refresh for AFI 2 resends the IPv6 table (no End-of-RIB); fabric leave withdraws subnet6 in MP_UNREACH_NLRI', (t) => {
  const h = harness()
  h.peer('10.99.0.12')
  const p = h.peer('10.99.0.13')
  h.sent.clear()
  h.speaker.routeRefresh(p, 2, 1)
  t.deepEqual(v6Log(h.sent.get('10.99.0.13')), [`+${OWN6}`])
  h.sent.clear()
  h.speaker.withdrawLocal()
  t.deepEqual(v6Log(h.sent.get('10.99.0.12')), ['v4', `-${OWN6}`].map((x) => (x === 'v4' ? 'v4' : x)))
})

test('the prefix limit counts both families', (t) => {
  const h = harness()
  const p = h.peer('10.99.0.12', { maxPrefixes: 2 })
  h.speaker.receiveUpdate(p, update6(['fd00:fab:0:2::/64', 'fd00:fab:0:3::/64', 'fd00:fab:0:4::/64'], { nextHop: 'fd00:99::2' }))
  t.is(h.ceased.length, 1)
  t.true(h.ceased[0]!.startsWith('10.99.0.12 1 '))
})

test('packing: many IPv6 prefixes of one path go in UPDATEs under 4096 octets, every prefix once', (t) => {
  const h = harness({ routeReflector: true })
  const a = h.peer('10.99.0.12')
  h.peer('10.99.0.13')
  const many: string[] = []
  for (let i = 0; i < 600; i++) many.push(`fd00:fab:0:${(i + 16).toString(16)}::/64`)
  h.sent.clear()
  h.speaker.receiveUpdate(a, update6(many, { nextHop: 'fd00:99::2' }))
  h.speaker.flush()
  const msgs = h.sent.get('10.99.0.13')!
  t.true(msgs.length > 1)
  for (const m of msgs) t.true(encodeMessage(m, { as4: true }).length <= 4096)
  t.is(v6Log(msgs).filter((x) => x.startsWith('+')).length, 600)
})

test('a new IPv6 import policy (reload) withdraws what it refuses; the IPv4 table is untouched', (t) => {
  const h = harness({ allow6: ['fd00:beef::/48'] })
  const p = h.peer('10.99.0.12')
  h.speaker.receiveUpdate(p, update6(['fd00:beef:0:1::/64', 'fd00:fab:0:2::/64', 'fd00:fab:0:3::/80'], { nextHop: 'fd00:99::2' }))
  t.is(h.sink6.table().length, 3)
  const n = h.speaker.setPolicy6(createImportPolicy6({ pool6: P6('fd00:fab::/48'), allow6: [], ownSubnet6: P6(OWN6), maxPrefixLength6: 64 }))
  t.is(n, 2)
  t.deepEqual(h.sink6.table(), ['fd00:fab:0:2::/64 via fd00:99::2 dev eth0 (10.99.0.12)'])
  t.like(h.speaker.stats().filtered6, { 'outside-pool': 1, 'too-specific': 1 })
  t.deepEqual(h.speaker.stats().filtered, {})
})

test('seeded random sequences (announce, withdraw, End-of-RIB, session down, helper mode, resume, reflection): nothing throws, the RIB holds exactly the Loc-RIB bests, every UPDATE sent encodes and decodes', (t) => {
  let seed = 0x6b6
  const r = () => {
    seed = (seed + 0x6d2b79f5) >>> 0
    let x = seed
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  const prefixes = ['fd00:fab:0:2::/64', 'fd00:fab:0:3::/64', 'fd00:fab:0:3:8000::/65', 'fd00:fab::/48', OWN6, 'fd00:beef::/48', 'fd00:fab:0:4::1/128', 'fe80::/64', '::/0']
  const hops = ['fd00:99::2', 'fd00:99::3', '2001:db8::1', '::', SELF6, 'fd00:fab:0:2::9', 'ff02::1', '::ffff:10.0.0.1']
  const lls = [undefined, 'fe80::2', 'fe80::3', SELF_LL, '::']
  const h = harness({ routeReflector: true, allow6: ['fd00:beef::/48'] })
  const addrs = ['10.99.0.12', '10.99.0.13', '10.99.0.14']
  const opts = (a: string): PeerOpts => (a === '10.99.0.14' ? { asn: 65010, gr6: true } : { gr6: a === '10.99.0.12', as4: a !== '10.99.0.13' })
  const ribs = new Map<string, PeerRib>(addrs.map((a) => [a, h.peer(a, opts(a))]))
  const up = new Set(addrs)
  const mark = { since: 1, reason: 'peer-restarting' as const, until: 2 }
  for (let i = 0; i < 4000; i++) {
    const a = pick(addrs)
    const p = ribs.get(a)!
    const roll = r()
    if (!up.has(a)) {
      if (roll < 0.5) { h.speaker.peerResume(p, h.spec(a, opts(a))); up.add(a) } else if (roll < 0.6) { h.speaker.peerDown(p); ribs.set(a, h.peer(a, opts(a))); up.add(a) }
    } else if (roll < 0.6) {
      const nlri = Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(prefixes))
      const asPath = a === '10.99.0.14' ? (r() < 0.9 ? [65010] : [65010, LOCAL_AS]) : []
      h.speaker.receiveUpdate(p, update6([...new Set(nlri)], { nextHop: pick(hops), linkLocal: pick(lls), asPath, ...(r() < 0.3 ? { med: Math.floor(r() * 3) } : {}), ...(r() < 0.2 ? { localPref: 50 + Math.floor(r() * 100) } : {}), ...(r() < 0.3 ? { withdrawn: [pick(prefixes)] } : {}) }))
    } else if (roll < 0.75) h.speaker.receiveUpdate(p, update6([], { nextHop: '::', withdrawn: [pick(prefixes)] }))
    else if (roll < 0.82) h.speaker.receiveUpdate(p, pick([EOR4, EOR6]))
    else if (roll < 0.88) { h.speaker.peerStale(p, mark); up.delete(a) }
    else if (roll < 0.92) { h.speaker.sweepStale(p) }
    else if (roll < 0.96) h.speaker.routeRefresh(p, 2, 1)
    else { h.speaker.peerDown(p); up.delete(a); ribs.set(a, h.peer(a, opts(a))); up.add(a) }
    h.speaker.flush()
    if (i % 50 === 0) {
      const bests = prefixes.map((x) => h.speaker.v6!.best(P6(x))).filter((x): x is RibRoute6 => x !== undefined)
        .map((x) => `${formatPrefix6(x.prefix)} via ${x.nextHop} dev ${x.interface} (${x.peer})`).sort()
      t.deepEqual(h.sink6.table(), bests, `step ${i}`)
    }
  }
  for (const [addr, msgs] of h.sent) {
    const as4 = addr !== '10.99.0.13'
    for (const m of msgs) {
      const bytes = encodeMessage(m, { as4 })
      t.true(bytes.length <= 4096)
      const back = decodeMessage(bytes, { as4 })
      if (!back.ok) return t.fail(`${addr}: ${back.error.message}`)
    }
  }
  t.true(h.sink6.table().length > 0)
})

test('an unchanged IPv6 re-announcement changes nothing (no RIB churn, nothing sent); a changed one replaces the route', (t) => {
  const h = harness({ routeReflector: true })
  const a = h.peer('10.99.0.12')
  h.peer('10.99.0.13')
  const u = update6(['fd00:fab:0:2::/64'], { nextHop: 'fd00:99::2', med: 1 })
  h.speaker.receiveUpdate(a, u)
  h.speaker.flush()
  const first = h.speaker.v6!.best(P6('fd00:fab:0:2::/64'))
  h.sent.clear()
  h.sink6.log.length = 0
  h.speaker.receiveUpdate(a, update6(['fd00:fab:0:2::/64'], { nextHop: 'fd00:99::2', med: 1 }))
  h.speaker.flush()
  t.is(h.speaker.v6!.best(P6('fd00:fab:0:2::/64')), first)
  t.deepEqual(h.sink6.log, [])
  t.is(h.sent.size, 0)
  h.speaker.receiveUpdate(a, update6(['fd00:fab:0:2::/64'], { nextHop: 'fd00:99::2', med: 2 }))
  h.speaker.flush()
  t.is(h.speaker.v6!.best(P6('fd00:fab:0:2::/64'))?.metric, 2)
  t.deepEqual(v6Log(h.sent.get('10.99.0.13')), ['+fd00:fab:0:2::/64'])
})
