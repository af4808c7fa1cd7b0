import test from 'ava'
import {
  as2Attributes, createFramer, decodeMessage, describeNotification, encodeMessage, endOfRib, formatIpv6, makeCease,
  makeEndOfRib, makeOpen, mergeAs4Path, normalizeAs4, openAsn, packUpdates, packWithdrawals, parseIpv6,
  type PathAttribute, type UpdateMessage,
} from '../../../../src/protocols/bgp/codec/index.js'
import { hex, ip, msg, p } from './helpers.js'

const as4 = { as4: true }
const KEEPALIVE = hex('ffffffffffffffffffffffffffffffff 0013 04')

test('framer: coalesced and split messages', (t) => {
  const f = createFramer()
  const upd = msg(2, '0000 0000')
  const all = Buffer.concat([KEEPALIVE, upd, KEEPALIVE])
  const r1 = f.push(all.subarray(0, 25))
  t.deepEqual(r1.messages, [KEEPALIVE])
  t.is(f.buffered(), 6)
  const r2 = f.push(all.subarray(25, 43))
  t.deepEqual(r2.messages, [upd])
  const r3 = f.push(all.subarray(43))
  t.deepEqual(r3.messages, [KEEPALIVE])
  t.is(f.buffered(), 0)
  t.is(r3.error, undefined)
})

test('framer: one byte at a time', (t) => {
  const f = createFramer()
  const all = Buffer.concat([KEEPALIVE, msg(3, '0602'), KEEPALIVE])
  const out: Buffer[] = []
  for (const b of all) out.push(...f.push(Buffer.from([b])).messages)
  t.is(out.length, 3)
  t.deepEqual(Buffer.concat(out), all)
})

test('framer: bad marker reported before the header is complete', (t) => {
  const f = createFramer()
  const r = f.push(hex('ffff00'))
  t.deepEqual([r.error?.code, r.error?.subcode], [1, 1])
  t.deepEqual(f.push(KEEPALIVE).error, r.error)
  t.is(f.buffered(), 0)
})

test('framer: bad length reported as soon as the header arrives, body not buffered', (t) => {
  const f = createFramer()
  const r = f.push(hex('ffffffffffffffffffffffffffffffff ffff 02'))
  t.deepEqual([r.error?.code, r.error?.subcode, r.error?.data.toString('hex')], [1, 2, 'ffff'])
  t.is(f.buffered(), 0)
})

test('framer: extended message limit', (t) => {
  const big = msg(2, Buffer.concat([hex('0000 0000'), Buffer.alloc(5000)]))
  const f = createFramer()
  t.is(f.push(big).error?.subcode, 2)
  const g = createFramer({ extendedMessage: true })
  t.is(g.push(big).messages.length, 1)
  const h = createFramer()
  h.setExtendedMessage(true)
  t.is(h.push(big).messages.length, 1)
})

test('framer: never holds more than one message', (t) => {
  const f = createFramer()
  const upd = msg(2, Buffer.concat([hex('0000 0000'), Buffer.alloc(4000)]))
  f.push(upd.subarray(0, 4000))
  t.true(f.buffered() < 4096)
  t.is(f.push(upd.subarray(4000)).messages.length, 1)
  t.is(f.buffered(), 0)
})

const ATTRS: PathAttribute[] = [
  { type: 'origin', origin: 0 },
  { type: 'asPath', segments: [{ type: 'sequence', asns: [65001] }] },
  { type: 'nextHop', nextHop: ip('10.0.0.1') },
]

test('packUpdates: 10k prefixes fill UPDATEs up to 4096 octets', (t) => {
  const prefixes = Array.from({ length: 10000 }, (_, i) => ({ addr: (0x0a000000 + i * 256) >>> 0, len: 24 }))
  const updates = packUpdates(ATTRS, prefixes, as4)
  const sizes = updates.map((u) => encodeMessage(u, as4).length)
  t.true(sizes.every((s) => s <= 4096))
  // 4096 - 19 - 4 - 20 octets of attributes = 4053 => 1013 /24s (4 octets each) per UPDATE
  t.is(updates[0]!.nlri.length, 1013)
  t.is(updates.length, Math.ceil(10000 / 1013))
  t.deepEqual(updates.flatMap((u) => u.nlri), prefixes)
  for (const u of updates) {
    const r = decodeMessage(encodeMessage(u, as4), as4)
    t.true(r.ok)
  }
})

test('packWithdrawals: as few UPDATEs as possible', (t) => {
  const prefixes = Array.from({ length: 3000 }, (_, i) => ({ addr: (0x0a000000 + i * 256) >>> 0, len: 24 }))
  const updates = packWithdrawals(prefixes)
  t.is(updates.length, 3)
  t.true(updates.every((u) => encodeMessage(u, as4).length <= 4096))
  t.deepEqual(updates.flatMap((u) => u.withdrawn), prefixes)
  t.deepEqual(packWithdrawals([]), [])
})

test('packUpdates: attributes too large', (t) => {
  const huge: PathAttribute[] = [...ATTRS, { type: 'communities', communities: Array.from({ length: 1100 }, (_, i) => i) }]
  t.throws(() => packUpdates(huge, [p('10.0.0.0/24')], as4), { instanceOf: RangeError })
})

test('End-of-RIB markers', (t) => {
  t.deepEqual(endOfRib(makeEndOfRib()), { afi: 1, safi: 1 })
  t.deepEqual(endOfRib(makeEndOfRib(2, 1)), { afi: 2, safi: 1 })
  t.deepEqual(endOfRib(makeEndOfRib(1, 128)), { afi: 1, safi: 128 })
  const notEor: UpdateMessage = { type: 'update', withdrawn: [p('10.0.0.0/8')], attributes: [], nlri: [] }
  t.is(endOfRib(notEor), undefined)
  t.is(endOfRib({ type: 'update', withdrawn: [], attributes: [{ type: 'mpUnreach', afi: 2, safi: 1, withdrawn: [{ addr: '2001:db8::', len: 32 }] }], nlri: [] }), undefined)
  t.deepEqual(encodeMessage(makeEndOfRib(), as4), msg(2, '0000 0000'))
})

test('RFC 6793 merge of AS_PATH and AS4_PATH', (t) => {
  // AS_PATH 65010 23456 23456 65001 from a 2-octet speaker, AS4_PATH 4200000001 4200000002 65001
  t.deepEqual(
    mergeAs4Path([{ type: 'sequence', asns: [65010, 23456, 23456, 65001] }], [{ type: 'sequence', asns: [4200000001, 4200000002, 65001] }]),
    [{ type: 'sequence', asns: [65010, 4200000001, 4200000002, 65001] }],
  )
  // AS4_PATH longer than AS_PATH: ignored
  t.deepEqual(mergeAs4Path([{ type: 'sequence', asns: [23456] }], [{ type: 'sequence', asns: [1, 2] }]), [{ type: 'sequence', asns: [23456] }])
  // sets count as one
  t.deepEqual(
    mergeAs4Path([{ type: 'sequence', asns: [65010] }, { type: 'set', asns: [1, 2, 3] }, { type: 'sequence', asns: [23456] }], [{ type: 'sequence', asns: [4200000000] }]),
    [{ type: 'sequence', asns: [65010] }, { type: 'set', asns: [1, 2, 3] }, { type: 'sequence', asns: [4200000000] }],
  )
})

test('normalizeAs4 and as2Attributes round trip on a 2-octet session', (t) => {
  const ctx = { as4: false }
  const attrs: PathAttribute[] = [
    { type: 'origin', origin: 0 },
    { type: 'asPath', segments: [{ type: 'sequence', asns: [4200000000, 65001] }] },
    { type: 'nextHop', nextHop: ip('10.0.0.1') },
    { type: 'aggregator', asn: 4200000000, address: ip('10.0.0.1') },
  ]
  const wire = encodeMessage({ type: 'update', withdrawn: [], attributes: as2Attributes(attrs), nlri: [p('10.1.0.0/24')] }, ctx)
  t.true(wire.includes(hex('0202 5ba0 fde9')))
  const r = decodeMessage(wire, ctx)
  if (!r.ok) return t.fail(r.error.message)
  const u = r.value as UpdateMessage
  t.deepEqual(normalizeAs4(u.attributes), attrs)
  // a real 2-octet aggregator means AS4_* are ignored
  t.deepEqual(normalizeAs4([
    { type: 'asPath', segments: [{ type: 'sequence', asns: [23456] }] },
    { type: 'aggregator', asn: 65001, address: 1 },
    { type: 'as4Path', segments: [{ type: 'sequence', asns: [4200000000] }] },
  ]), [{ type: 'asPath', segments: [{ type: 'sequence', asns: [23456] }] }, { type: 'aggregator', asn: 65001, address: 1 }])
})

test('makeOpen writes AS_TRANS for 4-octet ASNs and openAsn reads the capability', (t) => {
  const open = makeOpen({ asn: 4200000000, holdTime: 9, bgpId: ip('10.0.0.1'), capabilities: [{ kind: 'as4', asn: 4200000000 }] })
  t.is(open.myAs, 23456)
  const r = decodeMessage(encodeMessage(open, as4), as4)
  if (!r.ok || r.value.type !== 'open') return t.fail()
  t.is(openAsn(r.value), 4200000000)
  t.is(openAsn(makeOpen({ asn: 65001, holdTime: 9, bgpId: 1, capabilities: [] })), 65001)
})

test('OPEN with many capabilities switches to RFC 9072 extended parameters', (t) => {
  const caps = Array.from({ length: 60 }, (_, i) => ({ kind: 'unknown' as const, code: 200 + (i % 50), data: Buffer.from('abc') }))
  const open = makeOpen({ asn: 65001, holdTime: 9, bgpId: 1, capabilities: caps })
  const bytes = encodeMessage(open, as4)
  t.is(bytes[28], 255)
  t.is(bytes[29], 255)
  const r = decodeMessage(bytes, as4)
  if (!r.ok || r.value.type !== 'open') return t.fail()
  t.deepEqual(r.value.capabilities, caps)
  t.deepEqual(r.value.layout, { groups: [60], extended: true })
})

test('describeNotification names codes and subcodes', (t) => {
  t.is(describeNotification(6, 2), 'Cease / Administrative Shutdown (6/2)')
  t.is(describeNotification(4, 0), 'Hold Timer Expired (4/0)')
  t.is(describeNotification(1, 2), 'Message Header Error / Bad Message Length (1/2)')
  t.is(describeNotification(2, 6), 'OPEN Message Error / Unacceptable Hold Time (2/6)')
  t.is(describeNotification(3, 11), 'UPDATE Message Error / Malformed AS_PATH (3/11)')
  t.is(describeNotification(5, 3), 'Finite State Machine Error / Receive Unexpected Message in Established State (5/3)')
  t.is(describeNotification(6, 7), 'Cease / Connection Collision Resolution (6/7)')
  t.is(describeNotification(6, 10), 'Cease / BFD Down (6/10)')
  t.is(describeNotification(7, 1), 'ROUTE-REFRESH Message Error / Invalid Message Length (7/1)')
  t.is(describeNotification(3, 0), 'UPDATE Message Error / Unspecific (3/0)')
  t.is(describeNotification(9, 9), 'Unknown error code 9 / Unknown subcode 9 (9/9)')
})

test('makeCease: RFC 9003 message truncated to 255 octets on a character boundary', (t) => {
  const c = makeCease(2, 'é'.repeat(200))
  t.is(c.data[0], 254)
  t.is(c.shutdownMessage, 'é'.repeat(127))
  t.deepEqual(makeCease(3, 'ignored'), { type: 'notification', code: 6, subcode: 3, data: Buffer.alloc(0) })
  const r = decodeMessage(encodeMessage({ type: 'notification', code: 6, subcode: 2, data: Buffer.alloc(0), shutdownMessage: 'bye' }, as4), as4)
  t.true(r.ok && r.value.type === 'notification' && r.value.shutdownMessage === 'bye')
})

test('IPv6 text helpers', (t) => {
  t.is(formatIpv6(parseIpv6('2001:DB8:0:0:1:0:0:1')!), '2001:db8::1:0:0:1')
  t.is(formatIpv6(parseIpv6('::')!), '::')
  t.is(formatIpv6(parseIpv6('fe80::1')!), 'fe80::1')
  t.is(formatIpv6(parseIpv6('1:0:2:3:4:5:6:7')!), '1:0:2:3:4:5:6:7')
  t.is(parseIpv6('1::2::3'), undefined)
  t.is(parseIpv6('1:2:3'), undefined)
  t.is(parseIpv6('12345::'), undefined)
})
