/**
 * `fabric lab status` benchmark (prints figures; not a test).
 *
 * For each lab size, one after the other: a lab of compiled agents
 * (`lab up`, by default BGP under two fabric route reflectors, as in
 * bench/scale.ts), waited for until the summary shows every host converged
 * and every sampled ping answered; then the wall time of the `fabric lab
 * status` command itself (a new CLI process, compiled, as a user runs it),
 * --runs times, and of `fabric lab status --matrix` (every container pings
 * every other), --matrix-runs times. Labs of up to 10 hosts print the full
 * report without --matrix. The summary's own line of phase times (agents,
 * kernel routes, pings) is printed for the last run.
 *
 *   npm run build && node --import tsx bench/lab-status.ts [--hosts 10,50,200] [--runs 5] [--matrix-runs 2]
 *        [--mode bgp] [--topology rr|mesh] [--ipv6] [--keep]   # as root
 *
 * Every lab is named lsPID-N and removed at the end, also on failure or
 * Ctrl-C (with --keep the last one is left up).
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { Mode } from '../src/config/fabric-config.js'
import { type LabSpec, type LabUpOptions, type Topology, labDown, labUp } from '../src/lab/lab.js'
import { labSummary } from '../src/lab/report.js'
import { routeStats, summaryOk } from '../src/lab/summary.js'
import { sleep } from '../src/lab/sh.js'
import { option, repo, useCompiledAgent } from './options.js'

useCompiledAgent('bench/lab-status.ts', 'the compiled CLI and agents')

const args = process.argv.slice(2)
const opt = option
const SIZES = opt('hosts', '10,50,200').split(',').map(Number)
const RUNS = Number(opt('runs', '5'))
const MATRIX_RUNS = Number(opt('matrix-runs', '2'))
const MODE = opt('mode', 'bgp') as Mode
const IPV6 = args.includes('--ipv6')
const TOPOLOGY = opt('topology', IPV6 ? 'mesh' : 'rr') as Topology
const KEEP = args.includes('--keep')

function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
}

/** Runs `fabric ARGS` as a new process; wall time in ms, exit code and output. */
function fabric(cliArgs: string[]): Promise<{ ms: number; code: number; out: string }> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint()
    const child = spawn(process.execPath, [`${repo}bin/fabric.js`, ...cliArgs], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env })
    const chunks: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => chunks.push(b))
    child.stderr.on('data', (b: Buffer) => chunks.push(b))
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code: code ?? 1, out: Buffer.concat(chunks).toString() }))
  })
}

function fmt(ms: number[]): string {
  const s = routeStats(ms)!
  return `min ${(s.min / 1000).toFixed(2)} s, median ${(s.median / 1000).toFixed(2)} s, max ${(s.max / 1000).toFixed(2)} s`
}

async function waitReady(spec: LabSpec, timeoutMs: number): Promise<boolean> {
  const t0 = Date.now()
  let said = t0
  for (;;) {
    const s = await labSummary(spec)
    if (summaryOk(s)) return true
    const state = `${s.converged}/${s.hosts} converged, ${s.agentsDown.length} agents down, ${s.families.map((f) => `IPv${f.family} ${f.missing.length} missing routes, ${f.pings.filter((p) => !p.ok).length} pings failed`).join(', ')}`
    if (Date.now() - t0 > timeoutMs) {
      process.stderr.write(`  not ready after ${timeoutMs / 1000} s: ${state}\n`)
      return false
    }
    if (Date.now() - said > 15_000) {
      said = Date.now()
      console.log(`  waiting (${((Date.now() - t0) / 1000).toFixed(0)} s): ${state}`)
    }
    await sleep(2000)
  }
}

const labs: string[] = []
let stopping = false
async function cleanup(): Promise<void> {
  for (const name of labs.splice(0)) {
    const r = await labDown(name)
    console.log(`  lab ${name} removed (${r.namespaces} namespaces${r.restored.length ? `; restored ${r.restored.join(', ')}` : ''})`)
  }
}
process.on('SIGINT', () => {
  if (stopping) return
  stopping = true
  void cleanup().then(() => process.exit(130))
})

console.log(`bench/lab-status: mode ${MODE}, topology ${TOPOLOGY}${TOPOLOGY === 'rr' ? ' (2 fabric reflectors)' : ''}${IPV6 ? ', dual-stack' : ''}, compiled CLI and agents, node ${process.version}`)
try {
  for (const [k, n] of SIZES.entries()) {
    const name = `ls${process.pid % 100000}n${n}`
    labs.push(name)
    const t0 = Date.now()
    const up: LabUpOptions & { ipv6?: boolean } = { name, hosts: n, mode: MODE, topology: TOPOLOGY, reflectors: 2, logLevel: 'info', ...(IPV6 ? { ipv6: true } : {}) }
    const spec = await labUp(up)
    const upS = (Date.now() - t0) / 1000
    if (!(await waitReady(spec, 300_000))) throw new Error(`${n} hosts: the lab did not converge`)
    console.log(`${n} hosts: lab up ${upS.toFixed(1)} s, ready (converged, sample pings answered) after ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    await sleep(5000) // let the agents settle after the last route changes
    const times: number[] = []
    const codes = new Set<number>()
    let last = ''
    const load0 = loadavg()
    for (let i = 0; i < RUNS; i++) {
      const r = await fabric(['lab', 'status', '--name', name])
      times.push(r.ms)
      codes.add(r.code)
      last = r.out
    }
    const kind = n > 10 ? 'summary' : 'full report'
    console.log(`  fabric lab status (${kind}): ${fmt(times)} over ${RUNS} runs, exit ${[...codes].join('/')}, load average ${load0} -> ${loadavg()}`)
    const phase = last.split('\n').find((l) => /^\(\d+\.\d s: agents/.test(l))
    if (phase) console.log(`    last run: ${phase}`)
    const lines = last.trimEnd().split('\n')
    if (n > 10) for (const l of lines.slice(1, -1)) console.log(`    | ${l}`)
    const mtimes: number[] = []
    const mcodes = new Set<number>()
    let mlast = ''
    for (let i = 0; i < MATRIX_RUNS; i++) {
      const r = await fabric(['lab', 'status', '--name', name, '--matrix'])
      mtimes.push(r.ms)
      mcodes.add(r.code)
      mlast = r.out
    }
    if (MATRIX_RUNS > 0) {
      console.log(`  fabric lab status --matrix: ${fmt(mtimes)} over ${MATRIX_RUNS} runs, exit ${[...mcodes].join('/')}, load average ${loadavg()}`)
      for (const l of mlast.split('\n').filter((x) => x.startsWith('== container reachability') || x.startsWith('warning') || x.startsWith('ping errors'))) console.log(`    | ${l}`)
    }
    if (!(KEEP && k === SIZES.length - 1)) await cleanup()
  }
} finally {
  if (!KEEP) await cleanup()
  else if (labs.length) console.log(`  kept lab ${labs.join(', ')}: fabric lab down --name ${labs[0]}`)
}
