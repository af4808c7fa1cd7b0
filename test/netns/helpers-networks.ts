/**
 * A lab for fabric networks with real agents and no Docker: 3 hosts as
 * namespaces on an underlay bridge; in each, docker0 (the default network,
 * 10.244.I.1/24) and one bridge per fabric network shaped as fabric's Docker
 * networks are (gateway with the pool's length, proxy ARP), a "container"
 * namespace per network per host and one on host 3 attached to both. No
 * routes, no firewall rules: the agents (`fabric join`) make those.
 *
 *   PFX-sw           underlay bridge br0; host I: eth0 10.98.0.(10+I)/24
 *   PFX-hI           docker0, bk (backend 10.245.0.0/16, gw 10.245.I.1), fr (frontend 10.246.0.0/16)
 *   PFX-hIa / -hIb   a container on backend 10.245.I.10 / frontend 10.246.I.10
 *   PFX-h3d          on both: 10.245.3.20 (eth0, default route) and 10.246.3.20 (eth1)
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'
import { loadConfigText } from '../../src/config/fabric-config.js'
import { ISOLATION_CHAIN } from '../../src/host/firewall.js'
import type { Iptables } from '../../src/host/iptables.js'
import { bridgeSysctls, gatewayOf, wantedNetworks } from '../../src/host/networks.js'
import { run, waitFor } from './helpers.js'
import { getJson } from '../../src/api/client.js'

const fabricBin = fileURLToPath(new URL('../../bin/fabric.js', import.meta.url))
export const HOSTS = [1, 2, 3]

export function networksIni(mode: 'static' | 'bgp'): string {
  return `[fabric]
pool = 10.244.0.0/16
underlay = 10.98.0.0/24
mode = ${mode}
reconcile-interval = 2
${mode === 'bgp' ? '\n[bgp]\nasn = 64512\nhold-time = 9\nconnect-retry-time = 1\n' : ''}
${HOSTS.map((i) => `[host.h${i}]\naddress = 10.98.0.${10 + i}\nsubnet = 10.244.${i}.0/24\n`).join('\n')}
[network.backend]
pool = 10.245.0.0/16
bridge = bk

[network.frontend]
pool = 10.246.0.0/16
bridge = fr
`
}

export async function sh(cmd: string, ...args: string[]): Promise<string> {
  const r = await run(cmd, args, { timeoutMs: 20_000 })
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`)
  return r.stdout
}
export const inNs = (ns: string, ...args: string[]): Promise<string> => sh('ip', 'netns', 'exec', ns, ...args)

export interface Container {
  ns: string
  name: string
  /** network name -> address */
  addresses: Record<string, string>
}

export interface NetHost {
  index: number
  name: string
  ns: string
  dir: string
  socket: string
  log: string
  config: string
}

export interface NetLab {
  pfx: string
  hosts: NetHost[]
  containers: Container[]
  agents: Map<number, ChildProcess>
}

/** Builds the lab and registers its removal (agents, namespaces, files), also on failure. */
export async function buildNetLab(t: ExecutionContext, pfx: string, mode: 'static' | 'bgp'): Promise<NetLab> {
  const root = `/run/fabric-lab/${pfx}`
  const agents = new Map<number, ChildProcess>()
  t.teardown(async () => {
    for (const c of agents.values()) {
      if (c.exitCode === null && c.pid) {
        try {
          process.kill(c.pid, 'SIGTERM')
        } catch { /* gone */ }
      }
    }
    await waitFor(async () => ([...agents.values()].every((c) => c.exitCode !== null || c.signalCode !== null) ? true : undefined), 10_000, 50)
    const list = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${pfx}-`))
    for (const ns of list) await run('ip', ['netns', 'del', ns])
    rmSync(root, { recursive: true, force: true })
  })
  mkdirSync(root, { recursive: true })
  const config = join(root, 'fabric.ini')
  const text = networksIni(mode)
  writeFileSync(config, text)
  const cfg = loadConfigText(text)
  const sw = `${pfx}-sw`
  await sh('ip', 'netns', 'add', sw)
  await sh('ip', '-n', sw, 'link', 'add', 'br0', 'type', 'bridge')
  await sh('ip', '-n', sw, 'link', 'set', 'br0', 'up')
  const containers: Container[] = []
  const hosts: NetHost[] = []
  for (const i of HOSTS) {
    const h = `${pfx}-h${i}`
    const dir = join(root, `h${i}`)
    mkdirSync(dir, { recursive: true })
    hosts.push({ index: i, name: `h${i}`, ns: h, dir, socket: join(dir, 'fabric.sock'), log: join(dir, 'agent.log'), config })
    const entry = cfg.hosts.find((x) => x.name === `h${i}`)!
    await underlayHost(sw, h, i)
    // docker0 of the default network, as the lab makes it
    await sh('ip', '-n', h, 'link', 'add', 'docker0', 'type', 'bridge')
    await sh('ip', '-n', h, 'addr', 'add', `10.244.${i}.1/24`, 'dev', 'docker0')
    await sh('ip', '-n', h, 'link', 'set', 'docker0', 'up')
    await networkBridges(h, wantedNetworks(cfg.networks, entry.networks!))
    containers.push(...(await networkContainers(h, i)))
  }
  return { pfx, hosts, containers, agents }
}

/** A lab host: namespace h, eth0 10.98.0.(10+i)/24 on the switch sw's br0, loose rp_filter (and any further sysctls). */
export async function underlayHost(sw: string, h: string, i: number, ...sysctls: string[]): Promise<void> {
  await sh('ip', 'netns', 'add', h)
  await sh('ip', '-n', sw, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h)
  await sh('ip', '-n', sw, 'link', 'set', `p${i}`, 'master', 'br0', 'up')
  await sh('ip', '-n', h, 'addr', 'add', `10.98.0.${10 + i}/24`, 'dev', 'eth0')
  await sh('ip', '-n', h, 'link', 'set', 'eth0', 'up')
  await sh('ip', '-n', h, 'link', 'set', 'lo', 'up')
  await inNs(h, 'sysctl', '-qw', ...sysctls, 'net.ipv4.conf.all.rp_filter=2', 'net.ipv4.conf.default.rp_filter=2')
}

/** The fabric networks' bridges in host h as Docker makes them for fabric: gateway/pool-length, proxy ARP. */
export async function networkBridges(h: string, wanted: ReturnType<typeof wantedNetworks>): Promise<void> {
  for (const w of wanted) {
    const br = w.bridge!
    await sh('ip', '-n', h, 'link', 'add', br, 'type', 'bridge')
    await sh('ip', '-n', h, 'addr', 'add', `${gatewayOf(w)}/${w.pool.len}`, 'dev', br)
    await sh('ip', '-n', h, 'link', 'set', br, 'up')
    for (const s of bridgeSysctls(br)) await inNs(h, 'sysctl', '-qw', `${s.key}=${s.value}`)
  }
}

/** Host i's containers: one on backend (bk) and one on frontend (fr); host 3 also h3d, on both. */
export async function networkContainers(h: string, i: number): Promise<Container[]> {
  const containers: Container[] = []
  const attach = async (c: string, ifname: string, br: string, addr: string, len: number, gw?: string): Promise<void> => {
    const hostEnd = `${c.slice(-2)}${ifname.slice(-1)}`
    await sh('ip', '-n', h, 'link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', ifname, 'netns', c)
    await sh('ip', '-n', h, 'link', 'set', hostEnd, 'master', br, 'up')
    await sh('ip', '-n', c, 'addr', 'add', `${addr}/${len}`, 'dev', ifname)
    await sh('ip', '-n', c, 'link', 'set', ifname, 'up')
    if (gw) await sh('ip', '-n', c, 'route', 'add', 'default', 'via', gw)
  }
  for (const [suffix, net, br] of [['a', 'backend', 'bk'], ['b', 'frontend', 'fr']] as const) {
    const c = `${h}${suffix}`
    await sh('ip', 'netns', 'add', c)
    await sh('ip', '-n', c, 'link', 'set', 'lo', 'up')
    const octet = net === 'backend' ? 245 : 246
    await attach(c, 'eth0', br, `10.${octet}.${i}.10`, 16, `10.${octet}.${i}.1`)
    containers.push({ ns: c, name: `h${i}${suffix}`, addresses: { [net]: `10.${octet}.${i}.10` } })
  }
  if (i === 3) {
    const c = `${h}d`
    await sh('ip', 'netns', 'add', c)
    await sh('ip', '-n', c, 'link', 'set', 'lo', 'up')
    await attach(c, 'eth0', 'bk', '10.245.3.20', 16, '10.245.3.1')
    await attach(c, 'eth1', 'fr', '10.246.3.20', 16)
    containers.push({ ns: c, name: 'h3d', addresses: { backend: '10.245.3.20', frontend: '10.246.3.20' } })
  }
  return containers
}

/** `fabric join` in a host namespace: no Docker (socket and daemon.json paths that do not exist), the firewall check slowed down so rules removed by hand stay removed. */
export function startNetAgent(lab: NetLab, h: NetHost): ChildProcess {
  const out = openSync(h.log, 'a')
  const child = spawn('ip', [
    'netns', 'exec', h.ns, process.execPath, fabricBin, 'join', '--config', h.config, '--state-dir', h.dir, '--socket', h.socket,
    '--log-level', 'debug', '--log-format', 'json', '--docker-socket', join(h.dir, 'no-docker.sock'), '--daemon-json', join(h.dir, 'no-daemon.json'),
    '--firewall-check-interval', '300',
  ], { stdio: ['ignore', out, out], env: { ...process.env, FABRIC_RT_PROTOS_DIR: join(h.dir, 'rt_protos.d') } })
  lab.agents.set(h.index, child)
  return child
}

export async function waitNetAgents(lab: NetLab): Promise<void> {
  for (const h of lab.hosts) {
    const ok = await waitFor(async () => {
      try {
        await getJson(h.socket, '/v1/status', 1000)
        return true
      } catch {
        return undefined
      }
    }, 30_000, 100)
    if (!ok) throw new Error(`agent of ${h.name} did not come up`)
  }
}

/** Reachable when any of 3 echo requests is answered (the first may wait on ARP). */
export async function ping(from: string, to: string): Promise<boolean> {
  return (await run('ip', ['netns', 'exec', from, 'ping', '-c', '3', '-i', '0.3', '-W', '2', '-q', to], { timeoutMs: 10_000 })).code === 0
}

/** TCP to a closed port: a RST (refused) means the SYN got there and the answer came back; no answer in 5 s means dropped. */
export async function tcp(from: string, to: string): Promise<boolean> {
  const r = await run('ip', ['netns', 'exec', from, 'timeout', '5', 'bash', '-c', `exec 3<>/dev/tcp/${to}/7`], { timeoutMs: 10_000 })
  if (r.code === 124) return false
  if (/refused/i.test(r.stderr) || r.code === 0) return true
  throw new Error(`tcp ${from} -> ${to}: code ${r.code} ${r.stderr.trim()}`)
}

async function pool<T>(items: (() => Promise<T>)[], width = 8): Promise<T[]> {
  const out: T[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const k = next++
      out[k] = await items[k]!()
    }
  }))
  return out
}

/** Every (container, address of another container, protocol) -> reachable, through `probe` (ping/tcp by default). */
export async function matrix(containers: Container[], probe: { icmp: (ns: string, to: string) => Promise<boolean>; tcp: (ns: string, to: string) => Promise<boolean> } = { icmp: ping, tcp }): Promise<Map<string, boolean>> {
  const cases: { key: string; f: () => Promise<boolean> }[] = []
  for (const a of containers) {
    for (const b of containers) {
      if (a === b) continue
      for (const [net, addr] of Object.entries(b.addresses)) {
        cases.push({ key: `icmp ${a.name} -> ${b.name}.${net}`, f: () => probe.icmp(a.ns, addr) })
        cases.push({ key: `tcp ${a.name} -> ${b.name}.${net}`, f: () => probe.tcp(a.ns, addr) })
      }
    }
  }
  const results = await pool(cases.map((c) => c.f))
  return new Map(cases.map((c, k) => [c.key, results[k]!]))
}

/** Same network: reachable (across hosts too); different networks: blocked; the dual-homed container reaches both. */
export function expectedMatrix(containers: Container[]): Map<string, boolean> {
  const out = new Map<string, boolean>()
  for (const a of containers) {
    for (const b of containers) {
      if (a === b) continue
      for (const net of Object.keys(b.addresses)) {
        const ok = net in a.addresses
        out.set(`icmp ${a.name} -> ${b.name}.${net}`, ok)
        out.set(`tcp ${a.name} -> ${b.name}.${net}`, ok)
      }
    }
  }
  return out
}

/** The entries of `got` that differ from `want`, as readable lines (empty: the matrix is exactly as expected). */
export function matrixDiff(want: Map<string, boolean>, got: Map<string, boolean>): string[] {
  return [...want].filter(([k, v]) => got.get(k) !== v).map(([k, v]) => `${k}: expected ${v ? 'ok' : 'blocked'}`)
}

/** The packet count of FABRIC-ISOLATION's DROP for a source pool (iptables-save -c); -1 when the rule is absent. */
export async function dropCount(ns: string, ipt: Iptables, source: string): Promise<number> {
  const out = await inNs(ns, ipt.backend === 'nft' ? 'iptables-nft-save' : 'iptables-legacy-save', '-c', '-t', 'filter')
  const line = out.split('\n').find((l) => l.includes(`-A ${ISOLATION_CHAIN} -s ${source} -j DROP`))
  const m = line ? /^\[(\d+):\d+\]/.exec(line) : null
  return m ? Number(m[1]) : -1
}
