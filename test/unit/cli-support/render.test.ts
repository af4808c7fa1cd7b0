/** Human output is text: `fabric status` renders the host integration as words, not JSON objects. */
import test from 'ava'
import type { StatusResponse } from '../../../src/api/types.js'
import { hostIntegrationLines, renderStatus, textOf } from '../../../src/cli-support/render.js'

const status: StatusResponse = {
  version: '0.1.0', healthy: true,
  host: { name: 'node1', address: '10.99.0.11', subnet: '10.244.1.0/24', interface: 'eth0', underlay: '10.99.0.0/24' },
  mode: 'bgp', routerId: '10.99.0.11', asn: 64512, config: '/etc/fabric/fabric.ini', pool: '10.244.0.0/16', routeProtocol: 233,
  pid: 42, uptime: 3725, memory: { rss: 80 << 20, heapUsed: 1, heapTotal: 2, external: 3 },
  kernel: { inSync: true, installRoutes: true, routes: { wanted: 2, installed: 2, pending: 0, conflict: 0, notOnLink: 0, error: 0 }, reconciles: 3, opsApplied: 2, opsFailed: 0, lastReconcileMs: 4, lastError: null },
  hostIntegration: {
    inSync: true, ipForwarding: true, subnet: '10.244.1.0/24',
    docker: { mode: 'docker0', version: '27.1.0', bridge: 'docker0', bip: '10.244.1.1/24', bridgeMatches: true, daemonJson: '/etc/docker/daemon.json', allowDirectRouting: false },
    firewall: { enabled: true, backend: 'nft', chains: ['FABRIC-FORWARD', 'FABRIC-POSTROUTING'], forwardJumpFrom: 'DOCKER-USER', inSync: true, checks: 7, restored: 1, lastCheck: '2026-01-01T00:00:00Z', lastError: null },
    future: { nested: { deep: 1 } },
  },
  sources: [{ kind: 'bgp', ready: true, peers: 2, stats: { counters: { 'drop-packet:bad-marker': 3 } } }],
  events: { subscribers: 1, dropped: 12, disconnected: 0 },
  conflicts: [], warnings: ['rp_filter is strict on eth0'],
}

test('fabric status text has no JSON in it, and names the host integration in words', (t) => {
  const text = renderStatus(status)
  for (const line of text.split('\n')) t.false(/[{}"]/.test(line), line)
  t.regex(text, /^docker\s+docker0 bip 10\.244\.1\.1\/24 \(matches\), Docker 27\.1\.0, daemon\.json \/etc\/docker\/daemon\.json/m)
  t.regex(text, /^firewall\s+nft, chains FABRIC-FORWARD FABRIC-POSTROUTING \(jump from DOCKER-USER\), in sync, 7 checks, 1 restored$/m)
  t.regex(text, /^host\s+future nested deep 1$/m, 'fields fabric does not know are text too')
  t.regex(text, /^source\s+bgp: ready, 2 peers, 3 packets dropped \(bad-marker 3\)$/m)
  t.regex(text, /^events\s+1 subscribers, 12 events dropped for slow ones$/m)
  t.regex(text, /^agent\s+fabric 0\.1\.0, pid 42, up 1h02m, 80 MiB RSS$/m)
})

test('host integration without docker or firewall management', (t) => {
  t.deepEqual(hostIntegrationLines({ inSync: false, docker: { mode: 'none' }, firewall: { enabled: false } }), [
    'host      integration NOT in sync',
    'docker    not managed by fabric, Docker version unknown',
    'firewall  not managed by fabric',
  ])
  t.is(textOf({ a: [1, 2], b: null, c: true }), 'a 1 2, b -, c yes')
})

test('host integration of a dual-stack host: docker0 with its IPv6 address, and an ip6tables line', (t) => {
  const lines = hostIntegrationLines({
    inSync: true,
    docker: { mode: 'docker0', bridge: 'docker0', bip: '10.244.1.1/24', bip6: 'fd00:fab:0:1::1/64', fixedCidrV6: 'fd00:fab:0:1::/64', bridgeMatches: true, version: '27.1.0' },
    firewall: {
      enabled: true, backend: 'nft', chains: ['FABRIC-FORWARD', 'FABRIC-POSTROUTING'], forwardJumpFrom: 'DOCKER-USER', inSync: true,
      ipv6: { enabled: true, chains: ['FABRIC-FORWARD', 'FABRIC-POSTROUTING'], forwardJumpFrom: 'FORWARD', inSync: true },
    },
  } as never)
  t.deepEqual(lines.slice(1), [
    'docker    docker0 bip 10.244.1.1/24 and fd00:fab:0:1::1/64 (fixed-cidr-v6 fd00:fab:0:1::/64) (matches), Docker 27.1.0',
    'firewall  nft, chains FABRIC-FORWARD FABRIC-POSTROUTING (jump from DOCKER-USER), in sync',
    'firewall6 ip6tables, chains FABRIC-FORWARD FABRIC-POSTROUTING (jump from FORWARD), in sync',
  ])
  const missing = hostIntegrationLines({ inSync: true, firewall: { enabled: true, backend: 'nft', chains: [], inSync: true, ipv6: { enabled: false, reason: 'ip6tables not found' } } } as never)
  t.is(missing.at(-1), 'firewall6 not managed: ip6tables not found')
})
