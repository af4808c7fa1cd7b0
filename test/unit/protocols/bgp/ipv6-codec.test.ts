/**
 * MP-BGP IPv6 unicast in the codec: MP_REACH_NLRI / MP_UNREACH_NLRI for
 * AFI 2 SAFI 1 (RFC 4760), the 16- and 32-octet next hops of RFC 2545,
 * RFC 7606 7.11 for other next hop lengths, and the bytes BIRD 2 and FRR 8
 * send (test/interop/capture-bgp6.sh -> test/fixtures/bgp/*ipv6*.json).
 */
import test from 'ava'
import * as net6 from '../../../../src/net/ipv6.js'
import { formatPrefix } from '../../../../src/net/ipv4.js'
import * as codec from '../../../../src/protocols/bgp/codec/index.js'
import {
  type CodecContext, type Message, type MpReach, type MpUnreach, type PathAttribute, type UpdateMessage,
  decodeMessage, encodeMessage, endOfRib, makeEndOfRib,
} from '../../../../src/protocols/bgp/codec/index.js'
import { ipv6NextHops } from '../../../../src/protocols/bgp/codec/attributes.js'
import { type Fixture, loadFixtures } from './fixtures.js'
import { hex, msg } from './helpers.js'

const as4: CodecContext = { as4: true }
type Reach6 = Extract<MpReach, { afi: 2 }>
type Unreach6 = Extract<MpUnreach, { afi: 2 }>

// ---------------------------------------------------------------- one IPv6 implementation

test('the codec formats and parses IPv6 with src/net/ipv6.ts (no copy of its own)', (t) => {
  t.is(codec.formatIpv6, net6.formatIpv6)
  t.is(codec.parseIpv6, net6.parseIpv6)
})

// ---------------------------------------------------------------- table: {name, object, bytes} both ways

const ORIGIN_PATH = '40010100 40020602010000fde9'

/** One path attribute: flags, type code, length (1 or, with the Extended Length flag 0x10, 2 octets) and value. */
function attr(flags: number, code: number, value: string): string {
  const v = hex(value)
  const len = flags & 0x10 ? Buffer.from([v.length >> 8, v.length & 0xff]) : Buffer.from([v.length])
  return Buffer.concat([Buffer.from([flags, code]), len, v]).toString('hex')
}

/** An UPDATE without IPv4 withdrawn routes or NLRI, carrying these attributes. */
function update(...attrs: string[]): Buffer {
  const a = hex(attrs.join(''))
  const len = Buffer.alloc(2)
  len.writeUInt16BE(a.length)
  return msg(2, Buffer.concat([hex('0000'), len, a]))
}
const originPath: PathAttribute[] = [{ type: 'origin', origin: 0 }, { type: 'asPath', segments: [{ type: 'sequence', asns: [65001] }] }]

interface Case {
  name: string
  object: UpdateMessage
  bytes: Buffer
}

const cases: Case[] = [
  {
    name: '16-octet next hop (global only), one /48',
    object: { type: 'update', withdrawn: [], attributes: [...originPath, { type: 'mpReach', afi: 2, safi: 1, nextHop: 'fd00:256::1', nlri: [{ addr: '2001:db8:61::', len: 48 }] }], nlri: [] },
    bytes: update(ORIGIN_PATH, attr(0x80, 14, '0002 01 10 fd000256000000000000000000000001 00 30 20010db80061')),
  },
  {
    name: '32-octet next hop (global + link-local, RFC 2545), /56 and /64',
    object: {
      type: 'update', withdrawn: [],
      attributes: [...originPath, { type: 'mpReach', afi: 2, safi: 1, nextHop: 'fd00:256::2', linkLocalNextHop: 'fe80::b2', nlri: [{ addr: '2001:db8:62::', len: 56 }, { addr: '2001:db8:72::', len: 64 }] }],
      nlri: [],
    },
    bytes: update(ORIGIN_PATH, attr(0x80, 14, `0002 01 20 fd000256000000000000000000000002 fe8000000000000000000000000000b2 00
      38 20010db8006200 40 20010db800720000`)),
  },
  {
    name: 'IPv4-mapped global + zero link-local (what FRR sends on an IPv4-only link), RFC 5952 mixed notation',
    object: {
      type: 'update', withdrawn: [],
      attributes: [...originPath, { type: 'mpReach', afi: 2, safi: 1, nextHop: '::ffff:10.255.7.2', linkLocalNextHop: '::', nlri: [{ addr: '2001:db8:71::', len: 48 }] }],
      nlri: [],
    },
    bytes: update(ORIGIN_PATH, attr(0x80, 14, '0002 01 20 00000000000000000000ffff0aff0702 00000000000000000000000000000000 00 30 20010db80071')),
  },
  {
    name: 'prefix lengths 0, 1, 57 and 128 (host bits of the last octet cleared), extended length flag kept',
    object: {
      type: 'update', withdrawn: [],
      attributes: [
        ...originPath,
        {
          type: 'mpReach', afi: 2, safi: 1, nextHop: '2001:db8::1',
          nlri: [{ addr: '::', len: 0 }, { addr: '8000::', len: 1 }, { addr: '2001:db8:1:80::', len: 57 }, { addr: '2001:db8::ff', len: 128 }],
          extendedLength: true,
        },
      ],
      nlri: [],
    },
    bytes: update(ORIGIN_PATH, attr(0x90, 14, `0002 01 10 20010db8000000000000000000000001 00
      00 01 80 39 20010db800010080 80 20010db80000000000000000000000ff`)),
  },
  {
    name: 'MP_UNREACH_NLRI withdrawing two prefixes',
    object: { type: 'update', withdrawn: [], attributes: [{ type: 'mpUnreach', afi: 2, safi: 1, withdrawn: [{ addr: '2001:db8:63::', len: 64 }, { addr: '2001:db8:73::', len: 64 }] }], nlri: [] },
    bytes: update(attr(0x80, 15, '000201 40 20010db800630000 40 20010db800730000')),
  },
  {
    name: 'End-of-RIB for AFI 2 SAFI 1 (empty MP_UNREACH_NLRI, RFC 4724)',
    object: { type: 'update', withdrawn: [], attributes: [{ type: 'mpUnreach', afi: 2, safi: 1, withdrawn: [] }], nlri: [] },
    bytes: update(attr(0x80, 15, '000201')),
  },
]

for (const c of cases) {
  test(`decode: ${c.name}`, (t) => {
    const r = decodeMessage(c.bytes, as4)
    if (!r.ok) return t.fail(`${r.error.reason}: ${r.error.message}`)
    t.deepEqual(r.value, c.object as Message)
  })
  test(`encode: ${c.name}`, (t) => {
    t.is(encodeMessage(c.object, as4).toString('hex'), c.bytes.toString('hex'))
  })
}

test('makeEndOfRib(2, 1) is the AFI 2 End-of-RIB and endOfRib recognises it', (t) => {
  const eor = makeEndOfRib(2, 1)
  t.is(encodeMessage(eor, as4).toString('hex'), msg(2, '0000 0006 800f03 000201').toString('hex'))
  t.deepEqual(endOfRib(eor), { afi: 2, safi: 1 })
})

test('an IPv6 next hop given in any accepted text form encodes to the same octets as its canonical form', (t) => {
  const enc = (nextHop: string, linkLocalNextHop?: string) => encodeMessage({
    type: 'update', withdrawn: [], nlri: [],
    attributes: [...originPath, { type: 'mpReach', afi: 2, safi: 1, nextHop, ...(linkLocalNextHop === undefined ? {} : { linkLocalNextHop }), nlri: [] }],
  }, as4).toString('hex')
  t.is(enc('FD00:0256:0:0:0:0:0:1', 'FE80:0:0:0:0:0:0:A1'), enc('fd00:256::1', 'fe80::a1'))
  t.is(enc('::ffff:aff:702'), enc('::ffff:10.255.7.2'))
})

test('ipv6NextHops: global alone, global + link-local, and a 32-octet next hop whose second half is not link-local', (t) => {
  const mp = (nextHop: string, linkLocalNextHop?: string): Reach6 =>
    ({ type: 'mpReach', afi: 2, safi: 1, nextHop, ...(linkLocalNextHop === undefined ? {} : { linkLocalNextHop }), nlri: [] })
  t.deepEqual(ipv6NextHops(mp('fd00:256::1')), { global: 'fd00:256::1' })
  t.deepEqual(ipv6NextHops(mp('fd00:256::2', 'fe80::b2')), { global: 'fd00:256::2', linkLocal: 'fe80::b2' })
  t.deepEqual(ipv6NextHops(mp('::ffff:10.255.7.2', '::')), { global: '::ffff:10.255.7.2' })
  t.deepEqual(ipv6NextHops(mp('2001:db8::1', '2001:db8::2')), { global: '2001:db8::1' })
  t.deepEqual(ipv6NextHops(mp('2001:db8::1', 'febf::1')), { global: '2001:db8::1', linkLocal: 'febf::1' })
  t.deepEqual(ipv6NextHops(mp('2001:db8::1', 'fec0::1')), { global: '2001:db8::1' })
})

// ---------------------------------------------------------------- RFC 7606 7.11: other next hop lengths

/** An UPDATE whose only attributes are ORIGIN, AS_PATH and an AFI 2 SAFI 1 MP_REACH_NLRI with `nhLen` next hop octets. */
function withNextHopLength(nhLen: number, nlri = '30 20010db80061'): Buffer {
  const value = Buffer.concat([hex('0002 01'), Buffer.from([nhLen]), Buffer.alloc(nhLen, 0x11), hex('00'), hex(nlri)])
  return update(ORIGIN_PATH, attr(0x80, 14, value.toString('hex')))
}

for (const nhLen of [0, 4, 12, 15, 17, 24, 31, 33, 48]) {
  test(`MP_REACH_NLRI AFI 2 next hop of ${nhLen} octets: session reset, UPDATE Message Error / Optional Attribute Error with the attribute as data`, (t) => {
    const bytes = withNextHopLength(nhLen)
    const r = decodeMessage(bytes, as4)
    if (r.ok) return t.fail('decoded')
    t.true(codec.isBgpDecodeError(r.error))
    t.is(r.error.code, 3)
    t.is(r.error.subcode, 9)
    t.is(r.error.reason, 'update-message-error/optional-attribute-error')
    t.regex(r.error.message, new RegExp(`next hop length ${nhLen}\\b`))
    // the NOTIFICATION data is the malformed attribute (RFC 4271 6.3), AFI/SAFI readable from it
    t.is(r.error.data.toString('hex'), bytes.subarray(19 + 4 + hex(ORIGIN_PATH).length).toString('hex'))
    t.is(r.error.data.readUInt16BE(3), 2)
  })
}

test('MP_REACH_NLRI AFI 2 with 16 and 32 octets decodes (the lengths RFC 2545 allows)', (t) => {
  for (const nhLen of [16, 32]) {
    const r = decodeMessage(withNextHopLength(nhLen), as4)
    if (!r.ok) return t.fail(r.error.message)
    const mp = (r.value as UpdateMessage).attributes.find((a): a is Reach6 => a.type === 'mpReach' && a.afi === 2 && !('raw' in a))
    t.is(mp?.nextHop, '1111:1111:1111:1111:1111:1111:1111:1111')
    t.is(mp?.linkLocalNextHop, nhLen === 32 ? '1111:1111:1111:1111:1111:1111:1111:1111' : undefined)
  }
})

const malformed: Array<{ name: string; bytes: Buffer }> = [
  { name: 'next hop length overruns the attribute', bytes: update(ORIGIN_PATH, attr(0x80, 14, '0002 01 20 fd000256000000000000000000 00')) },
  { name: 'attribute shorter than its 5-octet minimum', bytes: update(ORIGIN_PATH, attr(0x80, 14, '0002 01 10')) },
  { name: 'NLRI prefix length 129', bytes: withNextHopLength(16, '81 20010db8000000000000000000000001') },
  { name: 'NLRI prefix /64 with 3 octets', bytes: withNextHopLength(16, '40 20010d') },
  { name: 'MP_UNREACH_NLRI prefix length 200', bytes: update(attr(0x80, 15, '000201 c8 20')) },
  { name: 'MP_UNREACH_NLRI prefix truncated', bytes: update(attr(0x80, 15, '000201 30 2001')) },
]

for (const c of malformed) {
  test(`AFI 2 ${c.name}: session reset (RFC 7606 7.11), a typed error, no throw`, (t) => {
    const r = decodeMessage(c.bytes, as4)
    if (r.ok) return t.fail('decoded')
    t.true(codec.isBgpDecodeError(r.error))
    t.is(r.error.code, 3)
    t.is(r.error.subcode, 9)
  })
}

// ---------------------------------------------------------------- captured BIRD 2 / FRR 8 sessions

const fixtures = loadFixtures().filter((f) => f.file.includes('ipv6'))

test('the three IPv6 fixtures are present', (t) => {
  t.deepEqual(fixtures.map((f) => f.file), ['bird2-frr8-ipv6-mapped.json', 'bird2-frr8-ipv6-over-ipv4.json', 'bird2-frr8-ipv6-session.json'])
})

function updates(f: Fixture, from: string): UpdateMessage[] {
  return f.messages.filter((m) => m.from === from && m.type === 'update').map((m) => {
    const r = decodeMessage(Buffer.from(m.hex, 'hex'), f.ctx)
    if (!r.ok || r.value.type !== 'update') throw new Error(`${f.file} ${m.from}: ${r.ok ? r.value.type : r.error.message}`)
    return r.value
  })
}
const reach = (us: UpdateMessage[]) => us.flatMap((u) => u.attributes.filter((a): a is Reach6 => a.type === 'mpReach' && a.afi === 2 && !('raw' in a)))
const unreach = (us: UpdateMessage[]) => us.flatMap((u) => u.attributes.filter((a): a is Unreach6 => a.type === 'mpUnreach' && a.afi === 2 && !('raw' in a)))
const texts = (ps: readonly net6.Prefix6[]) => ps.map(net6.formatPrefix6)

/** The Length of Next Hop Network Address octet of each AFI 2 MP_REACH_NLRI in the message, read straight from the bytes. */
function nextHopLengths(hexText: string): number[] {
  const b = Buffer.from(hexText, 'hex')
  if (b[18] !== 2) return []
  const wlen = b.readUInt16BE(19)
  let pos = 21 + wlen + 2
  const end = pos + b.readUInt16BE(21 + wlen)
  const out: number[] = []
  while (pos < end) {
    const ext = (b[pos]! & 0x10) !== 0
    const len = ext ? b.readUInt16BE(pos + 2) : b[pos + 2]!
    const vs = pos + (ext ? 4 : 3)
    if (b[pos + 1] === 14 && b.readUInt16BE(vs) === 2) out.push(b[vs + 3]!)
    pos = vs + len
  }
  return out
}

const BIRD_ROUTES = ['2001:db8:61::/48', '2001:db8:62::/56', '2001:db8:63::/64']
const FRR_ROUTES = ['2001:db8:71::/48', '2001:db8:73::/64', '2001:db8:72::/64']

/** per fixture and sender: the decoded fields, the pair a route uses (ipv6NextHops) and the next hop length on the wire */
interface Want { global: string; linkLocal?: string; use: { global: string; linkLocal?: string }; nhLen: 16 | 32 }
const BIRD6: Want = { global: 'fd00:256::1', linkLocal: 'fe80::a1', use: { global: 'fd00:256::1', linkLocal: 'fe80::a1' }, nhLen: 32 }
const FRR6: Want = { global: 'fd00:256::2', linkLocal: 'fe80::b2', use: { global: 'fd00:256::2', linkLocal: 'fe80::b2' }, nhLen: 32 }
const expected: Record<string, Record<'bird' | 'frr', Want>> = {
  'bird2-frr8-ipv6-over-ipv4.json': { bird: BIRD6, frr: FRR6 },
  'bird2-frr8-ipv6-mapped.json': {
    bird: { global: 'fd00:256::1', use: { global: 'fd00:256::1' }, nhLen: 16 },
    frr: { global: '::ffff:10.255.7.2', linkLocal: '::', use: { global: '::ffff:10.255.7.2' }, nhLen: 32 },
  },
  'bird2-frr8-ipv6-session.json': { bird: BIRD6, frr: FRR6 },
}

for (const f of fixtures) {
  test(`${f.file}: every message decodes without RFC 7606 errors and re-encodes to the captured bytes`, (t) => {
    t.true(f.messages.length >= 10)
    for (const m of f.messages) {
      const r = decodeMessage(Buffer.from(m.hex, 'hex'), f.ctx)
      if (!r.ok) return t.fail(`${m.from} ${m.type}: ${r.error.message}`)
      t.is(r.value.type as string, m.type)
      if (r.value.type === 'update') t.is(r.value.errors, undefined)
      t.is(encodeMessage(r.value, f.ctx).toString('hex'), m.hex, `${m.from} ${m.type}`)
    }
  })

  test(`${f.file}: both daemons negotiate AFI 2 SAFI 1`, (t) => {
    for (const m of f.messages.filter((x) => x.type === 'open')) {
      const r = decodeMessage(Buffer.from(m.hex, 'hex'), f.ctx)
      if (!r.ok || r.value.type !== 'open') return t.fail(m.from)
      t.true(r.value.capabilities.some((c) => c.kind === 'multiprotocol' && c.afi === 2 && c.safi === 1), m.from)
    }
  })

  for (const from of ['bird', 'frr'] as const) {
    const want = expected[f.file]?.[from]
    test(`${f.file}: ${from}'s announcements, next hops (global ${want?.global}, link-local ${want?.linkLocal ?? 'none'}), withdrawal and AFI 2 End-of-RIB`, (t) => {
      if (!want) return t.fail('no expectation for this fixture')
      const us = updates(f, from)
      const r = reach(us)
      t.true(r.length >= 1)
      // every announcement carries the same next hop; the first one has all three routes
      for (const mp of r) {
        t.is(mp.nextHop, want.global)
        t.is(mp.linkLocalNextHop, want.linkLocal)
        t.deepEqual(ipv6NextHops(mp), want.use)
      }
      t.deepEqual(texts(r[0]!.nlri), from === 'bird' ? BIRD_ROUTES : FRR_ROUTES)
      // the next hop length octet on the wire is the one RFC 2545 gives for the decoded form
      const lens = f.messages.filter((m) => m.from === from).flatMap((m) => nextHopLengths(m.hex))
      t.deepEqual([...new Set(lens)], [want.nhLen])
      t.is(lens.length, r.length)
      // the withdrawal of the third route, in MP_UNREACH_NLRI
      const withdrawn = unreach(us).filter((u) => u.withdrawn.length > 0).map((u) => texts(u.withdrawn))
      t.deepEqual(withdrawn.at(-1), [from === 'bird' ? '2001:db8:63::/64' : '2001:db8:73::/64'])
      // End-of-RIB for IPv6 unicast
      t.true(us.some((u) => { const e = endOfRib(u); return e?.afi === 2 && e.safi === 1 }))
    })
  }
}

test('bird2-frr8-ipv6-mapped.json: BIRD sends its configured global next hop alone (no link-local field: the link has no IPv6)', (t) => {
  const f = fixtures.find((x) => x.file === 'bird2-frr8-ipv6-mapped.json')
  if (!f) return t.fail('fixture missing')
  const bird = reach(updates(f, 'bird'))
  t.true(bird.every((mp) => !('linkLocalNextHop' in mp)))
})

test('bird2-frr8-ipv6-over-ipv4.json: IPv4 unicast still flows on the same session, with its NEXT_HOP attribute', (t) => {
  const f = fixtures.find((x) => x.file === 'bird2-frr8-ipv6-over-ipv4.json')
  if (!f) return t.fail('fixture missing')
  for (const [from, route] of [['bird', '10.61.0.0/24'], ['frr', '10.71.0.0/24']] as const) {
    const us = updates(f, from)
    t.true(us.some((u) => u.nlri.map(formatPrefix).includes(route) && u.attributes.some((a) => a.type === 'nextHop')), from)
    t.true(us.some((u) => { const e = endOfRib(u); return e?.afi === 1 && e.safi === 1 }), `${from} IPv4 EoR`)
  }
})
