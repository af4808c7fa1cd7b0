/** SIGHUP with IPv6: pool6 / host-prefix6 and this host's own address6 / subnet6 need a restart; other hosts' IPv6 keys do not. */
import test from 'ava'
import { reloadRefusal } from '../../../src/agent/reload.js'
import { buildStatus } from '../../../src/agent/status.js'
import { loadConfigText } from '../../../src/config/fabric-config.js'
import type { SelfInfo } from '../../../src/core/self.js'
import { parseAddress, parsePrefix } from '../../../src/net/ipv4.js'
import { parsePrefix6 } from '../../../src/net/ipv6.js'

const INI = `[fabric]
pool = 10.244.0.0/16
pool6 = fd00:fab::/48
[host.node1]
address = 10.99.0.11
subnet = 10.244.1.0/24
address6 = fd00:99::1
subnet6 = fd00:fab:0:1::/64
[host.node2]
address = 10.99.0.12
subnet = 10.244.2.0/24
address6 = fd00:99::2
subnet6 = fd00:fab:0:2::/64
`
const ok = <T>(r: { ok: true; value: T } | { ok: false; error: string }): T => {
  if (!r.ok) throw new Error(r.error)
  return r.value
}
const self: SelfInfo = {
  name: 'node1', address: ok(parseAddress('10.99.0.11')), subnet: ok(parsePrefix('10.244.1.0/24')), interface: 'eth0', underlay: ok(parsePrefix('10.99.0.0/24')),
  address6: 'fd00:99::1', underlay6: ok(parsePrefix6('fd00:99::/64')), subnet6: ok(parsePrefix6('fd00:fab:0:1::/64')), pool6: ok(parsePrefix6('fd00:fab::/48')),
}

test('other hosts\' IPv6 keys reload; pool6, host-prefix6, IPv6 on/off and this host\'s subnet6/address6 need a restart', (t) => {
  const cur = loadConfigText(INI)
  t.is(reloadRefusal(cur, loadConfigText(INI.replace('fd00:99::2', 'fd00:99::22').replace('fd00:fab:0:2::/64', 'fd00:fab:0:22::/64')), self), undefined)
  t.regex(reloadRefusal(cur, loadConfigText(INI.replace('pool6 = fd00:fab::/48', 'pool6 = fd00:fac::/48').replace(/fd00:fab:/g, 'fd00:fac:')), self)!, /^pool6 changed from fd00:fab::\/48 to fd00:fac::\/48; restart the agent/)
  t.is(reloadRefusal(cur, loadConfigText(INI.replace('pool6 = fd00:fab::/48', 'pool6 = fd00:fab::/48\nhost-prefix6 = 64')), self), undefined, 'the default written out is no change')
  const rip = '[fabric]\npool = 10.244.0.0/16\nmode = rip\npool6 = fd00:fab::/48\n'
  t.regex(reloadRefusal(loadConfigText(rip), loadConfigText(`${rip}host-prefix6 = 56\n`), self)!, /^host-prefix6 changed from 64 to 56; restart/)
  const v4only = INI.replace('pool6 = fd00:fab::/48\n', '').replace(/(address6|subnet6) = .*\n/g, '')
  t.regex(reloadRefusal(cur, loadConfigText(v4only), self)!, /^pool6 changed from fd00:fab::\/48 to none/)
  t.regex(reloadRefusal(cur, loadConfigText(INI.replace('fd00:fab:0:1::/64', 'fd00:fab:0:11::/64')), self)!, /subnet6 of this host \(node1\) changed from fd00:fab:0:1::\/64 to fd00:fab:0:11::\/64; restart/)
  t.regex(reloadRefusal(cur, loadConfigText(INI.replace('fd00:99::1\n', 'fd00:99::100\n')), self)!, /address6 of this host \(node1\) changed from fd00:99::1 to fd00:99::100/)
})

test('status: IPv6 kernel counts under kernel.ipv6, address6/subnet6/pool6 shown, an IPv6 route not on-link makes the host unhealthy', (t) => {
  const config = loadConfigText(INI)
  const fib = (counts: Partial<Record<string, number>>, inSync = true) => ({
    size: Object.values(counts).reduce((a, b) => a! + b!, 0)!, inSync: () => inSync,
    stateCounts: () => ({ installed: 0, pending: 0, conflict: 0, 'not-on-link': 0, error: 0, ...counts }) as never,
    conflicts: () => [], stats: { reconciles: 3, opsApplied: 2, opsFailed: 0 },
  })
  const input = {
    version: 't', self, config, startedAt: 0, now: 1000, host: { inSync: true }, sources: [], events: { subscribers: 0, dropped: 0, disconnected: 0 },
    subnetClaims: [], warnings: [], memory: { rss: 0, heapUsed: 0, heapTotal: 0, external: 0 },
  }
  const s = buildStatus({ ...input, fib: fib({ installed: 1 }), fib6: fib({ installed: 1 }) })
  t.true(s.healthy)
  t.deepEqual([s.host.address6, s.host.subnet6, s.host.underlay6, s.pool6], ['fd00:99::1', 'fd00:fab:0:1::/64', 'fd00:99::/64', 'fd00:fab::/48'])
  t.deepEqual(s.kernel.ipv6?.routes, { wanted: 1, installed: 1, pending: 0, conflict: 0, notOnLink: 0, error: 0 })
  const bad = buildStatus({ ...input, fib: fib({ installed: 1 }), fib6: fib({ 'not-on-link': 1 }) })
  t.false(bad.healthy)
  t.false(buildStatus({ ...input, fib: fib({ installed: 1 }), fib6: fib({ pending: 1 }, false) }).kernel.inSync)
  const v4 = buildStatus({ ...input, self: { ...self, address6: undefined, underlay6: undefined, subnet6: undefined, pool6: undefined }, config: loadConfigText(INI.replace('pool6 = fd00:fab::/48\n', '').replace(/(address6|subnet6) = .*\n/g, '')), fib: fib({ installed: 1 }) })
  t.is(v4.kernel.ipv6, undefined)
  t.false('address6' in v4.host)
  t.false('pool6' in v4)
})
