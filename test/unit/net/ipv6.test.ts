import test from 'ava'
import {
  PrefixMap6,
  canonicalAddress6,
  classify6,
  containsAddress6,
  containsPrefix6,
  formatIpv6,
  isMartian6,
  maskOf6,
  nextHopProblem6,
  overlaps6,
  parseAddress6,
  parseIpv6,
  parsePrefix6,
} from '../../../src/net/ipv6.js'
import { P6 as P } from '../../helpers/net.js'


// [input, canonical RFC 5952 text]
const canonical: [string, string][] = [
  ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
  ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
  ['2001:DB8::1', '2001:db8::1'],
  ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // RFC 5952 4.2.2: one zero group is not compressed
  ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // 4.2.3: the longest run
  ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // 4.2.3: the first of equal runs
  ['0:0:0:0:0:0:0:0', '::'],
  ['::', '::'],
  ['0:0:0:0:0:0:0:1', '::1'],
  ['fe80:0:0:0:0:0:0:1', 'fe80::1'],
  ['ff02::9', 'ff02::9'],
  ['1::', '1::'],
  ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
  ['::ffff:192.0.2.1', '::ffff:192.0.2.1'], // RFC 5952 5: mapped addresses keep the quad
  ['0:0:0:0:0:ffff:c000:0201', '::ffff:192.0.2.1'],
  ['64:ff9b::10.0.0.1', '64:ff9b::a00:1'],
  ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
  [' fd00:fab::1 ', 'fd00:fab::1'],
]
for (const [input, want] of canonical) {
  test(`canonical ${JSON.stringify(input)} -> ${want}`, (t) => {
    const r = canonicalAddress6(input)
    t.true(r.ok)
    if (r.ok) t.is(r.value, want)
    // and formatting the bytes of the canonical text is stable
    t.is(formatIpv6(parseIpv6(want)!), want)
  })
}

const invalid: [string, RegExp][] = [
  ['', /empty/],
  ['1:2:3:4:5:6:7', /7 groups, expected 8/],
  ['1:2:3:4:5:6:7:8:9', /9 groups/],
  ['1::2::3', /more than once/],
  ['1:2:3:4::5:6:7:8', /stands for no group/],
  ['12345::', /not 1-4 hex digits/],
  ['g::1', /not 1-4 hex digits/],
  [':1:2:3:4:5:6:7', /empty group/],
  ['1:2:3:4:5:6:7:', /empty group/],
  ['fe80::1%eth0', /zone ids/],
  ['::1.2.3.256', /octet/],
  ['::01.2.3.4', /leading zero/],
  ['::1.2.3', /not a dotted quad/],
  ['1.2.3.4::', /not 1-4 hex digits|dotted/],
  ['[::1]', /not 1-4 hex digits/],
]
for (const [input, why] of invalid) {
  test(`refused ${JSON.stringify(input)}`, (t) => {
    const r = parseAddress6(input)
    t.false(r.ok)
    if (!r.ok) t.regex(r.error, why)
    t.is(parseIpv6(input), undefined)
  })
}

test('prefixes: strict host bits, lengths 0..128', (t) => {
  t.deepEqual(P('fd00:fab::/48'), { addr: 'fd00:fab::', len: 48 })
  t.deepEqual(P('::/0'), { addr: '::', len: 0 })
  t.deepEqual(P('2001:db8::1/128'), { addr: '2001:db8::1', len: 128 })
  t.deepEqual(P('fd00:fab:0:1::/64'), { addr: 'fd00:fab:0:1::', len: 64 })
  const hb = parsePrefix6('fd00:fab::1/64')
  t.false(hb.ok)
  if (!hb.ok) t.regex(hb.error, /host bits set \(did you mean fd00:fab::\/64\?\)/)
  const lax = parsePrefix6('fd00:fab::1/64', false)
  t.deepEqual(lax.ok && lax.value, { addr: 'fd00:fab::', len: 64 })
  for (const bad of ['fd00::/129', 'fd00::/-1', 'fd00::/', 'fd00::', 'fd00::/064', 'fd00::/6a', 'x::/64']) t.false(parsePrefix6(bad).ok, bad)
  // a length that is not a multiple of 8
  t.deepEqual(P('fd00:fab:ff80::/41'), { addr: 'fd00:fab:ff80::', len: 41 })
  t.false(parsePrefix6('fd00:fab:ffc0::/41').ok)
})

test('masks', (t) => {
  t.is(maskOf6(0).toString('hex'), '0'.repeat(32))
  t.is(maskOf6(128).toString('hex'), 'f'.repeat(32))
  t.is(maskOf6(64).toString('hex'), 'f'.repeat(16) + '0'.repeat(16))
  t.is(maskOf6(10).toString('hex'), 'ffc0' + '0'.repeat(28))
})

test('contains and overlaps', (t) => {
  const pool = P('fd00:fab::/48')
  t.true(containsAddress6(pool, 'fd00:fab:0:1::1'))
  t.true(containsAddress6(pool, 'fd00:fab:0:ffff:ffff:ffff:ffff:ffff'))
  t.false(containsAddress6(pool, 'fd00:fac::1'))
  t.false(containsAddress6(pool, 'fd00:fab:1::1'))
  t.false(containsAddress6(pool, 'not an address'))
  t.true(containsAddress6(P('::/0'), '2001:db8::1'))
  t.true(containsPrefix6(pool, P('fd00:fab:0:1::/64')))
  t.true(containsPrefix6(pool, pool))
  t.false(containsPrefix6(P('fd00:fab:0:1::/64'), pool))
  t.true(overlaps6(P('fd00:fab:0:1::/64'), pool))
  t.false(overlaps6(P('fd00:fab:0:1::/64'), P('fd00:fab:0:2::/64')))
  t.true(containsAddress6(P('fe80::/10'), 'febf::1'))
  t.false(containsAddress6(P('fe80::/10'), 'fec0::1'))
})

test('classification', (t) => {
  const cases: [string, string][] = [
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['ff02::9', 'multicast'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'global'], // deprecated site-local is not link-local
    ['::ffff:10.0.0.1', 'ipv4-mapped'],
    ['fd00:fab::1', 'unique-local'],
    ['fc00::1', 'unique-local'],
    ['2001:db8::1', 'global'],
  ]
  for (const [a, c] of cases) t.is<string, string>(classify6(a), c, a)
})

test('martian destinations', (t) => {
  for (const m of ['ff02::/16', 'ff00::/8', 'fe80::/64', 'fe80::/10', '::1/128', '::/128', '::ffff:0:0/96']) t.true(isMartian6(P(m)), m)
  for (const m of ['::/0', 'fd00:fab:0:1::/64', '2001:db8::/32', 'fc00::/7', 'fe00::/7']) t.false(isMartian6(P(m)), m)
})

const scope = { underlay: P('2001:db8:1::/64'), self: ['2001:db8:1::11', 'fe80::11'], pools: [P('fd00:fab::/48')] }
const hops: [string, string | undefined][] = [
  ['fe80::12', undefined],
  ['2001:db8:1::12', undefined],
  ['2001:db8:1::', undefined], // subnet-router anycast: no broadcast in IPv6
  ['2001:db8:2::12', 'not-on-underlay'],
  ['fd00:fab:0:1::2', 'inside-pool'],
  ['2001:db8:1::11', 'own-address'],
  ['fe80::11', 'own-address'],
  ['::', 'not-unicast'],
  ['::1', 'not-unicast'],
  ['ff02::9', 'not-unicast'],
  ['::ffff:192.0.2.1', 'ipv4-mapped'],
  ['garbage', 'not-unicast'],
]
for (const [addr, want] of hops) {
  test(`next hop ${addr}: ${want ?? 'accepted'}`, (t) => {
    t.is<string | undefined, string | undefined>(nextHopProblem6(addr, scope), want)
    const bytes = parseIpv6(addr)
    if (bytes) t.is<string | undefined, string | undefined>(nextHopProblem6(bytes, scope), want)
  })
}

test('next hop: without a global underlay prefix only link-local is accepted', (t) => {
  t.is(nextHopProblem6('fe80::12', { self: [] }), undefined)
  t.is(nextHopProblem6('2001:db8:1::12', { self: [] }), 'not-on-underlay')
})

test('PrefixMap6: exact keys and longest match', (t) => {
  const m = new PrefixMap6<string>()
  m.set(P('fd00:fab::/48'), 'pool')
  m.set(P('fd00:fab:0:1::/64'), 'host1')
  m.set({ addr: 'fd00:fab:0:1::', len: 64 }, 'host1b')
  t.is(m.size, 2)
  t.is(m.get(P('fd00:fab:0:1::/64')), 'host1b')
  t.is(m.lookup('fd00:fab:0:1::5')?.[1], 'host1b')
  t.is(m.lookup('fd00:fab:0:2::5')?.[1], 'pool')
  t.is(m.lookup('2001:db8::1'), undefined)
  t.true(m.delete(P('fd00:fab::/48')))
  t.false(m.has(P('fd00:fab::/48')))
  t.deepEqual([...m.entries()].map(([p, v]) => `${p.addr}/${p.len}=${v}`), ['fd00:fab:0:1::/64=host1b'])
})
