import test from 'ava'
import { type RipDecodeErrorKind, type RipPacket, decodePacket, encodePacket, packetEncodingLength, maskLength } from '../../../../src/protocols/rip/codec.js'
import { A as ip } from '../../../helpers/net.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

// header + entries; each entry AFI tag addr mask nh metric
const entry = (afi: string, tag: string, addr: string, mask: string, nh: string, metric: string): string => afi + tag + addr + mask + nh + metric

const cases: Array<{ name: string; object: RipPacket; bytes: Buffer }> = [
  {
    name: 'whole-table request',
    object: { command: 'request', entries: [{ kind: 'whole-table' }] },
    bytes: hex('01020000' + entry('0000', '0000', '00000000', '00000000', '00000000', '00000010')),
  },
  {
    name: 'specific request',
    object: { command: 'request', entries: [{ kind: 'route', tag: 0, prefix: { addr: ip('10.1.2.0'), len: 24 }, nextHop: 0, metric: 0 }] },
    bytes: hex('01020000' + entry('0002', '0000', '0a010200', 'ffffff00', '00000000', '00000000')),
  },
  {
    name: 'response with two routes, tag and next hop',
    object: {
      command: 'response',
      entries: [
        { kind: 'route', tag: 0, prefix: { addr: ip('10.244.1.0'), len: 24 }, nextHop: 0, metric: 1 },
        { kind: 'route', tag: 0xbeef, prefix: { addr: ip('192.168.0.0'), len: 16 }, nextHop: ip('10.255.0.9'), metric: 16 },
      ],
    },
    bytes: hex(
      '02020000' +
        entry('0002', '0000', '0af40100', 'ffffff00', '00000000', '00000001') +
        entry('0002', 'beef', 'c0a80000', 'ffff0000', '0aff0009', '00000010'),
    ),
  },
  {
    name: 'default route and host route',
    object: {
      command: 'response',
      entries: [
        { kind: 'route', tag: 0, prefix: { addr: 0, len: 0 }, nextHop: 0, metric: 3 },
        { kind: 'route', tag: 7, prefix: { addr: ip('10.9.9.9'), len: 32 }, nextHop: 0, metric: 15 },
      ],
    },
    bytes: hex('02020000' + entry('0002', '0000', '00000000', '00000000', '00000000', '00000003') + entry('0002', '0007', '0a090909', 'ffffffff', '00000000', '0000000f')),
  },
  {
    name: 'simple password',
    object: {
      command: 'response',
      auth: { type: 'password', password: Buffer.concat([Buffer.from('secret'), Buffer.alloc(10)]) },
      entries: [{ kind: 'route', tag: 0, prefix: { addr: ip('10.244.1.0'), len: 24 }, nextHop: 0, metric: 1 }],
    },
    bytes: hex('02020000' + 'ffff0002' + Buffer.from('secret').toString('hex') + '00'.repeat(10) + entry('0002', '0000', '0af40100', 'ffffff00', '00000000', '00000001')),
  },
  {
    name: 'crypto auth with trailer',
    object: {
      command: 'response',
      auth: { type: 'crypto', keyId: 5, authDataLength: 20, sequence: 0x01020304, digest: Buffer.alloc(16, 0xab) },
      entries: [{ kind: 'route', tag: 0, prefix: { addr: ip('10.244.1.0'), len: 24 }, nextHop: 0, metric: 1 }],
    },
    bytes: hex(
      '02020000' + 'ffff0003' + '002c' + '05' + '14' + '01020304' + '00'.repeat(8) + entry('0002', '0000', '0af40100', 'ffffff00', '00000000', '00000001') + 'ffff0001' + 'ab'.repeat(16),
    ),
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

const route1 = entry('0002', '0000', '0af40100', 'ffffff00', '00000000', '00000001')
const errors: Array<{ name: string; bytes: Buffer; kind: RipDecodeErrorKind }> = [
  { name: 'empty', bytes: hex(''), kind: 'truncated' },
  { name: 'three bytes', bytes: hex('020200'), kind: 'truncated' },
  { name: 'header only', bytes: hex('02020000'), kind: 'no-entries' },
  { name: 'command 0', bytes: hex('00020000' + route1), kind: 'bad-command' },
  { name: 'command 5 (obsolete traceon)', bytes: hex('05020000' + route1), kind: 'bad-command' },
  { name: 'version 1', bytes: hex('02010000' + route1), kind: 'version1' },
  { name: 'version 0', bytes: hex('02000000' + route1), kind: 'bad-version' },
  { name: 'version 3', bytes: hex('02030000' + route1), kind: 'bad-version' },
  { name: 'trailing bytes', bytes: hex('02020000' + route1 + '00'), kind: 'bad-length' },
  { name: 'short entry', bytes: hex('02020000' + route1.slice(0, 30)), kind: 'bad-length' },
  { name: '26 entries', bytes: hex('02020000' + route1.repeat(26)), kind: 'too-many-entries' },
  { name: 'huge datagram', bytes: Buffer.alloc(65000, 2), kind: 'too-long' },
  { name: 'non-contiguous mask', bytes: hex('02020000' + entry('0002', '0000', '0a000000', 'ff00ff00', '00000000', '00000001')), kind: 'bad-mask' },
  { name: 'host bits set', bytes: hex('02020000' + entry('0002', '0000', '0a000001', 'ffffff00', '00000000', '00000001')), kind: 'bad-prefix' },
  { name: 'AFI 10 (IPv6)', bytes: hex('02020000' + entry('000a', '0000', '0a000000', 'ffffff00', '00000000', '00000001')), kind: 'bad-afi' },
  { name: 'AFI 0 in a response', bytes: hex('02020000' + entry('0000', '0000', '00000000', '00000000', '00000000', '00000010')), kind: 'bad-afi' },
  { name: 'AFI 0 with metric 1', bytes: hex('01020000' + entry('0000', '0000', '00000000', '00000000', '00000000', '00000001')), kind: 'bad-afi' },
  { name: 'AFI 0 among others', bytes: hex('01020000' + entry('0000', '0000', '00000000', '00000000', '00000000', '00000010') + route1), kind: 'bad-afi' },
  { name: 'auth entry not first', bytes: hex('02020000' + route1 + 'ffff0002' + '00'.repeat(16)), kind: 'bad-afi' },
  { name: 'auth type 1', bytes: hex('02020000' + 'ffff0001' + '00'.repeat(16) + route1), kind: 'auth-bad-type' },
  { name: 'password auth only', bytes: hex('02020000' + 'ffff0002' + '00'.repeat(16)), kind: 'no-entries' },
  { name: 'crypto: packet length not aligned', bytes: hex('02020000' + 'ffff0003' + '002d' + '0110' + '00000001' + '00'.repeat(8) + route1 + 'ffff0001' + 'ab'.repeat(16)), kind: 'auth-bad-length' },
  { name: 'crypto: packet length beyond packet', bytes: hex('02020000' + 'ffff0003' + '0040' + '0110' + '00000001' + '00'.repeat(8) + route1 + 'ffff0001' + 'ab'.repeat(16)), kind: 'bad-trailer' },
  { name: 'crypto: no trailer marker', bytes: hex('02020000' + 'ffff0003' + '002c' + '0110' + '00000001' + '00'.repeat(8) + route1 + 'ffff0002' + 'ab'.repeat(16)), kind: 'bad-trailer' },
  { name: 'crypto: short digest', bytes: hex('02020000' + 'ffff0003' + '002c' + '0110' + '00000001' + '00'.repeat(8) + route1 + 'ffff0001' + 'ab'.repeat(8)), kind: 'bad-trailer' },
  { name: 'crypto: 25 routes + auth', bytes: hex('02020000' + 'ffff0003' + (4 + 26 * 20).toString(16).padStart(4, '0') + '0110' + '00000001' + '00'.repeat(8) + route1.repeat(25) + 'ffff0001' + 'ab'.repeat(16)), kind: 'too-many-entries' },
]

for (const c of errors) {
  test(`decode error: ${c.name}`, (t) => {
    const r = decodePacket(c.bytes)
    t.false(r.ok)
    if (!r.ok) {
      t.is(r.error.reason, c.kind, r.error.message)
      t.is(r.error.codec, 'rip')
      t.true(r.error.message.length > 0)
    }
  })
}

test('25 plain routes and 24 routes + auth are accepted', (t) => {
  t.true(decodePacket(hex('02020000' + route1.repeat(25))).ok)
  t.true(decodePacket(hex('02020000' + 'ffff0002' + '00'.repeat(16) + route1.repeat(24))).ok)
  t.false(decodePacket(hex('02020000' + 'ffff0002' + '00'.repeat(16) + route1.repeat(25))).ok)
  t.true(decodePacket(hex('02020000' + route1.repeat(30)), { maxEntries: 40 }).ok)
})

test('maskLength', (t) => {
  t.is(maskLength(0), 0)
  t.is(maskLength(0xffffffff), 32)
  t.is(maskLength(0xffffff00), 24)
  t.is(maskLength(0x80000000), 1)
  t.is(maskLength(0xff00ff00), -1)
  t.is(maskLength(0x00ffffff), -1)
})

test('decoder never throws on random and mutated input', (t) => {
  let seed = 12345
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0
    return seed >>> 16
  }
  const base = hex('02020000' + 'ffff0003' + '002c' + '0114' + '00000001' + '00'.repeat(8) + route1 + 'ffff0001' + 'ab'.repeat(16))
  for (let i = 0; i < 3000; i++) {
    const b = i % 2 === 0 ? Buffer.from(base) : Buffer.alloc(rnd() % 600)
    if (i % 2 === 0) {
      for (let j = 0; j < 3; j++) b[rnd() % b.length] = rnd() & 255
    } else {
      for (let j = 0; j < b.length; j++) b[j] = rnd() & 255
      if (b.length > 1) b[1] = 2
    }
    t.notThrows(() => decodePacket(b.subarray(0, rnd() % (b.length + 1))))
  }
})

test('decodes a Uint8Array view', (t) => {
  const b = hex('ff' + '02020000' + route1)
  const r = decodePacket(new Uint8Array(b.buffer, b.byteOffset + 1, b.length - 1))
  t.true(r.ok)
})

// RFC 2453 3.9.2: an entry with a bad metric is ignored, not the whole packet
const badMetrics = [
  { name: 'metric 0 in response', metric: '00000000', reason: 'metric 0 is outside 1..16' },
  { name: 'metric 17', metric: '00000011', reason: 'metric 17 is outside 1..16' },
  { name: 'metric 2^32-1', metric: 'ffffffff', reason: 'metric 4294967295 is outside 1..16' },
]
for (const c of badMetrics) {
  test(`bad metric is a per-entry drop: ${c.name}`, (t) => {
    const bad = entry('0002', '0000', '0a000000', 'ffffff00', '00000000', c.metric)
    const r = decodePacket(hex('02020000' + route1 + bad + route1))
    t.true(r.ok)
    if (!r.ok) return
    t.is(r.value.entries.length, 2)
    t.deepEqual(r.value.rejected, [{ index: 2, kind: 'bad-metric', reason: `entry 2: ${c.reason}` }])
  })
}

test('a response whose only entry has a bad metric decodes with nothing to learn', (t) => {
  const r = decodePacket(hex('02020000' + entry('0002', '0000', '0a000000', 'ffffff00', '00000000', '00000000')))
  t.true(r.ok)
  if (r.ok) {
    t.deepEqual(r.value.entries, [])
    t.is(r.value.rejected?.length, 1)
  }
})

test('request metric 17 is rejected per entry, metric 0 accepted', (t) => {
  const r = decodePacket(hex('01020000' + entry('0002', '0000', '0a000000', 'ffffff00', '00000000', '00000000') + entry('0002', '0000', '0a010000', 'ffff0000', '00000000', '00000011')))
  t.true(r.ok)
  if (r.ok) {
    t.is(r.value.entries.length, 1)
    t.is(r.value.rejected?.[0]?.index, 2)
  }
})
