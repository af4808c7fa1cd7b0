import test from 'ava'
import { nextHopProblem } from '../../../src/net/next-hop.js'
import { A, P } from '../../helpers/net.js'


const scope = { underlay: P('172.30.0.0/24'), self: A('172.30.0.11'), pools: [P('10.244.0.0/16')] }

for (const [addr, want] of [
  ['172.30.0.12', undefined],
  ['172.30.0.254', undefined],
  ['172.30.0.0', 'underlay-network-address'],
  ['172.30.0.255', 'underlay-broadcast-address'],
  ['172.30.0.11', 'own-address'],
  ['172.30.1.5', 'not-on-underlay'],
  ['10.244.1.50', 'inside-pool'],
  ['127.0.0.1', 'not-unicast'],
  ['224.0.0.9', 'not-unicast'],
  ['0.0.0.0', 'not-unicast'],
  ['255.255.255.255', 'not-unicast'],
  ['169.254.1.1', 'not-unicast'],
] as const) {
  test(`next hop ${addr}: ${want ?? 'accepted'}`, (t) => {
    t.is(nextHopProblem(A(addr), scope), want)
  })
}

test('a /31 underlay has no network or broadcast address (RFC 3021)', (t) => {
  const s = { underlay: P('172.30.0.0/31'), self: A('172.30.0.0') }
  t.is(nextHopProblem(A('172.30.0.1'), s), undefined)
  t.is(nextHopProblem(A('172.30.0.0'), s), 'own-address')
})
