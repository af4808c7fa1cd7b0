/**
 * Scale benchmark (prints figures; not a test).
 *
 * Labs (src/lab) of real compiled agents, one after the other:
 *   - a 50-host iBGP full mesh,
 *   - a 200-host fabric under two fabric route reflectors,
 *   - the same 200 hosts under two BIRD reflectors (templates/bird-route-reflector.conf),
 *   - and under two FRR reflectors (templates/frr-route-reflector.conf).
 * fabric, BIRD and FRR are graceful-restart helpers (RFC 4724): they keep the
 * subnet of a host whose agent was SIGKILLed (its kernel closes the sessions)
 * for its advertised restart time (120 s), which the crash figure shows.
 * Each lab has one host more than it starts; once the others have converged:
 *   join   time from spawning `fabric join` on that host until its subnet is
 *          in every other host's kernel and every other subnet is in its
 *          kernel (timestamps from `ip -ts monitor route` in each host
 *          namespace, not polling)
 *   agents RSS (MB) and CPU (% of one core, the agent and the processes it
 *          spawned, over a 20 s idle window) of every client agent: min/median/max
 *   rr     the reflectors' RSS and CPU over the same window (BIRD; FRR's
 *          zebra + bgpd, + bfdd with BFD)
 *   down   a client host dies (its underlay link set down, then its agent
 *          SIGKILLed, as at a power loss): time until its subnet has left the
 *          kernel of every other host (same monitors): the hold time (9 s)
 *          without BFD, BFD's detection time with it (in a --bfd mesh the
 *          host without BFD below is not counted: it is the dead host's
 *          peer itself and notices at the hold time)
 *   crash  another client's agent SIGKILLed on a live host: time until its
 *          subnet has left every other host (graceful-restart helper mode:
 *          the restart time, unless BFD ends it)
 * With --bfd the lab runs BFD (`lab up --bfd`: agents, fabric reflectors,
 * the BIRD/FRR templates' BFD block) at --bfd-interval ms x 3 (default 100;
 * the full mesh at --mesh-bfd-interval, default 500: its n(n-1)/2 sessions
 * at 100 ms would take more than this machine's two cores), and a third
 * client, started without BFD (`bfd = no`: what graceful restart alone
 * does), is SIGKILLed together with the crash victim:
 *   crash, no BFD   time until that one's subnet has left every other host
 * Each row gives the 1-minute load average before and after its lab (the
 * machine is shared: compare rows of one run), and with --bfd how many BFD
 * sessions went down after Up before any host failed (false detections:
 * `bfd-state` lines from Up in the agents' logs) and how many `bfd-late`
 * lines they wrote, plus the packets the kernel's input backlogs dropped
 * meanwhile (/proc/net/softnet_stat). SCALE_LOGS=DIR keeps every lab's agent
 * logs in DIR/LAB/. On a 2-vCPU machine 200 hosts with BFD at 100 or
 * 300 ms do not hold (BFD threads starved past the detection time, each
 * false down a session reset: docs/benchmarks.md); use --rr 50 there.
 *
 *   npm run build && node --import tsx bench/scale.ts [--mesh 50] [--rr 200] [--only mesh,fabric,bird,frr] [--bfd [--bfd-interval 100] [--mesh-bfd-interval 500]]
 *
 * Every lab is named scPID-like and removed at the end (also on failure).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadavg } from 'node:os'
import { type LabHost, type LabSpec, agentPids, labDown, labUp, pidsInNamespaces, signalAgent, startAgent, startAgents, waitAgents } from '../src/lab/lab.js'
import type { RrEngine } from '../src/lab/reflectors.js'
import { waitConverged } from '../src/lab/report.js'
import { must, sleep } from '../src/lab/sh.js'
import { option, useCompiledAgent } from './options.js'

useCompiledAgent('bench/scale.ts')

const args = process.argv.slice(2)
const opt = option
const MESH = Number(opt('mesh', '50'))
const RR = Number(opt('rr', '200'))
const ONLY = opt('only', '')
const BFD = args.includes('--bfd')
const BFD_INTERVAL = Number(opt('bfd-interval', '100'))
const MESH_BFD_INTERVAL = Number(opt('mesh-bfd-interval', '500'))
const TICK = 100 // USER_HZ

interface Monitor { proc: ChildProcess; lines: string[] }

function monitor(ns: string): Monitor {
  const m: Monitor = { proc: spawn('ip', ['-n', ns, '-ts', 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] }), lines: [] }
  let buf = ''
  m.proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString()
    const parts = buf.split('\n')
    buf = parts.pop()!
    m.lines.push(...parts)
  })
  return m
}

/** Time (ms since epoch) of the first monitor line that adds (or deletes) this prefix as a fabric route. */
function eventTime(m: Monitor, prefix: string, deleted: boolean): number | undefined {
  for (const l of m.lines) {
    const r = /^\[(\S+)\] (Deleted )?(\S+) .*proto (233|fabric)\b/.exec(l)
    if (r && r[3] === prefix && Boolean(r[2]) === deleted) return new Date(r[1]!).getTime()
  }
  return undefined
}

async function waitEvents(mons: { m: Monitor; prefix: string }[], deleted: boolean, timeoutMs: number): Promise<number | undefined> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const times = mons.map((x) => eventTime(x.m, x.prefix, deleted))
    if (times.every((t) => t !== undefined)) return Math.max(...(times as number[]))
    if (Date.now() > end) {
      process.stderr.write(`  (${times.filter((t) => t === undefined).length} of ${mons.length} route events missing after ${timeoutMs / 1000} s)\n`)
      return undefined
    }
    await sleep(100)
  }
}

function ticksOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime stime cutime cstime (fields 14-17): the process and its reaped children (iptables, ip)
    return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
  } catch {
    return 0
  }
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : 0
  } catch {
    return 0
  }
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return '-'
  const f = (x: number) => x.toFixed(x < 10 ? 2 : 0)
  return `${f(s[0]!)} / ${f(s[Math.floor(s.length / 2)]!)} / ${f(s[s.length - 1]!)}`
}

/** RSS and CPU of groups of processes over an idle window. */
async function usage(groups: Record<string, number[][]>, windowMs = 20_000): Promise<Record<string, { rss: number[]; cpu: number[] }>> {
  const before = Object.fromEntries(Object.entries(groups).map(([k, g]) => [k, g.map((pids) => pids.reduce((a, p) => a + ticksOf(p), 0))]))
  const t0 = Date.now()
  await sleep(windowMs)
  const secs = (Date.now() - t0) / 1000
  const out: Record<string, { rss: number[]; cpu: number[] }> = {}
  for (const [k, g] of Object.entries(groups)) {
    out[k] = {
      rss: g.map((pids) => pids.reduce((a, p) => a + rssMb(p), 0)),
      cpu: g.map((pids, i) => ((pids.reduce((a, p) => a + ticksOf(p), 0) - before[k]![i]!) / TICK / secs) * 100),
    }
  }
  return out
}

/** SCALE_LOGS=DIR: the agents' logs of each lab are copied to DIR/LAB/HOST.log before the lab goes down. */
function keepLogs(label: string, lab: LabSpec | undefined): void {
  const dir = process.env.SCALE_LOGS
  if (!dir || !lab) return
  const to = join(dir, label.replace(/[^A-Za-z0-9.-]+/g, '_'))
  mkdirSync(to, { recursive: true })
  for (const h of lab.hosts) {
    try {
      copyFileSync(h.log, join(to, `${h.name}.log`))
    } catch {
      /* no log */
    }
  }
}

/**
 * BFD sessions that went Down after Up in the agents' logs of a lab (their BFD
 * service's `bfd-state` lines from Up: one per transition): false detections
 * when no host failed; `bfd-late` lines (the BFD thread's timers >= 100 ms late)
 */
function bfdDowns(lab: LabSpec): { downs: number; late: number } {
  let downs = 0
  let late = 0
  for (const h of lab.hosts) {
    try {
      for (const l of readFileSync(h.log, 'utf8').split('\n')) {
        if (l.includes('"event":"bfd-state"') && l.includes('"from":"Up"')) downs++
        else if (l.includes('"event":"bfd-late"')) late++
      }
    } catch {
      /* no log */
    }
  }
  return { downs, late }
}

/** packets the kernel's per-CPU input backlogs dropped (net.core.netdev_max_backlog full), all CPUs: veth traffic of every lab namespace passes them */
function backlogDrops(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n').reduce((n, l) => n + Number.parseInt(l.trim().split(/\s+/)[1]!, 16), 0)
}

interface Row {
  lab: string; bfdDownsBefore?: string; backlogDrops: number; bfd: string; up: number; converged: number; join?: number; down?: number; crash?: number; crashNoBfd?: number
  agentRss: string; agentCpu: string; rrRss: string; rrCpu: string; load: string
}

let current: string | undefined
process.once('SIGINT', () => {
  process.stderr.write('interrupted: removing the lab\n')
  void (current ? labDown(current) : Promise.resolve()).finally(() => process.exit(130))
})

async function scenario(label: string, n: number, topology: 'mesh' | 'rr', engine: RrEngine): Promise<Row> {
  const name = `sc${process.pid % 10000}${topology === 'mesh' ? 'm' : engine[0]}`
  current = name
  const bfdInterval = topology === 'mesh' ? MESH_BFD_INTERVAL : BFD_INTERVAL
  process.stderr.write(`${label}: ${n} hosts (+1 joining)${BFD ? `, BFD ${bfdInterval} ms x 3` : ''}...\n`)
  const mons: Monitor[] = []
  const load0 = loadavg()[0]!
  const drops0 = backlogDrops()
  let kept: LabSpec | undefined
  try {
    const t0 = Date.now()
    const lab = await labUp({
      name, hosts: n + 1, mode: 'bgp', topology, reflectors: 2, rrEngine: engine, logLevel: 'info', start: false,
      ...(BFD ? { bfd: { interval: bfdInterval, multiplier: 3 } } : {}),
    })
    kept = lab
    const joiner = lab.hosts[n]!
    const running: LabSpec = { ...lab, hosts: lab.hosts.slice(0, n) }
    const clients = running.hosts.filter((h) => !lab.reflectors.some((r) => r.ns === h.ns))
    const mid = Math.floor(clients.length / 2)
    const [died, crashed, plain] = [clients[mid]!, clients[mid + 1]!, BFD ? clients[mid + 2]! : undefined]
    // with --bfd one client runs without it: its crash shows graceful restart alone
    await startAgents(lab, running.hosts.filter((h) => h !== plain))
    if (plain) {
      startAgent(lab, plain, { logLevel: 'info', bfd: false })
      await waitAgents(lab, [plain], 60_000)
    }
    const up = (Date.now() - t0) / 1000
    if (!(await waitConverged(running, 300_000))) throw new Error(`${label}: not converged after 300 s${BFD ? `; ${bfdDowns(lab).downs} BFD sessions went down after Up in the agents' logs` : ''}`)
    const converged = (Date.now() - t0) / 1000
    process.stderr.write(`  up ${up.toFixed(1)} s, converged ${converged.toFixed(1)} s\n`)
    await sleep(2000)

    for (const h of lab.hosts) mons.push(monitor(h.ns))
    await sleep(500)
    const j0 = Date.now()
    startAgent(lab, joiner, { logLevel: 'info' })
    const joinDone = await waitEvents([
      ...running.hosts.map((_h, i) => ({ m: mons[i]!, prefix: joiner.subnet })),
      ...running.hosts.map((h) => ({ m: mons[n]!, prefix: h.subnet })),
    ], false, 60_000)
    const join = joinDone === undefined ? undefined : (joinDone - j0) / 1000
    await sleep(2000)

    const agentGroups = await Promise.all(lab.hosts.filter((h) => !lab.reflectors.some((r) => r.ns === h.ns)).map(async (h) => agentPids(h)))
    const rrGroups = lab.reflectors.map((r) => (r.engine === 'fabric' ? [] : pidsInNamespaces([r.ns]).get(r.ns)!))
    for (const [i, r] of lab.reflectors.entries()) {
      if (r.engine === 'fabric') rrGroups[i] = await agentPids(lab.hosts.find((h) => h.ns === r.ns)!)
    }
    const u = await usage({ agents: agentGroups, rr: rrGroups })

    // BFD downs so far: none is a real failure (no host has failed yet)
    const b = BFD ? bfdDowns(lab) : undefined
    const bfdDownsBefore = b ? `${b.downs} (bfd-late: ${b.late})` : undefined
    const gone = (victim: LabHost, dead: LabHost[]) => lab.hosts.filter((h) => !dead.includes(h)).map((h) => ({ m: mons[lab.hosts.indexOf(h)]!, prefix: victim.subnet }))
    const since = (t: number | undefined, t0: number) => (t === undefined ? undefined : (t - t0) / 1000)
    // a host dies: its link, then its agent
    const d0 = Date.now()
    await must('ip', ['-n', died.ns, 'link', 'set', 'eth0', 'down'])
    await signalAgent(died, 'SIGKILL', false)
    // (in a mesh the host without BFD is the died host's peer itself and notices at the hold time: not counted)
    const down = since(await waitEvents(gone(died, topology === 'mesh' && plain ? [died, plain] : [died]), true, 60_000), d0)
    process.stderr.write(`  host down: ${down ?? 'timeout'} s\n`)
    // agents crash on live hosts (with --bfd the one without BFD at the same moment)
    const crashedAll = plain ? [crashed, plain] : [crashed]
    const c0 = Date.now()
    await Promise.all(crashedAll.map((h) => signalAgent(h, 'SIGKILL', false)))
    const dead = [died, ...crashedAll]
    const [crash, crashNoBfd] = await Promise.all(crashedAll.map(async (h) => since(await waitEvents(gone(h, dead), true, 180_000), c0)))
    return {
      lab: label, bfdDownsBefore, backlogDrops: backlogDrops() - drops0, bfd: BFD ? `${bfdInterval} ms x 3` : 'no', up, converged, join, down, crash, crashNoBfd,
      load: `${load0.toFixed(1)} / ${loadavg()[0]!.toFixed(1)}`,
      agentRss: stats(u.agents!.rss), agentCpu: stats(u.agents!.cpu),
      rrRss: lab.reflectors.length ? stats(u.rr!.rss) : '-', rrCpu: lab.reflectors.length ? stats(u.rr!.cpu) : '-',
    }
  } finally {
    for (const m of mons) m.proc.kill()
    keepLogs(label, kept)
    await labDown(name)
  }
}

const rows: Row[] = []
const failed: string[] = []
// a lab that fails is reported and the next one runs
const attempt = async (label: string, n: number, topology: 'mesh' | 'rr', engine: RrEngine): Promise<void> => {
  try {
    const r = await scenario(label, n, topology, engine)
    rows.push(r)
    process.stderr.write(`  row: ${JSON.stringify(r)}\n`)
  } catch (e) {
    failed.push(`${label}: ${(e as Error).message}`)
    process.stderr.write(`  FAILED: ${(e as Error).message}\n`)
  }
}
for (const k of (ONLY === '' ? 'mesh,fabric,bird,frr' : ONLY).split(',')) {
  if (k === 'mesh') await attempt(`mesh-${MESH}`, MESH, 'mesh', 'fabric')
  else if (k === 'fabric' || k === 'bird' || k === 'frr') await attempt(`rr-${k}-${RR}`, RR, 'rr', k)
  else throw new Error(`--only ${k}: expected mesh, fabric, bird or frr`)
}

const f = (x: number | undefined) => (x === undefined ? 'timeout' : x.toFixed(2))
console.log(`scale, ${new Date().toISOString()}, ${BFD ? 'with BFD' : 'without BFD'}`)
console.log(`| lab | BFD | lab up (s) | converged (s) | join routed both ways (s) | host down: withdrawn everywhere (s) | agent SIGKILL: withdrawn everywhere (s) |${BFD ? ' agent SIGKILL, host without BFD (s) |' : ''} agent RSS MB min/med/max | agent CPU % min/med/max | reflector RSS MB | reflector CPU % | load 1 min before / after | backlog drops |${BFD ? " BFD downs before the failures (bfd-late lines) |" : ''}`)
console.log(`|---|---|---|---|---|---|---|${BFD ? '---|' : ''}---|---|---|---|---|---|${BFD ? '---|' : ''}`)
for (const r of rows) {
  console.log(`| ${r.lab} | ${r.bfd} | ${r.up.toFixed(1)} | ${r.converged.toFixed(1)} | ${f(r.join)} | ${f(r.down)} | ${f(r.crash)} |${BFD ? ` ${f(r.crashNoBfd)} |` : ''} ${r.agentRss} | ${r.agentCpu} | ${r.rrRss} | ${r.rrCpu} | ${r.load} | ${r.backlogDrops} |${BFD ? ` ${r.bfdDownsBefore} |` : ''}`)
}
for (const f of failed) console.log(`failed: ${f}`)
if (failed.length) process.exitCode = 1
