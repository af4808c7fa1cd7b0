/**
 * BFD in a 10-host iBGP mesh (bfd = yes, 100 ms x 3; hold time 9 s): host
 * 1's underlay link goes down, its subnet is gone from all 9 others in under
 * a second (hold time alone: 7.8-9 s); link up, its routes are back
 * everywhere in under 2 s (BFD Up triggers an immediate connect). Times are
 * the kernel's (`ip -ts monitor route` in each host's namespace), from the
 * `ip link set down`.
 */
import test from 'ava'
import { type LabHost, modeDefaults } from '../../src/lab/lab.js'
import { ip, waitRoutes, withLab } from './helpers.js'
import { delays, figure, monitors, peersOf, waitBfdUp } from './hitless-helpers.js'

const all = (h: LabHost, hosts: LabHost[]) => hosts.filter((x) => x !== h).map((x) => `${x.subnet} via ${x.address}`).sort()

test.serial('10-host mesh with BFD: link down -> gone from 9 hosts < 1 s; link up -> back < 2 s', async (t) => {
  const lab = await withLab(t, { tag: 'hb', hosts: 10, mode: 'bgp', iniExtra: [...modeDefaults('bgp'), 'bfd = yes', 'bfd-interval = 100', 'bfd-multiplier = 3'] })
  const hosts = lab.hosts
  const [h1, ...others] = hosts as [LabHost, ...LabHost[]]
  for (const h of hosts) t.deepEqual(await waitRoutes(h.ns, all(h, hosts), 60_000), all(h, hosts))
  for (const h of hosts) t.truthy(await waitBfdUp(h, 9, 30_000, 'Established', 300), `${h.name}: BFD Up on 9 sessions at 100 ms x 3`)
  const p = (await peersOf(others[0]!)).find((x) => x.address === h1.address)!
  t.is(p.details!.bfd!.detectionTimeMs, 300)

  const { mons, stop } = await monitors(others)
  t.teardown(stop)
  const t0 = Date.now()
  await ip(h1.ns, 'link', 'set', 'eth0', 'down')
  const gone = await delays(mons, h1.subnet, true, t0, 12_000)
  t.log(`BFD 100 ms x 3, link down -> host 1's subnet gone: ${figure(gone)}`)
  for (const [i, ms] of gone.entries()) t.true(ms < 1000, `${others[i]!.name}: ${ms} ms`)
  for (const h of others) t.false((await peersOf(h)).find((x) => x.address === h1.address)?.state === 'Established', `${h.name} reset its session with host 1`)

  const t1 = Date.now()
  await ip(h1.ns, 'link', 'set', 'eth0', 'up')
  const back = await delays(mons, h1.subnet, false, t1, 15_000)
  t.log(`link up -> host 1's subnet back: ${figure(back)}`)
  for (const [i, ms] of back.entries()) t.true(ms < 2000, `${others[i]!.name}: ${ms} ms`)
  for (const h of hosts) t.deepEqual(await waitRoutes(h.ns, all(h, hosts), 10_000), all(h, hosts))
})
