/**
 * Two BGP sources over real TCP on loopback (127.0.0.x; nothing leaves the
 * host), as dual-stack hosts: IPv6 unicast negotiated over the IPv4 session,
 * each learns the other's subnet6 into its IPv6 RIB, readiness waits for the
 * End-of-RIB of both families, a session that goes away takes its IPv6
 * routes with it; a dual-stack host and an IPv4-only one keep to IPv4.
 */
import test, { type ExecutionContext } from 'ava'
import { loadConfigText } from '../../../../src/config/fabric-config.js'
import type { SelfInfo } from '../../../../src/core/self.js'
import { type Prefix6, formatPrefix6 } from '../../../../src/net/ipv6.js'
import type { Prefix } from '../../../../src/net/ipv4.js'
import type { RibRoute6 } from '../../../../src/rib/rib6.js'
import type { Route } from '../../../../src/rib/route.js'
import type { RouteSink, RouteSink6 } from '../../../../src/rib/source.js'
import { BgpSource } from '../../../../src/protocols/bgp/source.js'
import { eventLog } from '../../../helpers/log.js'
import { A, P, P6 } from '../../../helpers/net.js'
import { waitFor as poll } from '../../../../src/util/process.js'

class Sink implements RouteSink {
  add(_r: Route): void {}
  withdraw(_p: Prefix): void {}
  withdrawPeer(): number { return 0 }
}

class Sink6 implements RouteSink6 {
  readonly routes = new Map<string, RibRoute6>()
  add(r: RibRoute6): void { this.routes.set(`${formatPrefix6(r.prefix)} ${r.peer}`, r) }
  withdraw(p: Prefix6, _s: string, peer: string): void { this.routes.delete(`${formatPrefix6(p)} ${peer}`) }
  withdrawPeer(_s: string, peer: string): number {
    let n = 0
    for (const k of [...this.routes.keys()]) if (k.endsWith(` ${peer}`)) { this.routes.delete(k); n++ }
    return n
  }
  table(): string[] { return [...this.routes.values()].map((r) => `${formatPrefix6(r.prefix)} via ${r.nextHop} dev ${r.interface} (${r.peer})`).sort() }
}

const waitFor = <T,>(f: () => T | undefined, ms = 10_000): Promise<T | undefined> => poll(f, ms, 20)

interface Host { source: BgpSource; sink6: Sink6; events: string[]; ready: () => boolean }

async function host(t: ExecutionContext, o: { n: number; port: number; peer: string; passive: boolean; dual: boolean; listen: boolean }): Promise<Host> {
  const ini = [
    '[fabric]', 'pool = 10.244.0.0/16', 'mode = bgp',
    '[bgp]', 'hold-time = 9', 'connect-retry-time = 1', 'graceful-restart-time = 0', `listen = ${o.listen ? 'yes' : 'no'}`,
    '[peer.other]', `address = ${o.peer}`, `passive = ${o.passive ? 'yes' : 'no'}`,
  ].join('\n')
  const config = loadConfigText(ini)
  config.bgp.port = o.port
  const self: SelfInfo = {
    name: `h${o.n}`, address: A(`127.0.0.${o.n}`), subnet: P(`10.244.${o.n}.0/24`), interface: 'lo', underlay: P('127.0.0.0/8'),
    ...(o.dual ? { address6: `fd00:99::${o.n}`, underlay6: P6('fd00:99::/64'), subnet6: P6(`fd00:fab:0:${o.n}::/64`), pool6: P6('fd00:fab::/48') } : {}),
  }
  const events: string[] = []
  let ready = false
  const source = new BgpSource({
    config, self, log: eventLog(events), stateDir: '/nonexistent', onReady: () => { ready = true },
    interfaces: [{ name: 'lo', up: true, addresses: [], addresses6: [{ address: `fe80::${o.n}`, prefixLen: 64, scope: 'link' }] }],
  }, { listenHost: `127.0.0.${o.n}` })
  const sink6 = new Sink6()
  await source.start(new Sink(), o.dual ? sink6 : undefined)
  t.teardown(() => source.stop())
  return { source, sink6, events, ready: () => ready }
}

test('two dual-stack hosts over an IPv4 session: IPv6 unicast negotiated, each learns the other\'s subnet6, ready after both End-of-RIBs; session down withdraws', async (t) => {
  const a = await host(t, { n: 1, port: 0, peer: '127.0.0.2', passive: true, dual: true, listen: true })
  const b = await host(t, { n: 2, port: a.source.listenPort()!, peer: '127.0.0.1', passive: false, dual: true, listen: false })
  t.truthy(await waitFor(() => (a.sink6.table().length > 0 && b.sink6.table().length > 0 ? true : undefined)))
  // on-link (the session is over the underlay): the global next hop is on underlay6 and preferred
  t.deepEqual(a.sink6.table(), ['fd00:fab:0:2::/64 via fd00:99::2 dev lo (127.0.0.2)'])
  t.deepEqual(b.sink6.table(), ['fd00:fab:0:1::/64 via fd00:99::1 dev lo (127.0.0.1)'])
  t.truthy(await waitFor(() => (a.ready() && b.ready() ? true : undefined)))
  const pa = a.source.peers()[0]!
  t.true(((pa.details?.capabilities ?? []) as string[]).includes('ipv6-unicast'))
  t.like(pa.details?.ipv6 as object, { accepted: 1, sent: 1, endOfRib: true })
  t.true(pa.details?.endOfRib as boolean)
  t.like(a.source.stats(), { prefixes6: 1 })
  await b.source.stop()
  t.truthy(await waitFor(() => (a.sink6.table().length === 0 ? true : undefined)), 'IPv6 routes withdrawn when the session goes away')
})

test('a dual-stack host and an IPv4-only one: the session carries IPv4 only, no IPv6 route either way, readiness at the IPv4 End-of-RIB', async (t) => {
  const a = await host(t, { n: 1, port: 0, peer: '127.0.0.3', passive: true, dual: true, listen: true })
  const c = await host(t, { n: 3, port: a.source.listenPort()!, peer: '127.0.0.1', passive: false, dual: false, listen: false })
  t.truthy(await waitFor(() => (a.ready() && c.ready() ? true : undefined)))
  const pa = a.source.peers()[0]!
  t.is(pa.state, 'Established')
  t.false(((pa.details?.capabilities ?? []) as string[]).includes('ipv6-unicast'))
  t.is(pa.details?.ipv6, undefined)
  t.deepEqual(a.sink6.table(), [])
  t.false(c.events.includes('bgp-ipv6-unavailable'))
})
