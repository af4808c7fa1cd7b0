/**
 * The helpers of `fabric lab status` against real kernels: the route dumper
 * (and its `ip -n` fallback) reads exactly the unicast routes of protocol 233
 * of each namespace, both families; the pinger gets echo replies across a
 * veth pair in both families and reports silent targets as failed. Two
 * namespaces of this run (uniqueName), removed at the end.
 */
import test from 'ava'
import { readFabricRoutes } from '../../src/lab/kernel-routes.js'
import { pingFromNamespace } from '../../src/lab/pinger.js'
import { run, uniqueName, waitFor } from './helpers.js'

const base = uniqueName('lp')
const A = `${base}-a`
const B = `${base}-b`

async function must(args: string[]): Promise<void> {
  const r = await run('ip', args)
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`)
}

test.before(async () => {
  await must(['netns', 'add', A])
  await must(['netns', 'add', B])
  await must(['link', 'add', 'eth0', 'netns', A, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', B])
  for (const [ns, n] of [[A, 1], [B, 2]] as const) {
    await must(['-n', ns, 'link', 'set', 'lo', 'up'])
    await must(['-n', ns, 'addr', 'add', `10.250.0.${n}/24`, 'dev', 'eth0'])
    await must(['-n', ns, 'addr', 'add', `fd00:250::${n}/64`, 'dev', 'eth0', 'nodad'])
    await must(['-n', ns, 'link', 'set', 'eth0', 'up'])
  }
  // IPv6 neighbour discovery on the veth works once its link-local addresses have passed DAD
  const ready = await waitFor(async () => {
    for (const ns of [A, B]) if ((await run('ip', ['-n', ns, '-6', 'addr', 'show', 'dev', 'eth0', 'tentative'])).stdout.trim() !== '') return undefined
    return true
  }, 10_000, 100)
  if (!ready) throw new Error('IPv6 link-local addresses still tentative after 10 s')
  for (const r of [
    ['route', 'add', '10.251.1.0/24', 'via', '10.250.0.2', 'proto', '233'],
    ['route', 'add', '10.251.2.5', 'via', '10.250.0.2', 'proto', '233'],
    ['route', 'add', 'blackhole', '10.251.3.0/24', 'proto', '233'],
    ['route', 'add', '10.251.4.0/24', 'via', '10.250.0.2', 'proto', 'static'],
    ['route', 'add', '10.251.5.0/24', 'via', '10.250.0.2', 'proto', '233', 'table', '100'],
    ['-6', 'route', 'add', 'fd00:251:1::/64', 'via', 'fd00:250::2', 'proto', '233'],
    ['-6', 'route', 'add', 'fd00:251:2::/64', 'via', 'fd00:250::2', 'proto', 'static'],
  ]) await must(['-n', A, ...r])
})

test.after.always(async () => {
  await run('ip', ['netns', 'del', A])
  await run('ip', ['netns', 'del', B])
})

const sorted = (v: unknown): unknown => (typeof v === 'string' ? v : Object.fromEntries(Object.entries(v as Record<string, string[]>).map(([k, l]) => [k, [...l].sort()])))

test('route dumper and ip fallback: the unicast protocol-233 routes of each namespace (any table), both families; a missing namespace is unread', async (t) => {
  const missing = `${base}-x`
  for (const opts of [{}, { noDumper: true }]) {
    const m = await readFabricRoutes([A, B, missing], [4, 6], opts)
    t.deepEqual(sorted(m.get(A)), { 4: ['10.251.1.0/24', '10.251.2.5/32', '10.251.5.0/24'], 6: ['fd00:251:1::/64'] }, JSON.stringify(opts))
    t.deepEqual(m.get(B), { 4: [], 6: [] })
    t.is(typeof m.get(missing), 'string')
  }
  const v4 = await readFabricRoutes([A], [4])
  t.deepEqual(Object.keys(v4.get(A) as object), ['4'])
})

test('pinger: echo replies across the veth in both families; silent and unroutable targets fail', async (t) => {
  const m = await pingFromNamespace(A, ['10.250.0.2', 'fd00:250::2', '10.250.0.3', 'fd00:250::3', '10.251.1.5', '10.0.0.1'], { waitS: 1 })
  t.deepEqual(Object.fromEntries(m), {
    '10.250.0.2': true, 'fd00:250::2': true,
    '10.250.0.3': false, 'fd00:250::3': false, '10.251.1.5': false, '10.0.0.1': false,
  })
  await t.throwsAsync(pingFromNamespace(`${base}-x`, ['10.250.0.2']), { message: /pings from namespace .*-x failed/ })
  await t.throwsAsync(pingFromNamespace(A, ['10.250.0.2', '10.250.0.2']), { message: /twice/ })
})
