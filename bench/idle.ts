/**
 * Idle cost of the agent (prints figures; not a test).
 *
 * A 4-host BGP lab (full mesh: 3 peers per agent), compiled agents as the
 * image runs them, product defaults (hold 9 s, keepalive 3 s, reconcile 5 s,
 * firewall on, log level info). Once all sessions are up (and the settle window, below) it waits a few
 * seconds, then measures each agent over --seconds (default 60):
 *   - RSS (VmRSS) at the end, and the peak (VmHWM); of the RSS, the
 *     file-backed part (RssFile: mostly the node binary's pages, shared with
 *     every node process) and the private part (USS, smaps_rollup)
 *   - CPU % of one core: the agent's threads' run time (/proc/PID/task/STAR/schedstat,
 *     ns) plus cutime+cstime of /proc/PID/stat (the children it has waited
 *     for: iptables-save/-restore, ...), so child processes count
 *   - children spawned: pids seen in /proc/PID/task/STAR/children, sampled
 *     every 20 ms (a lower bound: a child shorter than that may be missed),
 *     and the firewall checks the agent counted (/v1/status)
 * Two floors on the same machine: a bare `node -e 'setInterval(...)'`, and
 * a node program with the idle agent's I/O and none of its logic (below).
 * Then, with --bird (default on), the same for BIRD 2 in the same lab shape
 * (4 namespaces, full mesh iBGP, device + direct + kernel protocols).
 *
 * The first --settle seconds (default 90) after the sessions are up are
 * measured and printed apart, before the idle window: an agent that has just
 * started is still settling (V8's memory reducer runs a few full GCs once
 * the start-up allocations stop; the first functions get optimized).
 *
 *   npm run build && FABRIC_USE_DIST=1 node --import tsx bench/idle.ts [--seconds 60] [--settle 90] [--no-bird] [--join "ARGS"] [--node-options "..."]
 *
 * Everything runs in namespaces of a lab named idlPID (removed at the end,
 * also on failure); nothing touches the root namespace.
 */
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { getJson } from '../src/api/client.js'
import { type LabHost, type LabSpec, agentPids, labDown, labUp, signalAgent } from '../src/lab/lab.js'
import { run, sleep, waitFor } from '../src/lab/sh.js'
import { established, startIdleAgents } from './idle-lab.js'

const args = process.argv.slice(2)
const seconds = Number(args[args.indexOf('--seconds') + 1] ?? 60) || 60
/** seconds measured first, right after the sessions are up (start-up tail: V8's memory reducer, first optimizations), reported on their own */
const settle = args.includes('--settle') ? Number(args[args.indexOf('--settle') + 1]) : 90
const withBird = !args.includes('--no-bird')
const CLK_TCK = 100
/** extra `fabric join` arguments and [fabric]/[bgp] lines, for experiments (e.g. --join "--no-firewall") */
const joinArgs = args.includes('--join') ? args[args.indexOf('--join') + 1]!.split(' ').filter(Boolean) : []
const nodeOptions = args.includes('--node-options') ? args[args.indexOf('--node-options') + 1]! : undefined

if (process.env.FABRIC_USE_DIST !== '1') console.warn('note: FABRIC_USE_DIST is not 1: the agents run the TypeScript sources through tsx (not what the image runs)')

/**
 * A second floor: the smallest node program with an idle agent's I/O and none of its logic
 * (plain node, CommonJS, in the first host's namespace, on its loopback): 3 TCP sessions to its
 * own listener with a 19-octet KEEPALIVE each way every 3 s, a Unix-socket server, a netlink
 * route socket (the package the agent uses) and a UDP socket
 */
const ioFloorProgram = (netlink: string, sock: string) => `
const net = require('node:net'), dgram = require('node:dgram')
const { RawNetlinkSocket } = require(${JSON.stringify(netlink)})
new RawNetlinkSocket(0, { recvBufferSize: 1 << 20 }).on('message', () => {})
dgram.createSocket('udp4').bind(0, '127.0.0.1')
net.createServer((s) => s.end()).listen(${JSON.stringify(sock)})
const ka = Buffer.alloc(19, 0xff); ka.writeUInt16BE(19, 16); ka[18] = 4
net.createServer((s) => { s.on('data', () => {}); setInterval(() => s.write(ka), 3000) }).listen(17900, '127.0.0.1', () => {
  for (let i = 0; i < 3; i++) { const c = net.connect(17900, '127.0.0.1'); c.on('data', () => {}); setInterval(() => c.write(ka), 3000) }
})`

interface Stat { ownNs: number; childTicks: number }

/**
 * The process's own CPU time in ns (sum of its threads' /proc schedstat: a
 * 10 ms tick is too coarse for 0.1% over a minute) and the CPU time of the
 * children it has waited for (cutime + cstime, ticks).
 */
function stat(pid: number): Stat {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  // fields after the comm: index 0 = state (field 3); cutime = field 16
  const n = (field: number) => Number(f[field - 3])
  let ownNs = 0
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      ownNs += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      /* thread gone */
    }
  }
  return { ownNs, childTicks: n(16) + n(17) }
}

function status(pid: number, key: string): number {
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : 0
}

/** pids of the direct and indirect children of pid right now */
function descendants(pid: number, into: Set<number>): void {
  let tasks: string[]
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return
  }
  for (const t of tasks) {
    let kids = ''
    try {
      kids = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8')
    } catch {
      continue
    }
    for (const k of kids.split(' ').filter(Boolean).map(Number)) {
      if (!into.has(k)) {
        into.add(k)
        descendants(k, into)
      }
    }
  }
}

interface Figures { name: string; rss: number; hwm: number; rssFile: number; uss: number; cpuPct: number; ownPct: number; childPct: number; children: number; extra: string }

/** memory only this process holds (Private_Clean + Private_Dirty of smaps_rollup): RSS without the pages it shares, e.g. the node binary's */
function uss(pid: number): number {
  const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  let kb = 0
  for (const m of t.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB/gm)) kb += Number(m[1])
  return kb * 1024
}

/** Measures the processes for `seconds`; `extra` gives a per-process note at the end. */
async function measure(procs: { name: string; pid: number }[], extraOf: (i: number) => Promise<string>, secs = seconds): Promise<Figures[]> {
  const before = procs.map((p) => stat(p.pid))
  const seen = procs.map(() => new Set<number>())
  const t0 = process.hrtime.bigint()
  const end = Date.now() + secs * 1000
  while (Date.now() < end) {
    for (let i = 0; i < procs.length; i++) descendants(procs[i]!.pid, seen[i]!)
    await sleep(20)
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9
  const out: Figures[] = []
  for (let i = 0; i < procs.length; i++) {
    const p = procs[i]!
    const a = before[i]!
    const b = stat(p.pid)
    const own = (b.ownNs - a.ownNs) / 1e9
    const kids = (b.childTicks - a.childTicks) / CLK_TCK
    out.push({
      name: p.name, rss: status(p.pid, 'VmRSS'), hwm: status(p.pid, 'VmHWM'), rssFile: status(p.pid, 'RssFile'), uss: uss(p.pid), cpuPct: ((own + kids) / wall) * 100,
      ownPct: (own / wall) * 100, childPct: (kids / wall) * 100, children: seen[i]!.size, extra: await extraOf(i),
    })
  }
  return out
}

const mean = (figs: Figures[], k: 'rss' | 'rssFile' | 'uss' | 'cpuPct') => figs.reduce((s, f) => s + f[k], 0) / figs.length

/** The first `settle` seconds after the sessions are up, measured and printed on their own (the idle window comes after). */
async function settleWindow(what: string, procs: { name: string; pid: number }[]): Promise<void> {
  if (!(settle > 0)) return
  console.log(`${what}: first ${settle} s after the sessions are up (start-up tail), measured apart ...`)
  const figs = await measure(procs, async () => '', settle)
  console.log(`  CPU per process ${figs.map((f) => `${f.cpuPct.toFixed(3)}%`).join(' ')}  mean ${mean(figs, 'cpuPct').toFixed(3)}%  (RSS mean ${mb(mean(figs, 'rss'))})`)
}

const mb = (b: number) => `${(b / 1048576).toFixed(1)} MB`

function print(title: string, figs: Figures[]): void {
  console.log(title)
  for (const f of figs) {
    console.log(`  ${f.name.padEnd(8)} RSS ${mb(f.rss).padStart(8)} (peak ${mb(f.hwm)}; file-backed ${mb(f.rssFile)}, private ${mb(f.uss)})  CPU ${f.cpuPct.toFixed(3)}% of a core (own ${f.ownPct.toFixed(3)}%, children ${f.childPct.toFixed(3)}%)  children seen ${f.children}${f.extra ? `  ${f.extra}` : ''}`)
  }
  const avg = (k: 'rss' | 'rssFile' | 'uss' | 'cpuPct') => mean(figs, k)
  console.log(`  mean     RSS ${mb(avg('rss'))} (file-backed ${mb(avg('rssFile'))}, private ${mb(avg('uss'))})  CPU ${avg('cpuPct').toFixed(3)}%`)
}

async function fabricRun(lab: LabSpec): Promise<void> {
  await startIdleAgents(lab, () => ({ extraArgs: joinArgs, env: nodeOptions ? { NODE_OPTIONS: nodeOptions } : undefined }))
  await sleep(5000)
  const procs = []
  for (const h of lab.hosts) {
    const [pid] = await agentPids(h)
    if (!pid) throw new Error(`no agent pid for ${h.name}`)
    procs.push({ name: h.name, pid })
  }
  // the I/O floor runs as long as the agents do from here on, measured at the end with them
  const netlink = createRequire(import.meta.url).resolve('netlink/dist/raw.js')
  const ioFloor = spawn('ip', ['netns', 'exec', lab.hosts[0]!.ns, process.execPath, '-e', ioFloorProgram(netlink, join(lab.hosts[0]!.dir, 'io-floor.sock'))], { stdio: 'ignore' })
  try {
    await settleWindow('fabric', procs)
    const checksBefore = await Promise.all(lab.hosts.map(fwChecks))
    console.log(`fabric: ${lab.hosts.length} agents (${process.env.FABRIC_USE_DIST === '1' ? 'compiled dist/' : 'src via tsx'}), ${lab.hosts.length - 1} BGP peers each, idle${joinArgs.length ? ` (join ${joinArgs.join(' ')})` : ''}; measuring ${seconds} s ...`)
    const figs = await measure(procs, async (i) => {
      const s = await getJson(lab.hosts[i]!.socket, '/v1/status', 2000).catch(() => undefined) as { memory?: { heapUsed?: number } } | undefined
      const checks = (await fwChecks(lab.hosts[i]!)) - checksBefore[i]!
      return `firewall checks ${checks}${s?.memory?.heapUsed ? `, V8 heap used ${mb(s.memory.heapUsed)}` : ''}, sessions up ${await established(lab.hosts[i]!)}`
    })
    print('fabric agents', figs)
    for (const h of lab.hosts) await signalAgent(h, 'SIGTERM')
    // the floor: a bare node process with one timer, on this machine
    const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 3000)'], { stdio: 'ignore' })
    try {
      await sleep(2000)
      const floor = (what: string, pid: number) => console.log(`  ${what}: RSS ${mb(status(pid, 'VmRSS'))} (file-backed ${mb(status(pid, 'RssFile'))}, private ${mb(uss(pid))})`)
      floor("bare node (node -e 'setInterval(...)')", bare.pid!)
      floor(`node with the agent's I/O alone (3 TCP sessions with keepalives, a Unix-socket server, netlink, UDP; ${settle + seconds} s)`, ioFloor.pid!)
    } finally {
      bare.kill()
    }
  } finally {
    ioFloor.kill()
  }
}

async function fwChecks(h: LabHost): Promise<number> {
  const s = await getJson(h.socket, '/v1/status', 2000).catch(() => undefined) as { hostIntegration?: { firewall?: { checks?: number } } } | undefined
  return s?.hostIntegration?.firewall?.checks ?? 0
}

async function birdRun(lab: LabSpec): Promise<void> {
  const procs = []
  for (const h of lab.hosts) {
    const dir = join(h.dir, 'bird')
    mkdirSync(dir, { recursive: true })
    const peers = lab.hosts.filter((o) => o !== h).map((o) => [
      `protocol bgp p${o.index} {`, `  local ${h.address} as 64512;`, `  neighbor ${o.address} as 64512;`, '  hold time 9;', '  keepalive time 3;',
      '  ipv4 { import all; export where source = RTS_DEVICE && net ~ 10.244.0.0/16; next hop self; };', '}',
    ].join('\n'))
    const conf = [
      `router id ${h.address};`, 'protocol device { scan time 10; }', `protocol direct { ipv4; interface "docker0"; }`,
      'protocol kernel { scan time 5; ipv4 { export where source = RTS_BGP; }; }', ...peers,
    ].join('\n') + '\n'
    writeFileSync(join(dir, 'bird.conf'), conf)
    const r = await run('ip', ['netns', 'exec', h.ns, 'bird', '-c', join(dir, 'bird.conf'), '-s', join(dir, 'bird.ctl'), '-P', join(dir, 'bird.pid')])
    if (r.code !== 0) throw new Error(`bird: ${r.stderr}`)
    const pid = await waitFor(() => {
      try {
        return Number(readFileSync(join(dir, 'bird.pid'), 'utf8').trim()) || undefined
      } catch {
        return undefined
      }
    }, 5000, 50)
    procs.push({ name: h.name, pid: pid! })
  }
  const birdUp = async (h: LabHost) => {
    const r = await run('ip', ['netns', 'exec', h.ns, 'birdc', '-s', join(h.dir, 'bird', 'bird.ctl'), 'show', 'protocols'])
    return (r.stdout.match(/Established/g) ?? []).length
  }
  await waitFor(async () => {
    for (const h of lab.hosts) if ((await birdUp(h)) < lab.hosts.length - 1) return undefined
    return true
  }, 60_000, 250)
  await sleep(5000)
  await settleWindow('BIRD 2', procs)
  console.log(`BIRD 2: ${lab.hosts.length} daemons, same lab, ${lab.hosts.length - 1} iBGP peers each (hold 9, keepalive 3, kernel scan 5 s); measuring ${seconds} s ...`)
  const figs = await measure(procs, async (i) => `sessions up ${await birdUp(lab.hosts[i]!)}`)
  print('BIRD 2', figs)
}

const name = `idl${process.pid % 100000}`
const lab = await labUp({ name, hosts: 4, mode: 'bgp', start: false })
try {
  await fabricRun(lab)
  if (withBird) await birdRun(lab)
} finally {
  await labDown(name)
}
