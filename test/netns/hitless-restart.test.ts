/**
 * Graceful restart in a 3-host `mode = bgp` lab (issue 10): a ping every
 * 10 ms from host 2's container to host 1's loses nothing while host 1's
 * agent is stopped with SIGTERM and started again 1 s later (as an upgrade
 * of the agent image does); the peers never delete host 1's route. Then
 * `fabric leave` on host 1 still withdraws its subnet from hosts 2 and 3
 * within a second, measured with the kernel's timestamps (`ip -ts monitor
 * route` in their namespaces) from the moment leave was called.
 */
import test from 'ava'
import { type LabHost, signalAgent, sleep, startAgent, waitAgents } from '../../src/lab/lab.js'
import { fabric, logEvents, waitFor, waitRoutes, withLab } from './helpers.js'
import { PingCounter, delays, figure, monitors, peersOf } from './hitless-helpers.js'

const all = (h: LabHost, hosts: LabHost[]) => hosts.filter((x) => x !== h).map((x) => `${x.subnet} via ${x.address}`).sort()

test.serial('SIGTERM + start 1 s later: 0 packets lost, the route never leaves the peers; fabric leave withdraws within a second', async (t) => {
  const lab = await withLab(t, { tag: 'hg', hosts: 3, mode: 'bgp' })
  const hosts = lab.hosts
  const [h1, h2, h3] = hosts as [LabHost, LabHost, LabHost]
  for (const h of hosts) t.deepEqual(await waitRoutes(h.ns, all(h, hosts), 30_000), all(h, hosts))
  // graceful restart negotiated both ways on every session of host 1
  const negotiated = await waitFor(async () => {
    const p = (await peersOf(h1).catch(() => [])).filter((x) => x.state === 'Established')
    const gr = p.map((x) => x.details?.gracefulRestart as { local?: { advertised?: boolean }; peer?: { advertised?: boolean; forwarding?: boolean } | null } | undefined)
    return p.length === 2 && gr.every((g) => g?.local?.advertised && g.peer?.advertised) ? gr : undefined
  }, 20_000, 200)
  t.truthy(negotiated, 'graceful restart advertised by both sides of each of host 1\'s sessions')

  const { mons, stop } = await monitors([h2, h3])
  t.teardown(stop)
  const ping = new PingCounter(h2.containerNs, h1.containerIp)
  t.teardown(() => ping.kill())
  await sleep(1000)
  const t0 = Date.now()
  await signalAgent(h1, 'SIGTERM')
  const stoppedAfter = Date.now() - t0
  await sleep(1000)
  startAgent(lab, h1)
  await waitAgents(lab, [h1])
  // host 1 is back with both sessions and has sent End-of-RIB: the peers' stale marks are gone
  const settled = await waitFor(async () => {
    const p = await peersOf(h2).catch(() => [])
    const n1 = p.find((x) => x.address === h1.address)
    const gr = n1?.details?.gracefulRestart as { state?: string } | undefined
    return n1?.state === 'Established' && gr?.state === 'none' ? true : undefined
  }, 30_000, 100)
  t.true(settled, 'host 2 sees host 1 Established again, graceful restart done')
  await sleep(1000)
  const r = await ping.stop()
  t.log(`restart of host 1 (SIGTERM took ${stoppedAfter} ms, 1 s down, restart until End-of-RIB ${Date.now() - t0 - 1000} ms): ${r.sent} pings every 10 ms, ${r.lost} lost`)
  t.true(r.sent > 200, `${r.sent} pings sent`)
  t.is(r.lost, 0, `${r.lost} of ${r.sent} lost`)
  for (const m of mons) t.deepEqual(m.events.filter((e) => e.deleted && e.prefix === h1.subnet).map((e) => e.line), [], `${m.ns} never deleted host 1's route`)
  for (const h of hosts) t.deepEqual(await waitRoutes(h.ns, all(h, hosts), 5_000), all(h, hosts))

  // fabric leave: withdrawn at once, no graceful restart for a leave
  const t1 = Date.now()
  const left = await fabric(['leave', '--yes', '--socket', h1.socket], h1.ns)
  t.is(left.code, 0, left.stderr)
  // timed from the agent's `leaving` (the CLI's own start, ~1 s through tsx and more under load, is not the protocol's)
  const leaving = logEvents(h1.log, 'leaving').at(-1)
  const from = leaving ? Date.parse(String(leaving.time)) : t1
  const gone = await delays(mons, h1.subnet, true, from, 5_000)
  t.log(`fabric leave on host 1 (the agent's leaving ${from - t1} ms after the CLI started) -> its subnet gone from hosts 2 and 3: ${figure(gone)}`)
  for (const [i, ms] of gone.entries()) t.true(ms < 1000, `${mons[i]!.ns}: ${ms} ms`)
  t.deepEqual(await waitRoutes(h2.ns, [`${h3.subnet} via ${h3.address}`], 2_000), [`${h3.subnet} via ${h3.address}`])
  t.deepEqual(await waitRoutes(h3.ns, [`${h2.subnet} via ${h2.address}`], 2_000), [`${h2.subnet} via ${h2.address}`])
})
