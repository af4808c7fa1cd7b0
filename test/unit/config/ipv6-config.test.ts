import test, { type ExecutionContext } from 'ava'
import { ConfigErrors } from '../../../src/config/errors.js'
import { type ConfigOverrides, loadConfigText } from '../../../src/config/fabric-config.js'
import { formatPrefix6 } from '../../../src/net/ipv6.js'

const V4 = `[fabric]
pool = 10.244.0.0/16
pool6 = fd00:fab::/48
[host.node1]
address = 192.168.18.128
address6 = fd00:99::1
subnet = 10.244.1.0/24
subnet6 = fd00:fab:0:1::/64
[host.node2]
address = 192.168.18.130
address6 = FD00:0099:0:0::2
subnet = 10.244.2.0/24
subnet6 = fd00:fab:0:2::/64
`

function refused(t: ExecutionContext, text: string, overrides: ConfigOverrides, ...expected: RegExp[]): ConfigErrors {
  const e = t.throws(() => loadConfigText(text, 'fabric.ini', overrides), { instanceOf: ConfigErrors })!
  for (const re of expected) t.regex(e.message, re)
  return e
}

test('accepted: pool6, default host-prefix6 64, address6 canonical (RFC 5952), subnet6', (t) => {
  const c = loadConfigText(V4)
  t.is(formatPrefix6(c.pool6!), 'fd00:fab::/48')
  t.is(c.hostPrefix6, 64)
  t.deepEqual(c.hosts.map((h) => [h.name, h.address6, h.subnet6 && formatPrefix6(h.subnet6)]), [
    ['node1', 'fd00:99::1', 'fd00:fab:0:1::/64'],
    ['node2', 'fd00:99::2', 'fd00:fab:0:2::/64'],
  ])
})

test('accepted: no pool6 is an IPv4-only fabric with nothing IPv6 set', (t) => {
  const c = loadConfigText('[fabric]\npool = 10.244.0.0/16\n[host.a]\naddress = 192.168.1.1\nsubnet = 10.244.1.0/24\n')
  t.is(c.pool6, undefined)
  t.is(c.subnet6, undefined)
  t.is(c.address6, undefined)
  t.is(c.hostPrefix6, 64)
  t.is(c.hosts[0]!.address6, undefined)
  t.is(c.hosts[0]!.subnet6, undefined)
})

test('accepted: host-prefix6 48..120 (with or without a slash), a global pool, flags win over the file', (t) => {
  const rip = '[fabric]\npool = 10.244.0.0/16\nmode = rip\npool6 = 2001:db8::/32\nhost-prefix6 = 56\n'
  t.is(loadConfigText(rip).hostPrefix6, 56)
  t.is(loadConfigText(rip.replace('56', '/48')).hostPrefix6, 48)
  t.is(loadConfigText(rip.replace('56', '120')).hostPrefix6, 120)
  const c = loadConfigText(rip, 'f.ini', { pool6: 'fd00:1::/48', hostPrefix6: '64', subnet6: 'fd00:1:0:7::/64', address6: '2001:db8:99::7' })
  t.is(formatPrefix6(c.pool6!), 'fd00:1::/48')
  t.is(c.hostPrefix6, 64)
  t.is(formatPrefix6(c.subnet6!), 'fd00:1:0:7::/64')
  t.is(c.address6, '2001:db8:99::7')
})

test('accepted: rip/bgp hosts may leave out address6 and subnet6 (their own are found or allocated)', (t) => {
  const c = loadConfigText('[fabric]\npool = 10.244.0.0/16\nmode = bgp\npool6 = fd00:fab::/48\n[host.a]\naddress = 192.168.1.1\nsubnet = 10.244.1.0/24\n[host.b]\naddress = 192.168.1.2\nsubnet = 10.244.2.0/24\nsubnet6 = fd00:fab:0:2::/64\n')
  t.is(c.hosts[0]!.subnet6, undefined)
  t.is(formatPrefix6(c.hosts[1]!.subnet6!), 'fd00:fab:0:2::/64')
})

test('refused: pool6 syntax, host bits, lengths, naming file:line, section, key and value', (t) => {
  refused(t, V4.replace('fd00:fab::/48', 'fd00:fab::'), {}, /fabric\.ini:3 \[fabric\] pool6 = "fd00:fab::": .*not an IPv6 prefix/)
  refused(t, V4.replace('fd00:fab::/48', 'fd00:fab::1/48'), {}, /fabric\.ini:3 \[fabric\] pool6 = "fd00:fab::1\/48": .*host bits set \(did you mean fd00:fab::\/48\?\)/)
  refused(t, V4.replace('fd00:fab::/48', 'fd00:fab:::/48'), {}, /pool6 = "fd00:fab:::\/48": .*not an IPv6 address/)
  refused(t, V4.replace('fd00:fab::/48', '10.0.0.0/8'), {}, /pool6 = "10\.0\.0\.0\/8": .*not an IPv6/)
  refused(t, V4.replace('fd00:fab::/48', 'fd00:fab::/129'), {}, /pool6 .*length must be 0\.\.128/)
  refused(t, V4.replace('fd00:fab::/48', 'fd00:fab::/124'), {}, /pool6 = "fd00:fab::\/124": an IPv6 pool length between \/8 and \/120/)
  refused(t, V4.replace('fd00:fab::/48', 'fc00::/7').replace(/subnet6 = .*\n/g, ''), {}, /pool6 = "fc00::\/7": an IPv6 pool length between/)
})

test('refused: pool6 not unicast: link-local, multicast, loopback, ::/0, IPv4-mapped', (t) => {
  const cases: [string, RegExp][] = [
    ['fe80::/64', /link-local fe80::\/10/],
    ['fe80::/10', /link-local fe80::\/10/],
    ['ff02::/16', /multicast ff00::\/8/],
    ['ff00::/8', /multicast ff00::\/8/],
    ['::1/128', /pool length|reserved ::\/8/],
    ['::/0', /pool length/],
    ['::/8', /reserved ::\/8/],
    ['::ffff:0:0/96', /reserved ::\/8 .*IPv4-mapped/],
  ]
  for (const [pool6, re] of cases) {
    const e = refused(t, `[fabric]\npool = 10.244.0.0/16\nmode = rip\npool6 = ${pool6}\n`, {}, /fabric\.ini:4 \[fabric\] pool6/)
    t.regex(e.message, re, pool6)
    t.regex(e.message, /unicast|pool length/, pool6)
  }
})

test('refused: host-prefix6 out of range or shorter than pool6', (t) => {
  const rip = '[fabric]\npool = 10.244.0.0/16\nmode = rip\npool6 = fd00:fab::/56\n'
  refused(t, `${rip}host-prefix6 = 47\n`, {}, /fabric\.ini:5 \[fabric\] host-prefix6 = "47": a prefix length from 48 to 120/)
  refused(t, `${rip}host-prefix6 = 121\n`, {}, /host-prefix6 = "121": a prefix length from 48 to 120/)
  refused(t, `${rip}host-prefix6 = sixty\n`, {}, /host-prefix6 = "sixty"/)
  refused(t, `${rip}host-prefix6 = 48\n`, {}, /host-prefix6 = "48": a length >= pool6's \/56/)
  // the default 64 against a /72 pool
  refused(t, rip.replace('/56', '/72'), {}, /fabric\.ini \[fabric\] host-prefix6 = "64": a length >= pool6's \/72/)
  refused(t, rip, { hostPrefix6: '200' }, /--host-prefix6 \(or FABRIC_HOST_PREFIX6\) host-prefix6 = "200"/)
})

test('refused: subnet6 outside pool6, not /host-prefix6, host bits, overlapping another host', (t) => {
  refused(t, V4.replace('fd00:fab:0:2::/64', 'fd00:fac:0:2::/64'), {}, /fabric\.ini:13 \[host\.node2\] subnet6 = "fd00:fac:0:2::\/64": a subnet inside pool6 fd00:fab::\/48/)
  refused(t, V4.replace('fd00:fab:0:2::/64', 'fd00:fab:0:2::/80'), {}, /subnet6 = "fd00:fab:0:2::\/80": a \/64 \(host-prefix6\), not a \/80/)
  refused(t, V4.replace('fd00:fab:0:2::/64', 'fd00:fab:0:2::1/64'), {}, /subnet6 = "fd00:fab:0:2::1\/64": .*host bits set \(did you mean fd00:fab:0:2::\/64\?\)/)
  refused(t, V4.replace('fd00:fab:0:2::/64', 'fd00:fab:0:1::/64'), {}, /\[host\.node2\] subnet6 = "fd00:fab:0:1::\/64": a subnet6 that overlaps no other host's; host "node1" has fd00:fab:0:1::\/64/)
  refused(t, V4.replace('fd00:fab:0:2::/64', 'not-a-prefix'), {}, /subnet6 = "not-a-prefix": .*not an IPv6 prefix/)
})

test('refused: address6 not global/ULA unicast, inside pool6, or a duplicate', (t) => {
  const cases: [string, RegExp][] = [
    ['fe80::1', /not a link-local address/],
    ['ff02::1', /not a multicast address/],
    ['::', /not the unspecified address ::/],
    ['::1', /not the loopback ::1/],
    ['::ffff:192.168.1.1', /not an IPv4-mapped address/],
    ['::192.168.1.1', /reserved ::\/8/],
    ['fd00:fab::9', /an underlay address outside pool6 fd00:fab::\/48/],
    ['fd00:99::1%eth0', /zone ids/],
    ['192.168.18.130', /not an IPv6 address/],
    ['fd00:99::1', /a unique address6; host "node1" already uses fd00:99::1/],
  ]
  for (const [a, re] of cases) {
    const e = refused(t, V4.replace('FD00:0099:0:0::2', a), {}, /fabric\.ini:11 \[host\.node2\] address6 = /)
    t.regex(e.message, re, a)
  }
})

test('refused: IPv6 keys and flags without pool6 (IPv6 is off)', (t) => {
  const noPool = V4.replace('pool6 = fd00:fab::/48\n', '')
  const e = refused(t, noPool, {}, /fabric\.ini:5 \[host\.node1\] address6 = "fd00:99::1": given without \[fabric\] pool6/, /\[host\.node1\] subnet6 = "fd00:fab:0:1::\/64": given without \[fabric\] pool6/)
  t.is(e.errors.length, 4)
  const rip = '[fabric]\npool = 10.244.0.0/16\nmode = rip\n'
  refused(t, `${rip}host-prefix6 = 64\n`, {}, /host-prefix6 = "64": given without \[fabric\] pool6/)
  refused(t, rip, { subnet6: 'fd00:fab:0:1::/64' }, /--subnet6 \(or FABRIC_SUBNET6\) subnet6 = "fd00:fab:0:1::\/64": given without \[fabric\] pool6/)
  refused(t, rip, { address6: 'fd00:99::1' }, /--address6 \(or FABRIC_ADDRESS6\) address6 = "fd00:99::1": given without \[fabric\] pool6/)
})

test('refused: --subnet6 and --address6 checked like the file keys, naming the flag and env var', (t) => {
  const rip = '[fabric]\npool = 10.244.0.0/16\nmode = rip\npool6 = fd00:fab::/48\n'
  refused(t, rip, { subnet6: 'fd00:fab:0:10::/60' }, /--subnet6 \(or FABRIC_SUBNET6\) subnet6 = "fd00:fab:0:10::\/60": a \/64 \(host-prefix6\)/)
  refused(t, rip, { subnet6: 'fd01::/64' }, /--subnet6 .*a subnet inside pool6 fd00:fab::\/48/)
  refused(t, rip, { address6: 'fe80::2' }, /--address6 \(or FABRIC_ADDRESS6\) address6 = "fe80::2": .*not a link-local/)
  refused(t, rip, { address6: 'fd00:fab:0:1::5' }, /--address6 .*outside pool6/)
  refused(t, rip, { pool6: 'ff05::/16' }, /--pool6 \(or FABRIC_POOL6\) pool6 = "ff05::\/16": .*multicast/)
})

test('refused: static mode with pool6, a host without address6 or subnet6', (t) => {
  const e = refused(t, V4.replace('address6 = FD00:0099:0:0::2\n', '').replace('subnet6 = fd00:fab:0:1::/64\n', ''), {},
    /fabric\.ini:4 \[host\.node1\] subnet6: required: the host's IPv6 container subnet, a \/64 inside pool6 \(in mode static with \[fabric\] pool6 every host is dual-stack/,
    /fabric\.ini:\d+ \[host\.node2\] address6: required: the host's underlay IPv6 address, the next hop of its IPv6 route/)
  t.is(e.errors.length, 2)
})

test('every IPv6 refusal of one file is reported at once', (t) => {
  const text = V4.replace('fd00:fab:0:2::/64', 'fd00:fab:0:1::/64').replace('FD00:0099:0:0::2', 'fe80::2').replace('fd00:99::1', 'ff02::1')
  const e = refused(t, text, {})
  t.is(e.errors.length, 3)
  t.deepEqual(e.errors.map((x) => x.key), ['address6', 'address6', 'subnet6'])
})
