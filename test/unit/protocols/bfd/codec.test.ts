import test from 'ava'
import { type BfdAuthConfig, checkAuth, signPacket } from '../../../../src/protocols/bfd/auth.js'
import { type BfdControlPacket, type BfdDecodeErrorKind, decodePacket, encodePacket, encodingLength } from '../../../../src/protocols/bfd/codec.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')
const base: BfdControlPacket = {
  diag: 0, state: 'Down', poll: false, final: false, cpi: false, demand: false, detectMult: 3,
  myDiscriminator: 1, yourDiscriminator: 0, desiredMinTx: 1_000_000, requiredMinRx: 1_000_000, requiredMinEchoRx: 0,
}

const cases: Array<{ name: string; object: BfdControlPacket; bytes: Buffer }> = [
  { name: 'Down, no auth, slow intervals', object: base, bytes: hex('20400318 00000001 00000000 000f4240 000f4240 00000000') },
  {
    name: 'Up with Poll, diag 3, discriminators',
    object: { ...base, diag: 3, state: 'Up', poll: true, myDiscriminator: 0xdeadbeef, yourDiscriminator: 7, desiredMinTx: 100_000, requiredMinRx: 50_000 },
    bytes: hex('23e00318 deadbeef 00000007 000186a0 0000c350 00000000'),
  },
  {
    name: 'Init with Final, C and D bits, detect mult 255, echo rx',
    object: { ...base, state: 'Init', final: true, cpi: true, demand: true, detectMult: 255, yourDiscriminator: 2, requiredMinEchoRx: 10 },
    bytes: hex('209aff18 00000001 00000002 000f4240 000f4240 0000000a'),
  },
  {
    name: 'AdminDown diag 7 with your discriminator 0',
    object: { ...base, diag: 7, state: 'AdminDown', detectMult: 1 },
    bytes: hex('27000118 00000001 00000000 000f4240 000f4240 00000000'),
  },
  {
    name: 'simple password, key id 5',
    object: { ...base, auth: { type: 'simple', keyId: 5, password: Buffer.from('secret') } },
    bytes: hex('20440321 00000001 00000000 000f4240 000f4240 00000000 010905 736563726574'),
  },
  {
    name: 'keyed MD5',
    object: { ...base, state: 'Up', yourDiscriminator: 2, desiredMinTx: 100_000, requiredMinRx: 100_000, auth: { type: 'md5', keyId: 1, sequence: 7, digest: hex('daf9c29c2d9804e4e82a7fc14983004f') } },
    bytes: hex('20c40330 00000001 00000002 000186a0 000186a0 00000000 02180100 00000007 daf9c29c2d9804e4e82a7fc14983004f'),
  },
  {
    name: 'meticulous keyed SHA1',
    object: { ...base, state: 'Up', yourDiscriminator: 2, desiredMinTx: 100_000, requiredMinRx: 100_000, auth: { type: 'meticulous-sha1', keyId: 2, sequence: 0xffffffff, digest: hex('5db23e6eabf31c629289420d5dd70bdf80c8b16c') } },
    bytes: hex('20c40334 00000001 00000002 000186a0 000186a0 00000000 051c0200 ffffffff 5db23e6eabf31c629289420d5dd70bdf80c8b16c'),
  },
]

for (const c of cases) {
  test(`encode: ${c.name}`, (t) => {
    t.is(encodingLength(c.object), c.bytes.length)
    t.deepEqual(encodePacket(c.object), c.bytes)
  })
  test(`decode: ${c.name}`, (t) => {
    const r = decodePacket(c.bytes)
    t.true(r.ok)
    if (r.ok) t.deepEqual(r.value, c.object)
  })
}

test('decode ignores bytes after Length', (t) => {
  const r = decodePacket(Buffer.concat([cases[0]!.bytes, hex('ffff')]))
  t.true(r.ok)
  if (r.ok) t.deepEqual(r.value, base)
})

const down = '20400318 00000001 00000000 000f4240 000f4240 00000000'
const refusals: Array<{ name: string; bytes: Buffer; kind: BfdDecodeErrorKind }> = [
  { name: 'empty', bytes: hex(''), kind: 'truncated' },
  { name: '23 bytes', bytes: hex(down).subarray(0, 23), kind: 'truncated' },
  { name: 'version 0', bytes: hex('00400318 00000001 00000000 000f4240 000f4240 00000000'), kind: 'bad-version' },
  { name: 'version 2', bytes: hex('40400318 00000001 00000000 000f4240 000f4240 00000000'), kind: 'bad-version' },
  { name: 'Length 23', bytes: hex('20400317 00000001 00000000 000f4240 000f4240 00000000'), kind: 'bad-length' },
  { name: 'Length 25 without A', bytes: hex('20400319 00000001 00000000 000f4240 000f4240 00000000 00'), kind: 'bad-length' },
  { name: 'A bit with Length 24', bytes: hex('20440318 00000001 00000000 000f4240 000f4240 00000000'), kind: 'bad-length' },
  { name: 'Length beyond payload', bytes: hex('20400330 00000001 00000000 000f4240 000f4240 00000000'), kind: 'length-exceeds-payload' },
  { name: 'Detect Mult 0', bytes: hex('20400018 00000001 00000000 000f4240 000f4240 00000000'), kind: 'zero-detect-mult' },
  { name: 'M bit', bytes: hex('20410318 00000001 00000000 000f4240 000f4240 00000000'), kind: 'multipoint' },
  { name: 'My Discriminator 0', bytes: hex('20400318 00000000 00000000 000f4240 000f4240 00000000'), kind: 'zero-my-discriminator' },
  { name: 'Your Discriminator 0 in Up', bytes: hex('20c00318 00000001 00000000 000f4240 000f4240 00000000'), kind: 'zero-your-discriminator' },
  { name: 'Your Discriminator 0 in Init', bytes: hex('20800318 00000001 00000000 000f4240 000f4240 00000000'), kind: 'zero-your-discriminator' },
  { name: 'auth type 6', bytes: hex('2044031c 00000001 00000000 000f4240 000f4240 00000000 06040100'), kind: 'auth-bad-type' },
  { name: 'auth type 0', bytes: hex('2044031c 00000001 00000000 000f4240 000f4240 00000000 00040100'), kind: 'auth-bad-type' },
  { name: 'Auth Len beyond Length', bytes: hex('2044031c 00000001 00000000 000f4240 000f4240 00000000 01080100'), kind: 'auth-bad-length' },
  { name: 'Length not 24 + Auth Len', bytes: hex('2044031c 00000001 00000000 000f4240 000f4240 00000000 01030100'), kind: 'bad-length' },
  { name: 'simple password of 0 bytes', bytes: hex('2044031b 00000001 00000000 000f4240 000f4240 00000000 010301'), kind: 'auth-bad-length' },
  { name: 'MD5 with Auth Len 28', bytes: Buffer.concat([hex('20440334 00000001 00000000 000f4240 000f4240 00000000 021c0100'), Buffer.alloc(24)]), kind: 'auth-bad-length' },
  { name: 'SHA1 with Auth Len 24', bytes: Buffer.concat([hex('20440330 00000001 00000000 000f4240 000f4240 00000000 04180100'), Buffer.alloc(20)]), kind: 'auth-bad-length' },
]

for (const c of refusals) {
  test(`refuses: ${c.name}`, (t) => {
    const r = decodePacket(c.bytes)
    t.false(r.ok)
    if (!r.ok) {
      t.is(r.error.reason, c.kind)
      t.is(r.error.codec, 'bfd')
      t.true(r.error.reason.length > 0)
    }
  })
}

const KINDS: readonly BfdDecodeErrorKind[] = ['truncated', 'bad-version', 'bad-length', 'length-exceeds-payload', 'zero-detect-mult', 'multipoint', 'zero-my-discriminator', 'zero-your-discriminator', 'auth-bad-type', 'auth-bad-length']

test('fuzz: mutated packets decode to a re-encodable packet or a typed error, never throw', (t) => {
  let seed = 0x5eed
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 0x1000000
  let decoded = 0
  let refused = 0
  for (let i = 0; i < 20_000; i++) {
    const src = cases[Math.floor(rnd() * cases.length)]!.bytes
    const b = Buffer.from(rnd() < 0.1 ? Buffer.alloc(Math.floor(rnd() * 80)).map(() => Math.floor(rnd() * 256)) : src)
    for (let m = Math.floor(rnd() * 4); m >= 0 && b.length > 0; m--) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256)
    const cut = rnd() < 0.2 ? b.subarray(0, Math.floor(rnd() * b.length)) : b
    const r = decodePacket(cut)
    if (r.ok) {
      decoded++
      const again = encodePacket(r.value)
      t.deepEqual(again, cut.subarray(0, cut[3]!), `re-encoding differs for ${cut.toString('hex')}`)
      const r2 = decodePacket(again)
      if (!r2.ok || JSON.stringify(r2.value) !== JSON.stringify(r.value)) t.fail(`re-decoded packet differs for ${cut.toString('hex')}`)
    } else {
      refused++
      if (!KINDS.includes(r.error.reason)) t.fail(`untyped error ${JSON.stringify(r.error)}`)
    }
  }
  t.true(decoded > 1000, `decoded ${decoded}`)
  t.true(refused > 1000, `refused ${refused}`)
})

const sha1: BfdAuthConfig = { type: 'sha1', keys: [{ id: 1, secret: Buffer.from('fabric') }] }

test('auth: signPacket reproduces the known MD5 and SHA1 digests', (t) => {
  const up = { ...base, state: 'Up' as const, yourDiscriminator: 2, desiredMinTx: 100_000, requiredMinRx: 100_000 }
  t.deepEqual(signPacket(up, { type: 'md5', keys: [{ id: 1, secret: Buffer.from('fabric') }] }, 7), cases[5]!.bytes)
  t.deepEqual(signPacket(up, { type: 'meticulous-sha1', keys: [{ id: 2, secret: Buffer.from('fabric') }] }, 0xffffffff), cases[6]!.bytes)
})

test('auth: checks digest, key id, type, sequence window', (t) => {
  const pkt = { ...base, state: 'Down' as const }
  const bytes = signPacket(pkt, sha1, 100)
  const d = decodePacket(bytes)
  if (!d.ok) return t.fail()
  const ok1 = checkAuth(bytes, d.value, sha1, { known: false, seq: 0 })
  t.deepEqual(ok1, { ok: true, value: { known: true, seq: 100 } })
  t.deepEqual(checkAuth(bytes, d.value, { type: 'sha1', keys: [{ id: 1, secret: Buffer.from('wrong') }] }, { known: false, seq: 0 }), { ok: false, error: 'auth-digest' })
  t.deepEqual(checkAuth(bytes, d.value, { type: 'sha1', keys: [{ id: 9, secret: Buffer.from('fabric') }] }, { known: false, seq: 0 }), { ok: false, error: 'auth-key-id' })
  t.deepEqual(checkAuth(bytes, d.value, { type: 'md5', keys: [{ id: 1, secret: Buffer.from('fabric') }] }, { known: false, seq: 0 }), { ok: false, error: 'auth-type' })
  t.deepEqual(checkAuth(bytes, d.value, undefined, { known: false, seq: 0 }), { ok: false, error: 'auth-unexpected' })
  // keyed: the same sequence again is accepted, behind or beyond 3 x Detect Mult is not
  t.true(checkAuth(bytes, d.value, sha1, { known: true, seq: 100 }).ok)
  t.true(checkAuth(bytes, d.value, sha1, { known: true, seq: 91 }).ok)
  t.deepEqual(checkAuth(bytes, d.value, sha1, { known: true, seq: 90 }), { ok: false, error: 'auth-sequence' })
  t.deepEqual(checkAuth(bytes, d.value, sha1, { known: true, seq: 101 }), { ok: false, error: 'auth-sequence' })
  // a flipped byte breaks the digest
  const bad = Buffer.from(bytes)
  bad[13]! ^= 1
  const dbad = decodePacket(bad)
  if (dbad.ok) t.deepEqual(checkAuth(bad, dbad.value, sha1, { known: false, seq: 0 }), { ok: false, error: 'auth-digest' })
  // meticulous: a replayed sequence number is refused; wrap-around is accepted
  const met: BfdAuthConfig = { type: 'meticulous-md5', keys: [{ id: 3, secret: Buffer.from('k') }] }
  const mb = signPacket(pkt, met, 0)
  const md = decodePacket(mb)
  if (!md.ok) return t.fail()
  t.deepEqual(checkAuth(mb, md.value, met, { known: true, seq: 0 }), { ok: false, error: 'auth-sequence' })
  t.true(checkAuth(mb, md.value, met, { known: true, seq: 0xffffffff }).ok)
})

test('auth: simple password must match, missing auth refused', (t) => {
  const simple: BfdAuthConfig = { type: 'simple', keys: [{ id: 4, secret: Buffer.from('pw') }] }
  const bytes = signPacket(base, simple, 0)
  const d = decodePacket(bytes)
  if (!d.ok) return t.fail()
  t.true(checkAuth(bytes, d.value, simple, { known: false, seq: 0 }).ok)
  t.deepEqual(checkAuth(bytes, d.value, { type: 'simple', keys: [{ id: 4, secret: Buffer.from('pw2') }] }, { known: false, seq: 0 }), { ok: false, error: 'auth-password' })
  const plain = encodePacket(base)
  t.deepEqual(checkAuth(plain, base, simple, { known: false, seq: 0 }), { ok: false, error: 'auth-missing' })
})
