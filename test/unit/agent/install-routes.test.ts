/** [bgp] install-routes: parsing, refused at reload, how a control-plane-only host shows its routes and status. */
import test from 'ava'
import { reloadRefusal } from '../../../src/agent/reload.js'
import { NOT_INSTALLED, buildRouteRows } from '../../../src/agent/routes.js'
import { buildStatus } from '../../../src/agent/status.js'
import { renderRouteTable } from '../../../src/api/render.js'
import { renderStatus } from '../../../src/cli-support/render.js'
import { ConfigErrors } from '../../../src/config/errors.js'
import { loadConfigText } from '../../../src/config/fabric-config.js'
import type { SelfInfo } from '../../../src/core/self.js'
import { parseAddress, parsePrefix } from '../../../src/net/ipv4.js'
import type { Route } from '../../../src/rib/route.js'

const INI = `[fabric]
pool = 10.244.0.0/16
mode = bgp
[bgp]
route-reflector = yes
listen-range = 10.99.0.0/24
`
const ok = <T>(r: { ok: true; value: T } | { ok: false; error: string }): T => {
  if (!r.ok) throw new Error(r.error)
  return r.value
}
const self: SelfInfo = {
  name: 'rr1', address: ok(parseAddress('10.99.0.11')), subnet: ok(parsePrefix('10.244.1.0/24')), interface: 'eth0', underlay: ok(parsePrefix('10.99.0.0/24')),
}

test('install-routes is yes by default, no from the file or the flag; another value names file, key and value', (t) => {
  t.true(loadConfigText(INI).bgp.installRoutes)
  t.false(loadConfigText(`${INI}install-routes = no\n`).bgp.installRoutes)
  t.false(loadConfigText(INI, 'fabric.ini', { bgp: { 'install-routes': 'no' } }).bgp.installRoutes)
  t.true(loadConfigText(`${INI}install-routes = no\n`, 'fabric.ini', { bgp: { 'install-routes': 'yes' } }).bgp.installRoutes, 'the flag wins over the file')
  const e = t.throws(() => loadConfigText(`${INI}install-routes = maybe\n`, '/etc/fabric/fabric.ini'), { instanceOf: ConfigErrors })
  t.regex(e!.message, /\/etc\/fabric\/fabric\.ini:7.*\[bgp\] install-routes.*maybe/)
})

test('changing install-routes needs a restart; outside mode bgp it is not applied, so no change there', (t) => {
  const cur = loadConfigText(INI)
  t.regex(reloadRefusal(cur, loadConfigText(`${INI}install-routes = no\n`), self)!, /^\[bgp\] install-routes changed from yes to no; restart the agent/)
  t.is(reloadRefusal(cur, loadConfigText(`${INI}install-routes = yes\n`), self), undefined, 'the default written out is no change')
  const rip = INI.replace('mode = bgp', 'mode = rip')
  t.is(reloadRefusal(loadConfigText(rip), loadConfigText(`${rip}install-routes = no\n`), self), undefined)
})

const route = (prefix: string, peer: string): Route => ({
  prefix: ok(parsePrefix(prefix)), nextHop: ok(parseAddress(peer)), source: 'bgp', peer, metric: 0, preference: 0,
} as Route)

test('routes of a control-plane-only host are not-installed, with the reason once under the table', (t) => {
  const best = [route('10.244.2.0/24', '10.99.0.12'), route('10.244.3.0/24', '10.99.0.13')]
  const rows = buildRouteRows({
    best, candidates: () => 1, stateOf: () => NOT_INSTALLED, since: () => undefined, kernel: [], links: [], protocol: 233, table: 254, now: 0,
  })
  t.deepEqual(rows.map((r) => r.state), ['not-installed', 'not-installed'])
  const text = renderRouteTable(rows)
  t.is(text.split('\n').filter((l) => l.includes('install-routes = no')).length, 1)
  t.regex(text, /10\.244\.3\.0\/24 .*not-installed\n\n {2}not-installed: \[bgp\] install-routes = no/)
})

test('status of a control-plane-only host: installRoutes false, the kernel line says so', (t) => {
  const fib = {
    inSync: () => true, size: 0, conflicts: () => [],
    stateCounts: () => ({ installed: 0, pending: 0, conflict: 0, 'not-on-link': 0, error: 0 }),
    stats: { reconciles: 1, opsApplied: 0, opsFailed: 0, incrementals: 0 },
  }
  const statusOf = (text: string) => buildStatus({
    version: '0', self, config: loadConfigText(text), startedAt: 0, now: 1000, fib: fib as never, host: { inSync: true }, sources: [],
    events: { subscribers: 0, dropped: 0, disconnected: 0 }, subnetClaims: [], warnings: [], memory: { rss: 1 << 20, heapUsed: 1, heapTotal: 1, external: 0 },
  })
  const s = statusOf(`${INI}install-routes = no\n`)
  t.false(s.kernel.installRoutes)
  t.true(s.healthy)
  t.regex(renderStatus(s), /kernel {4}in sync: installs no route \(install-routes = no: control plane only\)/)
  const host = statusOf(INI)
  t.true(host.kernel.installRoutes)
  t.regex(renderStatus(host), /kernel {4}in sync: 0\/0 routes installed/)
})
