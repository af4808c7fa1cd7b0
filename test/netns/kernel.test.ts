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
