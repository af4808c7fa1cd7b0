/**
 * RIPng helpers for lab tests: dual-stack addressing of a lab's namespaces
 * (the contract's lab addressing: underlay fd00:99::N/64 on eth0, pool6
 * fd00:fab::/48, host N's subnet6 fd00:fab:0:N::/64, docker0 ::1,
 * container ::2), the lab's fabric.ini with the IPv6 keys, IPv6 routes and
 * link-local addresses, and UDP over IPv6 sent from inside a namespace.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import type { LabHost, LabSpec } from '../../src/lab/lab.js'
import { run } from './helpers.js'

export const POOL6 = 'fd00:fab::/48'

export interface Host6 {
  address6: string
  subnet6: string
  gateway6: string
  containerIp6: string
}

export function host6(h: LabHost): Host6 {
  return { address6: `fd00:99::${h.index}`, subnet6: `fd00:fab:0:${h.index}::/64`, gateway6: `fd00:fab:0:${h.index}::1`, containerIp6: `fd00:fab:0:${h.index}::2` }
}

async function must(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input !== undefined ? { input } : {})
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

/**
 * Adds the IPv6 addresses to a lab whose agents are not started yet (a lab
 * brought up without --ipv6), and writes pool6 / address6 / subnet6 into its
 * fabric.ini. Addresses are added without duplicate address detection.
 */
export async function addIpv6(lab: LabSpec): Promise<void> {
  for (const h of lab.hosts) {
    const v6 = host6(h)
    await must('ip', ['-n', h.ns, '-batch', '-'], [
      `addr add ${v6.address6}/64 dev eth0 nodad`,
      `addr add ${v6.gateway6}/64 dev docker0 nodad`,
    ].join('\n') + '\n')
    await must('ip', ['-n', h.containerNs, '-batch', '-'], [
      `addr add ${v6.containerIp6}/64 dev eth0 nodad`,
      `route add ::/0 via ${v6.gateway6} dev eth0`,
    ].join('\n') + '\n')
  }
  const lines: string[] = []
  for (const line of readFileSync(lab.config, 'utf8').split('\n')) {
    lines.push(line)
    if (line === '[fabric]') lines.push(`pool6 = ${POOL6}`)
    const m = /^\[host\.node(\d+)\]$/.exec(line)
    if (m) lines.push(`address6 = fd00:99::${m[1]}`, `subnet6 = fd00:fab:0:${m[1]}::/64`)
  }
  writeFileSync(lab.config, lines.join('\n'))
  // the kernel's own link-local addresses (eth0 came up in labUp): wait until DAD is over
  for (const h of lab.hosts) {
    for (let i = 0; i < 50; i++) {
      const out = await must('ip', ['-n', h.ns, '-6', 'addr', 'show', 'dev', 'eth0', 'tentative'])
      if (out.trim() === '') break
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

/** The link-local address of `dev` in `ns`. */
export async function linkLocal(ns: string, dev = 'eth0'): Promise<string> {
  // ip -j prints the filtered-out addresses as {} entries
  const j = JSON.parse(await must('ip', ['-n', ns, '-j', '-6', 'addr', 'show', 'dev', dev, 'scope', 'link'])) as { addr_info: { local?: string }[] }[]
  const a = j[0]?.addr_info.find((x) => x.local !== undefined)?.local
  if (!a) throw new Error(`no link-local address on ${dev} in ${ns}`)
  return a
}

export interface IpRoute6 {
  dst: string
  gateway?: string
  dev?: string
  protocol?: string
  metric?: number
}

export async function routes6(ns: string, ...filter: string[]): Promise<IpRoute6[]> {
  return JSON.parse((await must('ip', ['-n', ns, '-6', '-j', 'route', 'show', ...filter])) || '[]') as IpRoute6[]
}

/** fabric's IPv6 routes (protocol 233) as sorted "dst via gw dev D". */
export async function fabricRoutes6(ns: string): Promise<string[]> {
  return (await routes6(ns, 'proto', '233')).map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`).sort()
}

/** Polls until fabric's IPv6 routes in ns equal `expected`; returns the last seen. */
export async function waitRoutes6(ns: string, expected: string[], timeoutMs = 10_000): Promise<string[]> {
  const want = JSON.stringify([...expected].sort())
  const until = Date.now() + timeoutMs
  let last: string[] = []
  for (;;) {
    last = await fabricRoutes6(ns)
    if (JSON.stringify(last) === want || Date.now() > until) return last
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** One ping over IPv6 from inside a namespace (nsenter, as the lab's reachability does). */
export async function ping6(ns: string, to: string, timeoutS = 2): Promise<boolean> {
  const r = await run('nsenter', [`--net=/run/netns/${ns}`, 'ping', '-6', '-n', '-q', '-c', '1', '-W', String(timeoutS), to], { timeoutMs: (timeoutS + 5) * 1000 })
  return r.code === 0
}

/**
 * Sends UDP datagrams (hex payloads) from inside `ns`, from [src%dev]:sport to
 * [to%dev]:dport with the given hop limit (python3: Node's dgram cannot set
 * a multicast hop limit per datagram and bind a link-local source in one go).
 */
export async function sendUdp6(ns: string, o: { src: string; dev: string; sport: number; to: string; dport: number; hopLimit: number; payloads: Buffer[] }): Promise<void> {
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
    's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    'idx = socket.if_nametoindex(sys.argv[2])',
    's.bind((sys.argv[1], int(sys.argv[3]), 0, idx))',
    'hl = int(sys.argv[6])',
    's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hl)',
    's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hl)',
    's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)',
    'for h in sys.argv[7:]:',
    '    s.sendto(bytes.fromhex(h), (sys.argv[4], int(sys.argv[5]), 0, idx))',
  ].join('\n')
  const r = await run('nsenter', [`--net=/run/netns/${ns}`, 'python3', '-c', script, o.src, o.dev, String(o.sport), o.to, String(o.dport), String(o.hopLimit), ...o.payloads.map((p) => p.toString('hex'))], { timeoutMs: 10_000 })
  if (r.code !== 0) throw new Error(`sendUdp6 in ${ns}: ${r.stderr}`)
}
