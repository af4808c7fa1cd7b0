/**
 * Runs inside a namespace for bench/bgp-ingest: counts the routes of one
 * protocol in the main table every INTERVAL ms through one netlink dump
 * (no decoding, no text: cheap enough not to disturb what is measured) and
 * prints the first time the count reaches TARGET, as seconds since the
 * epoch, then exits.
 *   node dist-check/bench/route-counter.js PROTO TARGET [INTERVAL_MS]
 */
import { Rtnl } from '../src/kernel/rtnl.js'

const [proto, target, interval] = process.argv.slice(2).map(Number)
const rtnl = new Rtnl()
for (;;) {
  const n = await rtnl.countRoutes(proto!)
  if (n >= target!) {
    console.log(JSON.stringify({ reached: Date.now() / 1000, count: n }))
    break
  }
  await new Promise((r) => setTimeout(r, interval || 250))
}
rtnl.close()
