/** fabric's rtnetlink layer against a real kernel, in a namespace made for the test. */
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { run, uniqueName } from './helpers.js'

const probe = fileURLToPath(new URL('./rtnl-probe.ts', import.meta.url))

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
