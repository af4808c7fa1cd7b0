/**
 * The hostile BGP peer. Runs inside the attacker's namespace (started by
 * campaign.ts with `ip netns exec`), connects only to the target agent's
 * underlay address, and reports on stdout (wire.ts). Commands on stdin:
 * "dump" (print the ring of recent inputs), "stop".
 *
 *   node --import tsx test/fuzz/bgp-peer.ts '{"seed":1,"messages":5000,...}'
 */
import { type Socket, connect } from 'node:net'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { createFramer } from '../../src/protocols/bgp/codec/index.js'
import { type BgpFuzzEnv, BgpMutator, oversizedReexportUpdate } from './bgp-mutate.js'
import { caseRng } from './prng.js'
import { Ring, emit, shortHex } from './wire.js'

export interface BgpPeerConfig extends BgpFuzzEnv {
  readonly seed: number
  readonly messages: number
  /** the agent's address to connect to (port 179) */
  readonly target: string
  readonly port: number
  /** addresses of the attacker's namespace inside the agent's listen range (idle pre-OPEN connections) */
  readonly rangeAddresses: readonly string[]
  /** an address that is neither a peer nor in a listen range (refused connections) */
  readonly strangerAddress: string
  /** episodes run between chunks of mutated messages */
  readonly episodes: readonly string[]
  /** idle connections per listen-range address in the "idle" episode */
  readonly idlePerSource: number
  /** connections in the "refused-flood" episode */
  readonly refusedConnections: number
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as BgpPeerConfig
const mut = new BgpMutator(cfg.seed, cfg)
const ring = new Ring()
let sent = 0
let sessions = 0
let lastIndex = -1
let stopping = false
let continueWaiter: (() => void) | undefined
const notifications = new Map<string, number>()
const stats: Record<string, number> = { connectFailures: 0, handshakeFailures: 0, openMutated: 0, writeErrors: 0, refusedAttempts: 0, idleOpened: 0, idleHeldAfterWait: 0 }

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'dump') emit({ t: 'ring', entries: ring.entries() })
  if (line === 'stop') stopping = true
  if (line === 'continue') { continueWaiter?.(); continueWaiter = undefined }
})

interface Peer {
  sock: Socket
  /** resolves with why the connection ended */
  closed: Promise<string>
  isClosed: () => boolean
  /** message types received, in order */
  received: number[]
  notification?: string
  waitType(type: number, ms: number): Promise<boolean>
}

function open(localAddress: string, timeoutMs = 3000): Promise<Peer | string> {
  return new Promise((resolve) => {
    const sock = connect({ host: cfg.target, port: cfg.port, localAddress })
    sock.setNoDelay(true)
    const framer = createFramer()
    const received: number[] = []
    const waiters: Array<{ type: number; done: (ok: boolean) => void }> = []
    let closed = false
    let closeReason = 'closed'
    let resolveClosed!: (why: string) => void
    const closedP = new Promise<string>((r) => (resolveClosed = r))
    const peer: Peer = {
      sock, closed: closedP, isClosed: () => closed, received,
      waitType(type, ms) {
        if (received.includes(type)) return Promise.resolve(true)
        if (closed) return Promise.resolve(false)
        return new Promise((res) => {
          const w = { type, done: (ok: boolean) => { clearTimeout(timer); res(ok) } }
          const timer = setTimeout(() => { waiters.splice(waiters.indexOf(w), 1); res(false) }, ms)
          waiters.push(w)
        })
      },
    }
    const timer = setTimeout(() => { sock.destroy(); resolve('connect-timeout') }, timeoutMs)
    sock.on('connect', () => { clearTimeout(timer); resolve(peer) })
    sock.on('data', (chunk: Buffer) => {
      const r = framer.push(chunk)
      for (const m of r.messages) {
        const type = m[18]!
        received.push(type)
        if (type === 3) {
          peer.notification = `${m[19]}/${m[20]}`
          notifications.set(peer.notification, (notifications.get(peer.notification) ?? 0) + 1)
        }
        for (const w of [...waiters]) if (w.type === type) { waiters.splice(waiters.indexOf(w), 1); w.done(true) }
      }
    })
    sock.on('error', (e: NodeJS.ErrnoException) => { closeReason = e.code ?? e.message; clearTimeout(timer); resolve(closeReason) })
    sock.on('close', () => {
      closed = true
      for (const w of waiters.splice(0)) w.done(false)
      resolveClosed(peer.notification ? `notification ${peer.notification}` : closeReason)
    })
  })
}

function write(p: Peer, b: Buffer): Promise<void> {
  if (p.isClosed() || p.sock.destroyed) return Promise.resolve()
  return new Promise((res) => {
    const ok = p.sock.write(b, (e) => { if (e) stats.writeErrors!++; if (!ok) res() })
    if (ok) res()
    else p.sock.once('drain', () => res())
  })
}

const KEEPALIVE = (() => { const b = Buffer.alloc(19, 0xff); b.writeUInt16BE(19, 16); b[18] = 4; return b })()

/** TCP connect + OPEN + KEEPALIVE exchange; the OPEN may be a mutated one (counted as message `index`). */
async function establish(index: number): Promise<{ peer?: Peer; usedIndex: boolean; why?: string }> {
  const r = caseRng(cfg.seed, 2, index)
  const mutate = r.chance(0.08)
  const openBytes = mut.open(r, mutate)
  const p = await open(cfg.address)
  if (typeof p === 'string') {
    stats.connectFailures!++
    return { usedIndex: false, why: p }
  }
  sessions++
  if (mutate) {
    stats.openMutated!++
    ring.push({ index, kind: 'open-mutated', hex: shortHex(openBytes) })
    sent++
    lastIndex = index
  }
  await write(p, openBytes)
  const gotOpen = await p.waitType(1, 3000)
  if (!gotOpen) { p.sock.destroy(); stats.handshakeFailures!++; return { usedIndex: mutate, why: await p.closed } }
  await write(p, KEEPALIVE)
  const up = await p.waitType(4, 3000)
  if (!up) { p.sock.destroy(); stats.handshakeFailures!++; return { usedIndex: mutate, why: await p.closed } }
  return { peer: p, usedIndex: mutate }
}

async function sendCase(p: Peer, index: number): Promise<number> {
  const c = mut.case(index)
  const all = Buffer.concat(c.frames)
  ring.push({ index, kind: c.kind, hex: shortHex(all), how: c.splits ? `split at ${c.splits.join(',')}` : undefined })
  lastIndex = index
  if (c.splits && c.splits.length > 0) {
    let from = 0
    for (const at of [...c.splits, all.length]) {
      await write(p, all.subarray(from, at))
      await sleep(1)
      from = at
    }
  } else {
    await write(p, all)
  }
  return c.frames.length
}

// ---------------------------------------------------------------- episodes

async function withSession<T>(fn: (p: Peer) => Promise<T>): Promise<T | undefined> {
  for (let k = 0; k < 20 && !stopping; k++) {
    const s = await establish(-1 - k)
    if (s.peer) {
      try {
        return await fn(s.peer)
      } finally {
        s.peer.sock.destroy()
      }
    }
    await sleep(200)
  }
  return undefined
}

async function episodeOversized(): Promise<Record<string, unknown>> {
  const bytes = oversizedReexportUpdate(cfg)
  const result = await withSession(async (p) => {
    ring.push({ index: -1, kind: 'episode:oversized-reexport (4,091-octet UPDATE, unknown optional transitive attribute)', hex: shortHex(bytes) })
    await write(p, bytes)
    sent++
    const why = await Promise.race([p.closed, sleep(1500).then(() => 'still up')])
    return { octets: bytes.length, session: why }
  })
  return result ?? { skipped: 'no session' }
}

async function episodeCollision(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  await withSession(async (first) => {
    // a marker route on the first connection
    const marker = mut.validUpdate(caseRng(cfg.seed, 3, 0), 3)
    await write(first, marker)
    sent++
    await sleep(300)
    const second = await open(cfg.address)
    if (typeof second === 'string') { out.second = second; return }
    sessions++
    await write(second, mut.open())
    const gotOpen = await second.waitType(1, 2000)
    await write(second, KEEPALIVE)
    const secondUp = gotOpen && await second.waitType(4, 2000)
    await sleep(300)
    out.secondEstablished = secondUp && !second.isClosed()
    out.firstOpen = !first.isClosed()
    if (out.secondEstablished) {
      emit({ t: 'finding', name: 'bgp-collision-second-connection-established', detail: `a second connection from ${cfg.address} reached Established while a session from that address was Established (first connection ${first.isClosed() ? 'dropped' : 'still open'}); RFC 4271 6.8: the new one must be closed`, hex: shortHex(marker) })
    }
    second.sock.destroy()
  })
  return out
}

async function episodeReconnectStorm(n = 60): Promise<Record<string, unknown>> {
  let up = 0
  for (let i = 0; i < n && !stopping; i++) {
    const r = caseRng(cfg.seed, 4, i)
    const p = await open(cfg.address, 1000)
    if (typeof p === 'string') continue
    sessions++
    const o = mut.open()
    const how = r.int(4)
    if (how === 0) p.sock.destroy() // connect and vanish
    else if (how === 1) { await write(p, o.subarray(0, r.range(1, o.length - 1))); p.sock.destroy() } // half an OPEN
    else if (how === 2) { await write(p, o); await sleep(5); p.sock.destroy() }
    else {
      await write(p, o)
      if (await p.waitType(1, 1000)) { await write(p, KEEPALIVE); if (await p.waitType(4, 1000)) up++ }
      await write(p, mut.validUpdate(r, 2))
      sent++
      p.sock.destroy()
    }
  }
  return { connections: n, established: up }
}

async function episodeIdle(): Promise<Record<string, unknown>> {
  const held: Peer[] = []
  for (const a of cfg.rangeAddresses) {
    for (let i = 0; i < cfg.idlePerSource && !stopping; i++) {
      const p = await open(a, 1000)
      if (typeof p !== 'string') { held.push(p); stats.idleOpened!++ }
    }
  }
  await sleep(3000)
  const still = held.filter((p) => !p.isClosed()).length
  stats.idleHeldAfterWait = still
  for (const p of held) p.sock.destroy()
  const perSource = cfg.rangeAddresses.length > 0 ? still / cfg.rangeAddresses.length : 0
  if (perSource > 32) {
    emit({ t: 'finding', name: 'bgp-idle-pre-open-unbounded', detail: `${still} of ${held.length} idle connections (no OPEN) from ${cfg.rangeAddresses.length} listen-range addresses still held after 3 s (${perSource.toFixed(0)} per source)` })
  }
  return { opened: held.length, heldAfter3s: still }
}

async function episodeRefusedFlood(): Promise<Record<string, unknown>> {
  let n = 0
  const batch = 20
  for (let i = 0; i < cfg.refusedConnections && !stopping; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, cfg.refusedConnections - i) }, async () => {
      const p = await open(cfg.strangerAddress, 1000)
      n++
      if (typeof p !== 'string') { await Promise.race([p.closed, sleep(500)]); p.sock.destroy() }
    }))
  }
  stats.refusedAttempts! += n
  return { attempts: n }
}

const EPISODES: Record<string, () => Promise<Record<string, unknown>>> = {
  'oversized-reexport': episodeOversized,
  collision: episodeCollision,
  'reconnect-storm': () => episodeReconnectStorm(),
  idle: episodeIdle,
  'refused-flood': episodeRefusedFlood,
}

/** After an episode: no attacker connection open for a while (the campaign checks for stale routes then). */
async function quiet(name: string, data: Record<string, unknown>): Promise<void> {
  const resumed = new Promise<void>((res) => (continueWaiter = res))
  emit({ t: 'episode', name, phase: 'end', sent, data })
  await Promise.race([resumed, sleep(15_000)])
}

// ---------------------------------------------------------------- main loop

async function main(): Promise<void> {
  emit({ t: 'ready' })
  const chunks = cfg.episodes.length + 1
  const per = Math.ceil(cfg.messages / chunks)
  let index = 0
  let nextEpisode = 0
  let lastProgress = Date.now()
  let downSince = 0
  while (sent < cfg.messages && !stopping) {
    if (nextEpisode < cfg.episodes.length && sent >= per * (nextEpisode + 1)) {
      const name = cfg.episodes[nextEpisode++]!
      emit({ t: 'episode', name, phase: 'start', sent })
      const fn = EPISODES[name]
      await quiet(name, fn ? await fn() : { unknown: true })
      continue
    }
    const s = await establish(index)
    if (s.usedIndex) index++
    if (!s.peer) {
      if (s.why === 'ECONNREFUSED' || s.why === 'connect-timeout') {
        if (!downSince) { downSince = Date.now(); emit({ t: 'agent-down', lastIndex }) }
        await sleep(200)
      } else await sleep(20)
      continue
    }
    downSince = 0
    const p = s.peer
    const ka = setInterval(() => { if (!p.isClosed()) p.sock.write(KEEPALIVE) }, 2000)
    try {
      while (!p.isClosed() && sent < cfg.messages && !stopping) {
        if (nextEpisode < cfg.episodes.length && sent >= per * (nextEpisode + 1)) break
        sent += await sendCase(p, index++)
        if (Date.now() - lastProgress > 500) {
          lastProgress = Date.now()
          emit({ t: 'progress', sent, sessions, lastIndex })
        }
      }
    } finally {
      clearInterval(ka)
      if (!p.isClosed()) {
        // give the agent a moment to answer the last input before we close
        await Promise.race([p.closed, sleep(20)])
        p.sock.destroy()
      }
    }
  }
  emit({ t: 'progress', sent, sessions, lastIndex })
  emit({ t: 'ring', entries: ring.entries() })
  emit({ t: 'done', stats: { ...stats, sent, sessions, lastIndex, notifications: Object.fromEntries(notifications) } })
  process.exit(0)
}

main().catch((e) => {
  emit({ t: 'finding', name: 'harness-error', detail: String((e as Error).stack ?? e) })
  process.exit(1)
})
