import test from 'ava'
import { ConfigErrors } from '../../../src/config/errors.js'
import { loadConfigText } from '../../../src/config/fabric-config.js'
import { allowedPairs, derivedSubnet, slotOf } from '../../../src/config/networks.js'
import { formatPrefix } from '../../../src/net/ipv4.js'
import { P } from '../../helpers/net.js'

const BASE = `[fabric]
pool = 10.244.0.0/16
underlay = 192.168.18.0/24
[host.node1]
address = 192.168.18.128
subnet = 10.244.1.0/24
[host.node2]
address = 192.168.18.130
subnet = 10.244.2.0/24
`

const NETS = `${BASE}[network.backend]
pool = 10.245.0.0/16
[network.frontend]
pool = 10.246.0.0/16
host-prefix = 24
allow = backend
`

function refused(t: import('ava').ExecutionContext, text: string, ...expected: RegExp[]): ConfigErrors {
  const e = t.throws(() => loadConfigText(text, 'fabric.ini'), { instanceOf: ConfigErrors })!
  for (const re of expected) t.regex(e.message, re)
  return e
}

const subnets = (text: string): Record<string, Record<string, string>> =>
  Object.fromEntries(loadConfigText(text).hosts.map((h) => [h.name, Object.fromEntries(Object.entries(h.networks ?? {}).map(([n, p]) => [n, formatPrefix(p)]))]))

test('a config without networks reads as before: no networks, hosts with none', (t) => {
  const c = loadConfigText(BASE)
  t.deepEqual(c.networks, [])
  t.deepEqual(c.hosts.map((h) => h.networks), [{}, {}])
})

test('networks parse: pool, host-prefix (default from [fabric]), allow, bridge', (t) => {
  const c = loadConfigText(`${NETS}bridge = fab-front\n`)
  t.deepEqual(c.networks.map((n) => [n.name, formatPrefix(n.pool), n.hostPrefix, n.allow, n.bridge]), [
    ['backend', '10.245.0.0/16', 24, [], undefined],
    ['frontend', '10.246.0.0/16', 24, ['backend'], 'fab-front'],
  ])
  t.is(loadConfigText(NETS.replace('[fabric]\n', '[fabric]\nhost-prefix = 26\n').replace(/10\.244\.(\d)\.0\/24/g, '10.244.0.$1/26').replace('10.244.0.1/26', '10.244.0.64/26').replace('10.244.0.2/26', '10.244.0.128/26').replace('host-prefix = 24\n', '')).networks[0]!.hostPrefix, 26)
})

test('static mode: subnets derived from the slot of the host\'s default subnet, explicit subnet.NETWORK wins', (t) => {
  t.deepEqual(subnets(NETS), {
    node1: { backend: '10.245.1.0/24', frontend: '10.246.1.0/24' },
    node2: { backend: '10.245.2.0/24', frontend: '10.246.2.0/24' },
  })
  const explicit = NETS.replace('subnet = 10.244.2.0/24\n', 'subnet = 10.244.2.0/24\nsubnet.backend = 10.245.200.0/24\n')
  t.deepEqual(subnets(explicit).node2, { backend: '10.245.200.0/24', frontend: '10.246.2.0/24' })
  // adding a host moves no other host's derived subnets
  const more = `${NETS}[host.node0]\naddress = 192.168.18.2\nsubnet = 10.244.9.0/24\n`
  t.deepEqual(subnets(more).node1, subnets(NETS).node1)
  t.deepEqual(subnets(more).node0, { backend: '10.245.9.0/24', frontend: '10.246.9.0/24' })
})

test('derivation: slot arithmetic with different pool sizes and host-prefixes', (t) => {
  t.is(slotOf(P('10.244.0.0/16'), P('10.244.7.0/24')), 7)
  t.is(formatPrefix(derivedSubnet(P('10.244.0.0/16'), P('10.244.7.0/24'), { pool: P('172.20.0.0/14'), hostPrefix: 22 })!), '172.20.28.0/22')
  t.is(derivedSubnet(P('10.244.0.0/16'), P('10.244.7.0/24'), { pool: P('10.9.0.0/24'), hostPrefix: 26 }), undefined)
})

test('refused: a derived subnet that does not fit the network\'s pool, or that hits an explicit one', (t) => {
  // a /23 has slots 0 and 1: node1 (slot 1) fits, node2 (slot 2) does not
  const small = refused(t, NETS.replace('pool = 10.245.0.0/16', 'pool = 10.245.0.0/23'), /fabric\.ini:7 \[host\.node2\] subnet\.backend: required: the derived subnet \(slot 2 of 10\.244\.0\.0\/16\) does not fit in network "backend"'s pool 10\.245\.0\.0\/23 with \/24; give subnet\.backend = CIDR/)
  t.is(small.errors.length, 1)
  const e = refused(t, NETS.replace('subnet = 10.244.1.0/24\n', 'subnet = 10.244.1.0/24\nsubnet.backend = 10.245.2.0/24\n'), /fabric\.ini:8 \[host\.node2\] subnet\.backend = "10\.245\.2\.0\/24": a subnet that overlaps no other host's: derived from this host's default subnet, it is host "node1"'s 10\.245\.2\.0\/24/)
  t.is(e.errors.length, 1)
})

test('refused: a per-host subnet outside its network\'s pool, of the wrong length, overlapping another host\'s, of an unknown network', (t) => {
  const add = (line: string, host = 'node2', prefix = '10.244.2.0/24'): string => NETS.replace(`subnet = ${prefix}\n`, `subnet = ${prefix}\n${line}\n`).replace(/^/, host === 'node2' ? '' : '')
  refused(t, add('subnet.backend = 10.246.5.0/24'), /\[host\.node2\] subnet\.backend = "10\.246\.5\.0\/24": a subnet inside network "backend"'s pool 10\.245\.0\.0\/16/)
  refused(t, add('subnet.backend = 10.245.5.0/25'), /subnet\.backend = "10\.245\.5\.0\/25": a \/24 \(network "backend"'s host-prefix\), not a \/25/)
  refused(t, add('subnet.backend = 10.245.5.0/24', 'node1', '10.244.1.0/24').replace('subnet = 10.244.2.0/24\n', 'subnet = 10.244.2.0/24\nsubnet.backend = 10.245.5.0/24\n'), /\[host\.node2\] subnet\.backend = "10\.245\.5\.0\/24": a subnet that overlaps no other host's; host "node1" has 10\.245\.5\.0\/24 in network "backend"/)
  refused(t, add('subnet.middle = 10.247.5.0/24'), /subnet\.middle = "10\.247\.5\.0\/24": a subnet of a \[network\.NAME\]; "middle" is none \(known: backend, frontend\)/)
  refused(t, add('subnet.default = 10.244.5.0/24'), /subnet\.default = .*the default network's subnet is `subnet`/)
  refused(t, add('subnet.backend = 10.245.5/24'), /subnet\.backend = "10\.245\.5\/24"/)
})

test('refused: overlapping pools (between networks, with the default pool, with the underlay), host addresses in a pool', (t) => {
  refused(t, NETS.replace('pool = 10.246.0.0/16', 'pool = 10.245.128.0/17'), /fabric\.ini:13 \[network\.frontend\] pool = "10\.245\.128\.0\/17": a pool that does not overlap network "backend"'s 10\.245\.0\.0\/16/)
  refused(t, NETS.replace('pool = 10.245.0.0/16', 'pool = 10.0.0.0/8'), /\[network\.backend\] pool = "10\.0\.0\.0\/8": a pool that does not overlap the default network's pool 10\.244\.0\.0\/16 \(\[fabric\] pool\)/)
  refused(t, NETS.replace('pool = 10.245.0.0/16', 'pool = 192.168.0.0/16'), /\[network\.backend\] pool = "192\.168\.0\.0\/16": a pool that does not overlap the underlay 192\.168\.18\.0\/24/)
  const noUnderlay = NETS.replace('underlay = 192.168.18.0/24\n', '').replace('pool = 10.245.0.0/16', 'pool = 192.168.0.0/16')
  refused(t, noUnderlay, /\[host\.node1\] address = "192\.168\.18\.128": an underlay address outside network "backend"'s pool 192\.168\.0\.0\/16/, /\[host\.node2\] address/)
})

test('refused: pool and host-prefix values', (t) => {
  refused(t, NETS.replace('pool = 10.245.0.0/16', 'pool = 10.245.0.0'), /\[network\.backend\] pool = "10\.245\.0\.0": .*not a CIDR prefix/)
  refused(t, NETS.replace('pool = 10.245.0.0/16', 'pool = 10.245.0.0/31'), /pool = "10\.245\.0\.0\/31": a pool length between \/8 and \/30/)
  refused(t, NETS.replace('[network.backend]\npool = 10.245.0.0/16\n', '[network.backend]\n'), /\[network\.backend\] pool: required/)
  refused(t, NETS.replace('host-prefix = 24', 'host-prefix = 31'), /\[network\.frontend\] host-prefix = "31": a prefix length from 8 to 30/)
  refused(t, NETS.replace('host-prefix = 24', 'host-prefix = 12'), /\[network\.frontend\] host-prefix = "12": a length >= the pool's \/16/)
  refused(t, NETS.replace('pool = 10.246.0.0/16\nhost-prefix = 24\n', 'pool = 10.246.0.0/26\n'), /\[network\.frontend\] host-prefix = "24": a length >= the pool's \/26 .*the default comes from \[fabric\] host-prefix/)
})

test('refused: unknown network in allow, itself, twice; unknown key', (t) => {
  refused(t, NETS.replace('allow = backend', 'allow = backend, middle'), /fabric\.ini:15 \[network\.frontend\] allow = "backend, middle": "middle" is not a network; known: default, backend/)
  refused(t, NETS.replace('allow = backend', 'allow = frontend'), /allow = "frontend": other networks than frontend itself/)
  refused(t, NETS.replace('allow = backend', 'allow = backend backend'), /allow = "backend backend": "backend" listed twice/)
  refused(t, NETS.replace('allow = backend', 'alow = backend'), /\[network\.frontend\] alow = "backend": unknown key; \[network\.NAME\] accepts pool, host-prefix, allow, bridge/)
  t.deepEqual(loadConfigText(NETS.replace('allow = backend', 'allow = default backend')).networks[1]!.allow, ['default', 'backend'])
})

test('refused: duplicate and invalid network names, reserved names', (t) => {
  refused(t, `${NETS}[network.backend]\npool = 10.247.0.0/16\n`, /fabric\.ini:16 \[network\.backend\]: duplicate section \(first defined at line 10\)/)
  refused(t, `${NETS}[network._x]\npool = 10.247.0.0/16\n`, /\[network\._x\]: a network name as Docker accepts it/)
  refused(t, `${NETS}[network.${'a'.repeat(64)}]\npool = 10.247.0.0/16\n`, /a network name as Docker accepts it.*at most 63/)
  refused(t, `${NETS}[network.back end]\npool = 10.247.0.0/16\n`, /\[network\.back end\]: a section name like/)
  for (const name of ['default', 'bridge', 'host', 'none']) {
    refused(t, `${NETS}[network.${name}]\npool = 10.247.0.0/16\n`, new RegExp(`\\[network\\.${name}\\]: a network name other than default, bridge, host, none`))
  }
})

test('refused: bridge names', (t) => {
  refused(t, `${NETS}bridge = a-very-long-bridge\n`, /\[network\.frontend\] bridge = "a-very-long-bridge": a Linux interface name: 1 to 15/)
  refused(t, `${NETS}bridge = docker0\n`, /bridge = "docker0": a bridge of its own, not docker0/)
  refused(t, NETS.replace('[network.frontend]\n', '[network.frontend]\nbridge = br-fab\n').replace('[network.backend]\n', '[network.backend]\nbridge = br-fab\n'), /\[network\.frontend\] bridge = "br-fab": a bridge name no other network uses; network "backend" has it/)
})

test('every refusal is reported at once, none hides another', (t) => {
  const text = `${NETS}[network.x1]\npool = 10.245.9.0/24\nallow = nope\n[network.x2]\npool = 10.247.0.0/16\nhost-prefix = 40\n`
  const e = refused(t, text, /x1\] pool = .*network "backend"/, /x1\] allow = "nope"/, /x2\] host-prefix = "40"/)
  t.is(e.errors.length, 3)
})

test('allow is symmetric: the unordered pairs, each once', (t) => {
  t.deepEqual(allowedPairs([{ name: 'b', allow: ['a'] }, { name: 'a', allow: ['b', 'default'] }, { name: 'c', allow: [] }]), [['a', 'b'], ['a', 'default']])
  t.deepEqual(allowedPairs(loadConfigText(NETS).networks), [['backend', 'frontend']])
})
