/**
 * bench/rib-memory: what the BGP route storage keeps per prefix, without a
 * kernel or a socket (prints figures; not a test).
 *
 *   node --expose-gc --import tsx bench/rib-memory.ts [N] [--peers 2] [--high]
 *
 * One Speaker with the real RIB as its sink (the RIB reads the Loc-RIB as
 * an attached table) receives N /24 prefixes from 11.0.0.0 (--high: from
 * 160.0.0.0, addresses >= 128.0.0.0) from each of --peers eBGP peers, in
 * UPDATEs of 800 NLRI with one path each, as BIRD packs them. After a forced
 * GC it prints the V8 heap used and the ArrayBuffer memory (the typed-array
 * tables) above the empty state, per prefix, and the RSS.
 */
import { formatPrefix } from '../src/net/ipv4.js'
import type { PathAttribute, UpdateMessage } from '../src/protocols/bgp/codec/types.js'
import { createImportPolicy } from '../src/protocols/bgp/policy.js'
import { Speaker, type SpeakerPeer } from '../src/protocols/bgp/speaker.js'
import { Rib } from '../src/rib/rib.js'

const gc = (globalThis as { gc?: () => void }).gc
if (!gc) {
  console.error('run with node --expose-gc --import tsx bench/rib-memory.ts')
  process.exit(2)
}
const args = process.argv.slice(2)
const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 1_000_000)
const pi = args.indexOf('--peers')
const peers = pi >= 0 ? Number(args[pi + 1]) : 1
const base = args.includes('--high') ? (160 << 24) >>> 0 : 11 << 24
const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0

function measure(): { heap: number; buffers: number; rss: number } {
  gc!()
  gc!()
  const m = process.memoryUsage()
  return { heap: m.heapUsed, buffers: m.arrayBuffers, rss: m.rss }
}

const rib = new Rib()
let changes = 0
rib.onBestChange(() => changes++)
const own = { addr: ip(10, 244, 1, 0), len: 24 }
const speaker = new Speaker({
  asn: 64512, routerId: ip(10, 99, 0, 11), routeReflector: false, localAddress: ip(10, 99, 0, 11), ownSubnet: own,
  policy: createImportPolicy({ pool: { addr: ip(10, 244, 0, 0), len: 16 }, allow: [{ addr: 0, len: 0 }], ownSubnet: own, maxPrefixLength: 28 }),
  nextHop: { underlay: { addr: ip(10, 99, 0, 0), len: 24 }, self: ip(10, 99, 0, 11), pools: [{ addr: ip(10, 244, 0, 0), len: 16 }] },
  sink: rib, log: { info: () => {}, warn: () => {}, error: () => {}, limited: () => {}, debug: () => {} }, schedule: () => undefined,
})
const before = measure()
const t0 = performance.now()
for (let k = 0; k < peers; k++) {
  const address = ip(10, 99, 0, 20 + k)
  const peer: SpeakerPeer = {
    key: formatPrefix({ addr: address, len: 32 }).replace('/32', ''), address, asn: 65100 + k, ibgp: false, routerId: address, rrClient: false,
    ctx: { as4: true }, maxPrefixes: n + 10, send: () => {}, cease: () => {},
  }
  const p = speaker.peerUp(peer)
  const attributes: PathAttribute[] = [
    { type: 'origin', origin: 0 },
    { type: 'asPath', segments: [{ type: 'sequence', asns: [65100 + k, 65000 + k] }] },
    { type: 'nextHop', nextHop: address },
  ]
  for (let i = 0; i < n; i += 800) {
    const nlri = []
    for (let j = i; j < Math.min(n, i + 800); j++) nlri.push({ addr: (base + j * 256) >>> 0, len: 24 })
    const msg: UpdateMessage = { type: 'update', withdrawn: [], attributes, nlri }
    speaker.receiveUpdate(p, msg)
  }
}
const ms = performance.now() - t0
const after = measure()
const per = (b: number): string => (b / n).toFixed(1)
console.log(`bench/rib-memory: ${n.toLocaleString('en')} /24s from ${formatPrefix({ addr: base, len: 8 })} x ${peers} peer(s), Speaker + RIB (node ${process.version})`)
console.log(`  ingest        ${(ms / 1000).toFixed(2)} s (${Math.round((n * peers) / (ms / 1000)).toLocaleString('en')} prefixes/s), ${changes.toLocaleString('en')} best changes, RIB size ${rib.size.toLocaleString('en')}`)
console.log(`  V8 heap used  +${((after.heap - before.heap) / 1048576).toFixed(1)} MB = ${per(after.heap - before.heap)} B/prefix`)
console.log(`  ArrayBuffers  +${((after.buffers - before.buffers) / 1048576).toFixed(1)} MB = ${per(after.buffers - before.buffers)} B/prefix`)
console.log(`  both          ${per(after.heap - before.heap + after.buffers - before.buffers)} B/prefix; RSS ${(after.rss / 1048576).toFixed(0)} MB (before ${(before.rss / 1048576).toFixed(0)} MB)`)
