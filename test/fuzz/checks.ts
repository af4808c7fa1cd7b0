/** Checks of the agent under attack: liveness, control socket, memory, kernel routes. */
import { readFileSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { getJson } from '../../src/api/client.js'
import type { PeerRow } from '../../src/api/types.js'
import { type LabHost, agentPids } from '../../src/lab/lab.js'
import { run } from '../../src/lab/sh.js'
import { containsAddress, containsPrefix, parseAddress, parsePrefix, type Prefix } from '../../src/net/ipv4.js'

export interface KernelRoute { dst: string; gateway?: string; dev?: string; protocol?: string; type?: string }

export async function fabricKernelRoutes(ns: string): Promise<KernelRoute[]> {
  const r = await run('ip', ['-n', ns, '-j', 'route', 'show', 'proto', '233'])
  if (r.code !== 0) throw new Error(`ip -n ${ns} route: ${r.stderr}`)
  return JSON.parse(r.stdout || '[]') as KernelRoute[]
}

const p = (s: string): Prefix => {
  const r = parsePrefix(s === 'default' ? '0.0.0.0/0' : s.includes('/') ? s : `${s}/32`, false)
  if (!r.ok) throw new Error(r.error)
  return r.value
}
const a = (s: string): number => {
  const r = parseAddress(s)
  if (!r.ok) throw new Error(r.error)
  return r.value
}

/** What is wrong with a fabric kernel route, or undefined: inside the pool, via a unicast underlay address on the underlay interface. */
export function badRoute(r: KernelRoute, o: { pool: string; underlay: string; self: string; underlayDev: string }): string | undefined {
  const pool = p(o.pool)
  const under = p(o.underlay)
  if (!containsPrefix(pool, p(r.dst))) return 'kernel-route-outside-pool'
  if (r.type && r.type !== 'unicast') return 'kernel-route-not-unicast'
  if (!r.gateway) return 'kernel-route-without-gateway'
  const gw = a(r.gateway)
  if (!containsAddress(under, gw)) return 'kernel-route-next-hop-off-underlay'
  const host = (gw & ~((0xffffffff << (32 - under.len)) >>> 0)) >>> 0
  if (host === 0) return 'kernel-route-next-hop-underlay-network-address'
  if (host === ((1 << (32 - under.len)) - 1) >>> 0) return 'kernel-route-next-hop-underlay-broadcast-address'
  if (gw === a(o.self)) return 'kernel-route-next-hop-self'
  if (r.dev && r.dev !== o.underlayDev) return 'kernel-route-not-on-underlay-interface'
  return undefined
}

export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}

export async function agentPid(h: LabHost): Promise<number | undefined> {
  return (await agentPids(h))[0]
}

/** GET /v1/status within timeoutMs; returns the latency or the error. */
export async function statusLatency(h: LabHost, timeoutMs: number): Promise<{ ms: number; body?: Record<string, unknown>; error?: string }> {
  const t0 = performance.now()
  try {
    const body = await getJson<Record<string, unknown>>(h.socket, '/v1/status', timeoutMs)
    return { ms: performance.now() - t0, body }
  } catch (e) {
    return { ms: performance.now() - t0, error: (e as Error).message }
  }
}


export type { PeerRow }

export async function peersOf(h: LabHost): Promise<PeerRow[]> {
  return (await getJson<{ peers: PeerRow[] }>(h.socket, '/v1/peers', 2000)).peers
}

/** Sends raw bytes to the control socket; resolves with the status line's code (0 when none) within timeoutMs. */
export function rawControl(socket: string, bytes: Buffer | string, timeoutMs = 1500): Promise<{ status: number; error?: string }> {
  return new Promise((resolve) => {
    const s = connect(socket)
    let buf = ''
    const done = (status: number, error?: string) => { clearTimeout(timer); s.destroy(); resolve({ status, error }) }
    const timer = setTimeout(() => done(0, 'timeout'), timeoutMs)
    s.on('connect', () => s.write(bytes))
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1')
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf)
      if (m) done(Number(m[1]))
    })
    s.on('error', (e: NodeJS.ErrnoException) => done(0, e.code ?? e.message))
    s.on('close', () => done(0, buf ? `closed after ${JSON.stringify(buf.slice(0, 80))}` : 'closed without an answer'))
  })
}

/** A well-formed request (for a POST with a body). */
export function postRaw(socket: string, path: string, body: string, timeoutMs = 3000): Promise<{ status: number; error?: string }> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, method: 'POST', path, timeout: timeoutMs, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, error: e.code ?? e.message }))
    req.end(body)
  })
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/** Lines of the agent's log (JSON) with this event, counted without parsing every line. */
export function countLogEvent(file: string, event: string): number {
  try {
    const text = readFileSync(file, 'utf8')
    const needle = `"event":"${event}"`
    let n = 0
    for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++
    return n
  } catch {
    return 0
  }
}

/** The last lines of the agent's log that look like a crash (stack, uncaught, fatal). */
export function crashLines(file: string, fromByte: number): string[] {
  try {
    const text = readFileSync(file).subarray(fromByte).toString('utf8')
    const lines = text.split('\n')
    // the uncaught error's stack (not JSON) and error/fatal JSON lines
    return lines.filter((l) => (!l.startsWith('{') && l.trim() !== '') || /"level":(50|60)/.test(l)).slice(-12).map((l) => l.slice(0, 400))
  } catch {
    return []
  }
}
