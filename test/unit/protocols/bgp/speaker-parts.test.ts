/**
 * The speaker's parts on their own: interning (paths.ts), Loc-RIB (loc-rib.ts),
 * export policy (export-policy.ts), packing (packing.ts), and the codec's
 * encoding lengths the packing relies on.
 */
import test from 'ava'
import { PrefixMap } from '../../../../src/net/prefix-map.js'
import type { Route } from '../../../../src/rib/route.js'
import { encodeMessage, messageEncodingLength, type CodecContext, type PathAttribute, type UpdateMessage } from '../../../../src/protocols/bgp/codec/index.js'
import { endOfRib, shareUpdate } from '../../../../src/protocols/bgp/codec/update.js'
import { ExportPolicy } from '../../../../src/protocols/bgp/export-policy.js'
import { LocRib, comparePaths } from '../../../../src/protocols/bgp/loc-rib.js'
import { SharedPacks, packChanges, packTable } from '../../../../src/protocols/bgp/packing.js'
import { PeerRib, type SpeakerPeer } from '../../../../src/protocols/bgp/peer-rib.js'
import { type Path, internPath, localPath, releasePath } from '../../../../src/protocols/bgp/paths.js'
import { ip, p, rng } from './helpers.js'

const LOCAL_AS = 64512

function peer(key: string, o: { asn?: number; routerId?: string; rrClient?: boolean; ctx?: CodecContext } = {}): PeerRib {
  const asn = o.asn ?? LOCAL_AS
  const view: SpeakerPeer = {
    key, address: ip(key), asn, ibgp: asn === LOCAL_AS, routerId: ip(o.routerId ?? key), rrClient: o.rrClient ?? false,
    ctx: o.ctx ?? { as4: true }, maxPrefixes: 1000, send: () => {}, cease: () => {},
  }
  return new PeerRib(view)
}

function path(from: PeerRib, o: { localPref?: number; asns?: number[]; med?: number; transitive?: PathAttribute[] } = {}): Path {
  const segments = o.asns ? [{ type: 'sequence' as const, asns: o.asns }] : []
  return internPath(from, from.peer.address, 0, segments, o.med, o.localPref, undefined, [], o.transitive ?? [])
}

test('interning: equal attributes from one peer are one Path; the last reference takes it out of the map', (t) => {
  const a = peer('10.99.0.1')
  const x = path(a, { localPref: 150 })
  t.is(path(a, { localPref: 150 }), x)
  t.not(path(a, { localPref: 160 }), x)
  t.not(path(peer('10.99.0.2'), { localPref: 150 }), x)
  x.refs = 2
  releasePath(x)
  t.true(a.paths.has(x.key))
  releasePath(x)
  t.false(a.paths.has(x.key))
})

test('comparePaths: LOCAL_PREF, then AS_PATH length, then eBGP over iBGP (RFC 4271 9.1.2.2)', (t) => {
  const i = peer('10.99.0.1')
  const e = peer('10.99.0.2', { asn: 65001 })
  t.true(comparePaths(path(i, { localPref: 200 }), path(i, { localPref: 100 })) < 0)
  t.true(comparePaths(path(e, { asns: [65001] }), path(e, { asns: [65001, 65002] })) < 0)
  t.true(comparePaths(path(e, { asns: [65001] }), path(i, { asns: [65001] })) < 0)
  t.true(comparePaths(path(e, { asns: [65001], med: 5 }), path(e, { asns: [65001], med: 10 })) < 0)
})

test('LocRib: best per prefix, changes reported old -> new, removePeer reports without per-route withdrawal', (t) => {
  const changes: string[] = []
  const name = (r: Route | undefined) => r?.peer ?? '-'
  const rib = new LocRib((_n, old, neu, withdrawOld) => changes.push(`${name(old)}>${name(neu)}${withdrawOld ? '' : ' bulk'}`))
  const a = peer('10.99.0.1')
  const b = peer('10.99.0.2')
  const n = p('10.244.1.0/24')
  const pa = path(a, { localPref: 100 })
  const pb = path(b, { localPref: 200 })
  rib.insert(a, n, pa)
  rib.insert(a, n, pa) // unchanged re-announcement: nothing
  rib.insert(b, n, pb)
  t.is(rib.best(n)?.peer, '10.99.0.2')
  t.deepEqual(rib.routes(n).map((r) => r.peer), ['10.99.0.2', '10.99.0.1'])
  t.is(a.accepted + b.accepted, 2)
  t.is(pa.refs + pb.refs, 2)
  rib.remove(b, n)
  t.is(rib.best(n)?.peer, '10.99.0.1')
  t.is(pb.refs, 0)
  t.false(b.paths.has(pb.key))
  rib.insert(b, p('10.244.2.0/24'), pb)
  t.is(rib.removePeer(a), 1)
  t.is(rib.size, 1)
  t.deepEqual(changes, ['->10.99.0.1', '10.99.0.1>10.99.0.2', '10.99.0.2>10.99.0.1', '->10.99.0.2', '10.99.0.1>- bulk'])
})

test('LocRib: three peers on one prefix (flat candidate list), replace, remove from the middle and the front, removePeer; learn times kept; high addresses', (t) => {
  const changes: string[] = []
  const name = (r: Route | undefined) => r?.peer ?? '-'
  const rib = new LocRib((_n, old, neu) => changes.push(`${name(old)}>${name(neu)}`))
  const a = peer('10.99.0.1')
  const b = peer('10.99.0.2')
  const c = peer('10.99.0.3')
  const n = p('200.1.2.0/24')
  rib.insert(a, n, path(a, { localPref: 100 }))
  rib.insert(b, n, path(b, { localPref: 300 }))
  rib.insert(c, n, path(c, { localPref: 200 }))
  t.deepEqual(rib.routes(n).map((r) => r.peer), ['10.99.0.2', '10.99.0.1', '10.99.0.3'], 'best first')
  t.is(rib.best(n)?.prefix.addr, ip('200.1.2.0'), 'the address >= 128.0.0.0 comes back as a uint32')
  const since = rib.routes(n).map((r) => r.since)
  t.true(since.every((x) => typeof x === 'number' && x > 1_600_000_000))
  // c replaces its path with a better one: the new best
  rib.insert(c, n, path(c, { localPref: 400 }))
  t.is(rib.best(n)?.peer, '10.99.0.3')
  t.is(rib.routes(n).length, 3)
  // remove the middle (not the best): no change
  const before = changes.length
  rib.remove(b, n)
  t.is(changes.length, before)
  t.deepEqual(rib.routes(n).map((r) => r.peer).sort(), ['10.99.0.1', '10.99.0.3'])
  // remove the best: a is left, held as a single path again
  rib.remove(c, n)
  t.deepEqual(rib.routes(n).map((r) => r.peer), ['10.99.0.1'])
  t.is(rib.best(n)?.since, since[1], 'the remaining route keeps its learn time')
  rib.insert(b, n, path(b, { localPref: 50 }))
  t.is(rib.removePeer(a), 1)
  t.is(rib.best(n)?.peer, '10.99.0.2')
  t.is(rib.size, 1)
  t.deepEqual([b.accepted, c.accepted], [1, 0]) // removePeer leaves a's counter to peerDown
  t.deepEqual(changes, ['->10.99.0.1', '10.99.0.1>10.99.0.2', '10.99.0.2>10.99.0.3', '10.99.0.3>10.99.0.1', '10.99.0.1>10.99.0.2'])
})

function exportPolicy(routeReflector: boolean): { policy: ExportPolicy; unencodable: number[] } {
  const unencodable: number[] = []
  const policy = new ExportPolicy({
    asn: LOCAL_AS, clusterId: ip('10.99.0.11'), routeReflector, localAddress: ip('10.99.0.11'),
    log: { limited: () => {} }, onUnencodable: () => unencodable.push(1),
  })
  return { policy, unencodable }
}

test('export policy: iBGP split horizon, reflection to clients, never back to the sender', (t) => {
  const a = peer('10.99.0.1')
  const b = peer('10.99.0.2')
  const c = peer('10.99.0.3', { rrClient: true })
  const { policy } = exportPolicy(false)
  const fromA = path(a)
  t.false(policy.exportable(b, fromA)) // iBGP to iBGP, neither a client
  t.true(policy.exportable(c, fromA)) // to a client
  t.false(policy.exportable(a, fromA)) // back to the sender
  t.true(policy.exportable(a, path(c))) // from a client to a non-client
  t.true(policy.exportable(b, localPath(ip('10.99.0.11'))))
  const reflected = policy.exportAttributes(c, fromA).attributes
  t.like(reflected.find((x) => x.type === 'originatorId'), { id: ip('10.99.0.1') })
  t.like(reflected.find((x) => x.type === 'clusterList'), { ids: [ip('10.99.0.11')] })
  t.true(policy.isClient(c))
  t.false(policy.isClient(a))
  t.true(exportPolicy(true).policy.isClient(a))
})

test('export policy: eBGP export prepends our AS, sets next-hop-self, drops LOCAL_PREF and MED; attribute order by type code', (t) => {
  const { policy } = exportPolicy(false)
  const i = peer('10.99.0.1')
  const e = peer('10.99.0.9', { asn: 65009 })
  const x = path(i, { localPref: 300, med: 7, asns: [65001] })
  const out = policy.exportAttributes(e, x)
  t.deepEqual(out.attributes.map((a) => a.type), ['origin', 'asPath', 'nextHop'])
  t.like(out.attributes[1], { segments: [{ type: 'sequence', asns: [LOCAL_AS, 65001] }] })
  t.like(out.attributes[2], { nextHop: ip('10.99.0.11') })
  t.is(policy.exportAttributes(e, x), out) // cached per kind of peer
  t.deepEqual(policy.exportAttributes(peer('10.99.0.3', { rrClient: true }), x).attributes.map((a) => a.type),
    ['origin', 'asPath', 'nextHop', 'med', 'localPref', 'originatorId', 'clusterList'])
})

test('export policy: a path too long for one UPDATE to a peer is not advertisable, counted once', (t) => {
  const { policy, unencodable } = exportPolicy(false)
  const e = peer('10.99.0.9', { asn: 65009 })
  const big: PathAttribute = { type: 'unknown', code: 99, flags: 0xc0, data: Buffer.alloc(4060) }
  const x = path(peer('10.99.0.1', { asn: 65001 }), { asns: [65001], transitive: [big] })
  t.false(policy.advertisable(e, x))
  t.false(policy.advertisable(e, x))
  t.is(unencodable.length, 1)
  t.true(policy.advertisable(peer('10.99.0.8', { asn: 65008, ctx: { as4: true, extendedMessage: true } }), x))
})

test('packing: withdrawals first, one group per path, End-of-RIB last when asked', (t) => {
  const a = peer('10.99.0.1')
  const x = path(a, { localPref: 100 })
  const y = path(a, { localPref: 200 })
  const attrs = (q: Path): PathAttribute[] => [{ type: 'origin', origin: 0 }, { type: 'asPath', segments: [] }, { type: 'nextHop', nextHop: q.nextHop }, { type: 'localPref', localPref: q.localPref }]
  const pending = new PrefixMap<Path | null>()
  pending.set(p('10.244.1.0/24'), x)
  pending.set(p('10.244.2.0/24'), null)
  pending.set(p('10.244.3.0/24'), y)
  pending.set(p('10.244.4.0/24'), x)
  const msgs = packChanges(pending, attrs, { as4: true })
  t.is(msgs.length, 3)
  t.deepEqual(msgs[0]!.withdrawn, [p('10.244.2.0/24')])
  t.deepEqual(msgs.slice(1).map((m) => m.nlri.length).sort(), [1, 2])
  const table = packTable(new Map([[x, [p('10.244.1.0/24')]]]), attrs, { as4: true }, true)
  t.is(table.length, 2)
  t.truthy(endOfRib(table[1]!))
  t.is(packTable(new Map(), attrs, { as4: true }, false).length, 0)
})

test('packing: 20,000 prefixes of one path fill UPDATEs up to the message size, none over it', (t) => {
  const a = peer('10.99.0.1')
  const x = path(a)
  const prefixes = Array.from({ length: 20000 }, (_, i) => ({ addr: (11 << 24) + i * 256, len: 24 }))
  const attrs = (q: Path): PathAttribute[] => [{ type: 'origin', origin: 0 }, { type: 'asPath', segments: [] }, { type: 'nextHop', nextHop: q.nextHop }]
  for (const ctx of [{ as4: true }, { as4: true, extendedMessage: true }] as CodecContext[]) {
    const msgs = packTable(new Map([[x, prefixes]]), attrs, ctx, false)
    const max = ctx.extendedMessage ? 65535 : 4096
    const sizes = msgs.map((m) => encodeMessage(m, ctx).length)
    t.true(sizes.every((s) => s <= max))
    t.true(sizes.slice(0, -1).every((s) => s > max - 4))
    t.is(msgs.reduce((n, m) => n + m.nlri.length, 0), 20000)
  }
})

test('messageEncodingLength equals the encoded length: random UPDATEs, long attributes, a NOTIFICATION cut to fit', (t) => {
  const r = rng(14)
  const ctx: CodecContext = { as4: true, extendedMessage: true }
  for (let k = 0; k < 200; k++) {
    const prefixes = (n: number) => Array.from({ length: n }, () => {
      const len = Math.floor(r() * 33)
      return { addr: len === 0 ? 0 : ((Math.floor(r() * 2 ** 32) >>> (32 - len)) << (32 - len)) >>> 0, len }
    })
    const communities = Array.from({ length: Math.floor(r() * 120) }, () => Math.floor(r() * 2 ** 32))
    const msg: UpdateMessage = {
      type: 'update', withdrawn: prefixes(Math.floor(r() * 20)), nlri: prefixes(Math.floor(r() * 20)),
      attributes: [
        { type: 'origin', origin: 0 }, { type: 'asPath', segments: [{ type: 'sequence', asns: Array.from({ length: Math.floor(r() * 100) }, (_, i) => 65000 + i) }] },
        { type: 'nextHop', nextHop: ip('10.0.0.1') }, ...(communities.length > 0 ? [{ type: 'communities' as const, communities }] : []),
      ],
    }
    t.is(messageEncodingLength(msg, ctx), encodeMessage(msg, ctx).length)
  }
  const notification = { type: 'notification' as const, code: 3, subcode: 1, data: Buffer.alloc(5000) }
  t.is(messageEncodingLength(notification, { as4: true }), 4096)
  t.is(encodeMessage(notification, { as4: true }).length, 4096)
})

test('packing with SharedPacks: the peers of one flush with the same changes get the same UPDATE objects, equal to packing alone; a peer whose group differs gets its own', (t) => {
  const a = peer('10.99.0.1')
  const x = path(a, { localPref: 100 })
  const y = path(a, { localPref: 200 })
  const lists = new Map<Path, PathAttribute[]>()
  // one exported list per path, as export-policy.ts keeps it
  const attrs = (q: Path): PathAttribute[] => {
    let l = lists.get(q)
    if (!l) lists.set(q, (l = [{ type: 'origin', origin: 0 }, { type: 'asPath', segments: [] }, { type: 'nextHop', nextHop: q.nextHop }, { type: 'localPref', localPref: q.localPref }]))
    return l
  }
  const pendingOf = (entries: Array<[string, Path | null]>) => {
    const m = new PrefixMap<Path | null>()
    for (const [k, v] of entries) m.set(p(k), v)
    return m
  }
  const changes: Array<[string, Path | null]> = [['10.244.1.0/24', x], ['10.244.2.0/24', null], ['10.244.3.0/24', y], ['10.244.4.0/24', x]]
  const ctx: CodecContext = { as4: true }
  const share = new SharedPacks()
  const first = packChanges(pendingOf(changes), attrs, ctx, share)
  const second = packChanges(pendingOf(changes), attrs, ctx, share)
  t.deepEqual(first, packChanges(pendingOf(changes), attrs, ctx), 'the same messages as without sharing')
  t.is(second.length, first.length)
  for (let i = 0; i < first.length; i++) t.is(second[i], first[i], `message ${i} is the same object`)
  // without 10.244.4.0/24 (say, the peer it came from): x's group differs, y's and the withdrawal do not
  const third = packChanges(pendingOf(changes.filter(([k]) => k !== '10.244.4.0/24')), attrs, ctx, share)
  t.deepEqual(third.map((m) => [m.withdrawn.length, m.nlri.map((n) => n.addr)]), [[1, []], [0, [p('10.244.1.0/24').addr]], [0, [p('10.244.3.0/24').addr]]])
  t.is(third[0], first[0], 'the same withdrawal')
  t.not(third[1], first[1], 'its own group for x')
  t.is(third[2], first.find((m) => m.nlri[0]?.addr === p('10.244.3.0/24').addr), "y's group shared")
  // another message size (RFC 8654 extended messages): packed for it, not taken from the 4096-octet peers
  const ext = packChanges(pendingOf(changes), attrs, { as4: true, extendedMessage: true }, share)
  t.true(ext.every((m) => !first.includes(m)))
})

test('shareUpdate: a shared UPDATE is encoded once per AS number size, the same buffer every time, equal to the plain encoding', (t) => {
  const attributes: PathAttribute[] = [{ type: 'origin', origin: 0 }, { type: 'asPath', segments: [{ type: 'sequence', asns: [70000] }] }, { type: 'nextHop', nextHop: ip('10.99.0.1') }]
  const plain: UpdateMessage = { type: 'update', withdrawn: [], attributes, nlri: [p('10.244.1.0/24')] }
  const msg = shareUpdate({ ...plain })
  for (const ctx of [{ as4: true }, { as4: false }] as CodecContext[]) {
    const b = encodeMessage(msg, ctx)
    t.is(encodeMessage(msg, ctx), b, `as4 ${ctx.as4}: the same buffer`)
    t.deepEqual(b, encodeMessage(plain, ctx), `as4 ${ctx.as4}: the same octets`)
  }
  t.notDeepEqual(encodeMessage(msg, { as4: true }), encodeMessage(msg, { as4: false }), '2- and 4-octet AS encodings differ')
  t.not(encodeMessage(plain, { as4: true }), encodeMessage(plain, { as4: true }), 'a message not shared is encoded each time')
  const big = shareUpdate({ type: 'update', withdrawn: [], attributes, nlri: Array.from({ length: 2000 }, (_, i) => ({ addr: (11 << 24) + i * 256, len: 24 })) })
  t.throws(() => encodeMessage(big, { as4: true }), { instanceOf: RangeError })
  t.is(encodeMessage(big, { as4: true, extendedMessage: true }).length, messageEncodingLength(big, { as4: true }))
})

test('exportAttributes: one list per path and kind of peer (eBGP, iBGP reflected or not, AS number size), made once', (t) => {
  const policy = new ExportPolicy({ asn: LOCAL_AS, clusterId: ip('1.1.1.1'), routeReflector: true, localAddress: ip('10.99.0.11'), log: { limited: () => {} }, onUnencodable: () => {} })
  const from = peer('10.99.0.1')
  const x = path(from)
  const c1 = peer('10.99.0.2')
  const c2 = peer('10.99.0.3')
  const as2 = peer('10.99.0.4', { ctx: { as4: false } })
  const e = peer('10.99.0.5', { asn: 65001 })
  const e2 = peer('10.99.0.6', { asn: 65002 })
  t.is(policy.exportAttributes(c1, x), policy.exportAttributes(c2, x))
  t.is(policy.exportAttributes(e, x), policy.exportAttributes(e2, x))
  const kinds = [c1, as2, e].map((q) => policy.exportAttributes(q, x))
  t.is(new Set(kinds).size, 3)
  t.true(kinds[0]!.attributes.some((a) => a.type === 'originatorId'), 'reflected: ORIGINATOR_ID')
  t.false(kinds[2]!.attributes.some((a) => a.type === 'localPref'), 'eBGP: no LOCAL_PREF')
  const own = localPath(ip('10.99.0.11'))
  t.not(policy.exportAttributes(c1, own), policy.exportAttributes(c1, x))
  t.false(policy.exportAttributes(c1, own).attributes.some((a) => a.type === 'originatorId'), 'our own subnet is not reflected')
})
