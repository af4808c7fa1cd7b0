/**
 * The hostile RIP neighbour. Runs inside the attacker's namespace (started
 * by campaign.ts), sends UDP to port 520 of the target agent's underlay
 * address only, from its own on-link addresses (the "spoofed" sources are
 * other addresses of the attacker's interface on the same underlay). It also
 * listens on 224.0.0.9 to capture the good neighbour's signed updates and
 * replays them from other sources. Reports on stdout (wire.ts).
 *
 * Without auth every mutation reaches the decoder and the engine. With auth
 * (md5 / sha256) the attacker is both an insider (knows the key: mutated
 * content, re-signed) and an outsider (unsigned, wrong key, replayed).
 */
import { createSocket, type Socket } from 'node:dgram'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseAddress } from '../../src/net/ipv4.js'
import { type RipAuthConfig, type RipKey, hmacSha256Digest, md5Digest, signPacket } from '../../src/protocols/rip/auth.js'
import { type RipRouteEntry, encodePacket } from '../../src/protocols/rip/codec.js'
import { byteMutate } from './bgp-mutate.js'
import { type Rng, caseRng } from './prng.js'
import { Ring, emit, shortHex } from './wire.js'

export interface RipNeighbourConfig {
  readonly seed: number
  readonly messages: number
  readonly target: string
  readonly address: string
  readonly spoof: readonly string[]
  readonly agentAddress: string
  readonly goodAddress: string
  readonly goodSubnet: string
  readonly underlay: string
  readonly auth: 'none' | 'md5' | 'sha256'
  readonly keys: RipKey[]
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as RipNeighbourConfig
const ring = new Ring()
const authCfg: RipAuthConfig | undefined = cfg.keys.length > 0 ? { keys: cfg.keys } : undefined
const wrongCfg: RipAuthConfig | undefined = cfg.keys.length > 0 ? { keys: cfg.keys.map((k) => ({ ...k, secret: `${String(k.secret)}-wrong` })) } : undefined
let stopping = false
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'dump') emit({ t: 'ring', entries: ring.entries() })
  if (line === 'stop') stopping = true
})

const num = (s: string): number => {
  const a = parseAddress(s)
  if (!a.ok) throw new Error(a.error)
  return a.value
}
const [netText, netLen] = cfg.underlay.split('/') as [string, string]
const NET = num(netText)
const BCAST = (NET | ((1 << (32 - Number(netLen))) - 1)) >>> 0
const SPACE = num('10.244.128.0')
const GOOD = { addr: num(cfg.goodSubnet.split('/')[0]!), len: Number(cfg.goodSubnet.split('/')[1]) }
let seq = Math.floor(Date.now() / 1000) + 100_000
const stats: Record<string, number> = { sendErrors: 0, captured: 0, replayed: 0 }

function bind(address: string, port = 520): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: 'udp4', reuseAddr: true })
    s.once('error', reject)
    s.bind({ address, port }, () => { s.removeListener('error', reject); s.on('error', () => { stats.sendErrors!++ }); resolve(s) })
  })
}

function prefix(r: Rng): { addr: number; len: number } {
  const len = r.chance(0.6) ? 24 : r.range(17, 32)
  const addr = (SPACE | (r.int(1 << 23))) >>> 0
  const mask = (0xffffffff << (32 - len)) >>> 0
  return { addr: (addr & mask) >>> 0, len }
}

function oddEntry(r: Rng): RipRouteEntry {
  const pick = r.pick([
    { addr: 0, len: 0 }, { addr: num('10.244.0.0'), len: 16 }, { addr: NET, len: 24 }, { addr: num('127.0.0.0'), len: 8 },
    { addr: num('224.0.0.0'), len: 4 }, { addr: num('192.168.7.0'), len: 24 }, { addr: num('10.244.1.0'), len: 24 }, { addr: num('10.245.3.0'), len: 24 },
  ])
  return { kind: 'route', tag: r.int(65536), prefix: pick, nextHop: 0, metric: r.range(1, 15) }
}

function nextHop(r: Rng): number {
  if (r.chance(0.8)) return 0
  return r.pick([NET, BCAST, num(cfg.agentAddress), num('10.244.1.50'), num('192.0.2.7'), num('127.0.0.1'), num(cfg.address), num(cfg.spoof[0]!), 0xffffffff, (NET + r.range(1, 254)) >>> 0])
}

function entries(r: Rng, n: number): RipRouteEntry[] {
  return Array.from({ length: n }, () => (r.chance(0.05) ? oddEntry(r) : { kind: 'route' as const, tag: r.chance(0.9) ? 0 : r.int(65536), prefix: prefix(r), nextHop: nextHop(r), metric: r.chance(0.9) ? r.range(1, 15) : 16 }))
}

function sign(pkt: Parameters<typeof encodePacket>[0], cfgA = authCfg): Buffer {
  if (!cfgA) return encodePacket(pkt)
  const s = signPacket(pkt, cfgA, Date.now(), seq++)
  if (!s.ok) throw new Error(s.error.reason)
  return s.value
}

/** Recomputes the digest of a crypto-authenticated packet whose entries were edited in place (insider mutation). */
function resign(buf: Buffer): Buffer {
  if (cfg.keys.length === 0 || buf.length < 24 || buf.readUInt16BE(4) !== 0xffff || buf.readUInt16BE(6) !== 3) return buf
  const off = buf.readUInt16BE(8)
  if (off + 4 > buf.length) return buf
  const covered = buf.subarray(0, off + 4)
  const k = cfg.keys[0]!
  const secret = Buffer.isBuffer(k.secret) ? k.secret : Buffer.from(k.secret)
  const d = k.algorithm === 'md5' ? md5Digest(covered, secret) : hmacSha256Digest(covered, secret)
  if (off + 4 + d.length > buf.length) return buf
  d.copy(buf, off + 4)
  return buf
}

interface RipCase { index: number; kind: string; packets: Buffer[]; from: number /* socket index; -1 capture replay */ }

const captured: Buffer[] = []
const maxEntries = authCfg ? 24 : 25

function ripCase(index: number): RipCase {
  const r = caseRng(cfg.seed, 5, index)
  // the last spoofed address only ever replays captured packets (so its acceptance is visible on its own)
  const from = r.chance(0.7) ? 0 : r.range(1, cfg.spoof.length - 1)
  const kind = r.weighted({ valid: 20, mutated: 25, insider: 20, request: 6, flood: 5, hijack: 1, replay: cfg.keys.length > 0 ? 4 : 1, poison: 2, unsigned: cfg.keys.length > 0 ? 6 : 0, wrongKey: cfg.keys.length > 0 ? 4 : 0, random: 4, password: 2 })
  switch (kind) {
    case 'valid': return { index, kind: 'response:valid', packets: [sign({ command: 'response', entries: entries(r, r.range(1, maxEntries)) })], from }
    case 'mutated': {
      const base = sign({ command: 'response', entries: entries(r, r.range(1, maxEntries)) })
      return { index, kind: 'response:bytes-mutated', packets: [mutateRip(r, base)], from }
    }
    case 'insider': {
      // content mutated in place, then re-signed: reaches the engine with auth on
      const b = sign({ command: r.chance(0.9) ? 'response' : 'request', entries: entries(r, r.range(1, maxEntries)) })
      const start = authCfg ? 24 : 4
      const stop = authCfg ? b.readUInt16BE(8) : b.length
      for (let k = r.range(1, 6); k > 0 && stop > start; k--) {
        const i = start + r.int(stop - start)
        b[i] = r.chance(0.5) ? b[i]! ^ (1 << r.int(8)) : r.pick([0, 1, 2, 15, 16, 17, 0x7f, 0x80, 0xff])
      }
      if (r.chance(0.2)) b[1] = r.pick([0, 1, 3, 255])
      if (r.chance(0.1)) b[0] = r.pick([0, 3, 4, 5, 255])
      return { index, kind: 'response:insider-mutated-resigned', packets: [resign(b)], from }
    }
    case 'request': {
      const whole = r.chance(0.6)
      const pkt = whole ? { command: 'request' as const, entries: [{ kind: 'whole-table' as const }] } : { command: 'request' as const, entries: entries(r, r.range(1, maxEntries)).map((e) => ({ ...e, metric: r.int(17) })) }
      return { index, kind: whole ? 'request:whole-table' : 'request:entries', packets: [sign(pkt)], from }
    }
    case 'flood': return { index, kind: 'flood:full-responses', packets: Array.from({ length: r.range(20, 100) }, () => sign({ command: 'response', entries: entries(r, maxEntries) })), from }
    case 'hijack': return { index, kind: 'response:good-subnet-equal-metric', packets: [sign({ command: 'response', entries: [{ kind: 'route', tag: 0, prefix: GOOD, nextHop: 0, metric: 1 }] })], from: r.range(1, cfg.spoof.length - 1) }
    case 'poison': return { index, kind: 'response:good-subnet-poison', packets: [sign({ command: 'response', entries: [{ kind: 'route', tag: 0, prefix: GOOD, nextHop: 0, metric: 16 }] })], from }
    case 'replay': {
      const c = captured.length > 0 ? captured[r.int(captured.length)]! : undefined
      if (!c) return { index, kind: 'replay:nothing-captured-yet', packets: [], from: 0 }
      return { index, kind: 'replay:captured-good-neighbour-packet', packets: [c], from: cfg.spoof.length }
    }
    case 'unsigned': return { index, kind: 'response:unsigned', packets: [encodePacket({ command: 'response', entries: entries(r, r.range(1, 25)) })], from }
    case 'wrongKey': return { index, kind: 'response:wrong-key', packets: [sign({ command: 'response', entries: entries(r, r.range(1, 24)) }, wrongCfg)], from }
    case 'password': return { index, kind: 'response:password-auth', packets: [encodePacket({ command: 'response', entries: entries(r, r.range(1, 24)), auth: { type: 'password', password: r.bytes(16) } })], from }
    default: return { index, kind: 'random-bytes', packets: [r.bytes(r.pick([0, 1, 3, 4, 5, 24, 44, 504, 524, r.range(1, 1400)]))], from }
  }
}

function mutateRip(r: Rng, src: Buffer): Buffer {
  // byteMutate's header-length edits are meaningless for RIP but harmless; add RIP-specific edits
  if (r.chance(0.5)) return byteMutate(r, src)
  const b = Buffer.from(src)
  const k = r.int(6)
  if (k === 0) b[1] = r.pick([0, 1, 3, 255])
  else if (k === 1 && b.length >= 8) b.writeUInt16BE(r.pick([0, 1, 3, 0xffff, r.int(65536)]), 4) // AFI
  else if (k === 2 && b.length >= 24) b.writeUInt32BE(r.pick([0, 17, 0xffffffff, 0x80000000]), 20) // metric of entry 1
  else if (k === 3 && b.length >= 16) b.writeUInt32BE(r.pick([0x00ff00ff, 0xffffff01, 0, 0xffffffff, 0x80000001]), 12) // mask
  else if (k === 4) return b.subarray(0, r.int(b.length))
  else return Buffer.concat([b, r.bytes(r.pick([1, 19, 20, 21, 40, 500]))])
  return b
}

async function main(): Promise<void> {
  const socks = [await bind(cfg.address), ...(await Promise.all(cfg.spoof.map((a) => bind(a))))]
  const high = await bind(cfg.address, 0) // a request from a port other than 520
  // capture the good neighbour's updates (multicast 224.0.0.9 on the underlay)
  try {
    const cap = await bind('224.0.0.9')
    cap.addMembership('224.0.0.9', cfg.address)
    cap.on('message', (m, rinfo) => {
      if (rinfo.address === cfg.goodAddress && captured.length < 64) { captured.push(Buffer.from(m)); stats.captured!++ }
    })
  } catch (e) {
    emit({ t: 'finding', name: 'harness-warning', detail: `cannot capture multicast RIP: ${(e as Error).message}` })
  }
  emit({ t: 'ready' })
  // with auth, wait (up to 20 s: the lab's update interval is 5 s) for a first signed update of the
  // good neighbour, so that replays are exercised even in a short run
  if (cfg.keys.length > 0) {
    const until = Date.now() + 20_000
    while (captured.length === 0 && Date.now() < until && !stopping) await sleep(250)
  }
  let sent = 0
  let index = 0
  let last = Date.now()
  const send = (s: Socket, b: Buffer): Promise<void> => new Promise((res) => s.send(b, 520, cfg.target, (e) => { if (e) stats.sendErrors!++; res() }))
  while (sent < cfg.messages && !stopping) {
    const c = ripCase(index++)
    if (c.packets.length === 0) continue
    const sock = c.kind.startsWith('request') && caseRng(cfg.seed, 6, c.index).chance(0.3) ? high : socks[c.from]!
    ring.push({ index: c.index, kind: c.kind, hex: shortHex(Buffer.concat(c.packets), 4000), how: `from ${c.from === 0 ? cfg.address : cfg.spoof[c.from - 1]}${sock === high ? ':high-port' : ''}, ${c.packets.length} packet(s)` })
    if (c.kind.startsWith('replay:captured')) stats.replayed!++
    for (const p of c.packets) {
      await send(sock, p)
      sent++
    }
    // pace: the agent processes datagrams one by one; a full receive buffer only drops (counted by the kernel)
    if (index % 64 === 0) await sleep(1)
    if (Date.now() - last > 500) {
      last = Date.now()
      emit({ t: 'progress', sent, sessions: 0, lastIndex: c.index })
    }
  }
  emit({ t: 'progress', sent, sessions: 0, lastIndex: index - 1 })
  emit({ t: 'ring', entries: ring.entries() })
  emit({ t: 'done', stats: { ...stats, sent, cases: index } })
  for (const s of socks) s.close()
  high.close()
  process.exit(0)
}

main().catch((e) => {
  emit({ t: 'finding', name: 'harness-error', detail: String((e as Error).stack ?? e) })
  process.exit(1)
})
