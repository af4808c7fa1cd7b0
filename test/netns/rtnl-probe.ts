/**
 * Run inside a test namespace by kernel.test.ts.
 *
 *   rtnl-probe.ts N          applies a batch of N IPv4 route operations through
 *                            Rtnl, some of which must fail, and prints each errno
 *   rtnl-probe.ts capture6   prints the raw IPv6 route and address dump messages
 *                            (hex payloads: the fixtures of rtnl-codec6.test.ts)
 *   rtnl-probe.ts fib6       runs FibSync6 over Rtnl through install, replace, a
 *                            route deleted by hand, withdraw and removeProtocolRoutes,
 *                            printing `ip -6 route` and the states after each step
 */
import { execFileSync } from 'node:child_process'
import { FibSync6 } from '../../src/kernel/fib-sync6.js'
import { removeProtocolRoutes } from '../../src/kernel/remove-all.js'
import { parsePrefix6 } from '../../src/net/ipv6.js'
import { Rib6 } from '../../src/rib/rib6.js'
import { RawNetlinkSocket } from 'netlink/dist/raw.js'
import { AF_INET6, NLMSG, RTM, decodeMessages, encodeDumpRequest } from '../../src/kernel/rtnl-codec.js'
import { Rtnl } from '../../src/kernel/rtnl.js'

async function capture6(): Promise<void> {
  const sock = new RawNetlinkSocket(0, {} as never)
  const dump = (type: number): Promise<string[]> => new Promise((resolve) => {
    const out: string[] = []
    const onMessage = (buf: Buffer): void => {
      const r = decodeMessages(buf)
      if (!r.ok) return
      for (const m of r.value) {
        if (m.type === NLMSG.DONE) {
          sock.removeListener('message', onMessage)
          resolve(out)
        } else out.push(m.payload.toString('hex'))
      }
    }
    sock.on('message', onMessage)
    sock.send(encodeDumpRequest(type, 1, AF_INET6), {}, () => undefined)
  })
  console.log(JSON.stringify({ routes: await dump(RTM.GETROUTE), addrs: await dump(RTM.GETADDR) }, null, 1))
  sock.close()
}

async function batch4(n: number): Promise<void> {
  const spec = (a: number, gw: number, metric = 0) => ({ prefix: { addr: a, len: 24 }, table: 254, protocol: 233, gateway: gw, metric })
  const rtnl = new Rtnl()
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
}

async function fib6(): Promise<void> {
  const P = (x: string) => { const r = parsePrefix6(x); if (!r.ok) throw new Error(r.error); return r.value }
  const ip6 = (): string[] => execFileSync('ip', ['-6', 'route', 'show', 'table', 'main'], { encoding: 'utf8' }).trim().split('\n').filter((l) => /^fd00:fab/.test(l)).map((l) => l.replace(/ pref medium$/, '').trim())
  const rtnl = new Rtnl()
  const rib = new Rib6()
  const lines: { event: string; fields: Record<string, unknown> }[] = []
  const log = { log: (_l: string, event: string, fields: Record<string, unknown> = {}) => { lines.push({ event, fields }) }, limited: (_l: string, event: string, _k: string, fields: Record<string, unknown> = {}) => { lines.push({ event, fields }) } }
  const fib = new FibSync6({ port: rtnl, protocol: 233, table: 254, log, desired: rib.desiredTable(), nextHopScope: { underlay: P('fd00:99::/64'), self: [], interface: 'up0' } })
  fib.allowDeletes = true
  rib.onBestChange((c) => fib.setDesired(c.prefix, c.best, c.previous))
  const steps: Record<string, unknown> = {}
  const states = () => Object.fromEntries(['fd00:fab:2::/64', 'fd00:fab:3::/64', 'fd00:fab:4::/64'].map((p) => [p, fib.stateOf(P(p))?.state ?? null]))
  const add = (p: string, nh: string) => rib.add({ prefix: P(p), nextHop: nh, interface: 'up0', source: 'static', peer: `h-${p}`, metric: 0 })
  add('fd00:fab:2::/64', 'fd00:99::2')
  add('fd00:fab:3::/64', 'fe80::2')
  add('fd00:fab:4::/64', 'fd00:99::4') // a proto static route holds it
  fib.start(30)
  await fib.flush()
  steps.installed = { routes: ip6(), states: states(), conflicts: fib.conflicts() }
  add('fd00:fab:2::/64', 'fd00:99::5')
  await fib.drain()
  steps.replaced = { routes: ip6() }
  execFileSync('ip', ['-6', 'route', 'del', 'fd00:fab:3::/64', 'proto', '233'])
  const t0 = Date.now()
  // no flush: the route event alone must bring it back
  while (!ip6().some((l) => l.startsWith('fd00:fab:3::/64 via fe80::2 dev up0 proto 233')) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20))
  steps.restored = { routes: ip6(), drift: lines.filter((l) => l.event === 'kernel-route-drift').map((l) => l.fields) }
  rib.withdraw(P('fd00:fab:2::/64'), 'static', 'h-fd00:fab:2::/64')
  await fib.drain()
  steps.withdrawn = { routes: ip6(), states: states() }
  fib.stop()
  const removed = await removeProtocolRoutes(rtnl, 233)
  steps.left = { routes: ip6(), removed }
  console.log(JSON.stringify(steps))
  rtnl.close()
}

const mode = process.argv[2] ?? '2000'
if (mode === 'capture6') await capture6()
else if (mode === 'fib6') await fib6()
else await batch4(Number(mode))
