/**
 * Interop harness: fabric's BGP source with its IPv6 side wired to the real
 * IPv6 RIB and FibSync6 (kernel routes of protocol 233 through rtnetlink),
 * run by test/interop/bgp6.test.ts inside a lab host's namespace:
 *
 *   ip netns exec NS node --import tsx test/interop/bgp6-speaker.ts SPEC.json
 *
 * It is the agent's IPv6 path without the rest of the agent (host
 * integration, control API), so the speaker's MP-BGP can be tried against
 * BIRD and FRR on its own. It writes STATUS (spec.status) every 300 ms:
 * peers and stats of the source. SIGTERM stops it (routes stay, as the agent
 * does); SIGUSR2 leaves (our subnets withdrawn, then Cease), as `fabric leave`.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { loadConfigText } from '../../src/config/fabric-config.js'
import { createLogger } from '../../src/core/log.js'
import type { SelfInfo } from '../../src/core/self.js'
import { parseAddress, parsePrefix } from '../../src/net/ipv4.js'
import { parsePrefix6 } from '../../src/net/ipv6.js'
import { FibSync6 } from '../../src/kernel/fib-sync6.js'
import { Rtnl } from '../../src/kernel/rtnl.js'
import { MAIN_TABLE } from '../../src/kernel/types.js'
import { Rib } from '../../src/rib/rib.js'
import { Rib6 } from '../../src/rib/rib6.js'
import { BgpSource } from '../../src/protocols/bgp/source.js'

interface Spec {
  ini: string
  overrides?: Record<string, string>
  peers?: string[]
  self: { name: string; address: string; subnet: string; interface: string; underlay: string; address6: string; underlay6: string; subnet6: string; pool6: string; linkLocal?: string }
  stateDir: string
  status: string
}

function must<T>(r: { ok: true; value: T } | { ok: false; error: string }): T {
  if (!r.ok) throw new Error(r.error)
  return r.value
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Spec
const config = loadConfigText(spec.ini, 'fabric.ini', { peers: spec.peers ?? [] })
const s = spec.self
const self: SelfInfo = {
  name: s.name, address: must(parseAddress(s.address)), subnet: must(parsePrefix(s.subnet)), interface: s.interface, underlay: must(parsePrefix(s.underlay)),
  address6: s.address6, underlay6: must(parsePrefix6(s.underlay6)), subnet6: must(parsePrefix6(s.subnet6)), pool6: must(parsePrefix6(s.pool6)),
}
const log = createLogger({ level: 'debug', format: 'json' })
const rtnl = new Rtnl()
const rib6 = new Rib6()
const fib6 = new FibSync6({
  port: rtnl, protocol: config.routeProtocol, table: MAIN_TABLE, log, desired: rib6.desiredTable(), debounceMs: 20,
  nextHopScope: { underlay: self.underlay6!, self: [self.address6!, ...(s.linkLocal ? [s.linkLocal] : [])], pools: [self.pool6!], interface: self.interface },
})
rib6.onBestChange((c) => fib6.setDesired(c.prefix, c.best))
const source = new BgpSource({
  config, self, log, stateDir: spec.stateDir, onReady: () => { fib6.allowDeletes = true },
  interfaces: [{ name: self.interface, up: true, addresses: [], addresses6: s.linkLocal ? [{ address: s.linkLocal, prefixLen: 64, scope: 'link' }] : [] }],
})
await source.start(new Rib(), rib6)
fib6.start(30)
const timer = setInterval(() => {
  const tmp = `${spec.status}.tmp`
  writeFileSync(tmp, JSON.stringify({ peers: source.peers(), stats: source.stats(), ready: source.ready(), conflicts6: source.subnetConflicts6() }))
  renameSync(tmp, spec.status)
}, 300)
// SIGTERM: stop as the agent does (routes stay; graceful restart for the peers); SIGUSR2: `fabric leave` (withdraw, then Cease)
const end = (how: 'stop' | 'leave') => {
  clearInterval(timer)
  fib6.stop()
  void (how === 'leave' ? source.leave() : source.stop()).finally(() => {
    rtnl.close()
    process.exit(0)
  })
}
process.once('SIGTERM', () => end('stop'))
process.once('SIGUSR2', () => end('leave'))
