/**
 * The lab's IPv6 addressing (V6CONTRACT.md: underlay fd00:99::N/64, pool6
 * fd00:fab::/48, host N's subnet6 fd00:fab:0:N::/64, docker0 ::1, container
 * ::2) and what `lab up --ipv6` writes: fabric.ini, the `ip -batch` lines of
 * hosts and containers, the refusals. Pure: nothing is created.
 */
import test from 'ava'
import { loadConfigText } from '../../../src/config/fabric-config.js'
import {
  LAB_POOL6, LAB_UNDERLAY6, type LabHost, type LabSpec, containerLinkSetup, hostLinkSetup, ipv6Check, labAddress6, labUp, modeDefaults,
  reachabilityFrom, renderLabIni, topologyArgs,
} from '../../../src/lab/lab.js'
import { canonicalAddress6, containsAddress6, containsPrefix6, parsePrefix6 } from '../../../src/net/ipv6.js'

const prefix = (text: string) => {
  const r = parsePrefix6(text)
  if (!r.ok) throw new Error(r.error)
  return r.value
}

function host(i: number, ipv6: boolean): LabHost {
  return {
    index: i, name: `node${i}`, ns: `t-h${i}`, containerNs: `t-c${i}`, address: `10.99.0.${10 + i}`, subnet: `10.244.${i}.0/24`,
    gateway: `10.244.${i}.1`, containerIp: `10.244.${i}.2`, ...(ipv6 ? labAddress6(i) : {}), dir: `/x/h${i}`, socket: `/x/h${i}/s`, log: `/x/h${i}/l`,
  }
}

test('labAddress6: the contract addresses, host index as its decimal digits in one group, RFC 5952 text', (t) => {
  t.deepEqual(labAddress6(1), { address6: 'fd00:99::1', subnet6: 'fd00:fab:0:1::/64', gateway6: 'fd00:fab:0:1::1', containerIp6: 'fd00:fab:0:1::2' })
  t.deepEqual(labAddress6(12), { address6: 'fd00:99::12', subnet6: 'fd00:fab:0:12::/64', gateway6: 'fd00:fab:0:12::1', containerIp6: 'fd00:fab:0:12::2' })
  t.deepEqual(labAddress6(500), { address6: 'fd00:99::500', subnet6: 'fd00:fab:0:500::/64', gateway6: 'fd00:fab:0:500::1', containerIp6: 'fd00:fab:0:500::2' })
  t.is(labAddress6(9999).subnet6, 'fd00:fab:0:9999::/64')
  for (const bad of [0, -1, 1.5, 10_000]) t.throws(() => labAddress6(bad), { message: new RegExp(`lab host index ${bad}: expected 1 to 9999`) })
})

test('labAddress6 for 1..500 hosts: distinct subnets inside pool6, underlay addresses inside the underlay, gateway and container inside the subnet', (t) => {
  const pool6 = prefix(LAB_POOL6)
  const under6 = prefix(LAB_UNDERLAY6)
  const subnets = new Set<string>()
  const addrs = new Set<string>()
  for (let i = 1; i <= 500; i++) {
    const a = labAddress6(i)
    for (const text of [a.address6, a.gateway6, a.containerIp6]) {
      const c = canonicalAddress6(text)
      t.true(c.ok && c.value === text, `${text} is canonical`)
    }
    const s = prefix(a.subnet6)
    t.is(s.len, 64)
    t.true(containsPrefix6(pool6, s), a.subnet6)
    t.true(containsAddress6(under6, a.address6), a.address6)
    t.true(containsAddress6(s, a.gateway6) && containsAddress6(s, a.containerIp6), a.subnet6)
    subnets.add(a.subnet6)
    addrs.add(a.address6)
  }
  t.is(subnets.size, 500)
  t.is(addrs.size, 500)
})

test('renderLabIni: a dual-stack lab gets pool6, host-prefix6 and address6/subnet6 under every [host.*]', (t) => {
  const hosts = [1, 2, 3].map((i) => host(i, true))
  const ini = renderLabIni({ pool: '10.244.0.0/16', mode: 'static', hosts, pool6: LAB_POOL6 })
  t.regex(ini, /^\[fabric\]\npool = 10\.244\.0\.0\/16\nhost-prefix = 24\npool6 = fd00:fab::\/48\nhost-prefix6 = 64\nmode = static$/m)
  t.regex(ini, /^\[host\.node2\]\naddress = 10\.99\.0\.12\nsubnet = 10\.244\.2\.0\/24\naddress6 = fd00:99::2\nsubnet6 = fd00:fab:0:2::\/64$/m)
  t.is(ini.match(/^address6 = /gm)?.length, 3)
  t.is(ini.match(/^subnet6 = /gm)?.length, 3)
})

test('renderLabIni: an IPv4 lab is unchanged (no IPv6 key), in every mode', (t) => {
  for (const mode of ['static', 'rip', 'bgp'] as const) {
    const ini = renderLabIni({ pool: '10.244.0.0/16', mode, hosts: [1, 2].map((i) => host(i, false)) }, modeDefaults(mode))
    t.notRegex(ini, /6 = /)
    t.is(ini.split('\n').filter((l) => l.startsWith('[host.')).length, 2)
  }
})

test('the dual-stack lab fabric.ini loads in each mode: pool6, each host\'s address6 and subnet6; with reflectors the flags\' subnet6 (needs v6core\'s config parsing)', (t) => {
  const hosts = [1, 2, 3].map((i) => host(i, true))
  for (const mode of ['static', 'rip', 'bgp'] as const) {
    const cfg = loadConfigText(renderLabIni({ pool: '10.244.0.0/16', mode, hosts, pool6: LAB_POOL6 }, modeDefaults(mode)), `lab-${mode}.ini`)
    t.deepEqual(cfg.pool6, prefix('fd00:fab::/48'), mode)
    t.is(cfg.hostPrefix6, 64)
    t.deepEqual(cfg.hosts.map((h) => [h.name, h.address6, h.subnet6]), [
      ['node1', 'fd00:99::1', prefix('fd00:fab:0:1::/64')],
      ['node2', 'fd00:99::2', prefix('fd00:fab:0:2::/64')],
      ['node3', 'fd00:99::3', prefix('fd00:fab:0:3::/64')],
    ], mode)
  }
  // reflectors: no host listed, this host's subnet6 and address6 by flags
  const rr = loadConfigText(renderLabIni({ pool: '10.244.0.0/16', mode: 'bgp', hosts, pool6: LAB_POOL6, topology: 'rr' }, modeDefaults('bgp')), 'lab-rr.ini', {
    subnet: '10.244.3.0/24', subnet6: 'fd00:fab:0:3::/64', address6: 'fd00:99::3', peers: ['10.99.0.11'],
  })
  t.deepEqual(rr.subnet6, prefix('fd00:fab:0:3::/64'))
  t.deepEqual(rr.hosts, [])
})

test('host and container link setup: IPv6 addresses nodad, the container\'s IPv6 default route via docker0\'s ::1; IPv4 hosts as before', (t) => {
  const v6 = host(2, true)
  t.deepEqual(hostLinkSetup(v6, '10.99.0.0/24'), [
    'link set lo up',
    'addr add 10.99.0.12/24 dev eth0',
    'addr add fd00:99::2/64 dev eth0 nodad',
    'link set eth0 up',
    'link add docker0 type bridge',
    'addr add 10.244.2.1/24 dev docker0',
    'addr add fd00:fab:0:2::1/64 dev docker0 nodad',
    'link set docker0 up',
    'link set veth0 master docker0 up',
  ])
  t.deepEqual(containerLinkSetup(v6), [
    'link set lo up',
    'addr add 10.244.2.2/24 dev eth0',
    'addr add fd00:fab:0:2::2/64 dev eth0 nodad',
    'link set eth0 up',
    'route add default via 10.244.2.1',
    'route add default via fd00:fab:0:2::1',
  ])
  const v4 = host(2, false)
  t.false(hostLinkSetup(v4, '10.99.0.0/24').some((l) => l.includes(':')))
  t.deepEqual(containerLinkSetup(v4), ['link set lo up', 'addr add 10.244.2.2/24 dev eth0', 'link set eth0 up', 'route add default via 10.244.2.1'])
})

test('--ipv6 with BIRD or FRR reflectors is refused before anything is created', async (t) => {
  for (const rrEngine of ['bird', 'frr'] as const) {
    const e = await t.throwsAsync(labUp({ name: 'neverup', hosts: 4, mode: 'bgp', topology: 'rr', rrEngine, ipv6: true }))
    t.regex(e!.message, new RegExp(`--ipv6 with --rr-engine ${rrEngine}: the lab's BIRD and FRR reflector templates are IPv4 only`))
  }
})

test('topologyArgs with fabric reflectors in a dual-stack lab: every host gets --subnet6 and --address6 by flags; IPv4 labs unchanged', (t) => {
  const rr = (ipv6: boolean): LabSpec => {
    const hosts = [1, 2, 3, 4].map((i) => host(i, ipv6))
    return {
      name: 't', mode: 'bgp', hosts, topology: 'rr', clusterId: '10.99.0.1', pool: '10.244.0.0/16', underlay: '10.99.0.0/24',
      ...(ipv6 ? { pool6: LAB_POOL6, underlay6: LAB_UNDERLAY6 } : {}),
      reflectors: [1, 2].map((k) => ({ index: k, engine: 'fabric' as const, ns: `t-h${k}`, address: `10.99.0.${10 + k}`, dir: `/x/h${k}` })),
      config: '/x/fabric.ini', created: '', joinArgs: [], iniExtra: [],
    }
  }
  const six = rr(true)
  t.deepEqual(topologyArgs(six, six.hosts[2]!), ['--subnet', '10.244.3.0/24', '--subnet6', 'fd00:fab:0:3::/64', '--address6', 'fd00:99::3', '--peer', '10.99.0.11', '--peer', '10.99.0.12'])
  t.deepEqual(topologyArgs(six, six.hosts[0]!), [
    '--subnet', '10.244.1.0/24', '--subnet6', 'fd00:fab:0:1::/64', '--address6', 'fd00:99::1',
    '--route-reflector', 'yes', '--cluster-id', '10.99.0.1', '--listen-range', '10.99.0.0/24', '--peer', '10.99.0.12',
  ])
  t.false(renderLabIni(six).includes('[host.'), 'no host listed with reflectors')
  t.regex(renderLabIni(six), /^pool6 = fd00:fab::\/48$/m)
  const four = rr(false)
  t.deepEqual(topologyArgs(four, four.hosts[2]!), ['--subnet', '10.244.3.0/24', '--peer', '10.99.0.11', '--peer', '10.99.0.12'])
})

test('ipv6Check: a kernel without IPv6 (no net.ipv6.neigh.default) is refused with the reason', (t) => {
  t.notThrows(() => ipv6Check(() => ({ gc_thresh3: 1024 })))
  t.throws(() => ipv6Check(() => {
    throw new Error('ENOENT')
  }), { message: /--ipv6: this kernel has no IPv6 \(net\.ipv6\.neigh\.default is missing: booted with ipv6\.disable=1\?\)/ })
})

test('IPv6 pings of a lab without IPv6 are an error, not an empty matrix', async (t) => {
  const spec = { name: 'v4only', hosts: [host(1, false), host(2, false)] } as LabSpec
  await t.throwsAsync(reachabilityFrom(spec, spec.hosts, { family: 6 }), { message: /node1 has no IPv6 address \(the lab was not brought up with --ipv6\)/ })
})
