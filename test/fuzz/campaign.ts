/**
 * A wire-level fuzz campaign against a real fabric agent in a lab:
 *
 *   NAME-h1   the target agent (node1)
 *   NAME-h2   a well-behaved fabric agent (node2): its session/route must survive
 *   NAME-x    the attacker's namespace on the same underlay switch, running the
 *             hostile BGP peer (bgp-peer.ts) or RIP neighbour (rip-neighbour.ts)
 *
 * The campaign watches the target while the attacker runs (checks.ts) and
 * turns every violation into a named finding with the seed, the message index
 * and the hex of the recent inputs. A crashed agent is restarted and the run
 * goes on, so one run can find several defects. The caller removes the lab
 * (`labDown(name)`) also on failure; everything created carries the lab name.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { type LabHost, type LabSpec, labUp, modeDefaults, startAgent, waitAgents } from '../../src/lab/lab.js'
import { must, sleep } from '../../src/lab/sh.js'
import {
  agentPid, badRoute, countLogEvent, crashLines, fabricKernelRoutes, peersOf, percentile, postRaw, rawControl, rssOf, statusLatency,
} from './checks.js'
import type { AttackerEvent, SentRecord } from './wire.js'

export type RipAuthMode = 'none' | 'md5' | 'sha256'

export interface CampaignOptions {
  /** lab name (1-12 lowercase letters/digits); the caller removes it with labDown */
  readonly name: string
  readonly protocol: 'bgp' | 'rip'
  readonly seed: number
  readonly messages: number
  readonly ripAuth?: RipAuthMode
  /** BGP episodes between chunks of messages (default: all) */
  readonly episodes?: readonly string[]
  /** findings: RSS above this many MB (default 300) */
  readonly rssLimitMb?: number
  /** findings: /v1/status slower than this (default 1000 ms) */
  readonly controlTimeoutMs?: number
  readonly checkEveryMs?: number
  /** probe the control socket with malformed requests once (default true for bgp) */
  readonly probeControl?: boolean
  /** run the compiled agent (dist/) */
  readonly useDist?: boolean
  readonly log?: (line: string) => void
}

export interface Finding {
  readonly name: string
  readonly detail: string
  readonly seed: number
  readonly protocol: string
  /** index of the message most likely at fault (the last one sent before it was seen) */
  readonly index?: number
  readonly hex?: string
  readonly recent?: SentRecord[]
  readonly at: number
}

export interface CampaignResult {
  readonly protocol: string
  readonly seed: number
  readonly auth?: string
  sent: number
  sessions: number
  findings: Finding[]
  restarts: number
  rssBefore: number
  rssAfter: number
  rssMax: number
  latencyP50: number
  latencyP99: number
  latencyMax: number
  checks: number
  seconds: number
  attacker: Record<string, unknown>
}

const here = fileURLToPath(new URL('.', import.meta.url))
const ATTACKER_ADDR = '10.99.0.50'
const STRANGER_ADDR = '10.99.0.60'
const RANGE_ADDRS = ['10.99.0.200', '10.99.0.201', '10.99.0.202', '10.99.0.203']
const SPOOF_ADDRS = ['10.99.0.51', '10.99.0.52', '10.99.0.53', '10.99.0.54', '10.99.0.55']
const ATTACKER_ASN = 65001
/** the lab agents' graceful restart time (the [bgp] default, 120 s) plus a margin */
const GR_TIME_MS = 125_000
export const ALL_BGP_EPISODES = ['collision', 'reconnect-storm', 'idle', 'refused-flood', 'oversized-reexport'] as const

/** The attacker's namespace on the lab's switch, with the addresses the attacks use. */
async function addAttacker(lab: LabSpec): Promise<string> {
  const ns = `${lab.name}-x`
  await must('ip', ['netns', 'add', ns])
  await must('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', 'x1', 'netns', `${lab.name}-sw`])
  await must('ip', ['-n', `${lab.name}-sw`, 'link', 'set', 'x1', 'master', 'br0', 'up'])
  const addrs = [ATTACKER_ADDR, STRANGER_ADDR, ...RANGE_ADDRS, ...SPOOF_ADDRS]
  await must('ip', ['-n', ns, '-batch', '-'], `${['link set lo up', ...addrs.map((x) => `addr add ${x}/24 dev eth0`), 'link set eth0 up'].join('\n')}\n`)
  return ns
}

function keyFileFor(lab: LabSpec, auth: RipAuthMode): string | undefined {
  if (auth === 'none') return undefined
  const file = join(lab.hosts[0]!.dir, '..', 'rip.keys')
  writeFileSync(file, auth === 'md5' ? '1 md5 fuzz-md5-key\n' : '1 hmac-sha256 fuzz-sha256-key-0123456789\n', { mode: 0o600 })
  return file
}

export function ripKeys(auth: RipAuthMode): { id: number; secret: string; algorithm: 'md5' | 'hmac-sha256' }[] {
  if (auth === 'none') return []
  return [auth === 'md5' ? { id: 1, secret: 'fuzz-md5-key', algorithm: 'md5' } : { id: 1, secret: 'fuzz-sha256-key-0123456789', algorithm: 'hmac-sha256' }]
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const log = o.log ?? (() => undefined)
  const t0 = Date.now()
  const auth = o.ripAuth ?? 'none'
  const iniExtra = o.protocol === 'bgp'
    ? [...modeDefaults('bgp'), 'listen-range = 10.99.0.128/25', '', '[peer.attacker]', `address = ${ATTACKER_ADDR}`, `asn = ${ATTACKER_ASN}`, 'passive = yes']
    : modeDefaults('rip')
  const lab = await labUp({ name: o.name, hosts: 2, mode: o.protocol, iniExtra, start: false })
  const [h1, h2] = lab.hosts as [LabHost, LabHost]
  const keyFile = o.protocol === 'rip' ? keyFileFor(lab, auth) : undefined
  const extraArgs = keyFile ? ['--auth', auth, '--key-file', keyFile] : []
  const env: Record<string, string> = o.useDist ? { FABRIC_USE_DIST: '1' } : {}
  /** how the target's last agent process ended: exit code or signal (a crash without a stack is a signal) */
  let lastExit = ''
  const start = (h: LabHost) => {
    const child = startAgent(lab, h, { logLevel: 'info', extraArgs, env })
    child.on('exit', (code, signal) => { lastExit = signal ? `signal ${signal}` : `exit code ${code}` })
    return child
  }
  start(h1)
  start(h2)
  await waitAgents(lab)
  const attackerNs = await addAttacker(lab)

  const result: CampaignResult = {
    protocol: o.protocol, seed: o.seed, auth: o.protocol === 'rip' ? auth : undefined, sent: 0, sessions: 0, findings: [], restarts: 0,
    rssBefore: 0, rssAfter: 0, rssMax: 0, latencyP50: 0, latencyP99: 0, latencyMax: 0, checks: 0, seconds: 0, attacker: {},
  }
  const seen = new Set<string>()
  let lastIndex = -1
  let recent: SentRecord[] = []
  const finding = (name: string, detail: string, extra: { index?: number; hex?: string; recent?: SentRecord[] } = {}, key = name): void => {
    if (seen.has(key)) return
    seen.add(key)
    const f: Finding = { name, detail, seed: o.seed, protocol: o.protocol, index: extra.index ?? lastIndex, hex: extra.hex, recent: extra.recent ?? recent.slice(-6), at: Date.now() - t0 }
    result.findings.push(f)
    log(`FINDING ${name} (seed ${o.seed}, message index ${f.index}): ${detail}`)
  }

  // the good peer is up before anything hostile happens
  const goodUp = await waitGood(o.protocol, h1, h2, o.protocol === 'rip' ? 30_000 : 20_000)
  if (!goodUp.ok) throw new Error(`lab not converged before the attack: ${goodUp.why}`)
  const pid0 = await agentPid(h1)
  result.rssBefore = pid0 ? rssOf(pid0) : 0

  let logOffset = existsSync(h1.log) ? statSync(h1.log).size : 0
  let restartedAt = 0
  let preserved = new Set<string>()
  const notPreserved = (dst: string): boolean => Date.now() - restartedAt > GR_TIME_MS || !preserved.has(dst)
  const timeout = o.controlTimeoutMs ?? 1000
  const latencies: number[] = []

  /** Restarts the target after a crash (the run goes on). */
  const restart = async (): Promise<void> => {
    result.restarts++
    logOffset = existsSync(h1.log) ? statSync(h1.log).size : 0
    start(h1)
    await waitAgents(lab, [h1], 30_000)
    restartedAt = Date.now()
    // routes the crashed agent had installed are kept for the graceful restart time (RFC 4724)
    preserved = new Set((await fabricKernelRoutes(h1.ns).catch(() => [])).map((r) => r.dst))
  }

  const checkAlive = async (why: string): Promise<boolean> => {
    if (await agentPid(h1)) return true
    await sleep(300) // let the log catch the last lines
    const lines = crashLines(h1.log, logOffset)
    const head = lines.find((l) => /RangeError|TypeError|Error:/.test(l)) ?? lines[0] ?? 'no error in the log'
    const kind = /RangeError/.test(head) ? 'RangeError' : /TypeError/.test(head) ? 'TypeError' : /left|leave/i.test(head) ? 'left' : 'exit'
    const last = recent[recent.length - 1]
    finding(`agent-crash:${why}:${kind}`, `the agent process exited (${why}, ${lastExit || 'exit not seen'}); log: ${lines.join(' | ').slice(0, 1500)}`, why === 'wire' && last ? { index: last.index, hex: last.hex } : {}, `crash:${why}:${kind}:${head.slice(0, 120)}`)
    await restart()
    return false
  }

  // ------------------------------------------------------------ control socket probes
  if (o.probeControl ?? o.protocol === 'bgp') {
    // [name, request, must the answer be a 4xx]
    const probes: Array<[string, string | Buffer, boolean]> = [
      ['GET //', 'GET // HTTP/1.1\r\nHost: x\r\n\r\n', true],
      ['GET //fabric:99999/v1/status', 'GET //fabric:99999/v1/status HTTP/1.1\r\nHost: x\r\n\r\n', true],
      ['GET http://[::1', 'GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n', true],
      ['GET /v1/status?%zz', 'GET /v1/status?%zz HTTP/1.1\r\nHost: x\r\n\r\n', false],
      ['BREW /', 'BREW / HTTP/1.1\r\nHost: x\r\n\r\n', true],
      ['junk bytes', Buffer.from([0, 1, 2, 255, 13, 10, 13, 10]), true],
      ['header of 64 KB', `GET /v1/status HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(65536)}\r\n\r\n`, true],
      ['GET /v1/nope', 'GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n', true],
    ]
    for (const [name, bytes, must4xx] of probes) {
      const r = await rawControl(h1.socket, bytes)
      await sleep(200)
      if (!(await checkAlive(`control ${name}`))) continue
      if (must4xx && !(r.status >= 400 && r.status < 500)) finding(`control-socket-no-4xx:${name}`, `control socket answered ${r.status || 'nothing'} (${r.error ?? ''}) to ${JSON.stringify(String(bytes).slice(0, 60))}; expected a 4xx`)
    }
    const leave = await postRaw(h1.socket, '/v1/leave', 'this is not json{')
    for (let k = 0; k < 40 && (await agentPid(h1)); k++) await sleep(250)
    if (!(await agentPid(h1))) {
      finding('control-leave-accepts-non-json', `POST /v1/leave with a non-JSON body answered ${leave.status} and the agent left`)
      await restart()
    } else if (!(leave.status >= 400 && leave.status < 500)) finding('control-leave-no-4xx', `POST /v1/leave with a non-JSON body answered ${leave.status}`)
    await waitGood(o.protocol, h1, h2, 20_000)
  }

  // ------------------------------------------------------------ the attacker
  const cfg = o.protocol === 'bgp'
    ? {
        seed: o.seed, messages: o.messages, target: h1.address, port: 179, asn: ATTACKER_ASN, address: ATTACKER_ADDR, agentAddress: h1.address,
        underlay: lab.underlay, containerAddress: '10.244.1.50', protectedPrefixes: [h1.subnet, h2.subnet],
        rangeAddresses: RANGE_ADDRS, strangerAddress: STRANGER_ADDR, episodes: o.episodes ?? ALL_BGP_EPISODES, idlePerSource: 64, refusedConnections: 400,
      }
    : {
        seed: o.seed, messages: o.messages, target: h1.address, address: ATTACKER_ADDR, spoof: SPOOF_ADDRS, agentAddress: h1.address,
        goodAddress: h2.address, goodSubnet: h2.subnet, underlay: lab.underlay, auth, keys: ripKeys(auth),
      }
  const script = join(here, o.protocol === 'bgp' ? 'bgp-peer.ts' : 'rip-neighbour.ts')
  const child: ChildProcess = spawn('ip', ['netns', 'exec', attackerNs, process.execPath, '--import', 'tsx', script, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'], cwd: join(here, '..', '..') })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 20_000) stderr += d.toString() })
  let done = false
  const exited = new Promise<number>((res) => child.on('exit', (code) => { done = true; res(code ?? 1) }))
  const pendingEpisodes: Array<{ name: string; data?: Record<string, unknown> }> = []
  let ringWaiter: ((e: SentRecord[]) => void) | undefined
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let ev: AttackerEvent
    try {
      ev = JSON.parse(line) as AttackerEvent
    } catch {
      return
    }
    switch (ev.t) {
      case 'progress': result.sent = ev.sent; result.sessions = ev.sessions; lastIndex = ev.lastIndex; break
      case 'finding': finding(ev.name, ev.detail, { index: ev.index ?? lastIndex, hex: ev.hex }); break
      case 'ring': recent = ev.entries; ringWaiter?.(ev.entries); ringWaiter = undefined; break
      case 'episode': if (ev.phase === 'end') pendingEpisodes.push({ name: ev.name, data: ev.data }); log(`episode ${ev.name} ${ev.phase} ${ev.data ? JSON.stringify(ev.data) : ''}`); break
      case 'agent-down': lastIndex = ev.lastIndex; break
      case 'done': result.attacker = ev.stats; break
    }
  })
  const dumpRing = (): Promise<SentRecord[]> => new Promise((res) => {
    if (done) return res(recent)
    const timer = setTimeout(() => res(recent), 2000)
    ringWaiter = (e) => { clearTimeout(timer); res(e) }
    child.stdin!.write('dump\n')
  })
  const tell = (cmd: string) => { if (!done) child.stdin!.write(`${cmd}\n`) }

  // ------------------------------------------------------------ checks while it runs
  let goodBad = 0
  const periodic = async (): Promise<void> => {
    result.checks++
    const pid = await agentPid(h1)
    if (!pid) {
      const ring = await dumpRing()
      const last = ring[ring.length - 1]
      recent = ring
      if (last) lastIndex = last.index
      await checkAlive('wire')
      if (last) log(`  last input before the crash: index ${last.index} ${last.kind} ${last.hex.slice(0, 200)}`)
      return
    }
    const rss = rssOf(pid)
    result.rssMax = Math.max(result.rssMax, rss)
    if (rss > (o.rssLimitMb ?? 300) * 1024 * 1024) finding('agent-rss-over-bound', `agent RSS ${(rss / 1048576).toFixed(0)} MB > ${o.rssLimitMb ?? 300} MB`)
    const st = await statusLatency(h1, timeout)
    latencies.push(st.ms)
    if (st.error && (await agentPid(h1))) finding('control-socket-slow-or-unreachable', `/v1/status: ${st.error} after ${st.ms.toFixed(0)} ms (bound ${timeout} ms)`, {}, `control:${st.error.slice(0, 40)}`)
    for (const [h, other] of [[h1, h2], [h2, h1]] as const) {
      for (const r of await fabricKernelRoutes(h.ns).catch(() => [])) {
        const bad = badRoute(r, { pool: lab.pool, underlay: lab.underlay, self: h.address, underlayDev: 'eth0' })
        if (bad) {
          const ring = await dumpRing()
          const gwHex = r.gateway ? Buffer.from(r.gateway.split('.').map(Number)).toString('hex') : ''
          const dstHex = Buffer.from(r.dst.split('/')[0]!.split('.').slice(0, 3).map(Number)).toString('hex')
          const culprits = ring.filter((x) => x.hex.includes(gwHex) && x.hex.includes(dstHex))
          const culprit = culprits[culprits.length - 1]
          finding(bad, `${h.name} (${h.ns}) kernel: ${r.dst} via ${r.gateway ?? '-'} dev ${r.dev ?? '-'}${h === h2 ? ' (re-advertised to the good peer)' : ''}`, { recent: culprits.length > 0 ? culprits.slice(-3) : ring.slice(-8), index: culprit?.index, hex: culprit?.hex }, `${bad}:${h.name}`)
        }
      }
      void other
    }
    if (Date.now() - restartedAt > 20_000) {
      const g = await goodState(o.protocol, h1, h2)
      goodBad = g.ok ? 0 : goodBad + 1
      if (goodBad >= (o.protocol === "rip" ? 2 : 3)) finding(o.protocol === 'bgp' ? 'good-peer-lost' : 'good-route-lost', g.why ?? '', { recent: (await dumpRing()).slice(-8) }, `good:${g.why?.slice(0, 50)}`)
    }
  }

  const refusedBefore = countLogEvent(h1.log, 'bgp-connection-refused')
  const driftBefore = countLogEvent(h1.log, 'kernel-route-drift')
  const every = o.checkEveryMs ?? (o.protocol === 'rip' ? 500 : 1000)
  while (!done) {
    const until = Date.now() + every
    while (!done && Date.now() < until) await sleep(50)
    if (done) break
    await periodic()
    // after an episode the attacker holds no connection: routes it announced must be gone
    while (pendingEpisodes.length > 0) {
      const ep = pendingEpisodes.shift()!
      // a restarted agent keeps its routes for the graceful restart time (RFC 4724): no stale check then
      if (o.protocol === 'bgp') {
        let stale: string[] = []
        for (let k = 0; k < 30; k++) {
          stale = (await fabricKernelRoutes(h1.ns).catch(() => [])).filter((r) => r.gateway === ATTACKER_ADDR && notPreserved(r.dst)).map((r) => r.dst)
          if (stale.length === 0) break
          await sleep(200)
        }
        if (stale.length > 0) finding('bgp-stale-routes-after-close', `after episode "${ep.name}" the attacker has no connection, yet ${stale.length} route(s) via ${ATTACKER_ADDR} stay in the kernel, e.g. ${stale.slice(0, 3).join(', ')}`, { index: -1 }, `stale:${ep.name === 'collision' ? 'collision' : 'other'}`)
      }
      tell('continue')
    }
  }
  await exited
  if (stderr.trim()) log(`attacker stderr: ${stderr.trim().slice(0, 2000)}`)
  await periodic()

  // ------------------------------------------------------------ after the run
  if (o.protocol === 'bgp') {
    const refused = countLogEvent(h1.log, 'bgp-connection-refused') - refusedBefore
    const attempts = Number(result.attacker.refusedAttempts ?? 0)
    if (attempts > 0 && refused > Math.max(20, attempts / 4)) finding('log-flood-connection-refused', `${refused} bgp-connection-refused log lines for ${attempts} refused connections (no rate limit)`, { index: -1 })
    // once the attacker is gone, nothing it announced may stay, and no route stays in state error
    await sleep(2000)
    const stale = (await fabricKernelRoutes(h1.ns).catch(() => [])).filter((r) => r.gateway === ATTACKER_ADDR && notPreserved(r.dst))
    if (stale.length > 0) finding('bgp-stale-routes-after-close', `attacker gone, ${stale.length} route(s) via ${ATTACKER_ADDR} still in the kernel`, { index: -1 }, 'stale:end')
  }
  if (o.protocol === 'rip' && auth !== 'none' && Number(result.attacker.replayed ?? 0) > 0) {
    // the last spoofed address sent nothing but replays of the good neighbour's signed packets
    const replayer = SPOOF_ADDRS[SPOOF_ADDRS.length - 1]!
    const nb = (await peersOf(h1).catch(() => [])).find((x) => x.address === replayer)
    // a sender that only ever sent refused packets is listed (state down, its bad packets
    // counted, as ripd lists it); a replay got through when a packet or a route was accepted
    const accepted = Number((nb?.details as { packets?: number } | undefined)?.packets ?? 0)
    if (nb && (accepted > 0 || (nb.accepted ?? 0) > 0)) finding('rip-auth-replay-accepted-from-other-source', `${result.attacker.replayed} captured ${auth} packets of the good neighbour ${h2.address} replayed from ${replayer}: ${accepted} accepted, ${nb.accepted ?? 0} routes (state ${nb.state})`, { index: -1 })
  }
  const drift = countLogEvent(h1.log, 'kernel-route-drift') - driftBefore
  if (drift > 0) finding('kernel-route-drift-false-positive', `${drift} kernel-route-drift warnings while nothing but fabric touched the kernel`, { index: -1 })
  const st = await statusLatency(h1, 3000)
  const kernel = (st.body?.kernel as { routes?: { error?: number } } | undefined)?.routes
  if (kernel?.error) {
    await sleep(5000)
    const again = await statusLatency(h1, 3000)
    const k2 = (again.body?.kernel as { routes?: { error?: number } } | undefined)?.routes
    if (k2?.error) finding('fib-routes-stuck-in-error', `${k2.error} route(s) in state error after the attack ended; healthy=${String(again.body?.healthy)}`, { index: -1 })
  }
  const pid = await agentPid(h1)
  result.rssAfter = pid ? rssOf(pid) : 0
  const sorted = [...latencies].sort((x, y) => x - y)
  result.latencyP50 = percentile(sorted, 0.5)
  result.latencyP99 = percentile(sorted, 0.99)
  result.latencyMax = sorted[sorted.length - 1] ?? 0
  result.seconds = (Date.now() - t0) / 1000
  return result
}

async function goodState(protocol: 'bgp' | 'rip', h1: LabHost, h2: LabHost): Promise<{ ok: boolean; why?: string }> {
  if (protocol === 'bgp') {
    const peers = await peersOf(h1).catch(() => [])
    const g = peers.find((x) => x.address === h2.address)
    if (g?.state !== 'Established') return { ok: false, why: `node1's session with the good peer ${h2.address} is ${g?.state ?? 'absent'}` }
  }
  const r1 = await fabricKernelRoutes(h1.ns).catch(() => [])
  const r = r1.find((x) => x.dst === h2.subnet)
  if (!r || r.gateway !== h2.address) return { ok: false, why: `node1's route to the good peer's subnet ${h2.subnet} is ${r ? `via ${r.gateway}` : 'missing'}` }
  const r2 = await fabricKernelRoutes(h2.ns).catch(() => [])
  const back = r2.find((x) => x.dst === h1.subnet)
  if (!back || back.gateway !== h1.address) return { ok: false, why: `the good peer's route to ${h1.subnet} is ${back ? `via ${back.gateway}` : 'missing'}` }
  return { ok: true }
}

async function waitGood(protocol: 'bgp' | 'rip', h1: LabHost, h2: LabHost, ms: number): Promise<{ ok: boolean; why?: string }> {
  const until = Date.now() + ms
  let g = await goodState(protocol, h1, h2)
  while (!g.ok && Date.now() < until) {
    await sleep(250)
    g = await goodState(protocol, h1, h2)
  }
  return g
}

