/** fabric's rtnetlink layer against a real kernel, in a namespace made for the test. */
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { run, uniqueName } from './helpers.js'

const probe = fileURLToPath(new URL('./rtnl-probe.ts', import.meta.url))
const ifProbe = fileURLToPath(new URL('./interfaces-probe.ts', import.meta.url))

test('a batch reports each operation: successes, EEXIST, ENETUNREACH and ESRCH, one ack per datagram', async (t) => {
  const ns = `${uniqueName('kn')}-k`
  t.teardown(() => run('ip', ['netns', 'del', ns]).then(() => undefined))
  for (const args of [['netns', 'add', ns], ['-n', ns, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1'], ['-n', ns, 'addr', 'add', '10.0.0.1/24', 'dev', 'up0'], ['-n', ns, 'link', 'set', 'up0', 'up'], ['-n', ns, 'link', 'set', 'up1', 'up']]) {
    const r = await run('ip', args)
    t.is(r.code, 0, r.stderr)
  }
  const n = 2000
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', probe, String(n)], { timeoutMs: 60_000 })
  t.is(r.code, 0, r.stderr)
  const { errnos, count } = JSON.parse(r.stdout) as { errnos: number[]; count: number }
  // expected, in the order the probe built them
  const want: number[] = []
  let installed = 0
  for (let i = 0; i < n; i++) {
    const unreachable = i % 97 === 5
    want.push(unreachable ? 101 : 0)
    if (!unreachable) installed++
    if (i % 89 === 7) want.push(unreachable ? 101 : 17)
  }
  want.push(3)
  t.is(errnos.length, want.length)
  t.deepEqual(errnos, want)
  t.is(count, installed)
})

test("readInterfaces reads a namespace's links, state, MTU, master and IPv4 addresses", async (t) => {
  const ns = `${uniqueName('kn')}-i`
  t.teardown(() => run('ip', ['netns', 'del', ns]).then(() => undefined))
  for (const args of [
    ['netns', 'add', ns],
    ['-n', ns, 'link', 'add', 'up0', 'mtu', '1400', 'type', 'veth', 'peer', 'name', 'up1'],
    ['-n', ns, 'link', 'add', 'br0', 'type', 'bridge'],
    ['-n', ns, 'link', 'set', 'up1', 'master', 'br0'],
    ['-n', ns, 'addr', 'add', '10.0.0.1/24', 'dev', 'up0'],
    ['-n', ns, 'addr', 'add', '10.9.0.1/16', 'dev', 'up0'],
    ['-n', ns, 'addr', 'add', '10.244.7.1/24', 'dev', 'br0'],
    ['-n', ns, 'link', 'set', 'up0', 'up'],
    ['-n', ns, 'link', 'set', 'br0', 'up'],
  ]) {
    const r = await run('ip', args)
    t.is(r.code, 0, r.stderr)
  }
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', ifProbe], { timeoutMs: 60_000 })
  t.is(r.code, 0, r.stderr)
  const got = JSON.parse(r.stdout) as { index: number; name: string; up: boolean; mtu: number; master?: number; addresses: { address: number; prefixLen: number; scope: number }[] }[]
  const by = new Map(got.map((i) => [i.name, i]))
  t.deepEqual([...by.keys()].sort(), ['br0', 'lo', 'up0', 'up1'])
  const up0 = by.get('up0')!
  t.is(up0.mtu, 1400)
  t.true(up0.up)
  t.deepEqual(up0.addresses, [{ address: 0x0a000001, prefixLen: 24, scope: 0 }, { address: 0x0a090001, prefixLen: 16, scope: 0 }])
  t.is(by.get('up1')!.master, by.get('br0')!.index)
  t.false(by.get('lo')!.up, 'lo is down in a new namespace')
  t.deepEqual(by.get('br0')!.addresses, [{ address: 0x0af40701, prefixLen: 24, scope: 0 }])
  t.deepEqual(by.get('up1')!.addresses, [])
})

test('IPv6: FibSync6 installs, replaces, restores a route deleted by hand, reports a foreign route as a conflict and leaves it; leave removes its routes', async (t) => {
  const ns = `${uniqueName('kn')}-6`
  t.teardown(() => run('ip', ['netns', 'del', ns]).then(() => undefined))
  for (const args of [
    ['netns', 'add', ns],
    ['-n', ns, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1'],
    ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.up0.accept_dad=0'],
    ['-n', ns, 'addr', 'add', 'fd00:99::1/64', 'dev', 'up0', 'nodad'],
    ['-n', ns, 'link', 'set', 'up0', 'up'],
    ['-n', ns, 'link', 'set', 'up1', 'up'],
    ['-n', ns, '-6', 'route', 'add', 'fd00:fab:4::/64', 'via', 'fd00:99::9', 'proto', 'static'],
  ]) {
    const r = await run('ip', args)
    t.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
  }
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', probe, 'fib6'], { timeoutMs: 60_000 })
  t.is(r.code, 0, r.stderr)
  const s = JSON.parse(r.stdout) as Record<string, { routes: string[]; states?: Record<string, string | null>; conflicts?: { prefix: string; reason: string }[]; drift?: { change: string }[]; removed?: unknown }>
  const foreign = 'fd00:fab:4::/64 via fd00:99::9 dev up0 proto static metric 1024'
  t.deepEqual(s.installed!.routes, [
    'fd00:fab:2::/64 via fd00:99::2 dev up0 proto 233 metric 1024',
    'fd00:fab:3::/64 via fe80::2 dev up0 proto 233 metric 1024',
    foreign,
  ])
  t.deepEqual(s.installed!.states, { 'fd00:fab:2::/64': 'installed', 'fd00:fab:3::/64': 'installed', 'fd00:fab:4::/64': 'conflict' })
  t.regex(s.installed!.conflicts![0]!.reason, /protocol 4 via fd00:99::9 \(metric 1024\)/)
  t.deepEqual(s.replaced!.routes, ['fd00:fab:2::/64 via fd00:99::5 dev up0 proto 233 metric 1024', 'fd00:fab:3::/64 via fe80::2 dev up0 proto 233 metric 1024', foreign])
  t.true(s.restored!.routes.includes('fd00:fab:3::/64 via fe80::2 dev up0 proto 233 metric 1024'), 'the route deleted by hand is back')
  t.deepEqual(s.restored!.drift!.map((d) => d.change), ['deleted'], 'only the hand delete is drift')
  t.deepEqual(s.withdrawn!.routes, ['fd00:fab:3::/64 via fe80::2 dev up0 proto 233 metric 1024', foreign])
  t.is(s.withdrawn!.states!['fd00:fab:2::/64'], null)
  t.deepEqual(s.left!.routes, [foreign], 'leave removes fabric\'s IPv6 routes only')
  t.deepEqual(s.left!.removed, { removed: 1, alreadyGone: 0, failed: 0, ipv6: { removed: 1, alreadyGone: 0, failed: 0 } })
})
