/**
 * BFD at 100 ms x 3 stays up on every session while the agent ingests 1M
 * prefixes (issue 10: main-loop stalls must not cause a false down). Host 1
 * runs fabric with BFD to host 2 (fabric, iBGP) and to host 3 (BIRD 2, eBGP,
 * `protocol bfd` + `bfd on`), and receives 1M /24s from BIRD (bench/
 * bgp-ingest.ts's generator: static blackholes from 11.0.0.0). Every 200 ms
 * during the ingest and after it, every session on host 1 and host 2 must be
 * Up; at the end no session has ever gone down (lastDownDiag 0) and BIRD's
 * side is Up too. Takes about half a minute.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { getJson } from '../../src/api/client.js'
import { type LabHost, modeDefaults, renderLabIni, sleep, startAgent, waitAgents } from '../../src/lab/lab.js'
import { run, waitFor, withLab } from './helpers.js'
import { peersOf, waitBfdUp } from './hitless-helpers.js'

const N = 1_000_000
const SENDER_AS = 65100

function ipOf(i: number): string {
  const a = (11 << 24) + i * 256
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.0`
}

test.serial('BFD 100 ms x 3 stays Up on every session during and after a 1M-prefix ingest', async (t) => {
  const lab = await withLab(t, { tag: 'hi', hosts: 3, mode: 'bgp', start: false })
  const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost]
  // fabric.ini lists only the two fabric hosts; host 3 is BIRD, a flag peer of host 1
  const extra = [...modeDefaults('bgp'), 'bfd = yes', 'bfd-interval = 100', 'bfd-multiplier = 3', 'allow = 11.0.0.0/8, 12.0.0.0/6, 16.0.0.0/4', `max-prefixes = ${N + 100}`]
  writeFileSync(lab.config, renderLabIni({ ...lab, hosts: [h1, h2] }, extra))

  // BIRD sender on host 3: N static routes, the session disabled until the table is loaded
  const dir = join(h3.dir, 'bird')
  mkdirSync(dir, { recursive: true })
  const conf = join(dir, 'bird.conf')
  const sock = join(dir, 'bird.ctl')
  const routes: string[] = []
  for (let i = 0; i < N; i++) routes.push(`  route ${ipOf(i)}/24 blackhole;`)
  writeFileSync(conf, [
    `router id ${h3.address};`, 'protocol device {}', 'protocol bfd { interface "eth0" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }',
    'protocol static { ipv4;', ...routes, '}',
    'protocol bgp tofabric {', `  local ${h3.address} as ${SENDER_AS};`, `  neighbor ${h1.address} as 64512;`, '  bfd on;', '  disabled;', '  hold time 30;',
    '  ipv4 { import none; export all; };', '}',
  ].join('\n') + '\n')
  routes.length = 0
  const pidFile = join(dir, 'bird.pid')
  t.teardown(async () => {
    await run('ip', ['netns', 'exec', h3.ns, 'birdc', '-s', sock, 'down'])
  })
  const b = await run('ip', ['netns', 'exec', h3.ns, 'bird', '-c', conf, '-s', sock, '-P', pidFile], { timeoutMs: 300_000 })
  t.is(b.code, 0, b.stderr)
  const birdc = async (...args: string[]) => (await run('ip', ['netns', 'exec', h3.ns, 'birdc', '-s', sock, ...args], { timeoutMs: 60_000 })).stdout
  t.truthy(await waitFor(async () => (/(\d+) of \d+ routes/.exec(await birdc('show', 'route', 'count'))?.[1] === String(N) ? true : undefined), 240_000, 1000), 'BIRD has loaded the 1M routes')

  startAgent(lab, h1, { extraArgs: ['--peer', `${h3.address}@${SENDER_AS}`], logLevel: 'info' })
  startAgent(lab, h2, { logLevel: 'info' })
  await waitAgents(lab, [h1, h2])
  t.truthy(await waitBfdUp(h1, 1, 30_000, 'Established'), 'host 1 <-> host 2: Established with BFD Up')
  t.truthy(await waitBfdUp(h2, 1, 30_000, 'Established'))

  // sample every 200 ms from before BIRD's session comes up until 10 s after the ingest
  const notUp: string[] = []
  /** sessions seen Up once: from then on every sample must find them Up */
  const wasUp = new Set<string>()
  const sample = async (when: string) => {
    for (const h of [h1, h2]) {
      const peers = await peersOf(h).catch(() => undefined)
      if (!peers) continue // the control socket may be slow during the ingest; BFD is what is checked
      for (const p of peers) {
        if (!p.details?.bfd) continue
        const key = `${h.name} -> ${p.peer}`
        if (p.details.bfd.state === 'Up') wasUp.add(key)
        else if (wasUp.has(key)) notUp.push(`${when}: ${key} BFD ${p.details.bfd.state}`)
      }
    }
  }
  const t0 = Date.now()
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      await sample(`${((Date.now() - t0) / 1000).toFixed(1)} s`)
      await sleep(200)
    }
  })()
  await birdc('enable', 'tofabric')
  t.truthy(await waitBfdUp(h1, 2, 30_000), 'host 1 <-> BIRD: BFD Up')
  let ingested = 0
  while (Date.now() - t0 < 180_000) {
    const st = await getJson<{ sources: { stats: { prefixes?: number } }[] }>(h1.socket, '/v1/status', 30_000).catch(() => undefined)
    ingested = st?.sources[0]?.stats.prefixes ?? ingested
    if (ingested >= N) break
    await sleep(200)
  }
  t.log(`1M prefixes in host 1's RIB ${((Date.now() - t0) / 1000).toFixed(1)} s after BIRD's session was enabled; BFD sampled every 200 ms meanwhile`)
  t.true(ingested >= N, `${ingested} prefixes`)
  const t1 = Date.now()
  while (Date.now() - t1 < 10_000) await sleep(200)
  sampling = false
  await sampler
  t.true(wasUp.size >= 3, `sessions seen Up: ${[...wasUp].join(', ')}`)
  t.deepEqual(notUp, [], 'every BFD session Up at every sample')
  for (const h of [h1, h2]) {
    for (const p of await peersOf(h)) {
      if (!p.details?.bfd) continue
      t.is(p.details.bfd.state, 'Up', `${h.name} -> ${p.peer}`)
      t.is(p.details.bfd.lastDownDiag, null, `${h.name} -> ${p.peer} never went down`)
    }
  }
  t.regex(await birdc('show', 'bfd', 'sessions'), new RegExp(`${h1.address.replace(/\./g, '\\.')}\\s+eth0\\s+Up`), 'BIRD sees BFD Up')
  t.regex(await birdc('show', 'protocols', 'tofabric'), /Established/)
})
