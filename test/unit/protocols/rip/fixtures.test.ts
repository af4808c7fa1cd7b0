/**
 * Packets captured from real BIRD 2 and FRR ripd (and fabric's own engine
 * talking to them) by test/interop/capture-rip.sh. Each must decode,
 * re-encode to the same bytes, verify with the scenario's keys, and carry the
 * routes its sender was configured to announce. The capture also recorded
 * what each speaker learned from the others (`birdc show route`,
 * `vtysh show ip rip`, the engine's own route events).
 */
import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { formatPrefix } from '../../../../src/net/ipv4.js'
import { type RipAuthConfig, type RipKey, verifyPacket } from '../../../../src/protocols/rip/auth.js'
import { decodePacket, encodePacket } from '../../../../src/protocols/rip/codec.js'
import { RipEngine } from '../../../../src/protocols/rip/engine.js'
import { A as ip } from '../../../helpers/net.js'

interface Fixture {
  scenario: string
  auth: { mode: string; keys: RipKey[] }
  fabricMd5AuthDataLength: number
  learned: { bird: string[]; frr: string[]; fabric: { learned: Record<string, string>; counters: Record<string, number> } | null }
  packets: Array<{ sender: 'bird' | 'frr' | 'fabric'; from: string; srcPort: number; command: string; hex: string }>
}

const dir = fileURLToPath(new URL('../../../fixtures/rip/', import.meta.url))
const fixtures: Fixture[] = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(dir + f, 'utf8')) as Fixture)

test('fixtures cover every scenario and both daemons', (t) => {
  t.deepEqual(fixtures.map((f) => f.scenario).sort(), ['hmac-sha256', 'md5', 'md5-rfc', 'none', 'password'])
  for (const f of fixtures) {
    t.true(f.packets.some((p) => p.sender === 'bird'), f.scenario)
    t.true(f.packets.some((p) => p.sender === 'frr'), f.scenario)
    t.true(f.packets.some((p) => p.sender === 'fabric'), f.scenario)
  }
})

for (const f of fixtures) {
  for (const [i, p] of f.packets.entries()) {
    test(`${f.scenario} #${i} ${p.sender} ${p.command}: decodes, round-trips, verifies`, (t) => {
      const bytes = Buffer.from(p.hex, 'hex')
      const d = decodePacket(bytes)
      if (!d.ok) return t.fail(d.error.message)
      const pkt = d.value
      t.is(pkt.command as string, p.command)
      t.is(encodePacket(pkt).toString('hex'), p.hex)
      // FRR sends its startup request unauthenticated, and ripd has no HMAC-SHA-256
      const unauthenticated = p.sender === 'frr' && (p.command === 'request' || f.auth.mode === 'hmac-sha256')
      const cfg: RipAuthConfig = { keys: f.auth.keys }
      const v = verifyPacket(bytes, pkt, cfg, Date.now())
      if (f.auth.mode === 'none') t.true(v.ok, v.ok ? '' : v.error.reason)
      else if (unauthenticated) t.is(v.ok ? '' : v.error.kind, 'auth-missing')
      else {
        t.true(v.ok, v.ok ? '' : v.error.reason)
        const expect = f.auth.mode === 'password' ? 'password' : 'crypto'
        t.is(pkt.auth?.type, expect)
        // a wrong secret must fail the same bytes
        const wrong = verifyPacket(bytes, pkt, { keys: f.auth.keys.map((k) => ({ ...k, secret: 'wrong' })) }, Date.now())
        t.false(wrong.ok)
      }
      if (pkt.command === 'request') {
        t.deepEqual(pkt.entries, [{ kind: 'whole-table' }])
        return
      }
      // senders split their table over packets and poison what they learned from others back (metric 16)
      const own = { bird: ['10.244.1.0/24 t0', '10.244.9.0/24 t77'], frr: ['10.244.2.0/24 t0'], fabric: ['10.244.3.0/24 t5'] }[p.sender]
      for (const e of pkt.entries) {
        if (e.kind !== 'route') continue
        const r = `${formatPrefix(e.prefix)} t${e.tag}`
        if (e.metric < 16) t.true(own.includes(r), `${p.sender} announces ${r} at ${e.metric}`)
      }
    })
  }
}

test('every scenario carries each daemon\'s announced routes', (t) => {
  for (const f of fixtures) {
    const seen = (sender: string) =>
      new Set(f.packets.filter((p) => p.sender === sender && p.command === 'response').flatMap((p) => {
        const d = decodePacket(Buffer.from(p.hex, 'hex'))
        return d.ok ? d.value.entries.flatMap((e) => (e.kind === 'route' && e.metric < 16 ? [`${formatPrefix(e.prefix)} t${e.tag}`] : [])) : []
      }))
    t.deepEqual([...seen('bird')].sort(), ['10.244.1.0/24 t0', '10.244.9.0/24 t77'], f.scenario)
    t.deepEqual([...seen('frr')], ['10.244.2.0/24 t0'], f.scenario)
    t.deepEqual([...seen('fabric')], ['10.244.3.0/24 t5'], f.scenario)
  }
})

test('MD5 auth data length as really written: BIRD 20, FRR 20 by default and 16 with auth-length rfc', (t) => {
  const lengths = (scenario: string, sender: string) =>
    [...new Set(fixtures.find((f) => f.scenario === scenario)!.packets.filter((p) => p.sender === sender).flatMap((p) => {
      const d = decodePacket(Buffer.from(p.hex, 'hex'))
      return d.ok && d.value.auth?.type === 'crypto' ? [d.value.auth.authDataLength] : []
    }))]
  t.deepEqual(lengths('md5', 'bird'), [20])
  t.deepEqual(lengths('md5', 'frr'), [20])
  t.deepEqual(lengths('md5-rfc', 'frr'), [16])
  t.deepEqual(lengths('hmac-sha256', 'bird'), [32])
  t.deepEqual(lengths('md5', 'fabric'), [20])
  t.deepEqual(lengths('md5-rfc', 'fabric'), [16])
})

test('live interop: BIRD and FRR learned fabric\'s route, fabric learned theirs', (t) => {
  for (const f of fixtures) {
    const frrSpeaksIt = f.auth.mode !== 'hmac-sha256'
    t.true(f.learned.bird.some((l) => l.startsWith('10.244.3.0/24') && l.includes('[0005]')), `${f.scenario}: BIRD learned 10.244.3.0/24 tag 5`)
    t.is(f.learned.frr.some((l) => /^R\(n\) 10\.244\.3\.0\/24 +10\.255\.1\.3 +2 +10\.255\.1\.3 +5/.test(l)), frrSpeaksIt, `${f.scenario}: FRR learned 10.244.3.0/24`)
    const fabric = f.learned.fabric?.learned ?? {}
    t.is(fabric['10.244.1.0/24'], 'via 10.255.1.1 metric 2 tag 0', f.scenario)
    t.is(fabric['10.244.9.0/24'], 'via 10.255.1.1 metric 2 tag 77', f.scenario)
    t.is(fabric['10.244.2.0/24'] ?? 'none', frrSpeaksIt ? 'via 10.255.1.2 metric 2 tag 0' : 'none', f.scenario)
  }
})

test('engine learns the daemons\' routes from captured authenticated packets', (t) => {
  for (const f of fixtures.filter((x) => x.auth.mode !== 'none')) {
    // replayed at the time of the capture: BIRD and fabric number their packets with the clock,
    // and the replay guard refuses a new sender's clock reading from long ago (an old capture)
    const clock = f.packets.map((p) => decodePacket(Buffer.from(p.hex, 'hex'))).flatMap((d) => (d.ok && d.value.auth?.type === 'crypto' ? [d.value.auth.sequence] : [])).filter((q) => q > 1_000_000_000)
    let now = clock.length > 0 ? Math.min(...clock) * 1000 : Date.now()
    const e = new RipEngine({
      interfaces: [{ name: 'veth', address: ip('10.255.1.4'), subnet: { addr: ip('10.255.1.0'), len: 24 }, auth: { keys: f.auth.keys } }],
      now: () => now,
      random: () => 0.5,
      allowed: [{ addr: ip('10.244.0.0'), len: 16 }],
    })
    const learned = new Set<string>()
    for (const p of f.packets.filter((x) => x.command === 'response' && x.sender !== 'fabric')) {
      now += 1
      for (const a of e.receive({ from: ip(p.from), port: p.srcPort, interface: 'veth', bytes: Buffer.from(p.hex, 'hex') })) {
        if (a.type === 'route-add') learned.add(`${formatPrefix(a.route.prefix)} via ${a.route.peer}`)
      }
    }
    t.true(learned.has('10.244.1.0/24 via 10.255.1.1'), f.scenario)
    t.true(learned.has('10.244.9.0/24 via 10.255.1.1'), f.scenario)
    if (f.auth.mode !== 'hmac-sha256') t.true(learned.has('10.244.2.0/24 via 10.255.1.2'), f.scenario)
    else t.true((e.counters()['drop-packet:auth-missing'] ?? 0) >= 1)
  }
})
