import test from 'ava'
import { ConfigErrors } from '../../../src/config/errors.js'
import { loadConfig, loadConfigText } from '../../../src/config/fabric-config.js'
import { formatAddress, formatPrefix } from '../../../src/net/ipv4.js'

const GOOD = `[fabric]
pool = 10.244.0.0/16        ; all container subnets are cut from here
host-prefix = 24            ; 24 or 16
mode = static               ; static | rip | bgp
route-protocol = fabric     ; kernel protocol name/number
[host.node1]
address = 192.168.18.128    ; underlay address
subnet  = 10.244.1.0/24     ; this host's docker0 subnet
[host.node2]
address = 192.168.18.130
subnet  = 10.244.2.0/24
`

function refused(t: import('ava').ExecutionContext, text: string, ...expected: RegExp[]): ConfigErrors {
  const e = t.throws(() => loadConfigText(text, 'fabric.ini'), { instanceOf: ConfigErrors })!
  for (const re of expected) t.regex(e.message, re)
  return e
}

test('the example of the issue parses, inline comments stripped', (t) => {
  const c = loadConfigText(GOOD)
  t.is(formatPrefix(c.pool), '10.244.0.0/16')
  t.is(c.hostPrefix, 24)
  t.is(c.mode, 'static')
  t.is(c.routeProtocol, 233)
  t.deepEqual(c.hosts.map((h) => [h.name, formatAddress(h.address), formatPrefix(h.subnet)]), [
    ['node1', '192.168.18.128', '10.244.1.0/24'],
    ['node2', '192.168.18.130', '10.244.2.0/24'],
  ])
})

test('defaults: host-prefix 24, mode static, protocol 233, reconcile 5 s', (t) => {
  const c = loadConfigText('[fabric]\npool = 10.244.0.0/16\n')
  t.is(c.hostPrefix, 24)
  t.is(c.mode, 'static')
  t.is(c.routeProtocol, 233)
  t.is(c.reconcileInterval, 5)
  t.deepEqual(c.hosts, [])
})

test('flags override the file', (t) => {
  const c = loadConfigText(GOOD.replace('host-prefix = 24', 'host-prefix = 16').replace(/10\.244\.(\d)\.0\/24/g, '10.$1.0.0/16').replace('10.244.0.0/16', '10.0.0.0/8'), 'f.ini', { routeProtocol: '201', reconcileInterval: '2' })
  t.is(c.routeProtocol, 201)
  t.is(c.reconcileInterval, 2)
  t.is(c.hostPrefix, 16)
})

test('a bad flag value names the flag and its env var', (t) => {
  const e = t.throws(() => loadConfigText(GOOD, 'f.ini', { pool: '10.244.0.0/33' }), { instanceOf: ConfigErrors })!
  t.regex(e.message, /--pool \(or FABRIC_POOL\) pool = "10\.244\.0\.0\/33": .*length must be 0\.\.32/)
})

test('unknown section', (t) => {
  refused(t, `${GOOD}[hosts.node3]\naddress = 1.2.3.4\n`, /fabric\.ini:12 \[hosts\.node3\]: unknown section/)
})

test('unknown key in [fabric] and in [host.*]', (t) => {
  refused(t, GOOD.replace('mode = static', 'mdoe = static'), /fabric\.ini:4 \[fabric\] mdoe = "static": unknown key/)
  refused(t, GOOD.replace('address = 192.168.18.130', 'adress = 192.168.18.130'), /\[host\.node2\] adress = "192\.168\.18\.130": unknown key/, /\[host\.node2\] address: required/)
})

test('a line that is not key = value', (t) => {
  refused(t, GOOD.replace('mode = static', 'mode static'), /fabric\.ini:4 \[fabric\] mode static: a line of the form `key = value`/)
  refused(t, `${GOOD}= 5\n`, /fabric\.ini:12 .*key = value/)
})

test('keys before any section, duplicate keys and sections', (t) => {
  refused(t, `pool = 10.0.0.0/8\n${GOOD}`, /fabric\.ini:1 pool = "10\.0\.0\.0\/8": keys must follow a \[section\]/)
  refused(t, GOOD.replace('mode = static', 'mode = static\nmode = rip'), /fabric\.ini:5 \[fabric\] mode = "rip": key set twice \(first at line 4\)/)
  refused(t, `${GOOD}[host.node1]\naddress = 192.168.18.131\nsubnet = 10.244.3.0/24\n`, /fabric\.ini:12 \[host\.node1\]: duplicate section \(first defined at line 6\)/)
})

test('bad CIDR and bad address', (t) => {
  refused(t, GOOD.replace('pool = 10.244.0.0/16', 'pool = 10.244.0.0'), /\[fabric\] pool = "10\.244\.0\.0": .*not a CIDR prefix/)
  refused(t, GOOD.replace('pool = 10.244.0.0/16', 'pool = 10.244.1.0/16'), /host bits set \(did you mean 10\.244\.0\.0\/16\?\)/)
  refused(t, GOOD.replace('subnet  = 10.244.1.0/24', 'subnet = 10.244.1/24'), /\[host\.node1\] subnet = "10\.244\.1\/24"/)
  refused(t, GOOD.replace('192.168.18.128', '192.168.18.300'), /\[host\.node1\] address = "192\.168\.18\.300": .*octet 300 > 255/)
  refused(t, GOOD.replace('192.168.18.128', 'node1.example'), /\[host\.node1\] address = "node1\.example": .*not an IPv4 address/)
})

test('subnet outside the pool or of the wrong length', (t) => {
  refused(t, GOOD.replace('10.244.2.0/24', '10.245.2.0/24'), /fabric\.ini:11 \[host\.node2\] subnet = "10\.245\.2\.0\/24": a subnet inside the pool 10\.244\.0\.0\/16/)
  refused(t, GOOD.replace('10.244.2.0/24', '10.244.2.0/25'), /\[host\.node2\] subnet = "10\.244\.2\.0\/25": a \/24 \(host-prefix\), not a \/25/)
})

test('host-prefix range and relation to the pool', (t) => {
  refused(t, GOOD.replace('host-prefix = 24', 'host-prefix = 31'), /\[fabric\] host-prefix = "31": a prefix length from 8 to 30/)
  refused(t, GOOD.replace('host-prefix = 24', 'host-prefix = 12'), /host-prefix = "12": a length >= the pool's \/16/)
})

test('overlapping subnets, duplicate addresses', (t) => {
  refused(t, GOOD.replace('10.244.2.0/24', '10.244.1.0/24'), /\[host\.node2\] subnet = "10\.244\.1\.0\/24": .*host "node1" has 10\.244\.1\.0\/24/)
  refused(t, GOOD.replace('192.168.18.130', '192.168.18.128'), /\[host\.node2\] address = "192\.168\.18\.128": a unique address; host "node1" already uses it/)
})

test('a subnet (the pool) that overlaps the underlay network', (t) => {
  refused(t, GOOD.replace('192.168.18.130', '10.244.2.7'), /\[host\.node2\] address = "10\.244\.2\.7": an underlay address outside the pool/)
  refused(t, GOOD.replace('route-protocol = fabric', 'route-protocol = fabric\nunderlay = 10.244.0.0/20'), /underlay = "10\.244\.0\.0\/20": an underlay network that does not overlap the pool/)
  refused(t, GOOD.replace('route-protocol = fabric', 'route-protocol = fabric\nunderlay = 192.168.19.0/24'), /address = "192\.168\.18\.128": an address inside the underlay 192\.168\.19\.0\/24/)
})

test('mode and route-protocol values', (t) => {
  refused(t, GOOD.replace('mode = static', 'mode = ospf'), /mode = "ospf": one of static, rip, bgp/)
  refused(t, GOOD.replace('route-protocol = fabric', 'route-protocol = 12'), /route-protocol = "12": protocol 12 belongs to bird/)
  refused(t, GOOD.replace('route-protocol = fabric', 'route-protocol = 188'), /belongs to ospf \(FRR\)/)
  refused(t, GOOD.replace('route-protocol = fabric', 'route-protocol = 4'), /belongs to static/)
  refused(t, GOOD.replace('route-protocol = fabric', 'route-protocol = 300'), /a number 1\.\.255/)
  t.is(loadConfigText(GOOD.replace('route-protocol = fabric', 'route-protocol = 201')).routeProtocol, 201)
})

test('joining by flags alone in rip/bgp mode, the pool defaults to 10.244.0.0/16; with a fabric.ini it is required', (t) => {
  const c = loadConfigText('', 'flags', { mode: 'bgp', subnet: '10.244.7.0/24' })
  t.is(formatPrefix(c.pool), '10.244.0.0/16')
  t.is(c.subnet && formatPrefix(c.subnet), '10.244.7.0/24')
  t.throws(() => loadConfigText('', 'flags', { mode: 'static' }), { message: /pool: required/ })
  t.throws(() => loadConfigText('[fabric]\nmode = bgp\n', 'f.ini'), { message: /pool: required/ })
})

test('missing pool and every error reported at once', (t) => {
  const e = refused(t, '[fabric]\nmode = rip\nfoo = 1\n[host.a]\naddress = 1.2.3.4\n', /pool: required/, /foo = "1": unknown key/, /\[host\.a\] subnet: required/)
  t.is(e.errors.length, 3)
})

test('unreadable file names the path', (t) => {
  const e = t.throws(() => loadConfig({ file: '/nonexistent/fabric.ini' }), { instanceOf: ConfigErrors })!
  t.regex(e.message, /\/nonexistent\/fabric\.ini: cannot read the file \(ENOENT\)/)
})

test('bad host names and section names', (t) => {
  refused(t, `${GOOD}[host.no de]\naddress = 1.2.3.4\nsubnet = 10.244.9.0/24\n`, /\[host\.no de\]: a section name like/)
  refused(t, `${GOOD}[Fabric]\n`, /\[Fabric\]: a section name like/)
})

test('# comments and CRLF line endings are accepted', (t) => {
  const c = loadConfigText(GOOD.replace(/\n/g, '\r\n').replace('; all container', '# all container'))
  t.is(c.hosts.length, 2)
})
