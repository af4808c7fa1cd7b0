/**
 * RIP + BFD with two real agents: host 1's underlay link goes down, its
 * route leaves host 2 in the BFD detection time (100 ms x 3), not after RIP's
 * timeout (15 s in the lab). Times are the kernel's (`ip -ts monitor route`).
 */
import test from 'ava'
import { type LabHost, modeDefaults } from '../../src/lab/lab.js'
import { fabric, ip, waitRoutes, withLab } from './helpers.js'
import { delays, monitors, peersOf, waitBfdUp } from './hitless-helpers.js'

test.serial('rip bfd = yes: link down on host 1, its route gone from host 2 in under a second; link up, back', async (t) => {
  const lab = await withLab(t, { tag: 'hr', hosts: 2, mode: 'rip', iniExtra: [...modeDefaults('rip'), 'bfd = yes', 'bfd-interval = 100', 'bfd-multiplier = 3'] })
  const [h1, h2] = lab.hosts as [LabHost, LabHost]
  t.deepEqual(await waitRoutes(h2.ns, ['10.244.1.0/24 via 10.99.0.11'], 30_000), ['10.244.1.0/24 via 10.99.0.11'])
  t.deepEqual(await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12'], 30_000), ['10.244.2.0/24 via 10.99.0.12'])
  const up = await waitBfdUp(h2, 1, 20_000, undefined, 300)
  t.truthy(up, 'BFD Up with the neighbour')
  t.is(up![0]!.address, '10.99.0.11')
  // and it stays there: read again after the wait
  t.is((await peersOf(h2)).find((x) => x.address === '10.99.0.11')?.details?.bfd?.detectionTimeMs, 300)
  const cli = await fabric(['peers', '--socket', h2.socket])
  t.regex(cli.stdout, /^10\.99\.0\.11\s+10\.99\.0\.11\s+rip\s+up\s.*Up 300ms/m, cli.stdout)

  const { mons, stop } = await monitors([h2])
  t.teardown(stop)
  const t0 = Date.now()
  await ip(h1.ns, 'link', 'set', 'eth0', 'down')
  const [gone] = await delays(mons, '10.244.1.0/24', true, t0, 5_000)
  t.log(`RIP + BFD 100 ms x 3: link down -> route gone on the neighbour after ${gone!.toFixed(0)} ms (RIP timeout alone: 15 s here)`)
  t.true(gone! < 1000, `gone after ${gone} ms`)
  t.deepEqual(await waitRoutes(h2.ns, [], 1000), [])

  // link up: nothing special, the route comes with the next update (lab: 5 s interval + triggered)
  const t1 = Date.now()
  await ip(h1.ns, 'link', 'set', 'eth0', 'up')
  const [back] = await delays(mons, '10.244.1.0/24', false, t1, 20_000)
  t.log(`link up -> route back after ${back!.toFixed(0)} ms`)
  t.true(Number.isFinite(back))
  t.truthy(await waitBfdUp(h2, 1, 20_000), 'BFD Up again')
})
