/** `fabric doctor`'s BFD check, from fixture /v1/peers JSON: packets must arrive from every peer configured for BFD. */
import { readFileSync } from 'node:fs'
import test from 'ava'
import type { PeerRow, PeersResponse } from '../../../src/api/types.js'
import { checkBfd } from '../../../src/doctor/checks.js'

const fixture = JSON.parse(readFileSync(new URL('../cli-support/fixtures/peers-hitless.json', import.meta.url), 'utf8')) as PeersResponse
const up = fixture.peers[0]!
const withBfd = (p: PeerRow, bfd: Record<string, unknown> | null): PeerRow => ({ ...p, details: { ...p.details, bfd } })

test('every BFD peer Up with recent packets: pass, naming the count and detection time', (t) => {
  const rip: PeerRow = { source: 'rip', peer: '10.99.0.13', address: '10.99.0.13', state: 'up', details: { bfd: { state: 'Up', remoteState: 'Up', detectionTimeMs: 300, packetsIn: 10, packetsOut: 10, lastRxAgoMs: 90, lastDownDiag: null } } }
  t.deepEqual(checkBfd([up, rip, fixture.peers[2]!]), [{ name: 'BFD', result: 'pass', detail: 'BFD Up with 2 peers, packets arriving (detection 300 ms)' }])
})

test('no peer configured for BFD: no check', (t) => {
  t.deepEqual(checkBfd([fixture.peers[2]!]), [])
  t.deepEqual(checkBfd([{ source: 'static', peer: 'node2', address: '10.99.0.12', state: 'configured' }]), [])
})

test('a peer that is down, one never heard and one gone quiet fail, each named, with the fix', (t) => {
  const never = withBfd({ ...up, peer: 'node4', address: '10.99.0.14' }, { state: 'Down', remoteState: 'Down', detectionTimeMs: 0, packetsIn: 0, packetsOut: 31, lastRxAgoMs: null, lastDownDiag: null })
  const quiet = withBfd({ ...up, peer: 'node5', address: '10.99.0.15' }, { state: 'Up', remoteState: 'Up', detectionTimeMs: 300, packetsIn: 50, packetsOut: 51, lastRxAgoMs: 4200, lastDownDiag: null })
  const [c] = checkBfd([up, fixture.peers[1]!, never, quiet])
  t.is(c!.result, 'fail')
  t.is(c!.name, 'BFD')
  t.is(c!.detail, '3 of 4 BFD peers silent: node3 10.99.0.13: BFD Down (neighbor signaled session down), last packet 1.5 s ago, remote says AdminDown; node4 10.99.0.14: no BFD packet received (31 sent, state Down); node5 10.99.0.15: BFD Up but the last packet is 4.2 s old (detection time 300 ms)')
  t.regex(c!.fix!, /bfd = yes/)
  t.regex(c!.fix!, /UDP 3784/)
  t.regex(c!.fix!, /neighbor ADDRESS bfd/)
})

test('a RIP neighbour (named by its address) without packets fails', (t) => {
  const rip: PeerRow = { source: 'rip', peer: '10.99.0.13', address: '10.99.0.13', state: 'up', details: { bfd: { state: 'Down', remoteState: 'Down', detectionTimeMs: 0, packetsIn: 0, packetsOut: 12, lastRxAgoMs: null, lastDownDiag: null } } }
  const [c] = checkBfd([rip])
  t.is(c!.result, 'fail')
  t.is(c!.detail, '1 of 1 BFD peers silent: 10.99.0.13: no BFD packet received (12 sent, state Down)')
})

test('hostile details (not an object, no state) are no BFD session', (t) => {
  t.deepEqual(checkBfd([withBfd(up, 'yes' as unknown as Record<string, unknown>), withBfd(up, { foo: 1 })]), [])
})
