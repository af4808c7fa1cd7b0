import test from 'ava'
import { ReplayGuard, type RipAuthConfig, maxRouteEntries, selectSendKey, signPacket, validateKeyChain, verifyPacket } from '../../../../src/protocols/rip/auth.js'
import { type RipPacket, decodePacket } from '../../../../src/protocols/rip/codec.js'
import { A as ip } from '../../../helpers/net.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

const pkt: RipPacket = {
  command: 'response',
  entries: [{ kind: 'route', tag: 0, prefix: { addr: ip('10.244.1.0'), len: 24 }, nextHop: 0, metric: 1 }],
}

// Known vectors computed independently (Python hashlib/hmac) over the same packet.
const MD5_16 = '02020000ffff0003002c0110000003e80000000000000000000200000af40100ffffff000000000000000001ffff0001' + '09cd097a1f350f1a3cb880a70cc2df17'
const MD5_20 = '02020000ffff0003002c0114000003e80000000000000000000200000af40100ffffff000000000000000001ffff0001' + '69bc2fe924cb54d233693ac88c6f31a6'
const SHA256 = '02020000ffff0003002c07200000002a0000000000000000000200000af40100ffffff000000000000000001ffff0001' + '8faff40d4d50d5ade15bdf74f467a52188803f4503567f1abd0b5db39f934980'

const md5cfg = (len: 16 | 20): RipAuthConfig => ({ keys: [{ id: 1, secret: 'fabric-md5', algorithm: 'md5' }], md5AuthDataLength: len })
const shacfg: RipAuthConfig = { keys: [{ id: 7, secret: 'fabric-sha', algorithm: 'hmac-sha256' }] }

function verifyHex(h: string | Buffer, cfg: RipAuthConfig | undefined, now = 0, guard?: ReplayGuard, sender = '10.0.0.2') {
  const bytes = typeof h === 'string' ? hex(h) : h
  const d = decodePacket(bytes)
  if (!d.ok) throw new Error(d.error.reason)
  return verifyPacket(bytes, d.value, cfg, now, guard, sender)
}

test('keyed MD5 with auth data length 16 matches the known vector', (t) => {
  const s = signPacket(pkt, md5cfg(16), 0, 1000)
  t.true(s.ok)
  if (s.ok) t.is(s.value.toString('hex'), MD5_16)
  t.true(verifyHex(MD5_16, md5cfg(16)).ok)
})

test('keyed MD5 with auth data length 20 (FRR/BIRD style) matches the known vector', (t) => {
  const s = signPacket(pkt, md5cfg(20), 0, 1000)
  if (s.ok) t.is(s.value.toString('hex'), MD5_20)
  else t.fail(s.error.reason)
  // both lengths are accepted whatever we send
  t.true(verifyHex(MD5_20, md5cfg(16)).ok)
  t.true(verifyHex(MD5_16, md5cfg(20)).ok)
})

test('default MD5 auth data length is 20', (t) => {
  const s = signPacket(pkt, { keys: md5cfg(16).keys }, 0, 1000)
  if (s.ok) t.is(s.value.toString('hex'), MD5_20)
  else t.fail()
})

test('HMAC-SHA-256 (RFC 4822, Apad) matches the known vector', (t) => {
  const s = signPacket(pkt, shacfg, 0, 42)
  if (s.ok) t.is(s.value.toString('hex'), SHA256)
  else t.fail(s.error.reason)
  const v = verifyHex(SHA256, shacfg)
  t.deepEqual(v, { ok: true, value: { algorithm: 'hmac-sha256', keyId: 7, sequence: 42 } })
})

test('HMAC-SHA-256 with a key longer than 32 bytes signs and verifies', (t) => {
  const cfg: RipAuthConfig = { keys: [{ id: 1, secret: 'x'.repeat(50), algorithm: 'hmac-sha256' }] }
  const s = signPacket(pkt, cfg, 0, 1)
  t.true(s.ok && verifyHex(s.value, cfg).ok)
})

test('simple password', (t) => {
  const cfg: RipAuthConfig = { keys: [{ id: 0, secret: 'hunter2', algorithm: 'password' }] }
  const s = signPacket(pkt, cfg, 0, 0)
  t.true(s.ok)
  if (!s.ok) return
  t.is(s.value.subarray(4, 24).toString('hex'), 'ffff0002' + Buffer.from('hunter2').toString('hex') + '00'.repeat(9))
  t.true(verifyHex(s.value, cfg).ok)
  const wrong = verifyHex(s.value, { keys: [{ id: 0, secret: 'hunter3', algorithm: 'password' }] })
  t.is(wrong.ok ? '' : wrong.error.kind, 'auth-bad-password')
  const noPw = verifyHex(s.value, md5cfg(16))
  t.is(noPw.ok ? '' : noPw.error.kind, 'auth-bad-type')
})

test('wrong key: bad digest and unknown key id', (t) => {
  const bad = verifyHex(MD5_16, { keys: [{ id: 1, secret: 'other', algorithm: 'md5' }] })
  t.is(bad.ok ? '' : bad.error.kind, 'auth-bad-digest')
  const unknown = verifyHex(MD5_16, { keys: [{ id: 2, secret: 'fabric-md5', algorithm: 'md5' }] })
  t.is(unknown.ok ? '' : unknown.error.kind, 'auth-unknown-key')
  // a key id configured for SHA-256 but packet is MD5-sized
  const alg = verifyHex(MD5_16, { keys: [{ id: 1, secret: 'fabric-md5', algorithm: 'hmac-sha256' }] })
  t.is(alg.ok ? '' : alg.error.kind, 'auth-bad-length')
  // tampered route
  const tampered = hex(MD5_16)
  tampered[43] = 2
  const tv = verifyHex(tampered, md5cfg(16))
  t.is(tv.ok ? '' : tv.error.kind, 'auth-bad-digest')
})

test('missing and unexpected authentication', (t) => {
  const plain = signPacket(pkt, undefined, 0, 0)
  t.true(plain.ok)
  if (!plain.ok) return
  const m = verifyHex(plain.value, md5cfg(16))
  t.is(m.ok ? '' : m.error.kind, 'auth-missing')
  const u = verifyHex(MD5_16, undefined)
  t.is(u.ok ? '' : u.error.kind, 'auth-unexpected')
  t.true(verifyHex(plain.value, { keys: [] }).ok)
})

test('replay: non-decreasing sequence per sender, wrap and restart allowance', (t) => {
  const cfg = md5cfg(16)
  const g = new ReplayGuard({ restartAfterMs: 180_000 })
  const at = (seq: number, now: number, sender = '10.0.0.2') => {
    const s = signPacket(pkt, cfg, now, seq)
    if (!s.ok) throw new Error('sign')
    const v = verifyHex(s.value, cfg, now, g, sender)
    return v.ok ? 'ok' : v.error.kind
  }
  t.is(at(100, 0), 'ok')
  t.is(at(100, 1000), 'ok', 'equal sequence is accepted (BIRD and fabric number by seconds)')
  t.is(at(101, 2000), 'ok')
  t.is(at(99, 3000), 'auth-replay')
  t.is(at(5, 3000, '10.0.0.3'), 'ok', 'sequence is per sender')
  t.is(at(50, 3000 + 180_000), 'ok', 'restart after a silence of the route timeout')
  t.is(at(0xfffffff0, 200_000), 'ok')
  t.is(at(3, 201_000), 'ok', 'wrap')
  t.is(at(2, 202_000), 'auth-replay')
})

test('replay guard is bounded', (t) => {
  const g = new ReplayGuard({ maxSenders: 3, digestSenders: 3, digestsPerSender: 2 })
  const probe = (sender: string, sequence: number, d = sender) => ({ sender, keyId: 1, sequence, digest: Buffer.from(d) })
  for (let i = 0; i < 10; i++) g.record(probe(`s${i}`, 5), 0)
  t.is(g.size, 3)
  t.is(g.digests, 3, 'the digests of 3 senders at most')
  t.is(g.check(probe('s0', 1), 0), undefined, 'forgotten sender starts over')
  t.regex(g.check(probe('s9', 1), 0) ?? '', /lower than 5/)
  t.is(g.check({ ...probe('x', 5), digest: Buffer.from('s0') }, 0), undefined, 'an old digest was forgotten')
  t.regex(g.check({ ...probe('x', 5), digest: Buffer.from('s9') }, 0) ?? '', /copy of a packet accepted from s9/)
  for (let i = 0; i < 10; i++) g.record(probe('s9', 6 + i, `s9-${i}`), 0)
  t.is(g.digests, 1 + 1 + 2, 's7 and s8 keep 1 each, s9 its last 2')
})

test("replay guard: one sender's flood does not push another neighbour's packets out of the memory (fuzz: 459 of 9,185 replays accepted)", (t) => {
  const g = new ReplayGuard({ digestsPerSender: 100 })
  const T = 1_700_000_000
  const good = { sender: '10.99.0.12', keyId: 1, sequence: T, digest: Buffer.from('good-packet') }
  g.record(good, T * 1000)
  // a key holder floods 100 000 accepted packets
  for (let i = 0; i < 100_000; i++) g.record({ sender: '10.99.0.50', keyId: 1, sequence: T + i, digest: Buffer.from(`insider-${i}`) }, T * 1000)
  t.regex(g.check({ ...good, sender: '10.99.0.55' }, T * 1000 + 5000) ?? '', /copy of a packet accepted from 10\.99\.0\.12/)
  t.true(g.digests <= 200)
})

test('replay guard: an old clock-reading sequence from a sender new to the key is refused; a counter is not judged so', (t) => {
  const g = new ReplayGuard({ clockWindowS: 1800 })
  const T = 1_700_000_000
  const now = (T + 3600) * 1000
  t.regex(g.check({ sender: '10.0.0.66', keyId: 1, sequence: T, digest: Buffer.from('a') }, now) ?? '', /clock reading 3600 s old/)
  t.is(g.check({ sender: '10.0.0.66', keyId: 1, sequence: T + 3000, digest: Buffer.from('b') }, now), undefined, 'within the window')
  t.is(g.check({ sender: '10.0.0.67', keyId: 1, sequence: 42, digest: Buffer.from('c') }, now), undefined, 'FRR counts from 1')
  // a known stream is judged by its own sequence only (a long-running neighbour's clock may lag)
  g.record({ sender: '10.0.0.2', keyId: 1, sequence: T, digest: Buffer.from('d') }, T * 1000)
  t.is(g.check({ sender: '10.0.0.2', keyId: 1, sequence: T + 1, digest: Buffer.from('e') }, now), undefined)
})

test('replay from another address: a captured packet of one neighbour sent from another on-link address is refused', (t) => {
  const cfg = md5cfg(20)
  const g = new ReplayGuard({ restartAfterMs: 180_000 })
  const signed = (seq: number, now: number, p: RipPacket = pkt) => {
    const s = signPacket(p, cfg, now, seq)
    if (!s.ok) throw new Error('sign')
    return s.value
  }
  const kind = (bytes: Buffer, now: number, sender: string) => {
    const v = verifyHex(bytes, cfg, now, g, sender)
    return v.ok ? 'ok' : v.error.kind
  }
  const T = 1_700_000_000
  const captured = signed(T, T * 1000)
  t.is(kind(captured, T * 1000, '10.0.0.2'), 'ok')
  // the same bytes from another address right away: a copy (the digest does not cover the source address)
  t.is(kind(captured, T * 1000 + 500, '10.0.0.66'), 'auth-replay')
  // the real neighbour goes on; ten minutes later the capture comes from yet another address
  const later = { command: 'response' as const, entries: [{ kind: 'route' as const, tag: 0, prefix: { addr: ip('10.244.9.0'), len: 24 }, nextHop: 0, metric: 1 }] }
  t.is(kind(signed(T + 600, (T + 600) * 1000, later), (T + 600) * 1000, '10.0.0.2'), 'ok')
  t.is(kind(captured, (T + 601) * 1000, '10.0.0.77'), 'auth-replay')
  // and from the real sender it is an old sequence
  t.is(kind(captured, (T + 601) * 1000, '10.0.0.2'), 'auth-replay')
  // a genuine second neighbour with its own numbering (FRR counts from 1) is accepted, and keeps its own stream
  t.is(kind(signed(1, (T + 601) * 1000, later), (T + 601) * 1000 + 1, '10.0.0.3'), 'ok')
  t.is(kind(signed(2, (T + 602) * 1000, pkt), (T + 602) * 1000, '10.0.0.3'), 'ok')
  t.is(kind(signed(1, (T + 603) * 1000, pkt), (T + 603) * 1000, '10.0.0.3'), 'auth-replay')
})

test('replay state is per key id: a new key starts its own sequence stream', (t) => {
  const g = new ReplayGuard()
  const probe = (keyId: number, sequence: number) => ({ sender: '10.0.0.2', keyId, sequence, digest: Buffer.from(`${keyId}/${sequence}`) })
  g.record(probe(1, 1000), 0)
  t.truthy(g.check(probe(1, 999), 1))
  t.is(g.check(probe(2, 10), 1), undefined, 'key 2 has no history')
})

test('key rotation: sign with the newest valid send key, accept by key id within its window', (t) => {
  const cfg: RipAuthConfig = {
    keys: [
      { id: 1, secret: 'old', algorithm: 'md5', sendUntil: 2000, acceptUntil: 3000 },
      { id: 2, secret: 'new', algorithm: 'md5', sendFrom: 1000, acceptFrom: 500 },
    ],
  }
  t.is(selectSendKey(cfg, 0)?.id, 1)
  t.is(selectSendKey(cfg, 1500)?.id, 2, 'newest (latest sendFrom) wins while both are valid')
  t.is(selectSendKey(cfg, 2500)?.id, 2)
  const sign = (now: number) => {
    const s = signPacket(pkt, cfg, now, now)
    if (!s.ok) throw new Error(s.error.reason)
    return s.value
  }
  const byOld = sign(0)
  t.is(byOld[10], 1)
  t.true(verifyHex(byOld, cfg, 2999).ok)
  const late = verifyHex(byOld, cfg, 3000)
  t.is(late.ok ? '' : late.error.kind, 'auth-unknown-key')
  const byNew = sign(1500)
  t.is(byNew[10], 2)
  const early = verifyHex(byNew, cfg, 400)
  t.is(early.ok ? '' : early.error.kind, 'auth-unknown-key')
  t.true(verifyHex(byNew, cfg, 600).ok)
  const none = signPacket(pkt, { keys: [{ id: 1, secret: 'x', algorithm: 'md5', sendUntil: 10 }] }, 20, 1)
  t.is(none.ok ? '' : none.error.kind, 'auth-no-send-key')
})

test('entry limit is 24 routes with authentication', (t) => {
  t.is(maxRouteEntries(undefined), 25)
  t.is(maxRouteEntries({ keys: [] }), 25)
  t.is(maxRouteEntries(md5cfg(16)), 24)
  const full: RipPacket = { command: 'response', entries: Array.from({ length: 24 }, () => pkt.entries[0]!) }
  for (const cfg of [md5cfg(20), shacfg, { keys: [{ id: 0, secret: 'pw', algorithm: 'password' as const }] }]) {
    const s = signPacket(full, cfg, 0, 1)
    t.true(s.ok && decodePacket(s.value).ok)
  }
})

test('validateKeyChain', (t) => {
  t.true(validateKeyChain(md5cfg(16)).ok)
  t.false(validateKeyChain({ keys: [{ id: 300, secret: 'x', algorithm: 'md5' }] }).ok)
  t.false(validateKeyChain({ keys: [{ id: 1, secret: 'x'.repeat(17), algorithm: 'md5' }] }).ok)
  t.false(validateKeyChain({ keys: [{ id: 1, secret: '', algorithm: 'hmac-sha256' }] }).ok)
  t.false(validateKeyChain({ keys: [{ id: 1, secret: 'a', algorithm: 'md5' }, { id: 1, secret: 'b', algorithm: 'md5' }] }).ok)
  t.true(validateKeyChain({ keys: [{ id: 1, secret: 'x'.repeat(40), algorithm: 'hmac-sha256' }] }).ok)
})
