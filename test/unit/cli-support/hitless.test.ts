/** `fabric peers` / `fabric routes` text for BFD and graceful restart, from fixture JSON of /v1/peers and /v1/routes. */
import { readFileSync } from 'node:fs'
import test from 'ava'
import { renderRouteTable, routeStateText } from '../../../src/api/render.js'
import type { PeersResponse, RouteRow } from '../../../src/api/types.js'
import { bfdText, gracefulRestartText, renderPeers } from '../../../src/cli-support/render.js'

const fixture = JSON.parse(readFileSync(new URL('./fixtures/peers-hitless.json', import.meta.url), 'utf8')) as PeersResponse
const NOW = 1700000100000

test('fabric peers: a BFD column "Up 300ms", graceful restart in STATE "restarting, 3 stale, 87s left"', (t) => {
  const text = renderPeers(fixture.peers, NOW)
  const lines = text.split('\n')
  t.regex(lines[0]!, /^PEER\s+ADDRESS\s+AS\/PROTO\s+STATE\s+SINCE\s+RCVD\s+ACCEPT\s+SENT\s+BFD\s+LAST ERROR$/)
  t.regex(text, /^node2\s+10\.99\.0\.12\s+64512\s+Established\s+1m40s\s+1\s+1\s+1\s+Up 300ms\s+-$/m)
  t.regex(text, /^node3\s+10\.99\.0\.13\s+64512\s+Idle, restarting, 3 stale, 87s left\s+10s\s+3\s+3\s+1\s+Down \(neighbor signaled session down\)\s+connection closed by peer$/m)
  t.regex(text, /^tor\s+10\.99\.0\.1\s+65000\s+Established\s+1m40s\s+1000\s+1000\s+1\s+-\s+-$/m)
  for (const line of lines) t.false(/[{}"]/.test(line), line)
})

test('fabric peers without BFD anywhere: no BFD column (the table stays as it was)', (t) => {
  const peers = fixture.peers.map((p) => ({ ...p, details: { ...p.details, bfd: null } }))
  t.false(renderPeers(peers, NOW).split('\n')[0]!.includes('BFD'))
  t.false(renderPeers([{ source: 'rip', peer: '10.99.0.12', address: '10.99.0.12', state: 'up' }], NOW).includes('BFD'))
})

test('fabric peers verbose: capabilities and BFD counters per peer', (t) => {
  const text = renderPeers(fixture.peers, NOW, true)
  t.regex(text, /^ {2}node2: graceful restart: ours 120s, peer's 120s \(forwarding kept\), 2 restarts helped; BFD Up 300ms, remote Up, 5012 in \/ 5020 out, last packet 42ms ago$/m)
  t.regex(text, /^ {2}tor: graceful restart: only we advertise it \(120s\)$/m)
})

test('fabric peers verbose: a peer with IPv6 unicast negotiated gets its IPv6 counts', (t) => {
  const peers = fixture.peers.map((p) => (p.peer === 'tor' ? { ...p, details: { ...p.details, ipv6: { received: 3, accepted: 2, filtered: 1, sent: 1, endOfRib: true } } } : p))
  t.regex(renderPeers(peers, NOW, true), /^ {2}tor: graceful restart: only we advertise it \(120s\); IPv6 unicast: 3 received, 2 accepted, 1 filtered, 1 sent, End-of-RIB received$/m)
  t.false(renderPeers(fixture.peers, NOW, true).includes('IPv6'), 'no IPv6 line without details.ipv6')
})

test('BFD and graceful-restart cells', (t) => {
  t.is(bfdText(null), '-')
  t.is(bfdText({ state: 'Init', remoteState: 'Down', detectionTimeMs: 0, packetsIn: 1, packetsOut: 3, lastRxAgoMs: 10, lastDownDiag: null }), 'Init')
  t.is(bfdText({ state: 'Down', remoteState: 'Down', detectionTimeMs: 300, packetsIn: 1, packetsOut: 3, lastRxAgoMs: 10, lastDownDiag: 'control detection time expired' }), 'Down (control detection time expired)')
  t.is(bfdText({ state: 'Down', remoteState: 'Down', detectionTimeMs: 0, packetsIn: 0, packetsOut: 3, lastRxAgoMs: null, lastDownDiag: null }), 'Down')
  t.is(bfdText({ state: 'AdminDown', remoteState: 'Down', detectionTimeMs: 0, packetsIn: 0, packetsOut: 3, lastRxAgoMs: null, lastDownDiag: 'administratively down' }), 'AdminDown (administratively down)')
  const gr = { local: { advertised: true, restartTime: 120 }, peer: null, stale: 4, helped: 0 }
  t.is(gracefulRestartText(null), undefined)
  t.is(gracefulRestartText({ ...gr, state: 'none', secondsLeft: null }), undefined)
  t.is(gracefulRestartText({ ...gr, state: 'stale-until-eor', secondsLeft: 11.6 }), 'waiting for End-of-RIB, 4 stale, 12s left')
  t.is(gracefulRestartText({ ...gr, state: 'restarting', secondsLeft: null }), 'restarting, 4 stale')
})

const row = (over: Partial<RouteRow> & Record<string, unknown>): RouteRow => ({
  prefix: '10.244.3.0/24', nextHop: '10.99.0.13', device: 'eth0', source: 'bgp', peer: '10.99.0.13', metric: null, asPath: [], age: 75, state: 'installed', reason: null, alternatives: 0, ...over,
}) as RouteRow

test('fabric routes: STATE "stale (peer restarting, 87s)" for a route kept through a graceful restart', (t) => {
  t.is(routeStateText(row({ stale: { reason: 'peer-restarting', secondsLeft: 87.2 } })), 'stale (peer restarting, 87s)')
  t.is(routeStateText(row({ stale: { reason: 'awaiting-end-of-rib', secondsLeft: null } })), 'stale (awaiting End-of-RIB)')
  t.is(routeStateText(row({ stale: null })), 'installed')
  t.is(routeStateText(row({})), 'installed')
  const table = renderRouteTable([row({ stale: { reason: 'peer-restarting', secondsLeft: 87 } }), row({ prefix: '10.244.2.0/24', nextHop: '10.99.0.12', peer: '10.99.0.12' })])
  t.regex(table, /^10\.244\.3\.0\/24\s+10\.99\.0\.13\s+eth0\s+bgp\/10\.99\.0\.13\s+i\s+1m15s\s+stale \(peer restarting, 87s\)$/m)
  t.regex(table, /^10\.244\.2\.0\/24\s+10\.99\.0\.12\s+eth0\s+bgp\/10\.99\.0\.12\s+i\s+1m15s\s+installed$/m)
})
