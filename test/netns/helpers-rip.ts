/** RIP helpers for lab tests: status counters, RIP packets, sending UDP from inside a namespace. */
import { spawn } from 'node:child_process'
import { getJson } from '../../src/api/client.js'
import { parseAddress, parsePrefix } from '../../src/net/ipv4.js'
import { type RipAuthConfig, signPacket } from '../../src/protocols/rip/auth.js'
import { type RipRouteEntry, encodePacket } from '../../src/protocols/rip/codec.js'

export interface RipStats {
  'packets-received': number
  'packets-dropped': number
  drops: Record<string, number>
  counters: Record<string, number>
  routes: number
  neighbors: number
  [k: string]: unknown
}

/** sources[0] of the agent's status (what `fabric status --json` prints). */
export async function ripStats(socket: string): Promise<{ ready: boolean; stats: RipStats }> {
  const s = await getJson<{ sources: { kind: string; ready: boolean; stats: RipStats }[] }>(socket, '/v1/status', 3000)
  const src = s.sources.find((x) => x.kind === 'rip')
  if (!src) throw new Error(`no rip source in status (sources: ${s.sources.map((x) => x.kind).join(', ')})`)
  return src
}

const num = (s: string): number => {
  const a = parseAddress(s)
  if (!a.ok) throw new Error(a.error)
  return a.value
}

/** A route entry "10.244.7.0/24" at `metric`. */
export function ripRoute(prefix: string, metric: number, extra: Partial<RipRouteEntry> = {}): RipRouteEntry {
  const p = parsePrefix(prefix)
  if (!p.ok) throw new Error(p.error)
  return { kind: 'route', tag: 0, prefix: p.value, nextHop: 0, metric, ...extra }
}

/** A response, signed with `auth` (sequence `seq`) or plain. */
export function ripResponse(entries: RipRouteEntry[], auth?: RipAuthConfig, seq = Math.floor(Date.now() / 1000)): Buffer {
  if (!auth) return encodePacket({ command: 'response', entries })
  const r = signPacket({ command: 'response', entries }, auth, Date.now(), seq)
  if (!r.ok) throw new Error(r.error.reason)
  return r.value
}

export { num as ipNum }

export interface UdpSend {
  /** payload */
  bytes: Buffer
  to: string
  port?: number
}

// runs inside the namespace: binds FROM:FROMPORT (or any), sends each payload, waits `gap` ms between them
const SENDER = `
import { createSocket } from 'node:dgram'
const [bindAddr, bindPort, list, gap] = JSON.parse(process.argv[1])
const sock = createSocket({ type: 'udp4', reuseAddr: true })
sock.on('error', (e) => { console.error(String(e)); process.exit(3) })
sock.bind({ port: bindPort, address: bindAddr || undefined }, async () => {
  sock.setMulticastTTL(1)
  for (const p of list) {
    await new Promise((res) => sock.send(Buffer.from(p.hex, 'hex'), p.port, p.to, (e) => { if (e) console.error(p.to + ': ' + e.message); res() }))
    await new Promise((res) => setTimeout(res, gap))
  }
  sock.close()
})
`

/**
 * Sends UDP datagrams from inside namespace `ns` (never from the root
 * namespace), from `bindAddress:bindPort` (an address of that namespace).
 */
export function sendUdpFrom(ns: string, bindAddress: string, bindPort: number, packets: UdpSend[], gapMs = 20): Promise<{ code: number; stderr: string }> {
  const arg = JSON.stringify([bindAddress, bindPort, packets.map((p) => ({ hex: p.bytes.toString('hex'), to: p.to, port: p.port ?? 520 })), gapMs])
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', SENDER, arg], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('exit', (code) => resolve({ code: code ?? 1, stderr }))
  })
}
