/**
 * RIP mode end to end: real `fabric join --mode rip` agents in lab
 * namespaces (src/lab) with the lab's short timers (update 5 s, timeout
 * 15 s, garbage collection 10 s). Every lab has a per-run name and is
 * removed in teardown, also when a test fails.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { type LabHost, agentPids, reachability, signalAgent, startAgent, waitAgents } from '../../src/lab/lab.js'
import type { RipAuthConfig } from '../../src/protocols/rip/auth.js'
import { fabric, logEvents, routesIn, waitFor, waitRoutes, withLab } from './helpers.js'
import { ripResponse, ripRoute, ripStats, sendUdpFrom } from './helpers-rip.js'

const others = (hosts: LabHost[], me: LabHost): string[] => hosts.filter((h) => h !== me).map((h) => `${h.subnet} via ${h.address}`).sort()

test('3 hosts: every container reaches every other; a SIGKILLed agent\'s route leaves the others after the timeout', async (t) => {
  const lab = await withLab(t, { tag: 'rl', hosts: 3, mode: 'rip' })
  const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost]
  for (const h of lab.hosts) {
    t.deepEqual(await waitRoutes(h.ns, others(lab.hosts, h), 45_000), others(lab.hosts, h), `${h.name} learned the others' subnets`)
  }
  // kernel metric is the installed RIP metric: announced 1 + cost 1
  const r = (await routesIn(h1.ns, 'proto', '233')).find((x) => x.dst === h2.subnet)
  t.is(r?.metric, 2)
  t.is(r?.dev, 'eth0')

  const results = await reachability(lab, 2)
  t.deepEqual(results.filter((x) => !x.ok), [], 'every container reaches every other')

  const peers = await fabric(['peers', '--json', '--socket', h1.socket])
  t.is(peers.code, 0, peers.stderr)
  const body = JSON.parse(peers.stdout) as { peers: { source: string; address: string; state: string; accepted: number }[] }
  t.deepEqual(body.peers.map((p) => [p.source, p.address, p.state, p.accepted]), [['rip', h2.address, 'up', 1], ['rip', h3.address, 'up', 1]])
  const before = await ripStats(h1.socket)
  t.true(before.stats['packets-received'] > 0)
  t.is(before.stats.routes, 2)

  // SIGKILL: no goodbye, the others time the route out (15 s after the last update)
  await signalAgent(h3, 'SIGKILL')
  const killed = Date.now()
  const gone = [h1, h2].map((h) => waitRoutes(h.ns, [`${(h === h1 ? h2 : h1).subnet} via ${(h === h1 ? h2 : h1).address}`], 45_000))
  t.deepEqual(await gone[0], [`${h2.subnet} via ${h2.address}`])
  t.deepEqual(await gone[1], [`${h1.subnet} via ${h1.address}`])
  const took = Date.now() - killed
  // the last update reached them at most ~6 s before the kill: removal is the timeout, not sooner
  t.true(took >= 8000, `route left after ${took} ms, expected the ~15 s timeout`)
  t.true(logEvents(h1.log, 'rip-neighbor-down').some((l) => l.neighbor === h3.address) || (await waitFor(() => (logEvents(h1.log, 'rip-neighbor-down').length > 0 ? true : undefined), 10_000)) === true)
  const after = await ripStats(h1.socket)
  t.true((after.stats.counters['routes-timed-out'] ?? 0) >= 1)
  // the others still reach each other
  const still = (await reachability(lab, 2)).filter((x) => x.from !== h3.name && x.to !== h3.name)
  t.deepEqual(still.filter((x) => !x.ok), [])
})

test('hostile input is dropped and counted; packets from the container side are never accepted', async (t) => {
  const lab = await withLab(t, { tag: 'rh', hosts: 2, mode: 'rip', start: false })
  const [h1, h2] = lab.hosts as [LabHost, LabHost]
  // node1 runs with keyed MD5; node2's namespace is the attacker's (no agent there)
  const keyFile = join(h1.dir, 'rip.keys')
  writeFileSync(keyFile, '# test key\n1 md5 lab-secret\n', { mode: 0o600 })
  startAgent(lab, h1, { extraArgs: ['--auth', 'md5', '--key-file', keyFile] })
  await waitAgents(lab, [h1])
  const pid = (await agentPids(h1))[0]
  if (pid === undefined) return t.fail("host 1's agent is not running")
  t.truthy(pid)
  // a bad key file stops `fabric join` at start: exit 2, file and line named
  const badKeys = join(h2.dir, 'bad.keys')
  writeFileSync(badKeys, '1 md5 fine\n2 sha1 nope\n', { mode: 0o600 })
  const refused = await fabric(['join', '--config', lab.config, '--address', h2.address, '--state-dir', h2.dir, '--socket', h2.socket, '--auth', 'md5', '--key-file', badKeys], h2.ns)
  t.is(refused.code, 2, refused.stderr)
  t.regex(refused.stderr, /bad\.keys:2: algorithm "sha1": expected password, md5 or hmac-sha256/)
  const auth: RipAuthConfig = { keys: [{ id: 1, secret: 'lab-secret', algorithm: 'md5' }] }
  const wrong: RipAuthConfig = { keys: [{ id: 1, secret: 'not-the-secret', algorithm: 'md5' }] }
  const to = h1.address
  const seq = Math.floor(Date.now() / 1000) + 1000
  const send = (bytes: Buffer) => ({ bytes, to, port: 520 })
  const plain = (hex: string) => Buffer.from(hex, 'hex')
  const ok = (prefix: string, s: number) => ripResponse([ripRoute(prefix, 1)], auth, s)

  // a valid signed response first: proves the path works and sets the sequence number
  let r = await sendUdpFrom(h2.ns, h2.address, 520, [send(ok('10.244.2.0/24', seq))])
  t.is(r.code, 0, r.stderr)
  t.deepEqual(await waitRoutes(h1.ns, [`10.244.2.0/24 via ${h2.address}`], 15_000), [`10.244.2.0/24 via ${h2.address}`])

  const route1 = '0002' + '0000' + '0af40500' + 'ffffff00' + '00000000' + '00000001'
  r = await sendUdpFrom(h2.ns, h2.address, 520, [
    // malformed
    send(plain('02')), // truncated
    send(plain('0202000000')), // bad length
    send(plain('07020000' + route1)), // bad command
    send(plain('02010000' + route1)), // RIP version 1
    send(plain('02090000' + route1)), // version 9
    send(plain('02020000' + route1.repeat(40))), // too long
    send(plain('02020000' + 'ffff0009' + '00'.repeat(16) + route1)), // unknown auth type
    send(Buffer.alloc(3000, 0xff)), // garbage
    // unauthenticated and wrongly authenticated
    send(ripResponse([ripRoute('10.244.6.0/24', 1)])),
    send(ripResponse([ripRoute('10.244.6.0/24', 1)], wrong, seq + 1)),
    send(ripResponse([ripRoute('10.244.6.0/24', 1)], { keys: [{ id: 9, secret: 'lab-secret', algorithm: 'md5' }] }, seq + 1)),
    // replayed: a valid signature with an older sequence number
    send(ok('10.244.6.0/24', seq - 100)),
    // out of policy: valid signatures, bad content
    send(ripResponse([ripRoute('192.168.50.0/24', 1), ripRoute('127.0.0.0/8', 1), ripRoute(h1.subnet, 1), ripRoute('10.99.0.0/24', 1), ripRoute('10.244.8.0/24', 1)], auth, seq + 2)),
  ])
  t.is(r.code, 0, r.stderr)
  // a response from source port 5000 (not 520)
  r = await sendUdpFrom(h2.ns, h2.address, 5000, [send(ripResponse([ripRoute('10.244.9.0/24', 1)], auth, seq + 4))])
  t.is(r.code, 0, r.stderr)
  // bad metrics are per-entry drops; the good entry of the same packet is learned
  r = await sendUdpFrom(h2.ns, h2.address, 520, [send(ripResponse([ripRoute('10.244.10.0/24', 0), ripRoute('10.244.11.0/24', 17), ripRoute('10.244.12.0/24', 1)], auth, seq + 5))])
  t.is(r.code, 0, r.stderr)

  // the container side: a container of node1 (behind docker0) with a valid signature
  const fromContainer = ripResponse([ripRoute('10.244.77.0/24', 1)], auth, seq + 10)
  r = await sendUdpFrom(h1.containerNs, h1.containerIp, 520, [
    { bytes: fromContainer, to: h1.address }, // the host's underlay address, through docker0
    { bytes: fromContainer, to: h1.gateway }, // docker0's own address: no RIP socket there
    { bytes: fromContainer, to: '224.0.0.9' }, // multicast onto docker0: not joined there
  ])
  t.is(r.code, 0, r.stderr)

  const expected = {
    'drop-packet:truncated': 1,
    'drop-packet:bad-length': 1,
    'drop-packet:bad-command': 1,
    'drop-packet:version1': 1,
    'drop-packet:bad-version': 1,
    'drop-packet:too-long': 2,
    'drop-packet:auth-bad-type': 1,
    'drop-packet:auth-missing': 1,
    'drop-packet:auth-bad-digest': 1,
    'drop-packet:auth-unknown-key': 1,
    'drop-packet:auth-replay': 1,
    'drop-packet:bad-port': 1,
    'drop-packet:off-link': 1,
    'drop-entry:not-allowed': 1,
    'drop-entry:martian': 1,
    'drop-entry:own-subnet': 1,
    'drop-entry:connected': 1,
    'drop-entry:bad-metric': 2,
  }
  const seen = await waitFor(async () => {
    const s = await ripStats(h1.socket)
    const d = s.stats.drops
    return Object.entries(expected).every(([k, v]) => (d[k] ?? 0) >= v) ? s : undefined
  }, 20_000, 200)
  const last = await ripStats(h1.socket)
  t.truthy(seen, `drops seen: ${JSON.stringify(last.stats.drops)}`)
  for (const [k, v] of Object.entries(expected)) t.is(last.stats.drops[k], v, k)
  const packetDrops = Object.entries(expected).filter(([k]) => k.startsWith('drop-packet:')).reduce((a, [, v]) => a + v, 0)
  t.is(last.stats['packets-dropped'], packetDrops)

  // `fabric status --json` shows the same counters, the agent still runs
  const status = await fabric(['status', '--json', '--socket', h1.socket])
  const body = JSON.parse(status.stdout) as { sources: { kind: string; stats: { drops: Record<string, number> } }[]; pid: number }
  t.is(body.sources[0]!.kind, 'rip')
  t.is(body.sources[0]!.stats.drops['drop-packet:auth-replay'], 1)
  t.is(body.pid, pid)
  t.deepEqual(await agentPids(h1), [pid])

  // only the valid entries were installed: nothing from the container, the replay or the bad entries
  const validPrefixes = ['10.244.2.0/24', '10.244.8.0/24', '10.244.12.0/24']
  const valid = validPrefixes.map((p) => `${p} via ${h2.address}`).sort()
  // refreshed so a slow run does not see them time out (15 s)
  r = await sendUdpFrom(h2.ns, h2.address, 520, [send(ripResponse(validPrefixes.map((p) => ripRoute(p, 1)), auth, seq + 6))])
  t.is(r.code, 0, r.stderr)
  t.deepEqual(await waitRoutes(h1.ns, valid, 10_000), valid)
  t.true(logEvents(h1.log, 'rip-dropped').some((l) => l.reason === 'drop-packet:auth-replay'))

  // key rotation on SIGHUP: a new key file is applied without a restart
  writeFileSync(keyFile, '2 md5 rotated-key\n', { mode: 0o600 })
  await signalAgent(h1, 'SIGHUP', false)
  const reloaded = await waitFor(() => logEvents(h1.log, 'config-reloaded')[0], 10_000)
  t.regex(String(reloaded?.changes), /rip keys reloaded \(ids 2\)/)
  const rotated: RipAuthConfig = { keys: [{ id: 2, secret: 'rotated-key', algorithm: 'md5' }] }
  r = await sendUdpFrom(h2.ns, h2.address, 520, [send(ripResponse([...validPrefixes, '10.244.13.0/24'].map((p) => ripRoute(p, 1)), rotated, seq + 20))])
  t.is(r.code, 0, r.stderr)
  const withRotated = [...valid, `10.244.13.0/24 via ${h2.address}`].sort()
  t.deepEqual(await waitRoutes(h1.ns, withRotated, 10_000), withRotated)
  t.deepEqual(await agentPids(h1), [pid])
})

test('unicast neighbours (--neighbor): routes learned, ready as soon as every neighbour answered', async (t) => {
  const lab = await withLab(t, { tag: 'rn', hosts: 2, mode: 'rip', start: false })
  const [h1, h2] = lab.hosts as [LabHost, LabHost]
  startAgent(lab, h1, { extraArgs: ['--neighbor', h2.address] })
  startAgent(lab, h2, { extraArgs: ['--neighbor', h1.address] })
  await waitAgents(lab)
  t.deepEqual(await waitRoutes(h1.ns, [`${h2.subnet} via ${h2.address}`], 30_000), [`${h2.subnet} via ${h2.address}`])
  t.deepEqual(await waitRoutes(h2.ns, [`${h1.subnet} via ${h1.address}`], 30_000), [`${h1.subnet} via ${h1.address}`])
  t.deepEqual(logEvents(h1.log, 'rip-started')[0]?.sendTo, [h2.address])
  // ready when the configured neighbour answered, before the first update interval ends
  const ready = await waitFor(() => logEvents(h1.log, 'rip-ready')[0], 15_000)
  t.is(ready?.reason, 'all-neighbors-heard')
  t.true((await ripStats(h1.socket)).ready)
  const peers = await fabric(['peers', '--json', '--socket', h1.socket])
  const body = JSON.parse(peers.stdout) as { peers: { address: string; state: string; details: { configured: boolean } }[] }
  t.deepEqual(body.peers.map((p) => [p.address, p.state, p.details.configured]), [[h2.address, 'up', true]])
})
