/**
 * The speaker with the real RIB as its sink: the RIB takes the Loc-RIB as
 * an attached table (rib.ts attach) and stores nothing per BGP prefix; it
 * reads the BGP best from the Loc-RIB, elects it against other sources'
 * candidates and reports each change of the overall best once.
 */
import test from 'ava'
import { formatPrefix } from '../../../../src/net/ipv4.js'
import type { PathAttribute, UpdateMessage } from '../../../../src/protocols/bgp/codec/types.js'
import { createImportPolicy } from '../../../../src/protocols/bgp/policy.js'
import { type PeerRib, Speaker, type SpeakerPeer } from '../../../../src/protocols/bgp/speaker.js'
import { Rib } from '../../../../src/rib/rib.js'
import type { Route } from '../../../../src/rib/route.js'
import { A, P } from '../../../helpers/net.js'

const LOCAL_AS = 64512
const SELF = A('10.99.0.11')

function setup(): { rib: Rib; speaker: Speaker; changes: string[]; peer(addr: string): PeerRib } {
  const rib = new Rib()
  const changes: string[] = []
  const name = (r: Route | undefined): string => (r ? `${r.source}:${r.peer}` : '-')
  rib.onBestChange((c) => changes.push(`${formatPrefix(c.prefix)} ${name(c.previous)}>${name(c.best)}`))
  const own = P('10.244.1.0/24')
  const speaker = new Speaker({
    asn: LOCAL_AS, routerId: SELF, routeReflector: false, localAddress: SELF, ownSubnet: own,
    policy: createImportPolicy({ pool: P('10.244.0.0/16'), allow: [P('200.0.0.0/8')], ownSubnet: own, maxPrefixLength: 28 }),
    nextHop: { underlay: P('10.99.0.0/24'), self: SELF, pools: [P('10.244.0.0/16')] },
    sink: rib, log: { info: () => {}, warn: () => {}, error: () => {}, limited: () => {}, debug: () => {} }, schedule: () => undefined,
  })
  return {
    rib, speaker, changes,
    peer(addr) {
      const peer: SpeakerPeer = {
        key: addr, address: A(addr), asn: 65000 + (A(addr) & 255), ibgp: false, routerId: A(addr), rrClient: false,
        ctx: { as4: true }, maxPrefixes: 1000, send: () => {}, cease: () => {},
      }
      return speaker.peerUp(peer)
    },
  }
}

function update(nlri: string[], nextHop: string, asPath: number[], withdrawn: string[] = []): UpdateMessage {
  const attributes: PathAttribute[] = [
    { type: 'origin', origin: 0 },
    { type: 'asPath', segments: [{ type: 'sequence', asns: asPath }] },
    { type: 'nextHop', nextHop: A(nextHop) },
  ]
  return { type: 'update', withdrawn: withdrawn.map(P), attributes, nlri: nlri.map(P) }
}

test('the RIB reads BGP bests from the attached Loc-RIB: best, size, candidates, listing; one change per best change, never a gap', (t) => {
  const { rib, speaker, changes, peer } = setup()
  const a = peer('10.99.0.12')
  const b = peer('10.99.0.13')
  speaker.receiveUpdate(a, update(['10.244.2.0/24', '10.244.3.0/24', '200.200.0.0/16'], '10.99.0.12', [65012, 65100]))
  t.is(rib.size, 3)
  t.is(rib.best(P('10.244.2.0/24'))?.nextHop, A('10.99.0.12'))
  t.is(rib.best(P('200.200.0.0/16'))?.peer, '10.99.0.12', 'an address >= 128.0.0.0')
  t.is(typeof rib.best(P('10.244.2.0/24'))?.since, 'number')
  t.deepEqual(rib.bestRoutes().map((r) => formatPrefix(r.prefix)).sort(), ['10.244.2.0/24', '10.244.3.0/24', '200.200.0.0/16'])
  // b's shorter AS path wins 10.244.2.0/24: one change, a -> b (no withdrawal in between)
  changes.length = 0
  speaker.receiveUpdate(b, update(['10.244.2.0/24'], '10.99.0.13', [65013]))
  t.deepEqual(changes, ['10.244.2.0/24 bgp:10.99.0.12>bgp:10.99.0.13'])
  t.is(rib.best(P('10.244.2.0/24'))?.nextHop, A('10.99.0.13'))
  t.is(rib.candidateCount(P('10.244.2.0/24')), 1, 'the Loc-RIB best is the one BGP candidate')
  t.is(rib.size, 3)
  // b goes down: back to a's route directly, nothing withdrawn peer-wide
  changes.length = 0
  speaker.peerDown(b)
  t.deepEqual(changes, ['10.244.2.0/24 bgp:10.99.0.13>bgp:10.99.0.12'])
  // a withdraws one prefix, then goes down
  changes.length = 0
  speaker.receiveUpdate(a, update([], '10.99.0.12', [65012], ['10.244.3.0/24']))
  t.deepEqual(changes, ['10.244.3.0/24 bgp:10.99.0.12>-'])
  changes.length = 0
  speaker.peerDown(a)
  t.deepEqual(changes.sort(), ['10.244.2.0/24 bgp:10.99.0.12>-', '200.200.0.0/16 bgp:10.99.0.12>-'])
  t.is(rib.size, 0)
  t.deepEqual(rib.bestRoutes(), [])
})

test('a static route and the attached BGP best on one prefix: distance elects, the prefix counts once, changes under the winner are silent', (t) => {
  const { rib, speaker, changes, peer } = setup()
  const a = peer('10.99.0.12')
  const b = peer('10.99.0.13')
  const n = P('10.244.5.0/24')
  speaker.receiveUpdate(a, update(['10.244.5.0/24', '10.244.6.0/24'], '10.99.0.12', [65012, 65100]))
  rib.add({ prefix: n, nextHop: A('10.99.0.50'), source: 'static', peer: 'host5', metric: 0 })
  t.is(rib.best(n)?.source, 'static')
  t.is(rib.size, 2, 'the prefix with both counts once')
  t.is(rib.candidateCount(n), 2)
  t.deepEqual(rib.candidates(n).map((r) => `${r.source}:${r.peer}`), ['static:host5', 'bgp:10.99.0.12'])
  t.deepEqual(rib.bestRoutes().map((r) => `${formatPrefix(r.prefix)} ${r.source}`).sort(), ['10.244.5.0/24 static', '10.244.6.0/24 bgp'])
  changes.length = 0
  // a better BGP path under the static route: no change of the overall best
  speaker.receiveUpdate(b, update(['10.244.5.0/24'], '10.99.0.13', [65013]))
  t.deepEqual(changes, [])
  t.is(rib.candidates(n)[1]?.peer, '10.99.0.13')
  // the static route goes: the BGP best takes over
  rib.withdraw(n, 'static', 'host5')
  t.deepEqual(changes, ['10.244.5.0/24 static:host5>bgp:10.99.0.13'])
  t.is(rib.size, 2)
  // and comes back over it
  changes.length = 0
  rib.add({ prefix: n, nextHop: A('10.99.0.50'), source: 'static', peer: 'host5', metric: 0 })
  t.deepEqual(changes, ['10.244.5.0/24 bgp:10.99.0.13>static:host5'])
  // BGP leaves entirely: silent under the static route, the size follows
  changes.length = 0
  speaker.peerDown(a)
  speaker.peerDown(b)
  t.deepEqual(changes, ['10.244.6.0/24 bgp:10.99.0.12>-'])
  t.is(rib.size, 1)
  t.is(rib.best(n)?.source, 'static')
})

test('graceful restart helper mode with the attached RIB: kept routes show the stale mark, End-of-RIB sweeps what was not re-announced', (t) => {
  const { rib, speaker, changes, peer } = setup()
  const a = peer('10.99.0.12')
  speaker.receiveUpdate(a, update(['10.244.7.0/24', '10.244.8.0/24'], '10.99.0.12', [65012]))
  const kept = speaker.peerStale(a, { since: 1000, reason: 'peer-restarting', until: 121000 })
  t.is(kept, 2)
  t.like(rib.best(P('10.244.7.0/24'))?.attrs?.stale, { reason: 'peer-restarting', until: 121000 })
  t.is(rib.size, 2)
  const again = speaker.peerResume(a, a.peer)
  speaker.receiveUpdate(again, update(['10.244.7.0/24'], '10.99.0.12', [65012]))
  t.is(rib.best(P('10.244.7.0/24'))?.attrs?.stale, undefined, 're-announced: a fresh path')
  changes.length = 0
  t.is(speaker.sweepStale(again), 1)
  t.deepEqual(changes, ['10.244.8.0/24 bgp:10.99.0.12>-'])
  t.is(rib.size, 1)
})

test('a RIB takes one attached table', (t) => {
  const { rib } = setup()
  t.throws(() => rib.attach('bgp', { best: () => undefined, has: () => false, bestValues: () => [], size: 0 }), { message: /attached bgp table already/ })
})
