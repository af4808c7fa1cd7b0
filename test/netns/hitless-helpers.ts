/**
 * Helpers of the hitless lab tests (hitless-*.test.ts) and bench/detection.ts:
 * kernel route changes with the kernel's own timestamps (`ip -ts monitor
 * route` in a namespace), a lost-packet counter (ping every 10 ms between
 * two container namespaces), and /v1/peers with its BFD details.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { getJson } from '../../src/api/client.js'
import type { LabHost } from '../../src/lab/lab.js'
import { waitFor } from '../../src/lab/sh.js'

export interface RouteEvent {
  /** ms since the epoch, from ip's timestamp */
  at: number
  deleted: boolean
  prefix: string
  line: string
}

/** `ip -ts monitor route` in a namespace: every route change with its time. Stop it with stop(). */
export class RouteMonitor {
  readonly events: RouteEvent[] = []
  readonly #child: ChildProcess
  readonly ready: Promise<void>

  constructor(readonly ns: string) {
    // -ts: "[2026-11-22T10:00:00.123456] Deleted 10.244.1.0/24 via ..." (local time)
    this.#child = spawn('ip', ['-n', ns, '-ts', 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] })
    let buf = ''
    this.#child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      let i: number
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)\]\s+(Deleted\s+)?(\S+)/.exec(line)
        if (!m) continue
        const [date, frac] = m[1]!.split('.') as [string, string]
        const at = new Date(`${date}.${frac.slice(0, 3)}`).getTime() + Number(`0.${frac.slice(3) || '0'}`)
        this.events.push({ at, deleted: m[2] !== undefined, prefix: m[3]!, line })
      }
    })
    // ip prints nothing until the first change: give it a moment to subscribe
    this.ready = new Promise((r) => setTimeout(r, 300))
  }

  /** The first event for prefix (deleted or added) at or after `since`, waiting up to timeoutMs. */
  async first(prefix: string, deleted: boolean, since: number, timeoutMs: number): Promise<RouteEvent | undefined> {
    return waitFor(async () => this.events.find((e) => e.prefix === prefix && e.deleted === deleted && e.at >= since - 5), timeoutMs, 20)
  }

  stop(): void {
    this.#child.kill('SIGTERM')
  }
}

/** Monitors in these hosts' namespaces; stopped by the returned function (register it with t.teardown). */
export async function monitors(hosts: readonly LabHost[]): Promise<{ mons: RouteMonitor[]; stop: () => void }> {
  const mons = hosts.map((h) => new RouteMonitor(h.ns))
  await Promise.all(mons.map((m) => m.ready))
  return { mons, stop: () => {
    for (const m of mons) m.stop()
  } }
}

/** For each monitor, ms from t0 to the first matching change (Infinity when none came). */
export async function delays(mons: readonly RouteMonitor[], prefix: string, deleted: boolean, t0: number, timeoutMs: number): Promise<number[]> {
  return Promise.all(mons.map(async (m) => {
    const e = await m.first(prefix, deleted, t0, timeoutMs)
    return e ? e.at - t0 : Infinity
  }))
}

export const figure = (ms: readonly number[]): string => {
  const s = [...ms].sort((a, b) => a - b)
  return `min ${s[0]!.toFixed(0)} ms, median ${s[Math.floor(s.length / 2)]!.toFixed(0)} ms, max ${s[s.length - 1]!.toFixed(0)} ms over ${s.length} hosts`
}

/**
 * ping every 10 ms from a container namespace: stop() sends SIGINT and
 * resolves with ping's own count of sent and received echoes.
 */
export class PingCounter {
  readonly #child: ChildProcess
  #out = ''
  readonly #done: Promise<{ sent: number; received: number; lost: number }>

  constructor(fromNs: string, to: string, intervalS = 0.01) {
    this.#child = spawn('ip', ['netns', 'exec', fromNs, 'ping', '-n', '-q', '-i', String(intervalS), '-W', '1', '-c', '10000000', to], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child.stdout!.on('data', (d: Buffer) => (this.#out += d.toString()))
    this.#done = new Promise((resolve, reject) => {
      this.#child.on('exit', () => {
        const m = /(\d+) packets transmitted, (\d+) received/.exec(this.#out)
        if (!m) return reject(new Error(`ping printed no statistics: ${this.#out}`))
        const sent = Number(m[1])
        const received = Number(m[2])
        resolve({ sent, received, lost: sent - received })
      })
    })
  }

  /** Stops after the replies in flight had their chance (ping waits for them on SIGINT only up to -W). */
  async stop(): Promise<{ sent: number; received: number; lost: number }> {
    this.#child.kill('SIGINT')
    return this.#done
  }

  kill(): void {
    // a teardown after a failed test: nobody awaits the statistics any more
    this.#done.catch(() => undefined)
    this.#child.kill('SIGKILL')
  }
}

export interface BfdDetails {
  state: string
  remoteState: string
  detectionTimeMs: number
  packetsIn: number
  packetsOut: number
  lastRxAgoMs: number | null
  lastDownDiag: string | null
}

export interface PeerRowJson {
  source: string
  peer: string
  address: string
  state: string
  details?: { bfd?: BfdDetails | null; gracefulRestart?: Record<string, unknown> } & Record<string, unknown>
}

export async function peersOf(h: LabHost): Promise<PeerRowJson[]> {
  return (await getJson<{ peers: PeerRowJson[] }>(h.socket, '/v1/peers', 3000)).peers
}

/**
 * Waits until `h` has `n` peers in `state` (BGP Established / RIP up) with BFD Up, and with
 * `detectionMs` when given: the peers' BFD details are the agent's last read (every second), so Up
 * can show before the Poll Sequence that follows it has brought the detection time down.
 */
export async function waitBfdUp(h: LabHost, n: number, timeoutMs = 30_000, state?: string, detectionMs?: number): Promise<PeerRowJson[] | undefined> {
  return waitFor(async () => {
    const p = (await peersOf(h).catch(() => [])).filter((x) => x.details?.bfd?.state === 'Up' && (state === undefined || x.state === state) && (detectionMs === undefined || x.details.bfd.detectionTimeMs === detectionMs))
    return p.length >= n ? p : undefined
  }, timeoutMs, 200)
}
