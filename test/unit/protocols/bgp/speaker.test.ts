/**
 * The speaker's routing logic without sockets: best path (RFC 4271 9.1),
 * import policy, route reflection and its loop checks (RFC 4456),
 * max-prefix, End-of-RIB, route refresh, session down.
 */
import test from 'ava'
import { type Prefix, formatPrefix, } from '../../../../src/net/ipv4.js'
import type { Route } from '../../../../src/rib/route.js'
import type { RouteSink } from '../../../../src/rib/source.js'
import { CeaseSubcode } from '../../../../src/protocols/bgp/codec/constants.js'
import type { AsPathSegment, PathAttribute, UpdateMessage } from '../../../../src/protocols/bgp/codec/types.js'
import { endOfRib } from '../../../../src/protocols/bgp/codec/update.js'
import { decodeMessage, encodeMessage } from '../../../../src/protocols/bgp/codec/index.js'
import { PrefixMap } from '../../../../src/net/prefix-map.js'
import { createImportPolicy } from '../../../../src/protocols/bgp/policy.js'
import { type PeerRib, Speaker, type SpeakerPeer } from '../../../../src/protocols/bgp/speaker.js'
import { A, P } from '../../../helpers/net.js'


const LOCAL_AS = 64512
const SELF = A('10.99.0.11')

class FakeSink implements RouteSink {
  readonly routes = new Map<string, Route>()
  readonly log: string[] = []
  add(r: Route): void {
    this.routes.set(`${formatPrefix(r.prefix)} ${r.peer}`, r)
    this.log.push(`add ${formatPrefix(r.prefix)} ${r.peer}`)
  }
  withdraw(p: Prefix, _s: string, peer: string): void {
    this.routes.delete(`${formatPrefix(p)} ${peer}`)
    this.log.push(`withdraw ${formatPrefix(p)} ${peer}`)
  }
  withdrawPeer(_s: string, peer: string): number {
    let n = 0
    for (const k of [...this.routes.keys()]) if (k.endsWith(` ${peer}`)) { this.routes.delete(k); n++ }
    this.log.push(`withdrawPeer ${peer}`)
    return n
  }
  /** "prefix via nexthop (peer)" of what the RIB holds */
  table(): string[] {
    return [...this.routes.values()].map((r) => `${formatPrefix(r.prefix)} ${r.peer}`).sort()
  }
}

interface Harness {
  speaker: Speaker
  sink: FakeSink
  sent: Map<string, UpdateMessage[]>
  ceased: string[]
  logs: string[]
  eors: string[]
  peer(addr: string, opts?: { asn?: number; rrClient?: boolean; routerId?: string; maxPrefixes?: number; as4?: boolean }): PeerRib
}

function harness(o: { routeReflector?: boolean; ownSubnet?: string; clusterId?: string; allow?: string[] } = {}): Harness {
  const sink = new FakeSink()
  const sent = new Map<string, UpdateMessage[]>()
  const ceased: string[] = []
  const logs: string[] = []
  const eors: string[] = []
  const log = { info: (e: string) => logs.push(e), warn: (e: string) => logs.push(e), error: (e: string) => logs.push(e), limited: (_l: string, e: string) => logs.push(e), debug: () => undefined }
  const own = P(o.ownSubnet ?? '10.244.1.0/24')
  const speaker = new Speaker({
    asn: LOCAL_AS, routerId: SELF, ...(o.clusterId ? { clusterId: A(o.clusterId) } : {}), routeReflector: o.routeReflector ?? false,
    localAddress: SELF, ownSubnet: own,
    policy: createImportPolicy({ pool: P('10.244.0.0/16'), allow: (o.allow ?? []).map(P), ownSubnet: own, maxPrefixLength: 28 }),
    nextHop: { underlay: P('10.99.0.0/24'), self: SELF, pools: [P('10.244.0.0/16')] },
    sink, log, schedule: () => undefined, onEndOfRib: (p) => eors.push(p.peer.key),
  })
  return {
    speaker, sink, sent, ceased, logs, eors,
    peer(addr, po = {}) {
      const asn = po.asn ?? LOCAL_AS
      const peer: SpeakerPeer = {
        key: addr, address: A(addr), asn, ibgp: asn === LOCAL_AS, routerId: A(po.routerId ?? addr), rrClient: po.rrClient ?? false,
        ctx: { as4: po.as4 ?? true }, maxPrefixes: po.maxPrefixes ?? 1000,
        send: (m) => sent.set(addr, [...(sent.get(addr) ?? []), ...m]),
        cease: (sub, reason) => ceased.push(`${addr} ${sub} ${reason}`),
      }
      return speaker.peerUp(peer)
    },
  }
}

function seq(...asns: number[]): AsPathSegment[] {
  return asns.length ? [{ type: 'sequence', asns }] : []
}

function update(nlri: string[], o: { nextHop: string; asPath?: number[]; localPref?: number; med?: number; origin?: 0 | 1 | 2; originatorId?: string; clusterList?: string[]; withdrawn?: string[]; errors?: UpdateMessage['errors'] }): UpdateMessage {
  const attributes: PathAttribute[] = [
    { type: 'origin', origin: o.origin ?? 0 },
    { type: 'asPath', segments: seq(...(o.asPath ?? [])) },
    { type: 'nextHop', nextHop: A(o.nextHop) },
  ]
  if (o.med !== undefined) attributes.push({ type: 'med', med: o.med })
  if (o.localPref !== undefined) attributes.push({ type: 'localPref', localPref: o.localPref })
  if (o.originatorId) attributes.push({ type: 'originatorId', id: A(o.originatorId) })
  if (o.clusterList) attributes.push({ type: 'clusterList', ids: o.clusterList.map(A) })
  return { type: 'update', withdrawn: (o.withdrawn ?? []).map(P), attributes, nlri: nlri.map(P), ...(o.errors ? { errors: o.errors } : {}) }
}

/** "prefix/len" of every NLRI announced to a peer, and of every withdrawal, in order. */
function announced(msgs: UpdateMessage[] | undefined): string[] {
  const out: string[] = []
  for (const m of msgs ?? []) {
    for (const w of m.withdrawn) out.push(`-${formatPrefix(w)}`)
    for (const n of m.nlri) out.push(`+${formatPrefix(n)}`)
  }
  return out
}

function attrsOf(msgs: UpdateMessage[] | undefined, prefix: string): readonly PathAttribute[] | undefined {
  for (const m of [...(msgs ?? [])].reverse()) if (m.nlri.some((n) => formatPrefix(n) === prefix)) return m.attributes
  return undefined
}

test('a new peer gets our subnet (iBGP: next hop = underlay, ORIGIN IGP, empty AS path, LOCAL_PREF) then End-of-RIB', (t) => {
  const h = harness()
  h.peer('10.99.0.12')
  const msgs = h.sent.get('10.99.0.12')!
  t.deepEqual(announced(msgs), ['+10.244.1.0/24'])
  t.truthy(endOfRib(msgs[msgs.length - 1]!))
  t.deepEqual(attrsOf(msgs, '10.244.1.0/24'), [
    { type: 'origin', origin: 0 }, { type: 'asPath', segments: [] }, { type: 'nextHop', nextHop: SELF }, { type: 'localPref', localPref: 100 },
  ])
})

test('to an eBGP peer: our AS prepended, next hop self, no LOCAL_PREF', (t) => {
  const h = harness()
  h.peer('10.99.0.20', { asn: 65010 })
  t.deepEqual(attrsOf(h.sent.get('10.99.0.20'), '10.244.1.0/24'), [
    { type: 'origin', origin: 0 }, { type: 'asPath', segments: seq(LOCAL_AS) }, { type: 'nextHop', nextHop: SELF },
  ])
})

test('import policy: pool or allow list, never our subnet or inside it, max length, martians', (t) => {
  const h = harness({ allow: ['192.168.50.0/24'] })
  const p = h.peer('10.99.0.12')
  h.speaker.receiveUpdate(p, update(['10.244.2.0/24', '10.244.1.0/24', '10.244.1.128/25', '10.245.0.0/24', '10.244.3.0/28', '10.244.3.16/30', '192.168.50.0/24', '0.0.0.0/0'], { nextHop: '10.99.0.12' }))
  t.deepEqual(h.sink.table(), ['10.244.2.0/24 10.99.0.12', '10.244.3.0/28 10.99.0.12', '192.168.50.0/24 10.99.0.12'])
  t.is(p.accepted, 3)
  t.is(p.filtered, 5)
  t.deepEqual(h.speaker.stats().filtered, { 'own-subnet': 2, 'outside-pool': 2, 'too-specific': 1 })
})

test('best path: local-pref, AS path length, origin, MED (same neighbour AS), eBGP over iBGP, router id, peer address', (t) => {
  const h = harness()
  const a = h.peer('10.99.0.12') // iBGP
  const b = h.peer('10.99.0.13') // iBGP
  const e = h.peer('10.99.0.20', { asn: 65010 })
  const e2 = h.peer('10.99.0.21', { asn: 65020 })
  const best = (p: string) => h.speaker.best(P(p))?.peer

  // local-pref wins over a shorter path
  h.speaker.receiveUpdate(a, update(['10.244.10.0/24'], { nextHop: '10.99.0.12', asPath: [65001, 65002], localPref: 200 }))
  h.speaker.receiveUpdate(b, update(['10.244.10.0/24'], { nextHop: '10.99.0.13', asPath: [65001], localPref: 100 }))
  t.is(best('10.244.10.0/24'), '10.99.0.12')
  // shorter AS path
  h.speaker.receiveUpdate(a, update(['10.244.11.0/24'], { nextHop: '10.99.0.12', asPath: [65001, 65002] }))
  h.speaker.receiveUpdate(b, update(['10.244.11.0/24'], { nextHop: '10.99.0.13', asPath: [65001] }))
  t.is(best('10.244.11.0/24'), '10.99.0.13')
  // lower origin
  h.speaker.receiveUpdate(a, update(['10.244.12.0/24'], { nextHop: '10.99.0.12', origin: 2 }))
  h.speaker.receiveUpdate(b, update(['10.244.12.0/24'], { nextHop: '10.99.0.13', origin: 1 }))
  t.is(best('10.244.12.0/24'), '10.99.0.13')
  // MED compared between paths from the same neighbouring AS
  h.speaker.receiveUpdate(a, update(['10.244.13.0/24'], { nextHop: '10.99.0.12', asPath: [65001], med: 10 }))
  h.speaker.receiveUpdate(b, update(['10.244.13.0/24'], { nextHop: '10.99.0.13', asPath: [65001], med: 50 }))
  t.is(best('10.244.13.0/24'), '10.99.0.12')
  // ... but not between different neighbouring ASes: falls through to eBGP-over-iBGP, then router id
  h.speaker.receiveUpdate(e, update(['10.244.14.0/24'], { nextHop: '10.99.0.20', asPath: [65010], med: 100 }))
  h.speaker.receiveUpdate(a, update(['10.244.14.0/24'], { nextHop: '10.99.0.12', asPath: [65001], med: 1 }))
  t.is(best('10.244.14.0/24'), '10.99.0.20')
  // eBGP over iBGP
  h.speaker.receiveUpdate(b, update(['10.244.15.0/24'], { nextHop: '10.99.0.13', asPath: [65010] }))
  h.speaker.receiveUpdate(e, update(['10.244.15.0/24'], { nextHop: '10.99.0.20', asPath: [65010] }))
  t.is(best('10.244.15.0/24'), '10.99.0.20')
  // lowest router id between two eBGP paths
  h.speaker.receiveUpdate(e2, update(['10.244.16.0/24'], { nextHop: '10.99.0.21', asPath: [65020] }))
  h.speaker.receiveUpdate(e, update(['10.244.16.0/24'], { nextHop: '10.99.0.20', asPath: [65010] }))
  t.is(best('10.244.16.0/24'), '10.99.0.20')
  // only the Loc-RIB best reaches the RIB, one candidate per prefix
  t.is(h.sink.table().filter((r) => r.startsWith('10.244.16.0/24')).length, 1)
})

test('best changes: new best added before the old is withdrawn; session down falls back to the other path', (t) => {
  const h = harness()
  const a = h.peer('10.99.0.12')
  const b = h.peer('10.99.0.13')
  h.speaker.receiveUpdate(a, update(['10.244.20.0/24'], { nextHop: '10.99.0.12', asPath: [65001, 65002] }))
  h.sink.log.length = 0
  h.speaker.receiveUpdate(b, update(['10.244.20.0/24'], { nextHop: '10.99.0.13', asPath: [65001] }))
  t.deepEqual(h.sink.log, ['add 10.244.20.0/24 10.99.0.13', 'withdraw 10.244.20.0/24 10.99.0.12'])
  h.sink.log.length = 0
  h.speaker.peerDown(b)
  t.deepEqual(h.sink.log, ['add 10.244.20.0/24 10.99.0.12', 'withdrawPeer 10.99.0.13'])
  t.deepEqual(h.sink.table(), ['10.244.20.0/24 10.99.0.12'])
  // explicit withdrawal removes it
  h.speaker.receiveUpdate(a, update([], { nextHop: '10.99.0.12', withdrawn: ['10.244.20.0/24'] }))
  t.deepEqual(h.sink.table(), [])
  t.is(a.accepted, 0)
})

test('iBGP routes are not passed to other iBGP peers without route reflection; eBGP routes are, next hop unchanged', (t) => {
  const h = harness()
  const a = h.peer('10.99.0.12')
  h.peer('10.99.0.13')
  const e = h.peer('10.99.0.20', { asn: 65010 })
  h.sent.clear()
  h.speaker.receiveUpdate(a, update(['10.244.2.0/24'], { nextHop: '10.99.0.12' }))
  h.speaker.receiveUpdate(e, update(['10.244.30.0/24'], { nextHop: '10.99.0.20', asPath: [65010], med: 7 }))
  h.speaker.flush()
  t.deepEqual(announced(h.sent.get('10.99.0.13')), ['+10.244.30.0/24'])
  t.deepEqual(attrsOf(h.sent.get('10.99.0.13'), '10.244.30.0/24'), [
    { type: 'origin', origin: 0 }, { type: 'asPath', segments: seq(65010) }, { type: 'nextHop', nextHop: A('10.99.0.20') },
    { type: 'med', med: 7 }, { type: 'localPref', localPref: 100 },
  ])
  // the eBGP peer gets the iBGP route with our AS and next hop self, never its own route back
  t.deepEqual(announced(h.sent.get('10.99.0.20')), ['+10.244.2.0/24'])
  t.deepEqual(attrsOf(h.sent.get('10.99.0.20'), '10.244.2.0/24'), [
    { type: 'origin', origin: 0 }, { type: 'asPath', segments: seq(LOCAL_AS) }, { type: 'nextHop', nextHop: SELF },
  ])
  t.deepEqual(announced(h.sent.get('10.99.0.12')), ['+10.244.30.0/24'])
})

test('route reflector: client routes reflected with ORIGINATOR_ID and CLUSTER_LIST; loops refused', (t) => {
  const h = harness({ routeReflector: true, clusterId: '1.1.1.1' })
  const c1 = h.peer('10.99.0.12')
  h.peer('10.99.0.13')
  h.sent.clear()
  h.speaker.receiveUpdate(c1, update(['10.244.2.0/24'], { nextHop: '10.99.0.12' }))
  h.speaker.flush()
  t.deepEqual(announced(h.sent.get('10.99.0.13')), ['+10.244.2.0/24'])
  t.deepEqual(attrsOf(h.sent.get('10.99.0.13'), '10.244.2.0/24'), [
    { type: 'origin', origin: 0 }, { type: 'asPath', segments: [] }, { type: 'nextHop', nextHop: A('10.99.0.12') },
    { type: 'localPref', localPref: 100 }, { type: 'originatorId', id: A('10.99.0.12') }, { type: 'clusterList', ids: [A('1.1.1.1')] },
  ])
  t.is(h.sent.get('10.99.0.12'), undefined, 'never reflected back to its originator')
  // our cluster id in CLUSTER_LIST, or our router id as ORIGINATOR_ID: refused
  h.speaker.receiveUpdate(c1, update(['10.244.40.0/24'], { nextHop: '10.99.0.12', clusterList: ['9.9.9.9', '1.1.1.1'], originatorId: '10.99.0.50' }))
  h.speaker.receiveUpdate(c1, update(['10.244.41.0/24'], { nextHop: '10.99.0.12', originatorId: '10.99.0.11' }))
  t.is(h.speaker.best(P('10.244.40.0/24')), undefined)
  t.is(h.speaker.best(P('10.244.41.0/24')), undefined)
  t.deepEqual(h.speaker.stats().filtered, { 'cluster-loop': 1, 'originator-loop': 1 })
})

test('route reflector, one flush to many clients: each gets its own changes; the same change to clients of one kind is one UPDATE object, encoded once, that decodes to what was reflected', (t) => {
  const h = harness({ routeReflector: true, clusterId: '1.1.1.1' })
  const c = ['10.99.0.12', '10.99.0.13', '10.99.0.14', '10.99.0.15'].map((a) => h.peer(a))
  h.peer('10.99.0.16', { as4: false })
  h.speaker.receiveUpdate(c[1]!, update(['10.244.4.0/24'], { nextHop: '10.99.0.13' }))
  h.speaker.flush()
  h.sent.clear()
  h.speaker.receiveUpdate(c[0]!, update(['10.244.2.0/24'], { nextHop: '10.99.0.12' }))
  h.speaker.receiveUpdate(c[1]!, update(['10.244.3.0/24'], { nextHop: '10.99.0.13', withdrawn: ['10.244.4.0/24'] }))
  h.speaker.flush()
  t.deepEqual(announced(h.sent.get('10.99.0.12')), ['-10.244.4.0/24', '+10.244.3.0/24'], 'not its own prefix back')
  t.deepEqual(announced(h.sent.get('10.99.0.13')), ['+10.244.2.0/24'])
  for (const k of ['10.99.0.14', '10.99.0.15', '10.99.0.16']) t.deepEqual(announced(h.sent.get(k)), ['-10.244.4.0/24', '+10.244.2.0/24', '+10.244.3.0/24'], k)
  const of = (k: string, prefix: string) => h.sent.get(k)!.find((m) => m.nlri.some((n) => formatPrefix(n) === prefix))!
  t.is(h.sent.get('10.99.0.14')![0], h.sent.get('10.99.0.12')![0], 'one withdrawal object')
  t.is(of('10.99.0.14', '10.244.2.0/24'), of('10.99.0.13', '10.244.2.0/24'), 'one object for the clients of one kind')
  t.is(of('10.99.0.14', '10.244.3.0/24'), of('10.99.0.15', '10.244.3.0/24'))
  t.is(encodeMessage(of('10.99.0.14', '10.244.3.0/24'), { as4: true }), encodeMessage(of('10.99.0.15', '10.244.3.0/24'), { as4: true }), 'encoded once')
  t.not(of('10.99.0.16', '10.244.2.0/24'), of('10.99.0.14', '10.244.2.0/24'), 'a 2-octet AS client has its own')
  for (const [k, as4] of [['10.99.0.14', true], ['10.99.0.16', false]] as const) {
    const d = decodeMessage(encodeMessage(of(k, '10.244.2.0/24'), { as4 }), { as4 })
    if (!d.ok || d.value.type !== 'update') return t.fail(`${k} does not decode`)
    t.deepEqual(d.value.nlri, [P('10.244.2.0/24')])
    t.deepEqual(d.value.attributes.filter((a) => a.type === 'originatorId' || a.type === 'clusterList'), [{ type: 'originatorId', id: A('10.99.0.12') }, { type: 'clusterList', ids: [A('1.1.1.1')] }])
  }
})

/** a reflector's clients whose packing (the speaker reads a peer's ctx for it) and sends are recorded in order */
function orderedClients(h: Harness, addrs: string[], o: { failSend?: string } = {}): string[] {
  const order: string[] = []
  for (const addr of addrs) {
    const peer: SpeakerPeer = {
      key: addr, address: A(addr), asn: LOCAL_AS, ibgp: true, routerId: A(addr), rrClient: false,
      get ctx() {
        order.push(`pack ${addr}`)
        return { as4: true }
      },
      maxPrefixes: 100_000,
      send: (m) => {
        if (addr === o.failSend) throw new Error('send failed')
        order.push(`send ${addr} ${m.length}`)
        h.sent.set(addr, [...(h.sent.get(addr) ?? []), ...m])
      },
      cease: (sub, reason) => h.ceased.push(`${addr} ${sub} ${reason}`),
    }
    h.speaker.peerUp(peer)
  }
  h.speaker.flush()
  order.length = 0
  h.sent.clear()
  return order
}

test('one flush to many peers: every peer is packed before the first is written (the writes go out back to back)', (t) => {
  const h = harness({ routeReflector: true })
  const addrs = ['10.99.0.12', '10.99.0.13', '10.99.0.14', '10.99.0.15']
  const order = orderedClients(h, addrs)
  const from = h.peer('10.99.0.16')
  order.length = 0
  h.speaker.receiveUpdate(from, update(['10.244.2.0/24'], { nextHop: '10.99.0.16' }))
  order.length = 0
  h.speaker.flush()
  const firstSend = order.findIndex((e) => e.startsWith('send'))
  t.true(firstSend > 0)
  t.deepEqual([...new Set(order.slice(0, firstSend))], addrs.map((a) => `pack ${a}`))
  t.deepEqual(order.slice(firstSend), addrs.map((a) => `send ${a} 1`))
  for (const a of addrs) t.deepEqual(announced(h.sent.get(a)), ['+10.244.2.0/24'], a)
})

test('one flush to many peers: what is packed is written once it reaches 4096 UPDATEs, so a flush of big batches does not hold them all', (t) => {
  const h = harness({ routeReflector: true })
  const addrs = ['10.99.0.12', '10.99.0.13', '10.99.0.14']
  const order = orderedClients(h, addrs)
  const from = h.peer('10.99.0.16', { maxPrefixes: 10_000 })
  order.length = 0
  // 3000 prefixes of distinct next hops: 3000 UPDATEs per peer
  for (let i = 0; i < 3000; i++) h.speaker.receiveUpdate(from, update([`10.244.${(i >> 4) + 2}.${(i & 15) << 4}/28`], { nextHop: '10.99.0.16', med: i }))
  order.length = 0
  h.speaker.flush()
  const sends = order.filter((e) => e.startsWith('send'))
  t.deepEqual(sends, addrs.map((a) => `send ${a} 3000`))
  // the first two peers' 6000 UPDATEs went out before the third was packed
  t.true(order.indexOf('send 10.99.0.13 3000') < order.indexOf('pack 10.99.0.14'))
})

test('one flush to many peers: a send that throws resets only that peer; the others get their UPDATEs', (t) => {
  const h = harness({ routeReflector: true })
  const addrs = ['10.99.0.12', '10.99.0.13', '10.99.0.14']
  const fail: { failSend?: string } = {}
  orderedClients(h, addrs, fail)
  fail.failSend = '10.99.0.13'
  const from = h.peer('10.99.0.16')
  h.ceased.length = 0
  h.speaker.receiveUpdate(from, update(['10.244.2.0/24'], { nextHop: '10.99.0.16' }))
  h.speaker.flush()
  t.deepEqual(h.ceased, [`10.99.0.13 ${CeaseSubcode.OUT_OF_RESOURCES} internal error while sending UPDATEs`])
  t.true(h.logs.includes('bgp-internal-error'))
  for (const a of ['10.99.0.12', '10.99.0.14']) t.deepEqual(announced(h.sent.get(a)), ['+10.244.2.0/24'], a)
})

test('non-reflector with an rr-client peer: reflects between client and non-client, not between non-clients', (t) => {
  const h = harness()
  const client = h.peer('10.99.0.12', { rrClient: true })
  const n1 = h.peer('10.99.0.13')
  h.peer('10.99.0.14')
  h.sent.clear()
  h.speaker.receiveUpdate(n1, update(['10.244.3.0/24'], { nextHop: '10.99.0.13' }))
  h.speaker.receiveUpdate(client, update(['10.244.2.0/24'], { nextHop: '10.99.0.12' }))
  h.speaker.flush()
  t.deepEqual(announced(h.sent.get('10.99.0.12')), ['+10.244.3.0/24'])
  t.deepEqual(announced(h.sent.get('10.99.0.14')), ['+10.244.2.0/24'])
})

test('eBGP: our AS in the path is a loop; LOCAL_PREF from an eBGP peer is ignored', (t) => {
  const h = harness()
  const e = h.peer('10.99.0.20', { asn: 65010 })
  h.speaker.receiveUpdate(e, update(['10.244.50.0/24'], { nextHop: '10.99.0.20', asPath: [65010, LOCAL_AS, 65030] }))
  t.is(h.speaker.best(P('10.244.50.0/24')), undefined)
  h.speaker.receiveUpdate(e, update(['10.244.51.0/24'], { nextHop: '10.99.0.20', asPath: [65010], localPref: 5000 }))
  t.is(h.speaker.best(P('10.244.51.0/24'))!.attrs!.localPref, 100)
  t.false(h.speaker.best(P('10.244.51.0/24'))!.attrs!.ibgp)
})

test('max-prefix: over the limit the session is ceased (Cease/1) and nothing more is accepted', (t) => {
  const h = harness()
  const p = h.peer('10.99.0.12', { maxPrefixes: 3 })
  h.speaker.receiveUpdate(p, update(['10.244.2.0/24', '10.244.3.0/24', '10.244.4.0/24', '10.244.5.0/24', '10.244.6.0/24'], { nextHop: '10.99.0.12' }))
  t.deepEqual(h.ceased, [`10.99.0.12 ${CeaseSubcode.MAX_PREFIXES} more than 3 prefixes`])
  t.true(h.logs.includes('prefix-limit'))
  h.speaker.receiveUpdate(p, update(['10.244.7.0/24'], { nextHop: '10.99.0.12' }))
  t.is(h.speaker.best(P('10.244.7.0/24')), undefined)
  // the session layer then reports the session down: everything is withdrawn
  h.speaker.peerDown(p)
  t.deepEqual(h.sink.table(), [])
})

test('End-of-RIB is recognised once; RFC 7606 treat-as-withdraw removes the prefixes but keeps the session', (t) => {
  const h = harness()
  const p = h.peer('10.99.0.12')
  h.speaker.receiveUpdate(p, update(['10.244.2.0/24'], { nextHop: '10.99.0.12' }))
  h.speaker.receiveUpdate(p, { type: 'update', withdrawn: [], attributes: [], nlri: [] })
  h.speaker.receiveUpdate(p, { type: 'update', withdrawn: [], attributes: [], nlri: [] })
  t.deepEqual(h.eors, ['10.99.0.12'])
  t.true(p.eor)
  h.speaker.receiveUpdate(p, update(['10.244.2.0/24'], { nextHop: '10.99.0.12', errors: [{ action: 'treat-as-withdraw', attrType: 5, subcode: 5, message: 'LOCAL_PREF length 3' }] }))
  t.is(h.speaker.best(P('10.244.2.0/24')), undefined)
  t.deepEqual(h.ceased, [])
  t.true(h.logs.includes('update-error'))
})

test('route refresh resends the whole Adj-RIB-Out (without End-of-RIB); identical re-announcements change nothing', (t) => {
  const h = harness()
  const a = h.peer('10.99.0.12')
  const e = h.peer('10.99.0.20', { asn: 65010 })
  h.speaker.receiveUpdate(a, update(['10.244.2.0/24', '10.244.3.0/24'], { nextHop: '10.99.0.12' }))
  h.speaker.flush()
  h.sent.clear()
  h.speaker.routeRefresh(e, 1, 1)
  const msgs = h.sent.get('10.99.0.20')!
  t.deepEqual(announced(msgs).sort(), ['+10.244.1.0/24', '+10.244.2.0/24', '+10.244.3.0/24'])
  t.false(msgs.some((m) => endOfRib(m) !== undefined))
  // a peer re-sending the same table (its own refresh) does not churn the RIB or other peers
  h.sink.log.length = 0
  h.sent.clear()
  h.speaker.receiveUpdate(a, update(['10.244.2.0/24', '10.244.3.0/24'], { nextHop: '10.99.0.12' }))
  h.speaker.flush()
  t.deepEqual(h.sink.log, [])
  t.is(h.sent.size, 0)
  // one shared path object per attribute set
  t.is(h.speaker.stats().paths, 1)
})

test('withdrawLocal (fabric leave) withdraws our subnet from every peer', (t) => {
  const h = harness()
  h.peer('10.99.0.12')
  h.peer('10.99.0.20', { asn: 65010 })
  h.sent.clear()
  h.speaker.withdrawLocal()
  t.deepEqual(announced(h.sent.get('10.99.0.12')), ['-10.244.1.0/24'])
  t.deepEqual(announced(h.sent.get('10.99.0.20')), ['-10.244.1.0/24'])
})

test('2-octet AS peers get AS_TRANS with AS4_PATH for 4-octet ASNs', (t) => {
  const h = harness()
  const e = h.peer('10.99.0.20', { asn: 4200000001 })
  const old = h.peer('10.99.0.21', { asn: 65020, as4: false })
  h.speaker.receiveUpdate(e, update(['10.244.60.0/24'], { nextHop: '10.99.0.20', asPath: [4200000001] }))
  h.speaker.flush()
  const attrs = attrsOf(h.sent.get('10.99.0.21'), '10.244.60.0/24')!
  t.deepEqual(attrs.find((a) => a.type === 'as4Path'), { type: 'as4Path', segments: seq(LOCAL_AS, 4200000001) })
  t.truthy(old)
})

test('NEXT_HOP import check: only unicast on the underlay, not its network/broadcast address, not inside the pool; counted by reason', (t) => {
  const h = harness()
  const p = h.peer('10.99.0.12')
  const bad: Array<[string, string]> = [
    ['10.244.1.50', 'next-hop-inside-pool'], // a container address
    ['10.99.0.0', 'next-hop-underlay-network-address'],
    ['10.99.0.255', 'next-hop-underlay-broadcast-address'],
    ['172.30.0.7', 'next-hop-not-on-underlay'],
    ['10.99.0.11', 'next-hop-own-address'],
  ]
  bad.forEach(([hop], i) => {
    h.speaker.receiveUpdate(p, update([`10.244.${20 + i}.0/24`], { nextHop: hop }))
  })
  t.deepEqual(h.sink.table(), [])
  const f = h.speaker.stats().filtered
  for (const [, reason] of bad) t.is(f[reason as keyof typeof f], 1, reason)
  t.is(h.logs.filter((l) => l === 'bgp-next-hop-refused').length, bad.length)
  // treat-as-withdraw: a good announcement then a bad one for the same prefix withdraws it
  h.speaker.receiveUpdate(p, update(['10.244.30.0/24'], { nextHop: '10.99.0.12' }))
  t.deepEqual(h.sink.table(), ['10.244.30.0/24 10.99.0.12'])
  h.speaker.receiveUpdate(p, update(['10.244.30.0/24'], { nextHop: '10.244.1.50' }))
  t.deepEqual(h.sink.table(), [])
})

test('RFC 7606 from eBGP: empty AS_PATH, first AS not the peer\'s, AS_CONFED segments are treat-as-withdraw; malformed LOCAL_PREF is attribute discard', (t) => {
  const h = harness()
  const e = h.peer('10.99.0.20', { asn: 65010 })
  h.speaker.receiveUpdate(e, update(['10.244.40.0/24'], { nextHop: '10.99.0.20', asPath: [] }))
  h.speaker.receiveUpdate(e, update(['10.244.41.0/24'], { nextHop: '10.99.0.20', asPath: [65099, 65010] }))
  const confed = update(['10.244.42.0/24'], { nextHop: '10.99.0.20' })
  h.speaker.receiveUpdate(e, { ...confed, attributes: confed.attributes.map((a) => (a.type === 'asPath' ? { type: 'asPath', segments: [{ type: 'confedSequence', asns: [65010] }, { type: 'sequence', asns: [65010] }] } : a)) })
  t.deepEqual(h.sink.table(), [])
  t.like(h.speaker.stats().filtered, { 'as-path-empty': 1, 'first-as-mismatch': 1, 'as-confed': 1 })
  // a LOCAL_PREF error from an external peer: the attribute is discarded, the route kept
  h.speaker.receiveUpdate(e, update(['10.244.43.0/24'], { nextHop: '10.99.0.20', asPath: [65010], errors: [{ action: 'treat-as-withdraw', attrType: 5, subcode: 5, message: 'LOCAL_PREF length 3' }] }))
  t.deepEqual(h.sink.table(), ['10.244.43.0/24 10.99.0.20'])
  t.is(h.speaker.stats().filtered['attribute-discard'], 1)
  // from iBGP the same error is still treat-as-withdraw; an empty AS_PATH is normal there
  const i = h.peer('10.99.0.12')
  h.speaker.receiveUpdate(i, update(['10.244.44.0/24'], { nextHop: '10.99.0.12', errors: [{ action: 'treat-as-withdraw', attrType: 5, subcode: 5, message: 'LOCAL_PREF length 3' }] }))
  h.speaker.receiveUpdate(i, update(['10.244.45.0/24'], { nextHop: '10.99.0.12' }))
  t.deepEqual(h.sink.table(), ['10.244.43.0/24 10.99.0.20', '10.244.45.0/24 10.99.0.12'])
})

/** An eBGP UPDATE of 4,091 octets: a ~4,040-octet unknown optional transitive attribute. */
function hugeUpdate(nlri: string[], nextHop: string, asn: number): UpdateMessage {
  const u = update(nlri, { nextHop, asPath: [asn] })
  return { ...u, attributes: [...u.attributes, { type: 'unknown', code: 99, flags: 0xc0 | 0x10, data: Buffer.alloc(4040, 7) }] }
}

test('a path that cannot be encoded for a peer is not sent to it (withdrawn if it had it), counted and logged once per path and peer, never thrown', (t) => {
  const h = harness()
  const i = h.peer('10.99.0.12') // iBGP: adds LOCAL_PREF, the attributes no longer fit 4,096 octets
  const e = h.peer('10.99.0.20', { asn: 65010 })
  const e2 = h.peer('10.99.0.21', { asn: 65020 }) // eBGP out: no LOCAL_PREF; fits
  h.speaker.receiveUpdate(e, update(['10.244.50.0/24'], { nextHop: '10.99.0.20', asPath: [65010] }))
  h.speaker.flush()
  t.true(announced(h.sent.get('10.99.0.12')).includes('+10.244.50.0/24'))
  h.sent.clear()
  // the same prefix now with the huge path: the iBGP peer had it, so it gets a withdrawal
  h.speaker.receiveUpdate(e, hugeUpdate(['10.244.50.0/24', '10.244.51.0/24'], '10.99.0.20', 65010))
  t.notThrows(() => h.speaker.flush())
  t.deepEqual(announced(h.sent.get('10.99.0.12')), ['-10.244.50.0/24'])
  t.deepEqual(announced(h.sent.get('10.99.0.21')).sort(), ['+10.244.50.0/24', '+10.244.51.0/24'])
  t.deepEqual(h.sink.table(), ['10.244.50.0/24 10.99.0.20', '10.244.51.0/24 10.99.0.20'])
  t.is(h.speaker.stats().filtered.unencodable, 1)
  t.is(h.logs.filter((l) => l === 'bgp-path-unencodable').length, 1)
  t.is(h.ceased.length, 0)
  // an iBGP peer connecting later: its initial table leaves the path out, the session is not reset
  h.sent.clear()
  const late = h.peer('10.99.0.13')
  const msgs = h.sent.get('10.99.0.13')!
  t.deepEqual(announced(msgs), ['+10.244.1.0/24'])
  t.truthy(endOfRib(msgs[msgs.length - 1]!))
  t.is(h.speaker.stats().filtered.unencodable, 2)
  // route refresh likewise
  h.sent.clear()
  t.notThrows(() => h.speaker.routeRefresh(i, 1, 1))
  t.deepEqual(announced(h.sent.get('10.99.0.12')), ['+10.244.1.0/24'])
  t.is(h.speaker.stats().filtered.unencodable, 2)
  t.truthy(e2 && late)
})

test('one UPDATE costs O(its prefixes): no walk over the table (PrefixMap iteration) while receiving and flushing', (t) => {
  const h = harness()
  const a = h.peer('10.99.0.12')
  h.peer('10.99.0.20', { asn: 65010 })
  const many: string[] = []
  for (let i = 0; i < 4000; i++) many.push(`10.245.${i >> 4}.${(i & 15) << 4}/28`)
  const big = harness({ allow: ['10.245.0.0/16'] })
  const b = big.peer('10.99.0.12', { maxPrefixes: 10_000 })
  big.peer('10.99.0.20', { asn: 65010 })
  big.speaker.receiveUpdate(b, update(many, { nextHop: '10.99.0.12' }))
  big.speaker.flush()
  t.is(big.speaker.size, 4000)
  const proto = PrefixMap.prototype as unknown as Record<string, (...args: unknown[]) => unknown>
  const walks: string[] = []
  const saved = { values: proto.values!, entries: proto.entries!, keys: proto.keys }
  for (const name of ['values', 'entries'] as const) {
    const orig = saved[name]
    proto[name] = function (this: PrefixMap<unknown>, ...args: unknown[]) {
      // the per-peer pending queue is walked on flush: it holds only this UPDATE's changes
      walks.push(`${name}:${this.size}`)
      return orig.apply(this, args)
    }
  }
  try {
    for (const [sp, peer] of [[h.speaker, a], [big.speaker, b]] as const) {
      walks.length = 0
      sp.receiveUpdate(peer, update(['10.244.77.0/24', '10.244.78.0/24'], { nextHop: '10.99.0.12', withdrawn: ['10.244.79.0/24'] }))
      sp.flush()
      t.true(walks.every((w) => Number(w.split(':')[1]) <= 3), walks.join(' '))
    }
  } finally {
    proto.values = saved.values
    proto.entries = saved.entries
  }
})
