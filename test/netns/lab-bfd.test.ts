/**
 * `lab up --bfd` with route reflectors: fabric's own (hosts 1 and 2), BIRD's
 * and FRR's (rendered from the BFD block of templates/*-route-reflector.conf,
 * the lines operators switch on). Every client has BFD Up (300 ms) with both
 * reflectors and the reflectors with every client. Then two clients fail:
 *   1. a crash on a live host (SIGKILL of its agent): its kernel closes the
 *      TCP sessions, every reflector starts graceful-restart helper mode
 *      (would keep the subnet for the restart time, 120 s), then BFD falls
 *      silent: fabric and BIRD end helper mode and withdraw it at once; FRR
 *      8.4 does not (its BFD down ends only an Established session), which
 *      is asserted too, so an FRR that changes this shows here;
 *   2. a host that dies (its link, then its agent, as at a power loss): BFD
 *      notices while the sessions are Established; every engine withdraws.
 * "At once" is asserted as "in under half the hold time (9 s)"; the figures
 * are bench/scale.ts --bfd's. `lab down` removes everything.
 */
import { existsSync, readFileSync } from 'node:fs'
import test from 'ava'
import { type LabHost, labDir, labDown, labNamespaces, labUp, pidsInNamespaces, readLab, signalAgent } from '../../src/lab/lab.js'
import { type RrEngine, frrDir, reflectorBfd } from '../../src/lab/reflectors.js'
import { waitConverged } from '../../src/lab/report.js'
import { peersOf, waitBfdUp } from './hitless-helpers.js'
import { fabric, logEvents, run, uniqueName, waitFor } from './helpers.js'

const HOSTS = 5

function procState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!
  } catch {
    return 'gone'
  }
}
const HOLD_MS = 9_000

async function installed(h: LabHost, prefix: string): Promise<boolean> {
  return (await run('ip', ['-n', h.ns, 'route', 'show', prefix, 'proto', '233'])).stdout.trim() !== ''
}

/** ms from t0 until no host of `hosts` has a fabric route to the prefix; undefined after the hold time. */
async function goneFrom(hosts: LabHost[], prefix: string, t0: number): Promise<number | undefined> {
  return waitFor(async () => {
    for (const h of hosts) if (await installed(h, prefix)) return undefined
    return Date.now() - t0
  }, HOLD_MS, 100)
}

for (const engine of ['fabric', 'bird', 'frr'] as RrEngine[]) {
  test.serial(`--bfd, ${HOSTS} hosts under two ${engine} reflectors: BFD Up on every session; a crashed agent's subnet ${engine === 'frr' ? 'kept (FRR helper mode)' : 'withdrawn by BFD'} and a dead host's withdrawn long before the hold time; all removed`, async (t) => {
    const name = uniqueName(`b${engine[0]}`)
    t.teardown(async () => {
      await labDown(name)
    })
    const lab = await labUp({ name, hosts: HOSTS, mode: 'bgp', topology: 'rr', reflectors: 2, rrEngine: engine, bfd: true, logLevel: 'info' })
    t.deepEqual(lab.bfd, { interval: 100, multiplier: 3 })
    t.true(await waitConverged(lab, 60_000), 'every host has every other host\'s subnet')
    const rrAddresses = lab.reflectors.map((r) => r.address)
    const clients = lab.hosts.filter((h) => !rrAddresses.includes(h.address))

    // every client: BFD Up, 300 ms detection, with each reflector
    for (const h of clients) {
      // `fabric peers` shows BFD as the agent last read it (every second): Up can show before the
      // Poll Sequence that follows it has brought the detection time down to 300 ms
      const up = await waitFor(async () => {
        const p = (await peersOf(h).catch(() => [])).filter((x) => rrAddresses.includes(x.address) && x.details?.bfd?.state === 'Up' && x.details.bfd.detectionTimeMs === 300)
        return p.length === rrAddresses.length ? p : undefined
      }, 20_000, 200)
      t.truthy(up, `${h.name}: BFD Up with ${rrAddresses.join(', ')}`)
      // and it stays there: read again after the wait
      for (const p of (await peersOf(h)).filter((x) => rrAddresses.includes(x.address))) t.is(p.details?.bfd?.detectionTimeMs, 300, `${h.name} -> ${p.address}`)
    }
    // every reflector: BFD Up with every client
    for (const r of lab.reflectors) {
      const want = clients.map((h) => h.address).sort()
      const got = await waitFor(async () => {
        const up = r.engine === 'fabric'
          ? (await peersOf(lab.hosts.find((h) => h.ns === r.ns)!)).filter((x) => x.details?.bfd?.state === 'Up').map((x) => x.address)
          : (await reflectorBfd(r.engine, r)).up
        return want.every((a) => up.includes(a)) ? up : undefined
      }, 20_000, 250)
      t.truthy(got, `${r.ns} (${engine}): BFD Up with ${want.join(', ')}`)
    }
    if (engine === 'bird') t.regex((await run('cat', [`${lab.reflectors[0]!.dir}/bird.conf`])).stdout, /^ {2}bfd on;$/m, 'the template\'s BFD block is switched on')
    if (engine === 'frr') t.regex((await run('cat', [`${frrDir(lab.reflectors[0]!.ns)}/frr.conf`])).stdout, /^ neighbor fabric bfd profile fabric$/m)

    // BFD sessions that went down after Up so far: none is a real failure yet (a figure, not asserted: a loaded machine can starve BFD)
    const falseDowns = lab.hosts.reduce((n, h) => n + logEvents(h.log, 'bfd-down').length, 0)
    t.log(`${engine} reflectors: ${falseDowns} BFD downs in the agents' logs before any failure`)
    // 1. a crash on a live host: SIGKILL of a client's agent (its kernel closes the TCP sessions
    //    first, so every reflector starts graceful-restart helper mode; BFD falls silent after)
    const crashed: LabHost = clients[1]!
    let others = lab.hosts.filter((h) => h !== crashed)
    let k0 = Date.now()
    await signalAgent(crashed, 'SIGKILL')
    if (engine === 'frr') {
      // FRR 8.4 ends helper mode on a BFD down only while the session is Established: here
      // the session was already closed, so FRR keeps the subnet for the restart time (120 s)
      const bfdDown = await waitFor(async () => ((await Promise.all(lab.reflectors.map((r) => reflectorBfd('frr', r)))).every((b) => !b.up.includes(crashed.address)) ? Date.now() - k0 : undefined), 5_000, 100)
      t.truthy(bfdDown, `FRR's BFD sessions to ${crashed.address} went down`)
      await new Promise((r) => setTimeout(r, 2_000))
      for (const h of others) t.true(await installed(h, crashed.subnet), `${h.name} still has ${crashed.subnet} (FRR in helper mode) 2 s after BFD went down`)
      t.log(`frr reflectors: BFD down ${bfdDown} ms after the SIGKILL; the subnet is kept (helper mode)`)
    } else {
      const gone = await goneFrom(others, crashed.subnet, k0)
      t.truthy(gone, `${crashed.subnet} still installed somewhere ${Date.now() - k0} ms after the SIGKILL (hold time ${HOLD_MS} ms, restart time 120 s)`)
      t.true((gone ?? Infinity) < HOLD_MS / 2, `withdrawn everywhere after ${gone} ms`)
      t.log(`${engine} reflectors: SIGKILLed ${crashed.name}'s subnet gone from all ${others.length} others in ${gone} ms (polled every 100 ms)`)
      if (engine === 'fabric') {
        // noticed by BFD: helper mode ended by it, not by the restart time
        for (const r of lab.reflectors) {
          const h = lab.hosts.find((x) => x.ns === r.ns)!
          t.true(logEvents(h.log, 'bfd-down').some((e) => e.peer === crashed.address), `${h.name} logged bfd-down for ${crashed.address}`)
        }
      }
    }

    // 2. a host that dies (power loss: its link goes, then its agent): BFD notices while the
    //    sessions are still Established, and every engine withdraws its subnet at once
    const died: LabHost = clients[2]!
    others = others.filter((h) => h !== died)
    k0 = Date.now()
    await run('ip', ['-n', died.ns, 'link', 'set', 'eth0', 'down'])
    await signalAgent(died, 'SIGKILL')
    const gone = await goneFrom(others, died.subnet, k0)
    t.truthy(gone, `${died.subnet} still installed somewhere ${Date.now() - k0} ms after its link went down (hold time ${HOLD_MS} ms)`)
    t.true((gone ?? Infinity) < HOLD_MS / 2, `withdrawn everywhere after ${gone} ms`)
    t.log(`${engine} reflectors: ${died.name} down (link, agent), its subnet gone from all ${others.length} others in ${gone} ms`)
    if (engine !== 'fabric') {
      for (const r of lab.reflectors) t.false((await reflectorBfd(engine as 'bird' | 'frr', r)).up.includes(died.address), `${r.ns}: BFD with ${died.address} no longer Up`)
    }
    // the others keep each other (under FRR the crashed host's subnet too, for now)
    t.true(await waitConverged({ ...lab, hosts: others.filter((h) => h !== crashed) }, 5_000))

    const nsCount = (await labNamespaces(name)).length
    const pids = [...pidsInNamespaces(await labNamespaces(name)).values()].flat()
    t.true(pids.length > 0)
    const down = await labDown(name)
    t.is(down.namespaces, nsCount)
    t.deepEqual(await labNamespaces(name), [])
    t.false(existsSync(labDir(name)))
    for (const r of lab.reflectors) if (r.engine === 'frr') t.false(existsSync(frrDir(r.ns)), `${frrDir(r.ns)} removed`)
    // gone, or a zombie waiting for this process (the agents' parent) to reap it
    for (const pid of pids) t.true(['gone', 'Z'].includes(procState(pid)), `process ${pid} of the lab gone`)
  })
}

test.serial('fabric lab up --bfd (CLI), a 3-host mesh: lab.json records the timers, every session has BFD Up, lab down removes it', async (t) => {
  const name = uniqueName('bc')
  t.teardown(async () => {
    await labDown(name)
  })
  const up = await fabric(['lab', 'up', '--name', name, '--hosts', '3', '--mode', 'bgp', '--bfd', '--bfd-interval', '200', '--log-level', 'info'])
  t.is(up.code, 0, up.stderr)
  t.regex(up.stdout, /^BFD 200 ms x 3 with every peer: a dead host is noticed in 600 ms$/m)
  const lab = readLab(name)!
  t.deepEqual(lab.bfd, { interval: 200, multiplier: 3 })
  for (const h of lab.hosts) {
    const p = await waitBfdUp(h, 2, 20_000, undefined, 600)
    t.truthy(p, `${h.name}: BFD Up with both others`)
    // and it stays there: read again after the wait
    for (const x of await peersOf(h)) t.is(x.details?.bfd?.detectionTimeMs, 600, `${h.name} -> ${x.address}`)
  }
  const down = await fabric(['lab', 'down', '--name', name])
  t.is(down.code, 0, down.stderr)
  t.deepEqual(await labNamespaces(name), [])
})

test('lab up --bfd refuses mode static, before creating anything', async (t) => {
  const name = uniqueName('bs')
  await t.throwsAsync(labUp({ name, hosts: 2, mode: 'static', bfd: true }), { message: /--bfd: BFD runs with BGP peers or RIP neighbours, so it needs --mode bgp or rip \(not static\)/ })
  await t.throwsAsync(labUp({ name, hosts: 2, mode: 'bgp', bfd: { interval: 5 } }), { message: /--bfd-interval 5: expected 10 to 10000 ms/ })
  const cli = await fabric(['lab', 'up', '--name', name, '--hosts', '2', '--bfd'])
  t.is(cli.code, 1)
  t.regex(cli.stderr, /--bfd: BFD runs with BGP peers or RIP neighbours, so it needs --mode bgp or rip \(not static\)/)
  t.deepEqual(await labNamespaces(name), [])
  t.false(existsSync(labDir(name)))
})
