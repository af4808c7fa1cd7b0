/**
 * fabric hosts as route-reflector clients of real BIRD 2 and FRR 8
 * reflectors (`lab up --topology rr --rr-engine bird|frr`), configured from
 * templates/bird-route-reflector.conf and templates/frr-route-reflector.conf,
 * the snippets docs/operations.md gives operators. 10 hosts, two reflectors
 * with one cluster id; every host peers only with them (--peer flags). Losing
 * one reflector (SIGKILL of BIRD / bgpd) changes nothing for the data path:
 * no fabric route is removed or changed in any host's kernel and every
 * container still reaches every other.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import test from 'ava'
import { type LabSpec, labDown, labUp, pidsInNamespaces, reachability } from '../../src/lab/lab.js'
import { type RrEngine, reflectorSessions } from '../../src/lab/reflectors.js'
import { waitConverged } from '../../src/lab/report.js'
import { fabricRoutes, uniqueName, waitFor } from '../netns/helpers.js'

const HOSTS = 10

function monitor(ns: string): { proc: ChildProcess; out: () => string } {
  let out = ''
  const proc = spawn('ip', ['-n', ns, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] })
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  return { proc, out: () => out }
}

async function allRoutes(lab: LabSpec): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {}
  for (const h of lab.hosts) out[h.name] = await fabricRoutes(h.ns)
  return out
}

for (const engine of ['bird', 'frr'] as RrEngine[]) {
  test.serial(`${HOSTS} fabric hosts under two ${engine} reflectors: converged, all reach all, one reflector lost changes nothing`, async (t) => {
    const name = uniqueName(engine === 'bird' ? 'rb' : 'rf')
    t.teardown(async () => {
      await labDown(name)
    })
    const lab = await labUp({ name, hosts: HOSTS, mode: 'bgp', topology: 'rr', reflectors: 2, rrEngine: engine, logLevel: 'info' })
    t.deepEqual(lab.reflectors.map((r) => [r.ns, r.address]), [[`${name}-r1`, '10.99.0.2'], [`${name}-r2`, '10.99.0.3']])
    t.true(await waitConverged(lab, 60_000), 'every host has every other host\'s subnet')
    for (const r of lab.reflectors) {
      t.is(await waitFor(async () => ((await reflectorSessions(engine as 'bird' | 'frr', r)) === HOSTS ? true : undefined), 30_000, 250), true, `${r.ns}: ${HOSTS} sessions`)
    }
    const routes = await allRoutes(lab)
    for (const h of lab.hosts) {
      // reflected with the next hop unchanged: straight to the originating host, never via a reflector
      t.deepEqual(routes[h.name], lab.hosts.filter((o) => o !== h).map((o) => `${o.subnet} via ${o.address}`).sort(), h.name)
    }
    t.deepEqual((await reachability(lab)).filter((p) => !p.ok), [])

    // lose reflector 1: SIGKILL its daemons (as a crash or power loss would)
    const mons = lab.hosts.map((h) => monitor(h.ns))
    t.teardown(() => {
      for (const m of mons) m.proc.kill()
    })
    await new Promise((r) => setTimeout(r, 300))
    const r1 = lab.reflectors[0]!
    for (const pid of pidsInNamespaces([r1.ns]).get(r1.ns)!) process.kill(pid, 'SIGKILL')
    // clients notice at once (the kernel closes the TCP connections) or at the
    // latest when the hold time (9 s) expires; wait past it
    await new Promise((r) => setTimeout(r, 11_000))
    t.is(await reflectorSessions(engine as 'bird' | 'frr', lab.reflectors[1]!), HOSTS, 'the other reflector keeps every client')
    t.deepEqual(await allRoutes(lab), routes, 'kernel routes unchanged')
    const events = mons.map((m) => m.out()).join('').split('\n').filter((l) => /proto (233|fabric)\b/.test(l))
    t.deepEqual(events, [], 'no fabric route deleted or replaced during the failover')
    t.deepEqual((await reachability(lab)).filter((p) => !p.ok), [])
  })
}
