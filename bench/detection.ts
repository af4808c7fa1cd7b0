/**
 * Detection benchmark (issue 10; prints figures, not a test).
 *
 *   npm run build && FABRIC_USE_DIST=1 node --import tsx bench/detection.ts [--hosts 10] [--seconds 20] [--only detection|cpu]
 *
 * 1. Detection time in a 10-host iBGP mesh (real agents, lab hold time 9 s):
 *    host 1's underlay link is set down; for each of the other 9 hosts, the
 *    time from `ip link set down` to the kernel deleting host 1's subnet
 *    there (the kernel's timestamp, `ip -ts monitor route`). Once with the
 *    hold time only, once with bfd = yes (100 ms x 3).
 * 2. The agent's CPU with 50 BFD sessions at 100 ms x 3: one agent in RIP
 *    mode with 50 configured neighbours and [rip] bfd = yes (one session per
 *    neighbour) against 50 BFD endpoints in the other host's namespace
 *    (bench/bfd.ts's `role`, in its own process). CPU of the agent process
 *    (all threads: main + BFD worker; /proc/PID/stat utime + stime) over the
 *    window, as % of one core, and the same agent with bfd = no.
 * With FABRIC_USE_DIST=1 the agents run dist/ (bin/fabric.js picks it).
 * Everything runs in lab namespaces named dtPID* (removed at the end, also on failure).
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { getJson } from '../src/api/client.js'
import { type LabHost, agentPids, labDown, labUp, modeDefaults } from '../src/lab/lab.js'
import { must, sleep, waitFor } from '../src/lab/sh.js'
import { delays, figure, monitors } from '../test/netns/hitless-helpers.js'

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1]! : dflt
}
const HOSTS = Number(arg('hosts', '10'))
const SECONDS = Number(arg('seconds', '20'))
const ONLY = arg('only', '')
const tag = `dt${process.pid % 10000}`

async function fabricRoutes(ns: string): Promise<number> {
  const r = await must('ip', ['-n', ns, '-j', 'route', 'show', 'proto', '233'])
  return (JSON.parse(r || '[]') as unknown[]).length
}

async function detection(bfd: boolean): Promise<number[]> {
  const name = `${tag}${bfd ? 'b' : 'h'}`
  const extra = [...modeDefaults('bgp'), ...(bfd ? ['bfd = yes', 'bfd-interval = 100', 'bfd-multiplier = 3'] : [])]
  const lab = await labUp({ name, hosts: HOSTS, mode: 'bgp', iniExtra: extra, logLevel: 'info' })
  try {
    const [h1, ...others] = lab.hosts as [LabHost, ...LabHost[]]
    for (const h of lab.hosts) {
      if (!(await waitFor(async () => ((await fabricRoutes(h.ns)) === HOSTS - 1 ? true : undefined), 90_000, 200))) throw new Error(`${h.name}: routes did not converge`)
    }
    if (bfd) {
      for (const h of lab.hosts) {
        const ok = await waitFor(async () => {
          const p = await getJson<{ peers: { details?: { bfd?: { state: string } | null } }[] }>(h.socket, '/v1/peers', 3000).catch(() => undefined)
          return p && p.peers.filter((x) => x.details?.bfd?.state === 'Up').length >= HOSTS - 1 ? true : undefined
        }, 30_000, 200)
        if (!ok) throw new Error(`${h.name}: BFD not Up on every session`)
      }
    }
    await sleep(1000)
    const { mons, stop } = await monitors(others)
    try {
      const t0 = Date.now()
      await must('ip', ['-n', h1.ns, 'link', 'set', 'eth0', 'down'])
      return await delays(mons, h1.subnet, true, t0, 15_000)
    } finally {
      stop()
    }
  } finally {
    await labDown(name)
  }
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ')
  return Number(rest[11]) + Number(rest[12]) // utime, stime (fields 14, 15)
}

async function agentCpu(sessions: number, bfd: boolean): Promise<{ percent: number; up: number }> {
  const name = `${tag}${bfd ? 'c' : 'n'}`
  const locals = Array.from({ length: sessions }, (_, i) => `10.99.0.${100 + i}`)
  const extra = [...modeDefaults('rip'), `neighbor = ${locals.join(',')}`, ...(bfd ? ['bfd = yes', 'bfd-interval = 100', 'bfd-multiplier = 3'] : [])]
  const lab = await labUp({ name, hosts: 2, mode: 'rip', iniExtra: extra, start: false })
  let peers: ReturnType<typeof spawn> | undefined
  try {
    const [h1, h2] = lab.hosts as [LabHost, LabHost]
    await must('ip', ['-n', h2.ns, '-batch', '-'], `${locals.map((a) => `addr add ${a}/24 dev eth0`).join('\n')}\n`)
    const { startAgent, waitAgents } = await import('../src/lab/lab.js')
    startAgent(lab, h1, { logLevel: 'warn' })
    await waitAgents(lab, [h1])
    let up = 0
    if (bfd) {
      const bench = fileURLToPath(new URL('./bfd.ts', import.meta.url))
      peers = spawn('ip', ['netns', 'exec', h2.ns, process.execPath, '--import', 'tsx', bench, 'role', locals.join(','), locals.map(() => h1.address).join(',')], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env })
      const states = new Map<string, string>()
      createInterface({ input: peers.stdout! }).on('line', (l) => {
        try {
          const m = JSON.parse(l) as { ev: string; key?: string; to?: string }
          if (m.ev === 'state') states.set(m.key!, m.to!)
        } catch {
          /* not ours */
        }
      })
      await waitFor(async () => ([...states.values()].filter((s) => s === 'Up').length >= sessions ? true : undefined), 60_000, 200)
      up = [...states.values()].filter((s) => s === 'Up').length
    }
    await sleep(2000)
    const [pid] = await agentPids(h1)
    const c0 = cpuTicks(pid!)
    const t0 = performance.now()
    await sleep(SECONDS * 1000)
    const ticks = cpuTicks(pid!) - c0
    const wall = (performance.now() - t0) / 1000
    return { percent: (ticks / 100 / wall) * 100, up }
  } finally {
    peers?.kill('SIGKILL')
    await labDown(name)
  }
}

async function main(): Promise<void> {
  console.log(`agent code: ${process.env.FABRIC_USE_DIST === '1' ? 'dist/ (compiled)' : 'src/ through tsx'}`)
  if (ONLY !== 'cpu') {
    const hold = await detection(false)
    console.log(`detection, ${HOSTS}-host mesh, hold time 9 s only : ${figure(hold)}`)
    const bfd = await detection(true)
    console.log(`detection, ${HOSTS}-host mesh, BFD 100 ms x 3     : ${figure(bfd)}`)
  }
  if (ONLY !== 'detection') {
    const base = await agentCpu(50, false)
    const withBfd = await agentCpu(50, true)
    console.log(`agent CPU, RIP with 50 neighbours, bfd = no          : ${base.percent.toFixed(1)} % of one core over ${SECONDS} s`)
    console.log(`agent CPU, RIP with 50 neighbours, BFD 100 ms x 3    : ${withBfd.percent.toFixed(1)} % of one core over ${SECONDS} s (${withBfd.up} sessions Up)`)
  }
}

await main()
