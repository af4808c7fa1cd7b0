/**
 * A 100-host BGP fabric under two fabric route reflectors (`lab up --topology
 * rr`): every host converges, 10 sample containers reach all others, a
 * SIGKILLed host's subnet leaves every host within the hold time, and `lab
 * down` removes everything and puts back the neighbour-table limits the lab
 * raised. How long this takes is a benchmark figure (bench/scale.ts), not an
 * assertion here.
 */
import { existsSync } from 'node:fs'
import test from 'ava'
import { LAB_ROOT, labDir, labDown, labNamespaces, labUp, reachabilityFrom, signalAgent } from '../../src/lab/lab.js'
import { readNeigh, readRecord } from '../../src/lab/neigh.js'
import { labSummary, sampleHosts, waitConverged } from '../../src/lab/report.js'
import { fabricRoutes, run, uniqueName, waitFor } from './helpers.js'

const HOSTS = 100

test.serial('100 hosts, two fabric reflectors: converged, sample reaches all, a dead host withdrawn everywhere within the hold time, all removed and sysctls restored', async (t) => {
  const name = uniqueName('sr')
  const before = readNeigh()
  t.teardown(async () => {
    await labDown(name)
  })
  const t0 = Date.now()
  const lab = await labUp({ name, hosts: HOSTS, mode: 'bgp', topology: 'rr', reflectors: 2, rrEngine: 'fabric', logLevel: 'info' })
  t.log(`lab up: ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  // the lab holds the limits it needs while it runs (raised and recorded when they were too small)
  t.true(readNeigh().gc_thresh3 >= HOSTS * HOSTS, JSON.stringify(readNeigh()))
  if (before.gc_thresh3 < HOSTS * HOSTS) t.truthy(readRecord(LAB_ROOT)?.labs[name], 'claim recorded')

  t.true(await waitConverged(lab, 120_000), 'every host has every other host\'s subnet')
  t.log(`converged: ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  const s = await labSummary(lab)
  const v4 = s.families[0]!
  t.deepEqual([s.converged, v4.routes?.min, v4.routes?.max, s.agentsDown, s.pingErrors], [HOSTS, HOSTS - 1, HOSTS - 1, [], []])
  t.is(v4.pings.length, 10 * (HOSTS - 1))
  t.deepEqual(v4.pings.filter((p) => !p.ok), [])
  // clients hold sessions with the two reflectors only; reflected routes keep the originating host as next hop
  const h50 = lab.hosts[49]!
  const routes50 = await fabricRoutes(h50.ns)
  t.is(routes50.length, HOSTS - 1)
  t.true(routes50.includes(`${lab.hosts[76]!.subnet} via ${lab.hosts[76]!.address}`))

  // a client host dies (its link goes, then its agent: nothing reaches the reflectors, as at a power
  // loss): the reflectors' hold timer (9 s) expires and they withdraw its subnet from everyone.
  // (An agent SIGKILLed on a live host is a restart: its kernel closes the sessions and the
  // reflectors keep its routes for the graceful-restart time, test/netns/bgp-lab.test.ts.)
  const victim = lab.hosts[76]!
  const others = lab.hosts.filter((h) => h !== victim)
  const k0 = Date.now()
  await run('ip', ['-n', victim.ns, 'link', 'set', 'eth0', 'down'])
  await signalAgent(victim, 'SIGKILL')
  const gone = await waitFor(async () => {
    for (const h of others) {
      const r = await run('ip', ['-n', h.ns, 'route', 'show', victim.subnet, 'proto', '233'])
      if (r.stdout.trim() !== '') return undefined
    }
    return true
  }, 9_000 + 3_000, 250)
  t.true(gone, `${victim.subnet} still installed somewhere ${Date.now() - k0} ms after the SIGKILL`)
  t.log(`SIGKILLed host withdrawn from all ${others.length} hosts in ${Date.now() - k0} ms`)
  // the others keep each other
  const rest = await reachabilityFrom({ ...lab, hosts: others }, sampleHosts(others, 3))
  t.deepEqual(rest.filter((p) => !p.ok), [])

  const down = await labDown(name)
  t.is(down.namespaces, 2 * HOSTS + 1)
  t.deepEqual(await labNamespaces(name), [])
  t.false(existsSync(labDir(name)))
  const pids = await run('pgrep', ['-f', `/run/fabric-lab/${name}/`])
  t.is(pids.stdout.trim(), '', 'no process of the lab left')
  if (before.gc_thresh3 < HOSTS * HOSTS && readRecord(LAB_ROOT) === undefined) t.deepEqual(readNeigh(), before, 'limits put back')
  else t.false(Object.keys(readRecord(LAB_ROOT)?.labs ?? {}).includes(name), 'claim released (another lab still holds the limits)')
})
