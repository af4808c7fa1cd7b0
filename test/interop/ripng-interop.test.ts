/**
 * RIPng (RFC 2080) interop with real daemons, started by the test in
 * namespaces it creates (helpers-ripng.ts): BIRD 2 `protocol rip ng` and
 * FRR 8 ripngd (with zebra), each on the underlay segment of one dual-stack
 * fabric host in rip mode. Short timers everywhere (update 5 s, timeout
 * 15 s, garbage collection 10 s).
 *
 * Each scenario checks: fabric installs the peer's /64 via the peer's
 * link-local address dev eth0 proto 233; the peer installs fabric's
 * subnet6 in its kernel via fabric's link-local address; `fabric peers`
 * lists the peer as a RIPng neighbour; `fabric leave` (subnet6 at metric 16)
 * takes fabric's route out of the peer's kernel at once; a SIGKILLed peer's
 * route leaves fabric's kernel after the timeout.
 */
import { readFileSync } from 'node:fs'
import test from 'ava'
import { getJson } from '../../src/api/client.js'
import { agentPids, startAgent, waitAgents } from '../../src/lab/lab.js'
import { fabric, logEvents, waitFor } from '../netns/helpers.js'
import { ripStats } from '../netns/helpers-rip.js'
import { linkLocal, waitRoutes6 } from '../netns/helpers-ripng.js'
import { killByPidFile } from './helpers-rip.js'
import { BIRD6, FABRIC6, FRR6, ripngInteropLab, startBirdRipng, startFrrRipng, waitKernelRoute6 } from './helpers-ripng.js'

const scenarios = [
  { peer: 'bird' as const, tag: 'nb', subnet6: BIRD6.subnet6, proto: /proto bird/ },
  { peer: 'frr' as const, tag: 'nf', subnet6: FRR6.subnet6, proto: /proto (ripng|190)/ },
]

for (const sc of scenarios) {
  test(`${sc.peer}: fabric and ${sc.peer === 'bird' ? 'BIRD protocol rip ng' : 'FRR ripngd'} learn and install each other's /64; fabric leave poisons; a killed peer times out`, async (t) => {
    const il = await ripngInteropLab(t, sc.tag, sc.peer)
    const started = sc.peer === 'bird' ? await startBirdRipng(il) : await startFrrRipng(il)
    const fabricLl = await linkLocal(il.ns.fabric)
    const peerLl = await linkLocal(il.ns.peer)

    // fabric learned the peer's /64 (metric 2 = its 1 + our cost 1), next hop its link-local address
    const want = [`${sc.subnet6} via ${peerLl} dev eth0`]
    t.deepEqual(await waitRoutes6(il.ns.fabric, want, 45_000), want, "fabric installed the peer's subnet6")

    // the peer learned fabric's subnet6 and installed it in its kernel, via fabric's link-local address
    const peerRoute = new RegExp(`via ${fabricLl} dev eth0 ${sc.proto.source}`)
    t.regex(await waitKernelRoute6(il.ns.peer, FABRIC6.subnet6, peerRoute, 30_000), peerRoute)

    const view = await getJson<{ peers: { source: string; address: string; state: string; details: { protocol?: string } }[] }>(il.socket, '/v1/peers')
    t.deepEqual(view.peers.filter((p) => p.details.protocol === 'ripng').map((p) => [p.source, p.address, p.state]), [['rip', peerLl, 'up']])
    const stats = (await ripStats(il.socket)).stats.ripng as { drops: Record<string, number>; routes: number }
    t.is(stats.routes, 1)
    // nothing the daemon sent was refused as a packet (entries for the shared underlay /64 are "connected": fine)
    t.deepEqual(Object.keys(stats.drops).filter((k) => k.startsWith('drop-packet:')), [], JSON.stringify(stats.drops))

    // fabric leave: subnet6 goes out at metric 16 and leaves the peer's kernel at once; a timeout would take
    // at least 10 s (its timeout is 15 s after the last of fabric's 5 s updates), so 6 s after the poison tells them apart
    const leave = await fabric(['leave', '--yes', '--socket', il.socket], il.ns.fabric)
    t.is(leave.code, 0, leave.stderr)
    t.is(await waitKernelRoute6(il.ns.peer, FABRIC6.subnet6, 'absent', 8_000), '', 'the peer dropped the poisoned route')
    const gone = Date.now()
    const poisoned = logEvents(il.log, 'ripng-leave')
    t.is(poisoned.length, 1)
    const poisonedAt = Date.parse(String(poisoned[0]?.time))
    t.true(gone - poisonedAt < 6_000, `poisoned route gone ${gone - poisonedAt} ms after the poison was sent`)

    t.truthy(await waitFor(async () => ((await agentPids(il.lab.hosts[0]!)).length === 0 ? true : undefined), 10_000), 'the agent exited after leave')

    // back again, then SIGKILL the daemon: its route leaves fabric's kernel after the 15 s timeout, not before
    startAgent(il.lab, il.lab.hosts[0]!)
    await waitAgents(il.lab, [il.lab.hosts[0]!])
    t.deepEqual(await waitRoutes6(il.ns.fabric, want, 45_000), want, 'relearned after the restart')
    await killByPidFile(started.pidFile)
    const killed = Date.now()
    const after = await waitRoutes6(il.ns.fabric, [], 45_000)
    if (after.length > 0) t.log(readFileSync(il.log, 'utf8').split('\n').filter((l) => /ripng|route-|kernel-synced|ready|agent-st/.test(l)).slice(-40).join('\n'))
    t.deepEqual(after, [], "the dead peer's route timed out")
    const took = Date.now() - killed
    t.true(took >= 8_000, `route left ${took} ms after the kill; expected the ~15 s timeout`)
    // the neighbour is reported down by the watch timer (every timeout / 6 = 2.5 s here)
    t.truthy(await waitFor(() => (logEvents(il.log, 'ripng-neighbor-down').some((l) => l.neighbor === peerLl) ? true : undefined), 5_000, 200))
  })
}
