/**
 * BGP ingest benchmark (prints figures; not a test).
 *
 * A BIRD 2 sender (static protocol, N /24 prefixes from 11.0.0.0 upwards)
 * announces over one eBGP session each to fabric (the real agent, `fabric
 * join` by flags) and, side by side in the same run, to a BIRD 2 receiver
 * with a kernel protocol. Both sessions are enabled at the same instant
 * (t = 0) once the sender has all N routes. Reported per receiver: seconds
 * until all N prefixes are in its RIB, seconds until all N are in its
 * namespace's kernel, and peak RSS (VmHWM).
 *
 *   sudo node --import tsx bench/bgp-ingest.ts [N ...]      (default: 100000 1000000)
 *
 * The agent runs compiled (src/ and bench/ are compiled into dist-check/ with
 * tsc first, like bench/kernel.ts), without the tsx loader in its process, as
 * the agent image runs it.
 *
 * Everything runs in namespaces of a lab named bgbPID (removed at the end,
 * also on failure); nothing touches the root namespace.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getJson } from '../src/api/client.js'
import { type LabHost, labDown, labUp, waitAgents } from '../src/lab/lab.js'
import { run, sleep } from '../src/lab/sh.js'

const SENDER_AS = 65100

function ipOf(i: number): string {
  const a = (11 << 24) + i * 256
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.0`
}

function vmHwm(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : 0
}


async function birdCount(ns: string, sock: string): Promise<number> {
  const r = await run('ip', ['netns', 'exec', ns, 'birdc', '-s', sock, 'show', 'route', 'count'])
  const m = /(\d+) of \d+ routes/.exec(r.stdout)
  return m ? Number(m[1]) : 0
}

async function startBird(h: LabHost, name: string, conf: string): Promise<{ sock: string; pid: number }> {
  const dir = join(h.dir, name)
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'bird.conf')
  writeFileSync(file, conf)
  const sock = join(dir, 'bird.ctl')
  const pidFile = join(dir, 'bird.pid')
  const r = await run('ip', ['netns', 'exec', h.ns, 'bird', '-c', file, '-s', sock, '-P', pidFile], { timeoutMs: 300_000 })
  if (r.code !== 0) throw new Error(`bird ${name}: ${r.stderr}`)
  for (let i = 0; i < 100; i++) {
    try {
      return { sock, pid: Number(readFileSync(pidFile, 'utf8').trim()) }
    } catch {
      await sleep(100)
    }
  }
  throw new Error('no bird pid')
}

interface Result {
  n: number; fabricRib: number; fabricKernel: number; fabricRss: number; birdRib: number; birdKernel: number; birdRss: number
  /** RSS just before the sessions were enabled */
  fabricBase: number; birdBase: number
  /** the agent's RSS and V8 heap once everything is installed (what it keeps, vs the peak) */
  fabricLiveRss: number; fabricHeap: number
}

function vmRss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : 0
}

const root = fileURLToPath(new URL('../', import.meta.url))
let compiledSelf = ''

async function once(n: number): Promise<Result> {
  const name = `bgb${process.pid % 100000}`
  const lab = await labUp({ name, hosts: 3, mode: 'bgp', start: false })
  try {
    const [fab, rx, tx] = lab.hosts as [LabHost, LabHost, LabHost]
    // sender: N static routes, both sessions disabled until the table is loaded
    const routes: string[] = []
    for (let i = 0; i < n; i++) routes.push(`  route ${ipOf(i)}/24 blackhole;`)
    const peer = (pname: string, addr: string) => [
      `protocol bgp ${pname} {`, `  local ${tx.address} as ${SENDER_AS};`, `  neighbor ${addr} as 64512;`, '  disabled;',
      '  hold time 30;', '  ipv4 { import none; export all; };', '}',
    ].join('\n')
    const sender = await startBird(tx, 'sender', [
      `router id ${tx.address};`, 'protocol device {}', 'protocol static { ipv4;', ...routes, '}',
      peer('tofabric', fab.address), peer('tobird', rx.address),
    ].join('\n') + '\n')
    routes.length = 0
    const receiver = await startBird(rx, 'receiver', [
      `router id ${rx.address};`, 'protocol device {}', 'protocol kernel { ipv4 { export all; }; }',
      `protocol bgp fromsender { local ${rx.address} as 64512; neighbor ${tx.address} as ${SENDER_AS}; hold time 30; ipv4 { import all; export none; }; }`,
    ].join('\n') + '\n')
    const agentArgs = {
      address: fab.address, stateDir: fab.dir, socket: fab.socket, rtProtosDir: join(fab.dir, 'rt_protos.d'),
      overrides: {
        mode: 'bgp', pool: lab.pool, subnet: fab.subnet, peers: [`${tx.address}@${SENDER_AS}`],
        bgp: { allow: '11.0.0.0/8,12.0.0.0/6,16.0.0.0/4', 'max-prefixes': String(n + 10), 'hold-time': '30', 'keepalive-time': '10', 'connect-retry-time': '1' },
      },
    }
    const agent = spawn('ip', ['netns', 'exec', fab.ns, process.execPath, '--expose-gc', ...(process.env.AGENT_NODE_FLAGS ?? '').split(' ').filter(Boolean), compiledSelf, '--agent', JSON.stringify(agentArgs)], {
      stdio: ['ignore', openSync(fab.log, 'a'), openSync(fab.log, 'a')],
    })
    await waitAgents(lab, [fab])
    const fabPid = Number((await run('ip', ['netns', 'pids', fab.ns])).stdout.split('\n').filter(Boolean).find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('--agent')))
    while ((await birdCount(tx.ns, sender.sock)) < n) await sleep(500)
    const fabBase = vmRss(fabPid)
    const birdBase = vmRss(receiver.pid)
    // kernel counts: a netlink counter in each namespace (no text output to format)
    const counter = (ns: string, proto: number): Promise<number> => new Promise((resolve) => {
      const c = spawn('ip', ['netns', 'exec', ns, process.execPath, `${root}/dist-check/bench/route-counter.js`, String(proto), String(n), '250'], { stdio: ['ignore', 'pipe', 'inherit'] })
      let out = ''
      c.stdout.on('data', (d: Buffer) => (out += d.toString()))
      c.on('exit', () => {
        try {
          resolve(JSON.parse(out).reached as number)
        } catch {
          resolve(NaN)
        }
      })
    })
    const epoch0 = Date.now() / 1000
    const t0 = performance.now()
    const fabKernelAt = counter(fab.ns, 233)
    const birdKernelAt = counter(rx.ns, 12)
    await run('ip', ['netns', 'exec', tx.ns, 'birdc', '-s', sender.sock, 'enable', 'tofabric'])
    await run('ip', ['netns', 'exec', tx.ns, 'birdc', '-s', sender.sock, 'enable', 'tobird'])
    const r: Result = { n, fabricRib: 0, fabricKernel: 0, fabricRss: 0, birdRib: 0, birdKernel: 0, birdRss: 0, fabricBase: fabBase, birdBase, fabricLiveRss: 0, fabricHeap: 0 }
    const deadline = t0 + 900_000
    const now = () => (performance.now() - t0) / 1000
    // four independent pollers, so a busy receiver never delays the other's figure
    const poll = async (done: () => Promise<boolean>): Promise<number> => {
      while (performance.now() < deadline) {
        if (await done()) return now()
        await sleep(200)
      }
      return NaN
    }
    ;[r.fabricRib, r.birdRib, r.fabricKernel, r.birdKernel] = await Promise.all([
      poll(async () => {
        const st = await getJson<{ sources: { stats: { prefixes: number } }[] }>(fab.socket, '/v1/status', 60_000).catch(() => undefined)
        return (st?.sources[0]?.stats.prefixes ?? 0) >= n
      }),
      poll(async () => (await birdCount(rx.ns, receiver.sock)) >= n),
      fabKernelAt.then((at) => at - epoch0),
      birdKernelAt.then((at) => at - epoch0),
    ])
    // what the agent keeps: after a forced GC (bench agents run with --expose-gc; SIGUSR2 asks)
    process.kill(fabPid, 'SIGUSR2')
    await sleep(1500)
    const live = await getJson<{ memory: { rss: number; heapUsed: number } }>(fab.socket, '/v1/status', 60_000).catch(() => undefined)
    r.fabricLiveRss = live?.memory.rss ?? NaN
    r.fabricHeap = live?.memory.heapUsed ?? NaN
    r.fabricRss = vmHwm(fabPid)
    r.birdRss = vmHwm(receiver.pid)
    agent.kill('SIGTERM')
    // BENCH_AGENT_LOG=FILE keeps the agent's output (e.g. with AGENT_NODE_FLAGS=--trace-gc)
    if (process.env.BENCH_AGENT_LOG) execFileSync('cp', [fab.log, process.env.BENCH_AGENT_LOG])
    return r
  } finally {
    await labDown(name)
  }
}

/** Inside the fabric namespace: the compiled agent, no oclif, no tsx. */
async function agentMain(json: string): Promise<void> {
  const a = JSON.parse(json)
  const { tuneHeapForAgent } = await import('../src/agent/heap.js')
  tuneHeapForAgent() // as `fabric join` does
  const { Agent } = await import('../src/agent/agent.js')
  const { createLogger } = await import('../src/core/log.js')
  const agent = new Agent({ ...a, log: createLogger({ level: 'warn', format: 'json' }) })
  await agent.start()
  process.on('SIGTERM', () => { void agent.stop().then(() => process.exit(0)) })
  process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.())
}

async function main(): Promise<void> {
  if (process.argv[2] === '--agent') return agentMain(process.argv[3]!)
  execFileSync(process.execPath, [`${root}/node_modules/typescript/bin/tsc`, '-p', `${root}/tsconfig.json`, '--noCheck'], { stdio: 'inherit' })
  compiledSelf = `${root}/dist-check/bench/bgp-ingest.js`
  const sizes = process.argv.slice(2).map(Number).filter((x) => x > 0)
  const results: Result[] = []
  for (const n of sizes.length ? sizes : [100_000, 1_000_000]) {
  const r = await once(n)
  results.push(r)
  const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB`
  console.log(`N=${n}`)
  console.log(`  fabric : RIB ${r.fabricRib.toFixed(1)} s, kernel ${r.fabricKernel.toFixed(1)} s, peak RSS ${mb(r.fabricRss)} (before ${mb(r.fabricBase)}; growth ${Math.round((r.fabricRss - r.fabricBase) / n)} B/prefix, total ${Math.round(r.fabricRss / n)} B/prefix)`)
  console.log(`           after convergence and a forced GC: RSS ${mb(r.fabricLiveRss)} (${Math.round(r.fabricLiveRss / n)} B/prefix), V8 heap used ${mb(r.fabricHeap)} (${Math.round(r.fabricHeap / n)} B/prefix)`)
  console.log(`  BIRD 2 : RIB ${r.birdRib.toFixed(1)} s, kernel ${r.birdKernel.toFixed(1)} s, peak RSS ${mb(r.birdRss)} (before ${mb(r.birdBase)}; growth ${Math.round((r.birdRss - r.birdBase) / n)} B/prefix)`)
  console.log(`  ratios : RIB ${(r.fabricRib / r.birdRib).toFixed(2)}x (target <= 1.5), kernel ${(r.fabricKernel / r.birdKernel).toFixed(2)}x (target <= 1)`)
  }
  console.log(JSON.stringify(results))
}

await main()
