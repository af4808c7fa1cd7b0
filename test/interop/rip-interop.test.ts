/**
 * RIPv2 interop with real daemons, started by the test in namespaces it
 * creates (see helpers-rip.ts): BIRD 2 and FRR 8 ripd (with zebra) without
 * authentication and with keyed MD5; BIRD also with HMAC-SHA-256 (FRR ripd
 * has no SHA). Short timers everywhere (update 5 s, timeout 15 s, garbage
 * collection 10 s).
 *
 * Each scenario checks: every speaker learns every other's subnet and
 * installs it in its namespace's kernel (fabric: proto 233; BIRD: kernel
 * protocol; FRR: zebra); fabric's route poisoned by `fabric leave` (metric
 * 16) leaves BIRD's and FRR's kernels at once; a SIGKILLed peer's route
 * leaves fabric's kernel after the timeout.
 */
import test from 'ava'
import { getJson } from '../../src/api/client.js'
import { agentPids } from '../../src/lab/lab.js'
import { fabric, fabricRoutes, logEvents, waitRoutes } from '../netns/helpers.js'
import { ripStats } from '../netns/helpers-rip.js'
import { BIRD, FABRIC, FRR, type InteropAuth, birdPidFile, interopLab, killByPidFile, startBird, startFabric, startFrr, waitFor, waitKernelRoute } from './helpers-rip.js'

const scenarios: { auth: InteropAuth; frr: boolean; tag: string }[] = [
  { auth: 'none', frr: true, tag: 'ri' },
  { auth: 'md5', frr: true, tag: 'rm' },
  { auth: 'sha256', frr: false, tag: 'rs' },
]

for (const sc of scenarios) {
  const who = sc.frr ? 'BIRD and FRR' : 'BIRD'
  test(`auth ${sc.auth}: fabric and ${who} learn and install each other's subnets; fabric leave poisons; a killed peer times out`, async (t) => {
    const il = await interopLab(t, sc.tag, sc.auth, sc.frr ? ['bird', 'frr'] : ['bird'])
    const host = il.lab.hosts[0]!
    await startBird(il, sc.auth)
    if (sc.frr) await startFrr(il, sc.auth === 'sha256' ? 'none' : sc.auth)

    // fabric learns every peer's subnet (metric 2 = their 1 + our cost 1)
    const peers = [BIRD, ...(sc.frr ? [FRR] : [])]
    const want = peers.map((p) => `${p.subnet} via ${p.address}`).sort()
    t.deepEqual(await waitRoutes(il.ns.fabric, want, 45_000), want, "fabric installed the peers' subnets")

    // BIRD and FRR learned fabric's subnet and installed it in their kernels
    const birdRoute = /via 10\.99\.0\.11 dev eth0 proto bird/
    const frrRoute = /via 10\.99\.0\.11 dev eth0 proto rip metric \d+/
    t.regex(await waitKernelRoute(il.ns.bird, FABRIC.subnet, birdRoute, 30_000), birdRoute)
    if (sc.frr) t.regex(await waitKernelRoute(il.ns.frr, FABRIC.subnet, frrRoute, 30_000), frrRoute)

    // nothing from a configured peer was refused for authentication (FRR's startup request is unauthenticated, see docs)
    const stats = (await ripStats(il.socket)).stats
    t.is(stats.drops['drop-packet:auth-bad-digest'] ?? 0, 0, JSON.stringify(stats.drops))
    t.is(stats.drops['drop-packet:auth-replay'] ?? 0, 0, JSON.stringify(stats.drops))
    const view = await getJson<{ peers: { address: string; state: string }[] }>(il.socket, '/v1/peers')
    t.deepEqual(view.peers.filter((p) => p.state === 'up').map((p) => p.address).sort(), peers.map((p) => p.address).sort())

    // fabric leave: fabric's subnet goes out at metric 16 and leaves BIRD's and FRR's kernels at once
    // (their timeout is 15 s after the last update; 8 s tells poisoning from timing out)
    const left = Date.now()
    const leave = await fabric(['leave', '--yes', '--socket', il.socket], il.ns.fabric)
    t.is(leave.code, 0, leave.stderr)
    t.is(await waitKernelRoute(il.ns.bird, FABRIC.subnet, 'absent', 8_000), '', 'BIRD dropped the poisoned route')
    if (sc.frr) t.is(await waitKernelRoute(il.ns.frr, FABRIC.subnet, 'absent', 8_000), '', 'FRR dropped the poisoned route')
    t.true(Date.now() - left < 8_000, `poisoned route gone after ${Date.now() - left} ms`)
    t.true(logEvents(il.log, 'rip-leave').length === 1)
    t.truthy(await waitFor(async () => ((await agentPids(host)).length === 0 ? true : undefined), 10_000), 'the agent exited after leave')

    // back again: the restarted agent (higher sequence numbers) is accepted and relearns the peers
    await startFabric(il)
    t.deepEqual(await waitRoutes(il.ns.fabric, want, 45_000), want, 'relearned after the restart')
    t.regex(await waitKernelRoute(il.ns.bird, FABRIC.subnet, birdRoute, 30_000), birdRoute)
    if (sc.frr) t.regex(await waitKernelRoute(il.ns.frr, FABRIC.subnet, frrRoute, 30_000), frrRoute)

    // SIGKILL the daemons: their routes leave fabric's kernel after the 15 s timeout, not before
    await killByPidFile(birdPidFile(il))
    if (sc.frr) await killByPidFile(`${il.frrDir}/ripd.pid`)
    const killed = Date.now()
    t.deepEqual(await waitRoutes(il.ns.fabric, [], 45_000), [], "the dead peers' routes timed out")
    const took = Date.now() - killed
    t.true(took >= 8_000, `routes left ${took} ms after the kill; expected the ~15 s timeout`)
    t.deepEqual(await fabricRoutes(il.ns.fabric), [])
  })
}
