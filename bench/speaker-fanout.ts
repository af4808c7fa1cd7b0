/**
 * The speaker's own cost of reflecting one change to many clients, without sockets (prints
 * figures; not a test): a route reflector (src/protocols/bgp/speaker.ts) with N iBGP clients whose
 * send() only counts, each announcing one /24; then R rounds of client 0 announcing one more
 * prefix, each round timed from the UPDATE handed to the speaker to the end of its flush (what
 * the reflector's JavaScript does before and between its N-1 socket writes in bench/rr-load).
 *
 *   npm run build && FABRIC_USE_DIST=1 node --import tsx bench/speaker-fanout.ts [--clients 1000] [--rounds 200]
 *   (FABRIC_USE_DIST=1: the compiled speaker from dist/, as the agent runs it; without it, src/ through tsx)
 */
import type { UpdateMessage } from '../src/protocols/bgp/codec/types.js'
import { option } from './options.js'

const N = Number(option('clients', '1000'))
const ROUNDS = Number(option('rounds', '200'))
const base = process.env.FABRIC_USE_DIST ? '../dist' : '../src'
const { Speaker } = await import(`${base}/protocols/bgp/speaker.js`) as typeof import('../src/protocols/bgp/speaker.js')
const { createImportPolicy } = await import(`${base}/protocols/bgp/policy.js`) as typeof import('../src/protocols/bgp/policy.js')

const ASN = 64512
const RR = (10 << 24) | (98 << 16) | 1
const clientAddr = (i: number) => ((10 << 24) | (98 << 16)) + 256 + i
const pool = { addr: (10 << 24) | (128 << 16), len: 9 }
let messages = 0
const noop = (): void => undefined
const log = { debug: noop, info: noop, warn: noop, error: noop, limited: noop }
const speaker = new Speaker({
  asn: ASN, routerId: RR, routeReflector: true, localAddress: RR, ownSubnet: { addr: (10 << 24) | (128 << 16), len: 24 },
  policy: createImportPolicy({ pool, allow: [], ownSubnet: { addr: (10 << 24) | (128 << 16), len: 24 }, maxPrefixLength: 32 }),
  nextHop: { underlay: { addr: (10 << 24) | (98 << 16), len: 16 }, self: RR, pools: [pool] },
  sink: { add: noop, withdraw: noop, withdrawPeer: () => 0 }, log, schedule: noop,
})
const peers = Array.from({ length: N }, (_, i) => speaker.peerUp({
  key: `client${i}`, address: clientAddr(i), asn: ASN, ibgp: true, routerId: clientAddr(i), rrClient: true, ctx: { as4: true }, maxPrefixes: 10_000,
  send: (m) => { messages += m.length }, cease: noop,
}))
const update = (i: number, addr: number): UpdateMessage => ({
  type: 'update', withdrawn: [], nlri: [{ addr, len: 24 }],
  attributes: [{ type: 'origin', origin: 0 }, { type: 'asPath', segments: [] }, { type: 'nextHop', nextHop: clientAddr(i) }, { type: 'localPref', localPref: 100 }],
})
for (let i = 0; i < N; i++) speaker.receiveUpdate(peers[i]!, update(i, ((10 << 24) | (129 << 16)) + i * 256))
speaker.flush()
const times: number[] = []
for (let k = 0; k < ROUNDS; k++) {
  messages = 0
  const t0 = performance.now()
  speaker.receiveUpdate(peers[0]!, update(0, ((10 << 24) | (200 << 16)) + k * 256))
  speaker.flush()
  times.push(performance.now() - t0)
  if (messages !== N - 1) throw new Error(`round ${k}: ${messages} UPDATEs sent, expected ${N - 1}`)
}
const last = times.slice(ROUNDS >> 1).sort((a, b) => a - b)
const q = (f: number) => last[Math.min(last.length - 1, Math.floor(f * last.length))]!.toFixed(3)
console.log(`| clients | rounds (second half kept) | one change: receive + flush, ms median (p10-p90) |`)
console.log('|---|---|---|')
console.log(`| ${N} | ${ROUNDS} (${last.length}) | ${q(0.5)} (${q(0.1)}-${q(0.9)}) |`)
