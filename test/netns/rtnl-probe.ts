/**
 * Run inside a test namespace by kernel.test.ts.
 *
 *   rtnl-probe.ts N          applies a batch of N IPv4 route operations through
 *                            Rtnl, some of which must fail, and prints each errno
 *   rtnl-probe.ts capture6   prints the raw IPv6 route and address dump messages
 *                            (hex payloads: the fixtures of rtnl-codec6.test.ts)
 */
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

const mode = process.argv[2] ?? '2000'
if (mode === 'capture6') await capture6()
else await batch4(Number(mode))
