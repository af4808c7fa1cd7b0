/**
 * bench/kernel: fabric's kernel layer against a real kernel, in a network
 * namespace this script creates (and removes, also on failure).
 *
 *   npm run bench:kernel [-- --routes 100000 --drift 0.01]
 *
 * Prints: install rate through Rtnl.applyRoutes, the same routes through a
 * long-lived `ip -batch -` child for comparison, a full FibSync reconcile of
 * the table with 1% drift (missing, wrong next hop, stale), removal rate,
 * and the RSS of a process holding the RIB and desired table of N routes.
 */
import { execFileSync, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : dflt
}
const N = arg('routes', 100_000)
const DRIFT = arg('drift', 0.01)
const PROTO = 233

function sh(cmd: string, a: string[], input?: string): string {
  return execFileSync(cmd, a, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 30 })
}

async function outer(): Promise<void> {
  const ns = `fbench${process.pid}`
  const cleanup = (): void => {
    try { sh('ip', ['netns', 'del', ns]) } catch { /* gone */ }
  }
  process.on('SIGINT', () => { cleanup(); process.exit(130) })
  try {
    sh('ip', ['netns', 'add', ns])
    sh('ip', ['-n', ns, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1'])
    sh('ip', ['-n', ns, 'addr', 'add', '10.0.0.1/24', 'dev', 'up0'])
    sh('ip', ['-n', ns, 'link', 'set', 'up0', 'up'])
    sh('ip', ['-n', ns, 'link', 'set', 'up1', 'up'])
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    // Measure compiled JavaScript, as the agent image runs it (no tsx loader
    // in the process): compile src/ and bench/ into dist-check/ first.
    const root = fileURLToPath(new URL('../', import.meta.url))
    execFileSync(process.execPath, [`${root}/node_modules/typescript/bin/tsc`, '-p', `${root}/tsconfig.json`, '--noCheck'], { stdio: 'inherit' })
    const self = `${root}/dist-check/bench/kernel.js`
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--expose-gc', self, '--inner', ...args], { stdio: 'inherit' })
    const code = await new Promise<number>((r) => child.on('exit', (c) => r(c ?? 1)))
    process.exitCode = code
  } finally {
    cleanup()
  }
}

function routeLines(verb: string, n: number): string {
  const lines: string[] = []
  for (let i = 0; i < n; i++) {
    const a = 0x0b000000 + i * 256 // 11.x.y.0/24
    lines.push(`route ${verb} ${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.0/24 via 10.0.0.2 proto ${PROTO}`)
  }
  return lines.join('\n') + '\n'
}

async function inner(): Promise<void> {
  const { Rtnl } = await import('../src/kernel/rtnl.js')
  const { FibSync } = await import('../src/kernel/fib-sync.js')
  const { Rib } = await import('../src/rib/rib.js')
  const { MAIN_TABLE } = await import('../src/kernel/types.js')
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
  const spec = (i: number, gw = 0x0a000002) => ({ prefix: { addr: (0x0b000000 + i * 256) >>> 0, len: 24 }, table: MAIN_TABLE, protocol: PROTO, gateway: gw, metric: 0 })
  const gcRss = async (): Promise<number> => {
    for (let i = 0; i < 3; i++) {
      global.gc?.()
      await new Promise((r) => setTimeout(r, 200))
    }
    return process.memoryUsage().rss / 1048576
  }
  const baseRss = await gcRss()

  // 1. ip -batch baseline (a child process, as fabric would use it)
  let t = performance.now()
  sh('ip', ['-batch', '-'], routeLines('add', N))
  const ipAdd = (performance.now() - t) / 1000
  t = performance.now()
  sh('ip', ['-batch', '-'], routeLines('del', N))
  const ipDel = (performance.now() - t) / 1000

  // 2. the full agent path: RIB -> FibSync -> Rtnl
  const rtnl = new Rtnl()
  const rib = new Rib()
  const quiet = { log: () => {}, limited: () => {} }
  const fib = new FibSync({ port: rtnl, protocol: PROTO, table: MAIN_TABLE, log: quiet, desired: rib.desiredTable() })
  fib.allowDeletes = true
  rib.onBestChange((c) => fib.setDesired(c.prefix, c.best, c.previous))
  const since = Math.floor(Date.now() / 1000)
  t = performance.now()
  for (let i = 0; i < N; i++) rib.add({ prefix: spec(i).prefix, nextHop: 0x0a000002, source: 'static', peer: `h${i}`, metric: 0, since })
  const ribS = (performance.now() - t) / 1000
  t = performance.now()
  await fib.drain() // incremental: what a protocol feeding the RIB gets
  const fibAdd = (performance.now() - t) / 1000
  const installedOk = fib.stateCounts().installed

  // 3. drift made behind fabric's back (another socket): 1/3 deleted, 1/3 wrong next hop, 1/3 stale extra
  const D = Math.round(N * DRIFT)
  const third = Math.floor(D / 3)
  const other = new Rtnl()
  await other.applyRoutes([
    ...Array.from({ length: third }, (_, i) => ({ kind: 'delete' as const, spec: spec(i) })),
    ...Array.from({ length: third }, (_, i) => ({ kind: 'replace' as const, spec: spec(third + i, 0x0a000004) })),
    ...Array.from({ length: D - 2 * third }, (_, i) => ({ kind: 'add' as const, spec: spec(N + i) })),
  ])
  other.close()
  t = performance.now()
  const rec = await fib.flush()
  const recS = (performance.now() - t) / 1000
  const idle = await fib.flush()
  // churn through the RIB: 1% of the prefixes move to another next hop
  t = performance.now()
  for (let i = 0; i < D; i++) rib.add({ prefix: spec(i * 7 % N).prefix, nextHop: 0x0a000005, source: 'static', peer: `h${i * 7 % N}`, metric: 0, since })
  await fib.drain()
  const churnS = (performance.now() - t) / 1000
  const rss = await gcRss()
  const heap = process.memoryUsage().heapUsed / 1048576

  // 4. removal through FibSync (every route withdrawn)
  for (let i = 0; i < N; i++) rib.withdraw(spec(i).prefix, 'static', `h${i}`)
  t = performance.now()
  await fib.drain()
  const fibDel = (performance.now() - t) / 1000
  const left = (await rtnl.dumpRoutes()).filter((r) => r.protocol === PROTO).length
  rtnl.close()

  console.log(`bench/kernel: ${fmt(N)} IPv4 /24 routes, proto ${PROTO}, in a private network namespace (node ${process.version})`)
  console.log(`  ip -batch -        install ${ipAdd.toFixed(2)} s (${fmt(N / ipAdd)} routes/s), remove ${ipDel.toFixed(2)} s (${fmt(N / ipDel)} routes/s)`)
  console.log(`  fabric install     RIB ${ribS.toFixed(2)} s + kernel ${fibAdd.toFixed(2)} s (${fmt(N / fibAdd)} routes/s to the kernel, ${fmt(installedOk)} installed)`)
  console.log(`  fabric reconcile   ${(DRIFT * 100).toFixed(1)}% drift (${fmt(D)} routes missing / wrong next hop / stale): ${recS.toFixed(3)} s, ${rec.applied} ops, ${rec.failed} failed`)
  console.log(`  fabric no-op sync  ${(idle.durationMs / 1000).toFixed(3)} s (full reconcile: dump + diff of ${fmt(N)} routes, ${idle.applied} ops)`)
  console.log(`  fabric churn       ${churnS.toFixed(3)} s for ${fmt(D)} next-hop changes through the RIB (incremental, no dump)`)
  console.log(`  fabric remove      ${fibDel.toFixed(2)} s (${fmt(N / fibDel)} routes/s, ${left} of fabric's routes left)`)
  console.log(`  memory             RSS ${rss.toFixed(0)} MB with ${fmt(N)} routes (process baseline ${baseRss.toFixed(0)} MB), V8 heap ${heap.toFixed(0)} MB`)
}

if (args.includes('--inner')) await inner()
else await outer()
