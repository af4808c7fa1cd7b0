/** `fabric doctor`'s IPv6 checks (issue 13), from fake readings: forwarding, accept_ra, routes to every subnet6, docker0 / fixed-cidr-v6, ip6tables. */
import test from 'ava'
import type { DoctorCheck } from '../../../src/api/types.js'
import type { FabricConfig } from '../../../src/config/fabric-config.js'
import { type Ipv6DoctorInput, type Ipv6Readings, ipv6Checks } from '../../../src/doctor/ipv6.js'
import type { KernelRoute6 } from '../../../src/kernel/types.js'
import { A, P, P6 } from '../../helpers/net.js'

const PERMANENT = 0x80
const config = {
  pool: P('10.244.0.0/16'), pool6: P6('fd00:fab::/48'), hostPrefix: 24, hostPrefix6: 64, mode: 'static', routeProtocol: 233, reconcileInterval: 30, networks: [],
  hosts: [1, 2, 3].map((i) => ({ name: `node${i}`, address: A(`10.99.0.${10 + i}`), subnet: P(`10.244.${i}.0/24`), address6: `fd00:99::${i}`, subnet6: P6(`fd00:fab:0:${i}::/64`) })),
} as unknown as FabricConfig
const input: Ipv6DoctorInput = { config, self: { name: 'node1', address: A('10.99.0.11'), iface: 'eth0', subnet6: P6('fd00:fab:0:1::/64') } }

const route = (prefix: string, over: Partial<KernelRoute6> = {}): KernelRoute6 => ({ prefix: P6(prefix), table: 254, protocol: 233, metric: 1024, type: 1, scope: 0, gateway: 'fd00:99::2', oif: 2, ...over })

/** A healthy dual-stack host: every reading as fabric wants it. */
function good(): Ipv6Readings {
  return {
    forwarding: '1',
    ra: { iface: 'eth0', acceptRa: 2, forwarding: true, ignored: false },
    routes: [route('fd00:fab:0:2::/64'), route('fd00:fab:0:3::/64', { gateway: 'fd00:99::3' }), route('fd00:99::/64', { protocol: 2 })],
    links: [{ index: 1, name: 'lo' }, { index: 2, name: 'eth0' }, { index: 3, name: 'docker0' }],
    addresses6: [
      { index: 2, address: 'fd00:99::1', prefixLen: 64, scope: 0, flags: PERMANENT },
      { index: 3, address: 'fd00:fab:0:1::1', prefixLen: 64, scope: 0, flags: PERMANENT },
      { index: 3, address: 'fe80::1', prefixLen: 64, scope: 253, flags: PERMANENT },
    ],
    daemonJson: { file: '/etc/docker/daemon.json', text: '{"bip": "10.244.1.1/24", "ipv6": true, "fixed-cidr-v6": "fd00:fab:0:1::/64"}' },
    ip6tables: { forward: ['-P FORWARD ACCEPT', '-A FORWARD -j FABRIC-FORWARD'], dockerUser: [], postrouting: ['-P POSTROUTING ACCEPT', '-A POSTROUTING -j FABRIC-POSTROUTING'] },
  }
}

function byName(checks: DoctorCheck[], name: string): DoctorCheck {
  const c = checks.find((x) => x.name === name)
  if (!c) throw new Error(`no check ${name}: ${checks.map((x) => x.name).join(', ')}`)
  return c
}

test('no pool6: no IPv6 check at all', (t) => {
  t.deepEqual(ipv6Checks({ ...input, config: { ...config, pool6: undefined } }, good()), [])
  t.deepEqual(ipv6Checks({}, good()), [])
})

test('a healthy dual-stack host: every IPv6 check passes', (t) => {
  const checks = ipv6Checks(input, good())
  t.deepEqual(checks.map((c) => [c.name, c.result]), [
    ['ipv6 forwarding', 'pass'], ['ipv6 accept_ra', 'pass'], ['ipv6 routes', 'pass'], ['docker0 ipv6', 'pass'], ['ip6tables', 'pass'],
  ])
  t.is(byName(checks, 'ipv6 routes').detail, 'routes (proto 233) to the subnet6 of all 2 other hosts')
  t.is(byName(checks, 'docker0 ipv6').detail, 'docker0 fd00:fab:0:1::1/64 matches subnet6 fd00:fab:0:1::/64 (fixed-cidr-v6 in /etc/docker/daemon.json)')
})

test('forwarding off, or no IPv6 in the kernel: fail with the fix', (t) => {
  const off = byName(ipv6Checks(input, { ...good(), forwarding: '0' }), 'ipv6 forwarding')
  t.is(off.result, 'fail')
  t.regex(off.detail, /net\.ipv6\.conf\.all\.forwarding = 0/)
  t.regex(off.fix!, /sysctl -w net\.ipv6\.conf\.all\.forwarding=1/)
  t.regex(byName(ipv6Checks(input, { ...good(), forwarding: undefined }), 'ipv6 forwarding').detail, /the kernel has no IPv6/)
})

test('accept_ra = 1 with forwarding on: warned and explained, naming what the underlay gets from RAs', (t) => {
  const r = { ...good(), ra: { iface: 'eth0', acceptRa: 1, forwarding: true, ignored: true } }
  const stat = byName(ipv6Checks(input, r), 'ipv6 accept_ra')
  t.is(stat.result, 'warn')
  t.regex(stat.detail, /accept_ra = 1 with forwarding on: the kernel ignores Router Advertisements on eth0/)
  t.regex(stat.detail, /nothing from RAs now \(static IPv6\)/)
  t.regex(stat.fix!, /sysctl -w net\.ipv6\.conf\.eth0\.accept_ra=2/)
  // a SLAAC address (not permanent) and an RA default route: named as what goes away
  const slaac = {
    ...r,
    addresses6: [...r.addresses6, { index: 2, address: '2001:db8::5054:ff:fe12:3456', prefixLen: 64, scope: 0, flags: 0 }],
    routes: [...r.routes, route('::/0', { protocol: 9, gateway: 'fe80::1', oif: 2 })],
  }
  const dyn = byName(ipv6Checks(input, slaac), 'ipv6 accept_ra')
  t.is(dyn.result, 'warn')
  t.regex(dyn.detail, /eth0 has address 2001:db8::5054:ff:fe12:3456\/64, the default route \(proto ra\) from RAs now, which will go away/)
  // accept_ra 0 (off by choice) and 2 (taken although forwarding): fine; no sysctls: skip
  t.is(byName(ipv6Checks(input, { ...r, ra: { iface: 'eth0', acceptRa: 0, forwarding: true, ignored: true } }), 'ipv6 accept_ra').result, 'pass')
  t.is(byName(ipv6Checks(input, { ...r, ra: undefined }), 'ipv6 accept_ra').result, 'skip')
})

test('routes: a missing subnet6 and one held by another protocol fail, each named', (t) => {
  const r = { ...good(), routes: [route('fd00:fab:0:3::/64', { protocol: 4 /* static */ })] }
  const c = byName(ipv6Checks(input, r), 'ipv6 routes')
  t.is(c.result, 'fail')
  t.is(c.detail, 'no fabric route to node2 fd00:fab:0:2::/64; another protocol owns node3 fd00:fab:0:3::/64 (held by proto static)')
  t.regex(c.fix!, /never overrides another route/)
  const one = byName(ipv6Checks(input, { ...good(), routes: [route('fd00:fab:0:2::/64')] }), 'ipv6 routes')
  t.is(one.detail, 'no fabric route to node3 fd00:fab:0:3::/64')
  t.regex(one.fix!, /fabric routes --family 6/)
  // a route of another table or outside pool6 does not count
  t.is(byName(ipv6Checks(input, { ...good(), routes: [route('fd00:fab:0:2::/64', { table: 100 }), route('fd00:fab:0:3::/64')] }), 'ipv6 routes').result, 'fail')
})

test('routes in mode bgp/rip without subnet6 in fabric.ini: nothing expected by name, the count shown', (t) => {
  const learned = { ...config, mode: 'bgp', hosts: [] } as unknown as FabricConfig
  const c = byName(ipv6Checks({ ...input, config: learned }, good()), 'ipv6 routes')
  t.is(c.result, 'skip')
  t.regex(c.detail, /^2 IPv6 routes of fabric \(proto 233\) in fd00:fab::\/48; no other host's subnet6 is listed/)
})

test('docker0: no IPv6 gateway of subnet6 fails; daemon.json disagreeing warns; subnet6 unknown skips', (t) => {
  const wrong = { ...good(), addresses6: good().addresses6.filter((a) => a.address !== 'fd00:fab:0:1::1') }
  const c = byName(ipv6Checks(input, { ...wrong, daemonJson: { file: '/etc/docker/daemon.json', text: '{"bip": "10.244.1.1/24"}' } }), 'docker0 ipv6')
  t.is(c.result, 'fail')
  t.is(c.detail, 'docker0 has no global IPv6 address, this host\'s subnet6 is fd00:fab:0:1::/64 (expected fd00:fab:0:1::1/64); /etc/docker/daemon.json has no "fixed-cidr-v6"')
  t.regex(c.fix!, /"ipv6": true and "fixed-cidr-v6": "fd00:fab:0:1::\/64"/)
  const other = { ...good(), daemonJson: { file: '/etc/docker/daemon.json', text: '{"fixed-cidr-v6": "fd00:fab:0:7::/64"}' } }
  const w = byName(ipv6Checks(input, other), 'docker0 ipv6')
  t.is(w.result, 'warn')
  t.regex(w.detail, /"fixed-cidr-v6": "fd00:fab:0:7::\/64": the next Docker restart takes docker0 out of the IPv6 fabric/)
  t.is(byName(ipv6Checks({ ...input, self: { ...input.self!, subnet6: undefined } }, good()), 'docker0 ipv6').result, 'skip')
  t.is(byName(ipv6Checks(input, { ...good(), links: good().links.filter((l) => l.name !== 'docker0') }), 'docker0 ipv6').result, 'skip')
  const net = byName(ipv6Checks({ ...input, docker: { mode: 'network', network: 'fabric6' } }, wrong), 'docker0 ipv6')
  t.deepEqual([net.result, net.detail], ['skip', 'the agent uses the Docker network fabric6 (--docker-network), not docker0'])
})

test('ip6tables: the jumps to fabric\'s chains (FORWARD or DOCKER-USER); missing ones fail under a DROP policy', (t) => {
  const viaDocker = { ...good(), ip6tables: { forward: ['-P FORWARD DROP', '-A FORWARD -j DOCKER-USER'], dockerUser: ['-N DOCKER-USER', '-A DOCKER-USER -j FABRIC-FORWARD'], postrouting: ['-A POSTROUTING -j FABRIC-POSTROUTING'] } }
  t.is(byName(ipv6Checks(input, viaDocker), 'ip6tables').result, 'pass')
  const gone = { ...good(), ip6tables: { forward: ['-P FORWARD DROP'], dockerUser: [], postrouting: ['-P POSTROUTING ACCEPT'] } }
  const c = byName(ipv6Checks(input, gone), 'ip6tables')
  t.is(c.result, 'fail')
  t.regex(c.detail, /no jump to FABRIC-FORWARD or FABRIC-POSTROUTING in ip6tables \(FORWARD policy DROP\)/)
  t.is(byName(ipv6Checks(input, { ...good(), ip6tables: 'unreadable' }), 'ip6tables').result, 'skip')
})
