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
    const self = fileURLToPath(import.meta.url)
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--expose-gc', '--import', 'tsx', self, '--inner', ...args], { stdio: 'inherit' })
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
  const rtnl = new Rtnl()
  const spec = (i: number, gw = 0x0a000002) => ({ prefix: { addr: (0x0b000000 + i * 256) >>> 0, len: 24 }, table: MAIN_TABLE, protocol: PROTO, gateway: gw, metric: 0 })
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

  // 1. ip -batch baseline
  let t = performance.now()
  sh('ip', ['-batch', '-'], routeLines('add', N))
  const ipAdd = (performance.now() - t) / 1000
  t = performance.now()
  sh('ip', ['-batch', '-'], routeLines('del', N))
  const ipDel = (performance.now() - t) / 1000

  // 2. fabric Rtnl
  const addOps = Array.from({ length: N }, (_, i) => ({ kind: 'add' as const, spec: spec(i) }))
  t = performance.now()
  const res = await rtnl.applyRoutes(addOps)
  const nlAdd = (performance.now() - t) / 1000
  const failed = res.filter((r) => r.errno !== 0).length
  t = performance.now()
  const dumped = (await rtnl.dumpRoutes()).filter((r) => r.protocol === PROTO).length
  const dumpS = (performance.now() - t) / 1000

  // 3. FibSync reconcile with drift: delete 1/3 of D by hand, change next hop of 1/3, add 1/3 stale
  const D = Math.round(N * DRIFT)
  const third = Math.floor(D / 3)
  sh('ip', ['addr', 'add', '10.0.0.3/32', 'dev', 'up0'])
  const drift = [
    ...Array.from({ length: third }, (_, i) => ({ kind: 'delete' as const, spec: spec(i) })),
    ...Array.from({ length: third }, (_, i) => ({ kind: 'replace' as const, spec: spec(third + i, 0x0a000004) })),
    ...Array.from({ length: D - 2 * third }, (_, i) => ({ kind: 'add' as const, spec: spec(N + i) })),
  ]
  await rtnl.applyRoutes(drift)
  const rib = new Rib()
  const fib = new FibSync({ rtnl, protocol: PROTO, table: MAIN_TABLE, log: () => {} })
  rib.onBestChange((c) => fib.setDesired(c.key, c.best ? { prefix: c.prefix, nextHop: c.best.nextHop, metric: 0, peer: c.best.peer } : undefined))
  for (let i = 0; i < N; i++) rib.add({ prefix: spec(i).prefix, nextHop: 0x0a000002, source: 'static', peer: `h${i}`, metric: 0 })
  fib.allowDeletes = true
  t = performance.now()
  const rec = await fib.reconcile()
  const recS = (performance.now() - t) / 1000
  global.gc?.()
  const rss = process.memoryUsage().rss / 1048576
  const heap = process.memoryUsage().heapUsed / 1048576

  // 4. removal through Rtnl
  const delOps = Array.from({ length: N }, (_, i) => ({ kind: 'delete' as const, spec: spec(i) }))
  t = performance.now()
  await rtnl.applyRoutes(delOps)
  const nlDel = (performance.now() - t) / 1000
  rtnl.close()

  console.log(`bench/kernel: ${fmt(N)} IPv4 /24 routes, proto ${PROTO}, in a private network namespace`)
  console.log(`  ip -batch -    install ${ipAdd.toFixed(2)} s (${fmt(N / ipAdd)} routes/s), remove ${ipDel.toFixed(2)} s (${fmt(N / ipDel)} routes/s)`)
  console.log(`  fabric Rtnl    install ${nlAdd.toFixed(2)} s (${fmt(N / nlAdd)} routes/s, ${failed} failed), remove ${nlDel.toFixed(2)} s (${fmt(N / nlDel)} routes/s)`)
  console.log(`  dump           ${dumped === N ? fmt(dumped) : `${fmt(dumped)} (expected ${fmt(N)})`} routes read in ${dumpS.toFixed(2)} s`)
  console.log(`  reconcile      ${(DRIFT * 100).toFixed(1)}% drift (${fmt(D)} routes: missing/wrong next hop/stale): ${recS.toFixed(3)} s, ${rec.applied} ops, ${rec.failed} failed`)
  console.log(`  memory         RSS ${rss.toFixed(0)} MB, heap ${heap.toFixed(0)} MB with ${fmt(N)} routes in RIB + desired table`)
}

if (args.includes('--inner')) await inner()
else await outer()
