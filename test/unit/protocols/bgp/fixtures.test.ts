/**
 * Messages captured from real BIRD 2 and FRR 8 sessions
 * (test/interop/capture-bgp.sh -> test/fixtures/bgp/*.json).
 */
import test from 'ava'
import {
  createFramer, decodeMessage, encodeMessage, endOfRib, findCapability, normalizeAs4, openAsn,
  type Message, type OpenMessage, type PathAttribute, type UpdateMessage,
} from '../../../../src/protocols/bgp/codec/index.js'
import { resolveFsmOptions, validateOpen } from '../../../../src/protocols/bgp/fsm.js'
import { formatPrefix } from '../../../../src/net/ipv4.js'
import { loadFixtures, type Fixture } from './fixtures.js'
import { ip } from './helpers.js'

const fixtures = loadFixtures()

test('fixtures are present', (t) => {
  t.deepEqual(fixtures.map((f) => f.file).sort(), [
    'bird2-frr8-as2.json', 'bird2-frr8-ipv6-mapped.json', 'bird2-frr8-ipv6-over-ipv4.json', 'bird2-frr8-ipv6-session.json', 'bird2-frr8.json',
  ])
})

function decoded(f: Fixture): Array<{ from: string; msg: Message }> {
  return f.messages.map((m) => {
    const r = decodeMessage(Buffer.from(m.hex, 'hex'), f.ctx)
    if (!r.ok) throw new Error(`${f.file} ${m.from} ${m.type}: ${r.error.message}`)
    return { from: m.from, msg: r.value }
  })
}

for (const f of fixtures) {
  test(`${f.file}: every message decodes to its type, without RFC 7606 errors, and re-encodes byte for byte`, (t) => {
    for (const m of f.messages) {
      const bytes = Buffer.from(m.hex, 'hex')
      const r = decodeMessage(bytes, f.ctx)
      if (!r.ok) return t.fail(`${m.from} ${m.type}: ${r.error.message}`)
      t.is(r.value.type as string, m.type)
      if (r.value.type === 'update') t.is(r.value.errors, undefined)
      t.is(encodeMessage(r.value, f.ctx).toString('hex'), m.hex, `${m.from} ${m.type}`)
    }
  })

  test(`${f.file}: the framer splits the stream of each sender back into the same messages`, (t) => {
    for (const sender of ['bird', 'frr']) {
      const msgs = f.messages.filter((m) => m.from === sender).map((m) => Buffer.from(m.hex, 'hex'))
      const stream = Buffer.concat(msgs)
      const framer = createFramer()
      const out: Buffer[] = []
      for (let i = 0; i < stream.length; i += 7) {
        const r = framer.push(stream.subarray(i, i + 7))
        t.is(r.error, undefined)
        out.push(...r.messages)
      }
      t.deepEqual(out, msgs)
    }
  })
}

const main = fixtures.find((f) => f.file === 'bird2-frr8.json')
const as2 = fixtures.find((f) => f.file === 'bird2-frr8-as2.json')

const opens = (f: Fixture, from: string) => decoded(f).filter((m) => m.from === from && m.msg.type === 'open').map((m) => m.msg as OpenMessage)
const updates = (f: Fixture, from: string) => decoded(f).filter((m) => m.from === from && m.msg.type === 'update').map((m) => m.msg as UpdateMessage)
const prefixes = (u: UpdateMessage) => u.nlri.map(formatPrefix).sort()
const attr = <T extends PathAttribute['type']>(u: UpdateMessage, type: T) => u.attributes.find((a) => a.type === type) as Extract<PathAttribute, { type: T }> | undefined

test('BIRD OPEN: AS, hold time, identifier, capabilities in one parameter', (t) => {
  if (!main) return t.fail('fixture missing')
  const open = opens(main, 'bird')[0]!
  t.is(open.myAs, 65001)
  t.is(openAsn(open), 65001)
  t.is(open.holdTime, 9)
  t.is(open.bgpId, ip('10.255.0.1'))
  t.is(open.layout?.groups.length, 1)
  const caps = open.capabilities
  t.true(caps.some((c) => c.kind === 'multiprotocol' && c.afi === 1 && c.safi === 1))
  t.true(caps.some((c) => c.kind === 'multiprotocol' && c.afi === 2 && c.safi === 1))
  t.truthy(findCapability(caps, 'routeRefresh'))
  t.truthy(findCapability(caps, 'enhancedRouteRefresh'))
  t.is(findCapability(caps, 'gracefulRestart')?.restartTime, 120)
})

test('FRR OPEN: one capability per parameter, old and new route refresh, extended message, graceful restart', (t) => {
  if (!main) return t.fail('fixture missing')
  const open = opens(main, 'frr')[0]!
  t.is(openAsn(open), 65002)
  t.is(open.bgpId, ip('10.255.0.2'))
  t.true(open.layout!.groups.every((n) => n === 1))
  t.true(open.capabilities.some((c) => c.kind === 'routeRefresh' && c.code === 128))
  t.true(open.capabilities.some((c) => c.kind === 'routeRefresh' && c.code === 2))
  t.truthy(findCapability(open.capabilities, 'extendedMessage'))
  const gr = findCapability(open.capabilities, 'gracefulRestart')
  t.is(gr?.restartTime, 120)
  t.true(open.capabilities.some((c) => c.kind === 'unknown' && c.code === 73)) // FQDN, kept raw
  // our FSM accepts FRR's OPEN as AS 65001 / 10.255.0.1
  const v = validateOpen(open, resolveFsmOptions({ localAs: 65001, localId: ip('10.255.0.1'), peerAs: 65002 }))
  t.true(v.ok && v.value.as4 && v.value.routeRefresh && v.value.holdTime === 9 && v.value.keepaliveMs === 3000)
})

test('BIRD UPDATE: IPv4 routes with MED and communities', (t) => {
  if (!main) return t.fail('fixture missing')
  const u = updates(main, 'bird').find((x) => x.nlri.some((p) => formatPrefix(p) === '10.1.0.0/24'))!
  t.deepEqual(prefixes(u), ['10.1.0.0/24', '10.1.1.0/24', '10.1.2.0/23', '10.128.0.0/9'])
  t.deepEqual(attr(u, 'origin')?.origin, 0)
  t.deepEqual(attr(u, 'asPath')?.segments, [{ type: 'sequence', asns: [65001] }])
  t.is(attr(u, 'nextHop')?.nextHop, ip('10.255.0.1'))
  t.is(attr(u, 'med')?.med, 50)
  t.deepEqual(attr(u, 'communities')?.communities, [(65001 << 16) + 100, (65001 << 16) + 200].map((n) => n >>> 0))
})

test('BIRD UPDATE: IPv6 MP_REACH_NLRI with global and link-local next hops', (t) => {
  if (!main) return t.fail('fixture missing')
  const u = updates(main, 'bird').find((x) => x.attributes.some((a) => a.type === 'mpReach'))!
  const mp = attr(u, 'mpReach')!
  if (!('nextHop' in mp) || mp.afi !== 2 || 'raw' in mp) return t.fail('not an IPv6 MP_REACH')
  t.is(mp.nextHop, 'fd00:255::1')
  t.regex(mp.linkLocalNextHop ?? '', /^fe80::/)
  t.deepEqual(mp.nlri, [{ addr: '2001:db8:1::', len: 48 }])
})

test('FRR UPDATEs: its own networks, IPv6 next hop, withdrawal of 10.2.1.0/24', (t) => {
  if (!main) return t.fail('fixture missing')
  const us = updates(main, 'frr')
  const own = us.find((x) => x.nlri.some((p) => formatPrefix(p) === '172.16.0.0/16'))!
  t.deepEqual(prefixes(own), ['10.2.0.0/24', '10.2.1.0/24', '172.16.0.0/16'])
  t.deepEqual(attr(own, 'asPath')?.segments, [{ type: 'sequence', asns: [65002] }])
  t.is(attr(own, 'nextHop')?.nextHop, ip('10.255.0.2'))
  const v6 = us.map((x) => attr(x, 'mpReach')).find((m) => m && m.afi === 2 && !('raw' in m) && m.nlri.some((p) => typeof p.addr === 'string' && p.addr === '2001:db8:2::'))
  t.is(v6 && !('raw' in v6) && v6.afi === 2 ? v6.nextHop : undefined, 'fd00:255::2')
  t.true(us.some((x) => x.withdrawn.map(formatPrefix).includes('10.2.1.0/24') && x.nlri.length === 0))
})

test('End-of-RIB markers from both daemons, IPv4 and IPv6', (t) => {
  if (!main) return t.fail('fixture missing')
  for (const from of ['bird', 'frr']) {
    const eors = updates(main, from).map(endOfRib).filter((x) => x !== undefined)
    t.true(eors.some((e) => e.afi === 1 && e.safi === 1), `${from} IPv4 EoR`)
    t.true(eors.some((e) => e.afi === 2 && e.safi === 1), `${from} IPv6 EoR`)
  }
})

test('ROUTE-REFRESH from both daemons, with RFC 7313 BoRR/EoRR', (t) => {
  if (!main) return t.fail('fixture missing')
  const rr = decoded(main).filter((m) => m.msg.type === 'routeRefresh')
  for (const from of ['bird', 'frr']) {
    const mine = rr.filter((m) => m.from === from).map((m) => m.msg)
    t.true(mine.some((m) => m.type === 'routeRefresh' && m.afi === 1 && m.safi === 1 && m.subtype === 0), `${from} normal refresh`)
    t.true(mine.some((m) => m.type === 'routeRefresh' && m.subtype === 1), `${from} BoRR`)
    t.true(mine.some((m) => m.type === 'routeRefresh' && m.subtype === 2), `${from} EoRR`)
  }
})

test('BIRD NOTIFICATION: Cease/Administrative Shutdown with an RFC 9003 message', (t) => {
  if (!main) return t.fail('fixture missing')
  const n = decoded(main).find((m) => m.from === 'bird' && m.msg.type === 'notification')!.msg
  t.like(n, { type: 'notification', code: 6, subcode: 2, shutdownMessage: 'fixture capture done' })
})

test('2-octet session: BIRD AS 4200000001 sends AS_TRANS and AS4_PATH, merged per RFC 6793', (t) => {
  if (!as2) return t.fail('fixture missing')
  t.false(as2.ctx.as4)
  const open = opens(as2, 'bird')[0]!
  t.is(open.myAs, 23456)
  t.is(findCapability(open.capabilities, 'as4'), undefined)
  const u = updates(as2, 'bird').find((x) => x.nlri.some((p) => formatPrefix(p) === '10.1.0.0/24'))!
  t.deepEqual(attr(u, 'asPath')?.segments, [{ type: 'sequence', asns: [23456] }])
  t.deepEqual(attr(u, 'as4Path')?.segments, [{ type: 'sequence', asns: [4200000001] }])
  const merged = normalizeAs4(u.attributes)
  t.deepEqual(merged.find((a) => a.type === 'asPath'), { type: 'asPath', segments: [{ type: 'sequence', asns: [4200000001] }] })
  t.false(merged.some((a) => a.type === 'as4Path'))
  // a route BIRD re-advertises from FRR: AS_PATH 23456 65002, AS4_PATH 4200000001 65002
  const relayed = updates(as2, 'bird').find((x) => x.nlri.some((p) => formatPrefix(p) === '172.16.0.0/16'))!
  t.deepEqual(normalizeAs4(relayed.attributes).find((a) => a.type === 'asPath'), { type: 'asPath', segments: [{ type: 'sequence', asns: [4200000001, 65002] }] })
  // FRR's 2-octet AS_PATH
  const frr = updates(as2, 'frr').find((x) => x.nlri.some((p) => formatPrefix(p) === '172.16.0.0/16'))!
  t.deepEqual(attr(frr, 'asPath')?.segments, [{ type: 'sequence', asns: [65002] }])
  // our FSM, configured for AS_TRANS on a 2-octet session, accepts BIRD's OPEN
  const v = validateOpen(open, resolveFsmOptions({ localAs: 65002, localId: ip('10.255.1.2'), peerAs: 23456 }))
  t.true(v.ok && !v.value.as4)
})
