import test from 'ava'
import { decodeMessage, encodeMessage, messageEncodingLength, type CodecContext, type Message } from '../../../../src/protocols/bgp/codec/index.js'
import { hex, ip, msg, p } from './helpers.js'

const as4: CodecContext = { as4: true }
const as2: CodecContext = { as4: false }

interface Case {
  name: string
  ctx?: CodecContext
  object: Message
  bytes: Buffer
}

const longPath = Array.from({ length: 70 }, (_, i) => 4200000000 + i)

const cases: Case[] = [
  { name: 'KEEPALIVE', object: { type: 'keepalive' }, bytes: hex('ffffffffffffffffffffffffffffffff 0013 04') },
  {
    name: 'OPEN basic: MP IPv4, route refresh, 4-octet AS in one parameter',
    object: {
      type: 'open', version: 4, myAs: 65001, holdTime: 9, bgpId: ip('10.0.0.1'),
      capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'routeRefresh', code: 2 }, { kind: 'as4', asn: 65001 }],
      layout: { groups: [3], extended: false },
    },
    bytes: msg(1, '04 fde9 0009 0a000001 10 02 0e 010400010001 0200 41040000fde9'),
  },
  {
    name: 'OPEN one capability per parameter (FRR style), AS_TRANS, GR, old RR, enhanced RR, extended message, unknown',
    object: {
      type: 'open', version: 4, myAs: 23456, holdTime: 180, bgpId: ip('192.0.2.1'),
      capabilities: [
        { kind: 'multiprotocol', afi: 1, safi: 1 },
        { kind: 'routeRefresh', code: 2 },
        { kind: 'routeRefresh', code: 128 },
        { kind: 'enhancedRouteRefresh' },
        { kind: 'extendedMessage' },
        { kind: 'as4', asn: 4200000000 },
        { kind: 'gracefulRestart', restarting: true, notification: true, restartTime: 120, families: [{ afi: 1, safi: 1, forwarding: true }] },
        { kind: 'unknown', code: 73, data: Buffer.from('abc') },
      ],
      layout: { groups: [1, 1, 1, 1, 1, 1, 1, 1], extended: false },
    },
    bytes: msg(1, '04 5ba0 00b4 c0000201 31 0206010400010001 02020200 02028000 02024600 02020600 02064104fa56ea00 02084006c07800010180 020549036162 63'),
  },
  {
    name: 'OPEN with RFC 9072 extended optional parameters',
    object: {
      type: 'open', version: 4, myAs: 65001, holdTime: 9, bgpId: ip('10.0.0.1'),
      capabilities: [{ kind: 'multiprotocol', afi: 2, safi: 1 }, { kind: 'routeRefresh', code: 2 }],
      layout: { groups: [2], extended: true },
    },
    bytes: msg(1, '04 fde9 0009 0a000001 ff ff 000b 02 0008 010400020001 0200'),
  },
  {
    name: 'OPEN without optional parameters, hold time 0',
    object: { type: 'open', version: 4, myAs: 65001, holdTime: 0, bgpId: ip('10.0.0.1'), capabilities: [], layout: { groups: [], extended: false } },
    bytes: msg(1, '04 fde9 0000 0a000001 00'),
  },
  {
    name: 'OPEN graceful restart without families, no flags',
    object: {
      type: 'open', version: 4, myAs: 65002, holdTime: 90, bgpId: ip('10.0.0.2'),
      capabilities: [{ kind: 'gracefulRestart', restarting: false, notification: false, restartTime: 4095, families: [] }],
      layout: { groups: [1], extended: false },
    },
    bytes: msg(1, '04 fdea 005a 0a000002 06 0204 4002 0fff'),
  },
  {
    name: 'UPDATE IPv4 announce with ORIGIN, AS_PATH (4-octet), NEXT_HOP, MED, LOCAL_PREF',
    object: {
      type: 'update', withdrawn: [],
      attributes: [
        { type: 'origin', origin: 0 },
        { type: 'asPath', segments: [{ type: 'sequence', asns: [65001, 65002] }] },
        { type: 'nextHop', nextHop: ip('10.0.0.1') },
        { type: 'med', med: 100 },
        { type: 'localPref', localPref: 100 },
      ],
      nlri: [p('10.1.0.0/24'), p('10.2.0.0/16'), p('10.3.4.5/32'), p('0.0.0.0/0')],
    },
    bytes: msg(2, '0000 0026 40010100 40020a02020000fde90000fdea 4003040a000001 80040400000064 40050400000064 180a0100 100a02 200a030405 00'),
  },
  {
    name: 'UPDATE withdrawals only',
    object: { type: 'update', withdrawn: [p('10.99.0.0/16'), p('11.0.0.0/8')], attributes: [], nlri: [] },
    bytes: msg(2, '0005 100a63080b 0000'),
  },
  {
    name: 'UPDATE withdrawals plus AS_SET/confed segments, ATOMIC_AGGREGATE, AGGREGATOR, COMMUNITIES, ORIGINATOR_ID, CLUSTER_LIST, unknown transitive',
    object: {
      type: 'update', withdrawn: [p('10.99.0.0/16'), p('11.0.0.0/8')],
      attributes: [
        { type: 'origin', origin: 1 },
        { type: 'asPath', segments: [{ type: 'confedSequence', asns: [65000] }, { type: 'sequence', asns: [65001] }, { type: 'set', asns: [65002, 65003] }] },
        { type: 'nextHop', nextHop: ip('192.0.2.1') },
        { type: 'atomicAggregate' },
        { type: 'aggregator', asn: 65001, address: ip('192.0.2.1') },
        { type: 'communities', communities: [0xfde90064, 0xffffff01] },
        { type: 'originatorId', id: ip('10.0.0.9') },
        { type: 'clusterList', ids: [ip('10.0.0.1'), ip('10.0.0.2')] },
        { type: 'unknown', code: 99, flags: 0xe0, data: Buffer.from([1, 2, 3]) },
      ],
      nlri: [p('198.51.100.0/24')],
    },
    bytes: msg(2, `0005 100a63080b 0055
      40010101
      4002 16 03010000fde8 02010000fde9 01020000fdea0000fdeb
      400304c0000201
      400600
      c007080000fde9c0000201
      c00808fde90064ffffff01
      8009040a000009
      800a080a0000010a000002
      e06303010203
      18c63364`),
  },
  {
    name: 'UPDATE on a 2-octet session with AS_TRANS, AS4_PATH and AS4_AGGREGATOR',
    ctx: as2,
    object: {
      type: 'update', withdrawn: [],
      attributes: [
        { type: 'origin', origin: 2 },
        { type: 'asPath', segments: [{ type: 'sequence', asns: [23456, 65001] }] },
        { type: 'nextHop', nextHop: ip('10.0.0.2') },
        { type: 'aggregator', asn: 23456, address: ip('10.0.0.2') },
        { type: 'as4Path', segments: [{ type: 'sequence', asns: [4200000000, 65001] }] },
        { type: 'as4Aggregator', asn: 4200000000, address: ip('10.0.0.2') },
      ],
      nlri: [p('10.1.0.0/24')],
    },
    bytes: msg(2, '0000 0035 40010102 400206 0202 5ba0fde9 4003040a000002 c007065ba00a000002 c0110a0202fa56ea000000fde9 c01208fa56ea000a000002 180a0100'),
  },
  {
    name: 'UPDATE IPv6 MP_REACH_NLRI with global + link-local next hop (extended length flag kept)',
    object: {
      type: 'update', withdrawn: [],
      attributes: [
        { type: 'origin', origin: 0 },
        { type: 'asPath', segments: [{ type: 'sequence', asns: [65001] }] },
        { type: 'mpReach', afi: 2, safi: 1, nextHop: '2001:db8::1', linkLocalNextHop: 'fe80::1', nlri: [{ addr: '2001:db8:1::', len: 64 }, { addr: '2001:db8:2::', len: 48 }], extendedLength: true },
      ],
      nlri: [],
    },
    bytes: msg(2, `0000 0046 40010100 40020602010000fde9
      900e0035 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00
      40 20010db800010000 30 20010db80002`),
  },
  {
    name: 'UPDATE IPv6 MP_REACH_NLRI with a global next hop only',
    object: {
      type: 'update', withdrawn: [],
      attributes: [
        { type: 'origin', origin: 0 },
        { type: 'asPath', segments: [] },
        { type: 'mpReach', afi: 2, safi: 1, nextHop: '2001:db8::1', nlri: [{ addr: '::', len: 0 }] },
      ],
      nlri: [],
    },
    bytes: msg(2, '0000 0020 40010100 400200 800e16 0002 01 10 20010db8000000000000000000000001 00 00'),
  },
  {
    name: 'UPDATE IPv6 MP_UNREACH_NLRI',
    object: { type: 'update', withdrawn: [], attributes: [{ type: 'mpUnreach', afi: 2, safi: 1, withdrawn: [{ addr: '2001:db8:1::', len: 64 }] }], nlri: [] },
    bytes: msg(2, '0000 000f 800f0c 000201 40 20010db800010000'),
  },
  {
    name: 'UPDATE IPv4 MP_REACH_NLRI and MP_UNREACH_NLRI',
    object: {
      type: 'update', withdrawn: [],
      attributes: [
        { type: 'origin', origin: 0 },
        { type: 'asPath', segments: [] },
        { type: 'mpReach', afi: 1, safi: 1, nextHop: ip('10.0.0.1'), nlri: [p('10.1.0.0/24')] },
        { type: 'mpUnreach', afi: 1, safi: 1, withdrawn: [p('10.9.0.0/16')] },
      ],
      nlri: [],
    },
    bytes: msg(2, '0000 0020 40010100 400200 800e0d 0001 01 04 0a000001 00 180a0100 800f06 000101 100a09'),
  },
  {
    name: 'UPDATE MP_REACH_NLRI of another AFI/SAFI kept raw',
    object: {
      type: 'update', withdrawn: [],
      attributes: [
        { type: 'origin', origin: 0 },
        { type: 'asPath', segments: [] },
        { type: 'mpReach', afi: 1, safi: 128, raw: true, nextHop: hex('000000000000000001020304'), nlri: hex('7000000a') },
      ],
      nlri: [],
    },
    bytes: msg(2, '0000 001f 40010100 400200 800e 15 0001 80 0c 000000000000000001020304 00 7000000a'),
  },
  {
    name: 'UPDATE End-of-RIB IPv4 (empty)',
    object: { type: 'update', withdrawn: [], attributes: [], nlri: [] },
    bytes: msg(2, '0000 0000'),
  },
  {
    name: 'UPDATE End-of-RIB IPv6 (MP_UNREACH with AFI/SAFI only)',
    object: { type: 'update', withdrawn: [], attributes: [{ type: 'mpUnreach', afi: 2, safi: 1, withdrawn: [] }], nlri: [] },
    bytes: msg(2, '0000 0006 800f03 000201'),
  },
  {
    name: 'UPDATE long AS_PATH uses the extended length flag',
    object: {
      type: 'update', withdrawn: [],
      attributes: [{ type: 'origin', origin: 0 }, { type: 'asPath', segments: [{ type: 'sequence', asns: longPath }] }, { type: 'nextHop', nextHop: ip('10.0.0.1') }],
      nlri: [p('10.1.0.0/24')],
    },
    bytes: msg(2, Buffer.concat([
      hex('0000 0129 40010100 5002011a 0246'),
      Buffer.concat(longPath.map((n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b })),
      hex('4003040a000001 180a0100'),
    ])),
  },
  {
    name: 'UPDATE optional transitive with Partial bit',
    object: {
      type: 'update', withdrawn: [],
      attributes: [{ type: 'origin', origin: 0 }, { type: 'asPath', segments: [] }, { type: 'nextHop', nextHop: ip('10.0.0.1') }, { type: 'communities', communities: [1], partial: true }],
      nlri: [p('10.1.0.0/24')],
    },
    bytes: msg(2, '0000 0015 40010100 400200 4003040a000001 e0080400000001 180a0100'),
  },
  {
    name: 'NOTIFICATION Cease/Administrative Shutdown with RFC 9003 message',
    object: { type: 'notification', code: 6, subcode: 2, data: hex('0b 6d61696e74656e616e6365'), shutdownMessage: 'maintenance' },
    bytes: msg(3, '0602 0b 6d61696e74656e616e6365'),
  },
  {
    name: 'NOTIFICATION Cease/Administrative Reset with UTF-8 message',
    object: { type: 'notification', code: 6, subcode: 4, data: hex('06 c3a974c3a921'), shutdownMessage: 'été!' },
    bytes: msg(3, '0604 06 c3a974c3a921'),
  },
  { name: 'NOTIFICATION Hold Timer Expired', object: { type: 'notification', code: 4, subcode: 0, data: Buffer.alloc(0) }, bytes: msg(3, '0400') },
  { name: 'NOTIFICATION Bad Message Length with data', object: { type: 'notification', code: 1, subcode: 2, data: hex('1001') }, bytes: msg(3, '0102 1001') },
  { name: 'NOTIFICATION FSM error in OpenConfirm', object: { type: 'notification', code: 5, subcode: 2, data: Buffer.alloc(0) }, bytes: msg(3, '0502') },
  { name: 'NOTIFICATION Cease/2 with invalid shutdown length keeps data only', object: { type: 'notification', code: 6, subcode: 2, data: hex('09 6162') }, bytes: msg(3, '0602 09 6162') },
  { name: 'ROUTE-REFRESH IPv4 unicast', object: { type: 'routeRefresh', afi: 1, subtype: 0, safi: 1 }, bytes: msg(5, '0001 00 01') },
  { name: 'ROUTE-REFRESH BoRR IPv6 unicast (RFC 7313)', object: { type: 'routeRefresh', afi: 2, subtype: 1, safi: 1 }, bytes: msg(5, '0002 01 01') },
]

for (const c of cases) {
  const ctx = c.ctx ?? as4
  test(`encoding length: ${c.name}`, (t) => {
    t.is(messageEncodingLength(c.object, ctx), c.bytes.length)
  })
  test(`decode: ${c.name}`, (t) => {
    const r = decodeMessage(c.bytes, ctx)
    if (!r.ok) return t.fail(`${r.error.code}/${r.error.subcode}: ${r.error.message}`)
    t.deepEqual(r.value, c.object)
  })
  test(`encode: ${c.name}`, (t) => {
    t.is(encodeMessage(c.object, ctx).toString('hex'), c.bytes.toString('hex'))
  })
}
