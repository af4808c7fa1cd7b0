/**
 * Run inside a test namespace by kernel.test.ts: applies a batch of route
 * operations through Rtnl, some of which must fail, and prints each errno.
 */
import { Rtnl } from '../../src/kernel/rtnl.js'

const spec = (a: number, gw: number, metric = 0) => ({ prefix: { addr: a, len: 24 }, table: 254, protocol: 233, gateway: gw, metric })
const rtnl = new Rtnl()
const n = Number(process.argv[2] ?? 2000)
const ops = []
for (let i = 0; i < n; i++) {
  const a = (0x0b000000 + i * 256) >>> 0
  // every 97th route has a next hop that is not on-link: ENETUNREACH; every 89th is added twice: EEXIST
  ops.push({ kind: 'add' as const, spec: spec(a, i % 97 === 5 ? 0xc0a80101 : 0x0a000002) })
  if (i % 89 === 7) ops.push({ kind: 'add' as const, spec: spec(a, 0x0a000002) })
}
ops.push({ kind: 'delete' as const, spec: spec(0x0c000000, 0x0a000002) }) // not there: ESRCH
const results = await rtnl.applyRoutes(ops)
const count = await rtnl.countRoutes(233)
console.log(JSON.stringify({ errnos: results.map((r) => r.errno), count }))
rtnl.close()
