import test from 'ava'
import {
  type RipngDecodeErrorKind,
  type RipngPacket,
  decodePacket,
  encodePacket,
  maxEntriesForMtu,
  packetEncodingLength,
} from '../../../../src/protocols/ripng/codec.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')
// RTE: prefix(16) tag(2) len(1) metric(1)
const rte = (prefix: string, tag: string, len: string, metric: string): string => prefix.padEnd(32, '0') + tag + len + metric

const cases: Array<{ name: string; object: RipngPacket; bytes: Buffer }> = [
  {
    name: 'whole-table request',
    object: { command: 'request', entries: [{ kind: 'whole-table' }] },
    bytes: hex('01010000' + rte('', '0000', '00', '10')),
  },
  {
    name: 'specific request',
    object: { command: 'request', entries: [{ kind: 'route', prefix: { addr: 'fd00:fab:0:1::', len: 64 }, tag: 0, metric: 0 }] },
    bytes: hex('01010000' + rte('fd000fab00000001', '0000', '40', '00')),
  },
  {
    name: 'response: two routes, tag',
    object: {
      command: 'response',
      entries: [
        { kind: 'route', prefix: { addr: 'fd00:fab:0:1::', len: 64 }, tag: 0, metric: 1 },
        { kind: 'route', prefix: { addr: '2001:db8::', len: 32 }, tag: 0xbeef, metric: 16 },
      ],
    },
    bytes: hex('02010000' + rte('fd000fab00000001', '0000', '40', '01') + rte('20010db8', 'beef', '20', '10')),
  },
  {
    name: 'response: next-hop RTE, then back to the sender',
    object: {
      command: 'response',
      entries: [
        { kind: 'next-hop', address: 'fe80::2' },
        { kind: 'route', prefix: { addr: 'fd00:fab:0:2::', len: 64 }, tag: 0, metric: 2 },
        { kind: 'next-hop', address: '::' },
        { kind: 'route', prefix: { addr: '::', len: 0 }, tag: 0, metric: 3 },
        { kind: 'route', prefix: { addr: 'fd00:fab::1', len: 128 }, tag: 7, metric: 15 },
      ],
    },
    bytes: hex(
      '02010000' +
        rte('fe800000000000000000000000000002', '0000', '00', 'ff') +
        rte('fd000fab00000002', '0000', '40', '02') +
        rte('', '0000', '00', 'ff') +
        rte('', '0000', '00', '03') +
        rte('fd000fab000000000000000000000001', '0007', '80', '0f'),
    ),
  },
  {
    name: 'response: prefix length not a multiple of 8',
    object: { command: 'response', entries: [{ kind: 'route', prefix: { addr: 'fd00:fab:ff80::', len: 41 }, tag: 0, metric: 1 }] },
    bytes: hex('02010000' + rte('fd000fabff80', '0000', '29', '01')),
  },
]

for (const c of cases) {
  test(`encode: ${c.name}`, (t) => {
    t.is(packetEncodingLength(c.object), c.bytes.length)
    t.is(encodePacket(c.object).toString('hex'), c.bytes.toString('hex'))
  })
  test(`decode: ${c.name}`, (t) => {
    const r = decodePacket(c.bytes)
    t.true(r.ok, r.ok ? '' : r.error.message)
    if (r.ok) t.deepEqual(r.value, c.object)
  })
}

const bad: Array<{ name: string; bytes: Buffer; reason: RipngDecodeErrorKind; offset?: number }> = [
  { name: 'empty', bytes: hex(''), reason: 'truncated' },
  { name: '3 octets', bytes: hex('020100'), reason: 'truncated' },
  { name: 'header only', bytes: hex('02010000'), reason: 'no-entries' },
  { name: 'command 3', bytes: hex('03010000' + rte('', '0000', '00', '01')), reason: 'bad-command', offset: 0 },
  { name: 'command 0', bytes: hex('00010000' + rte('', '0000', '00', '01')), reason: 'bad-command', offset: 0 },
  { name: 'version 2 (RIPv2 on 521)', bytes: hex('02020000' + rte('', '0000', '00', '01')), reason: 'bad-version', offset: 1 },
  { name: 'version 0', bytes: hex('02000000' + rte('', '0000', '00', '01')), reason: 'bad-version', offset: 1 },
  { name: 'trailing octets', bytes: hex('02010000' + rte('', '0000', '00', '01') + 'ab'), reason: 'bad-length' },
  { name: 'a short RTE', bytes: hex('02010000' + '00'.repeat(19)), reason: 'bad-length' },
  { name: 'prefix length 129', bytes: hex('02010000' + rte('fd00', '0000', '81', '01')), reason: 'bad-prefix-length', offset: 22 },
  { name: 'prefix length 255 on an RTE with metric 1', bytes: hex('02010000' + rte('', '0000', 'ff', '01')), reason: 'bad-prefix-length', offset: 22 },
  { name: 'host bits beyond /64', bytes: hex('02010000' + rte('fd000fab000000010000000000000001', '0000', '40', '01')), reason: 'bad-prefix', offset: 4 },
  { name: 'host bits beyond /0', bytes: hex('02010000' + rte('8', '0000', '00', '01')), reason: 'bad-prefix', offset: 4 },
  { name: 'next hop in a request', bytes: hex('01010000' + rte('fe80', '0000', '00', 'ff')), reason: 'bad-next-hop', offset: 4 },
  { name: 'request metric 17', bytes: hex('01010000' + rte('fd00', '0000', '10', '11')), reason: 'bad-request', offset: 23 },
  { name: '73 RTEs (above a 1500 MTU)', bytes: hex('02010000' + rte('', '0000', '00', '01').repeat(73)), reason: 'too-long' },
]
for (const c of bad) {
  test(`refused: ${c.name}`, (t) => {
    const r = decodePacket(c.bytes)
    t.false(r.ok)
    if (r.ok) return
    t.is(r.error.codec, 'ripng')
    t.is(r.error.reason, c.reason)
    t.true(r.error.message.length > 0)
    if (c.offset !== undefined) t.is(r.error.offset, c.offset)
  })
}

test('RTEs per packet from the MTU (RFC 2080 2.1)', (t) => {
  t.is(maxEntriesForMtu(1500), 72)
  t.is(maxEntriesForMtu(1280), 61)
  t.is(maxEntriesForMtu(9000), 447)
  t.is(maxEntriesForMtu(100), 61) // never below the IPv6 minimum MTU
  const full = hex('02010000' + rte('', '0000', '00', '01').repeat(72))
  t.true(decodePacket(full).ok)
  t.is(decodePacket(hex('02010000' + rte('', '0000', '00', '01').repeat(62)), { maxEntries: 61 }).ok ? 'ok' : 'refused', 'refused')
})

test('bad metrics in a response are set aside, the rest is kept (RFC 2080 2.4.2)', (t) => {
  const r = decodePacket(hex('02010000' + rte('fd00', '0000', '10', '00') + rte('fd01', '0000', '10', '11') + rte('fd02', '0000', '10', '02')))
  t.true(r.ok)
  if (!r.ok) return
  t.deepEqual(r.value.entries, [{ kind: 'route', prefix: { addr: 'fd02::', len: 16 }, tag: 0, metric: 2 }])
  t.deepEqual(r.value.rejected?.map((x) => [x.index, x.kind]), [[1, 'bad-metric'], [2, 'bad-metric']])
})

test('a next-hop RTE ignores tag and length on reception', (t) => {
  const r = decodePacket(hex('02010000' + rte('fe800000000000000000000000000009', '1234', '40', 'ff') + rte('fd00', '0000', '10', '01')))
  t.true(r.ok)
  if (r.ok) t.deepEqual(r.value.entries[0], { kind: 'next-hop', address: 'fe80::9' })
})

test('whole-table only as the single RTE: ::/0 metric 16 among others is a route request', (t) => {
  const r = decodePacket(hex('01010000' + rte('', '0000', '00', '10') + rte('fd00', '0000', '10', '00')))
  t.true(r.ok)
  if (r.ok) t.deepEqual(r.value.entries.map((e) => e.kind), ['route', 'route'])
})

test('encode refuses values the program built wrongly', (t) => {
  t.throws(() => encodePacket({ command: 'response', entries: [{ kind: 'route', prefix: { addr: 'nope', len: 64 }, tag: 0, metric: 1 }] }), { instanceOf: RangeError })
  t.throws(() => encodePacket({ command: 'response', entries: [{ kind: 'route', prefix: { addr: '::', len: 129 }, tag: 0, metric: 1 }] }), { instanceOf: RangeError })
  t.throws(() => encodePacket({ command: 'response', entries: [{ kind: 'route', prefix: { addr: '::', len: 0 }, tag: 0, metric: 17 }] }), { instanceOf: RangeError })
})

test('decoder never throws on random input', (t) => {
  let seed = 12345
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
  for (let i = 0; i < 5000; i++) {
    const n = Math.floor(rnd() * 200)
    const b = Buffer.alloc(n)
    for (let j = 0; j < n; j++) b[j] = Math.floor(rnd() * 256)
    if (n > 1) { b[0] = 1 + (i & 1); b[1] = 1 }
    const r = decodePacket(b)
    if (r.ok) t.is(encodePacket(r.value).length + (r.value.rejected?.length ?? 0) * 20, n)
  }
  t.pass()
})
