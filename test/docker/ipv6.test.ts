/**
 * fabric with pool6 on real Docker engines (issue 13, "Real Docker"): three
 * dual-stack lab hosts, one dockerd each inside the host's namespace (the
 * DockerLab of helpers.ts), the agent run from this checkout inside the
 * namespace (`ip netns exec`, not the agent image: test/docker/docker.test.ts
 * covers the image; this one stays well under two minutes). The agents write
 * "ipv6" and "fixed-cidr-v6" next to "bip" into each daemon.json, restart
 * dockerd, route every subnet6 (static mode) and keep fabric's ip6tables
 * chains; plain `docker run` containers ping each other's IPv6 addresses
 * across hosts, without NAT inside pool6 and masqueraded outside it. After
 * `fabric leave`, node3 joins again the docker-network way: a dual-stack
 * Docker network (EnableIPv6, subnet6) whose container pings across hosts.
 *
 *   underlay   10.99.0.(10+I)/24 and fd00:99::I/64 on host I's eth0
 *   pool6      fd00:fab::/48, host I's subnet6 fd00:fab:0:I::/64 (docker0 ::1)
 *   outside    the "internet" namespace, 10.99.0.100 and fd00:99::100, no route to the pools
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { getJson } from '../../src/api/client.js'
import type { StatusResponse } from '../../src/api/types.js'
import { type DHost, DockerLab, must, run, sleep, tail, waitFor, missingCommands } from './helpers.js'

const fabricBin = fileURLToPath(new URL('../../bin/fabric.js', import.meta.url))
const BUSYBOX = 'fabric-test/busybox'
const INET6 = 'fd00:99::100'

const missing = missingCommands(['dockerd', 'containerd', 'runc', 'busybox', 'nsenter', 'ip6tables-save'])

const address6 = (h: DHost): string => `fd00:99::${h.index}`
const subnet6 = (h: DHost): string => `fd00:fab:0:${h.index}::/64`

function iniText(lab: DockerLab): string {
  const ini = ['[fabric]', 'pool = 10.244.0.0/16', 'host-prefix = 24', 'pool6 = fd00:fab::/48', 'host-prefix6 = 64', 'mode = static', 'route-protocol = fabric', 'reconcile-interval = 2']
  for (const h of lab.hosts) ini.push('', `[host.${h.name}]`, `address = ${h.address}`, `subnet = ${h.subnet}`, `address6 = ${address6(h)}`, `subnet6 = ${subnet6(h)}`)
  return `${ini.join('\n')}\n`
}

/** `fabric join` from this checkout inside the host's namespace, detached, JSON log in the host's directory. */
function startAgent(lab: DockerLab, h: DHost, ini: string, dockerArgs = ['--configure-docker']): ChildProcess {
  const out = openSync(join(h.dir, 'agent.log'), 'a')
  const child = spawn('ip', [
    'netns', 'exec', h.ns, process.execPath, fabricBin, 'join', '--config', ini, '--address', h.address,
    '--state-dir', h.state, '--socket', join(h.run, 'fabric.sock'), '--log-format', 'json', '--log-level', 'debug',
    ...dockerArgs, '--daemon-json', h.daemonJson, '--docker-socket', h.sock,
    // this lab's dockerd is not a systemd service: the agent stops it by signal, the lab's supervisor starts it again
    '--docker-restart-command', `kill -TERM $(cat ${h.pidfile})`, '--firewall-check-interval', '2',
  ], { stdio: ['ignore', out, out], env: { ...process.env, FABRIC_RT_PROTOS_DIR: join(lab.root, 'rt_protos.d') } })
  return child
}

async function status(h: DHost): Promise<StatusResponse> {
  return getJson<StatusResponse>(join(h.run, 'fabric.sock'), '/v1/status', 2000)
}

/** fabric's IPv6 routes in a namespace: "dst via gw", sorted. */
async function routes6(ns: string): Promise<string[]> {
  const r = await run('ip', ['-6', '-n', ns, '-j', 'route', 'show', 'proto', '233'])
  return (JSON.parse(r.stdout || '[]') as { dst: string; gateway?: string }[]).map((x) => `${x.dst} via ${x.gateway}`).sort()
}

/** ip6tables-save lines of a namespace: rules and user chains (an empty built-in table left by a listing is no difference). */
async function ip6Rules(ns: string): Promise<string[]> {
  const r = await run('ip', ['netns', 'exec', ns, 'ip6tables-save'])
  return r.stdout.split('\n').filter((l) => l.startsWith('-A ') || (l.startsWith(':') && !/^:(INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) /.test(l))).map((l) => l.replace(/\s*\[\d+:\d+\]/g, ''))
}

async function fabric6InPlace(h: DHost): Promise<boolean> {
  const l = await ip6Rules(h.ns)
  const pool = 'fd00:fab::/48'
  const mine = subnet6(h)
  return l.includes('-A FORWARD -j FABRIC-FORWARD') && l.includes('-A POSTROUTING -j FABRIC-POSTROUTING') &&
    l.includes(`-A FABRIC-FORWARD -s ${pool} -d ${mine} -j ACCEPT`) && l.includes(`-A FABRIC-FORWARD -s ${mine} -d ${pool} -j ACCEPT`) &&
    l.includes(`-A FABRIC-POSTROUTING -s ${mine} -d ${pool} -j ACCEPT`) && l.includes(`-A FABRIC-POSTROUTING -s ${mine} -j MASQUERADE`)
}

/** Established TCP peers (address) on `port` in a container's network namespace, IPv6 ones without brackets. */
async function peersOf(lab: DockerLab, h: DHost, port: number): Promise<string[]> {
  const pid = (await lab.mustDocker(h, ['inspect', '-f', '{{.State.Pid}}', 'ct'])).trim()
  const r = await run('nsenter', ['-t', pid, '-n', 'ss', '-Htn', 'state', 'established'])
  return established(r.stdout, port)
}

function established(ssOut: string, port: number): string[] {
  return ssOut.split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/)).filter((c) => c.length >= 2 && c[c.length - 2]!.endsWith(`:${port}`))
    .map((c) => /^\[?([^\]]+?)\]?:\d+$/.exec(c[c.length - 1]!)?.[1] ?? c[c.length - 1]!)
}

if (missing.length > 0 && process.env.FABRIC_SKIP_DOCKER_TEST === '1') {
  test.skip(`Docker engines with pool6 (missing: ${missing.join(', ')})`, () => {})
} else {
  test('fabric with pool6 on real Docker engines: daemon.json ipv6/fixed-cidr-v6, containers ping each other\'s IPv6 addresses across hosts, no NAT inside pool6, ip6tables chains kept, leave', async (t) => {
    t.timeout(5 * 60_000)
    t.deepEqual(missing, [], 'scripts/setup.sh installs docker.io, containerd, runc, busybox-static')
    const rootIp6Before = (await run('ip6tables-save', [])).stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n')
    const runDockerExisted = existsSync('/run/docker')
    const lab = new DockerLab(`d6${process.pid % 100000}`, 3)
    const agents = new Map<number, ChildProcess>()
    t.teardown(async () => {
      const running = [...agents.values()].filter((a) => a.exitCode === null && a.signalCode === null)
      for (const a of running) a.kill('SIGTERM')
      await waitFor(() => (running.every((a) => a.exitCode !== null || a.signalCode !== null) ? true : undefined), 10_000, 100)
      const notes = await lab.down()
      if (notes.length) t.log(`cleanup: ${notes.join(', ')}`)
      if (!runDockerExisted) for (const d of ['/run/docker/plugins', '/run/docker']) try { rmdirSync(d) } catch { /* not empty or gone */ }
    })
    const t0 = Date.now()
    const step = (what: string) => t.log(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`)

    await lab.up()
    // dual-stack underlay (nodad: usable at once) and an IPv6 "internet" outside the pools
    for (const h of lab.hosts) await must('ip', ['-n', h.ns, 'addr', 'add', `${address6(h)}/64`, 'dev', 'eth0', 'nodad'])
    await must('ip', ['-n', lab.inet, 'addr', 'add', `${INET6}/64`, 'dev', 'eth0', 'nodad'])
    const ini = join(lab.root, 'fabric6.ini')
    writeFileSync(ini, iniText(lab))
    for (const h of lab.hosts) {
      // the operator's daemon.json: IPv4 only, a bip outside the pool, keys fabric must keep
      // (deprecated-key-path: dockerd 20.10 would write /etc/docker/key.json otherwise)
      writeFileSync(h.daemonJson, `${JSON.stringify({ bip: h.initialBip, 'log-level': 'info', labels: [`fabric-test=${h.name}`], 'deprecated-key-path': join(h.dir, 'key.json') }, null, 2)}\n`)
      lab.startDockerd(h)
    }
    await Promise.all(lab.hosts.map((h) => lab.waitDocker(h)))
    const original = lab.hosts.map((h) => readFileSync(h.daemonJson, 'utf8'))
    const [h1, h2, h3] = lab.hosts as [DHost, DHost, DHost]
    const ip6Before = await Promise.all(lab.hosts.map((h) => ip6Rules(h.ns)))
    step('3 engines up')

    // busybox image (ping, ping6, nc), imported on every engine
    const bbRoot = join(lab.root, 'busybox')
    mkdirSync(join(bbRoot, 'bin'), { recursive: true })
    cpSync('/bin/busybox', join(bbRoot, 'bin/busybox'))
    await must('/bin/busybox', ['--install', '-s', join(bbRoot, 'bin')])
    await must('sh', ['-c', `cd ${bbRoot}/bin && for l in *; do [ -L "$l" ] && ln -sf busybox "$l"; done; true`])
    const bbTar = join(lab.root, 'busybox.tar')
    await must('tar', ['-C', bbRoot, '-cf', bbTar, '.'])
    await Promise.all(lab.hosts.map((h) => lab.mustDocker(h, ['import', '--change', 'CMD ["/bin/sh"]', bbTar, BUSYBOX])))

    // --- the agents: daemon.json gets bip, ipv6, fixed-cidr-v6; dockerd restarted; routes in both families
    for (const h of lab.hosts) agents.set(h.index, startAgent(lab, h, ini))
    for (const h of lab.hosts) {
      const ok = await waitFor(async () => {
        try {
          const s = await status(h)
          return s.healthy && s.hostIntegration?.docker?.bridgeMatches && s.kernel?.routes?.installed === 2 && (await routes6(h.ns)).length === 2 ? s : undefined
        } catch {
          return undefined
        }
      }, 60_000, 250)
      if (!ok) throw new Error(`agent of ${h.name} not healthy:\n${tail(join(h.dir, 'agent.log'), 30)}\n${tail(h.log, 10)}`)
    }
    step('agents configured docker0 (both families) and synced')
    for (const [i, h] of lab.hosts.entries()) {
      const dj = JSON.parse(readFileSync(h.daemonJson, 'utf8')) as Record<string, unknown>
      t.is(dj.bip, `10.244.${h.index}.1/24`)
      t.is(dj.ipv6, true)
      t.is(dj['fixed-cidr-v6'], subnet6(h))
      t.is(dj['log-level'], 'info', 'user keys kept')
      t.deepEqual(dj.labels, [`fabric-test=${h.name}`])
      t.is(readFileSync(`${h.daemonJson}.fabric-backup`, 'utf8'), original[i]!)
      t.true(lab.starts.get(h.index)! >= 2, 'dockerd was restarted by the agent')
      t.regex((await run('ip', ['-6', '-n', h.ns, 'addr', 'show', 'docker0'])).stdout, new RegExp(`inet6 fd00:fab:0:${h.index}::1/64 `))
      const others = lab.hosts.filter((o) => o !== h).map((o) => `fd00:fab:0:${o.index}::/64 via ${address6(o)}`).sort()
      t.deepEqual(await routes6(h.ns), others, `${h.name}: IPv6 routes to the other subnet6`)
      t.true(await fabric6InPlace(h), `${h.name}: fabric's ip6tables chains`)
    }

    // --- plain `docker run` containers reach each other over IPv6 across hosts
    for (const h of lab.hosts) await lab.mustDocker(h, ['run', '-d', '--name', 'ct', BUSYBOX, 'sleep', '3600'])
    const ips6 = await Promise.all(lab.hosts.map(async (h) => (await lab.mustDocker(h, ['inspect', '-f', '{{.NetworkSettings.GlobalIPv6Address}}', 'ct'])).trim()))
    for (const [i, a] of ips6.entries()) t.true(a.startsWith(`fd00:fab:0:${i + 1}:`), `container on node${i + 1} got ${a}`)
    // IPv6 addresses are usable once duplicate address detection is done (tentative until then): containers' and docker0's
    const settled = await waitFor(async () => {
      for (const h of lab.hosts) {
        const pid = (await lab.mustDocker(h, ['inspect', '-f', '{{.State.Pid}}', 'ct'])).trim()
        const inCt = (await run('nsenter', ['-t', pid, '-n', 'ip', '-6', 'addr', 'show'])).stdout
        const d0 = (await run('ip', ['-6', '-n', h.ns, 'addr', 'show', 'docker0'])).stdout
        if (/tentative/.test(inCt) || /tentative/.test(d0)) return undefined
      }
      return true
    }, 10_000, 100)
    t.truthy(settled, 'IPv6 duplicate address detection done on containers and docker0')
    const ping6 = async (h: DHost, to: string) => (await lab.docker(h, ['exec', 'ct', 'ping6', '-c', '1', '-W', '2', to])).code === 0
    for (const a of lab.hosts) for (const [j, b] of lab.hosts.entries()) if (a !== b) t.true(await ping6(a, ips6[j]!), `ping6 ${a.name} -> ${b.name} (${ips6[j]})`)
    step('6 cross-host IPv6 pings')

    // the receiver sees the sender's container address (no NAT inside pool6)
    await lab.mustDocker(h2, ['exec', '-d', 'ct', 'sh', '-c', 'sleep 8 | nc -l -p 5006'])
    await sleep(300)
    await lab.mustDocker(h1, ['exec', '-d', 'ct', 'sh', '-c', `sleep 4 | nc ${ips6[1]} 5006`])
    const peers = await waitFor(async () => {
      const p = await peersOf(lab, h2, 5006)
      return p.length ? p : undefined
    }, 5000, 200)
    t.deepEqual(peers, [ips6[0]], "node2 sees node1's container IPv6 address")

    // outside pool6: masqueraded (the "internet" has no route to fd00:fab::/48)
    t.true(await ping6(h1, INET6), 'container reaches an IPv6 address outside pool6')
    await run('sh', ['-c', `ip netns exec ${lab.inet} sh -c 'sleep 8 | busybox nc -l -p 7006' >/dev/null 2>&1 &`])
    await sleep(300)
    await lab.mustDocker(h1, ['exec', '-d', 'ct', 'sh', '-c', `sleep 4 | nc ${INET6} 7006`])
    const outside = await waitFor(async () => {
      const p = established((await run('ip', ['netns', 'exec', lab.inet, 'ss', '-Htn', 'state', 'established'])).stdout, 7006)
      return p.length ? p : undefined
    }, 5000, 200)
    t.deepEqual(outside, [address6(h1)], 'seen from outside as the host (IPv6 masquerade)')

    // --- drift: ip6tables -F FABRIC-FORWARD and the jump deleted are put back
    await must('ip', ['netns', 'exec', h2.ns, 'sh', '-c', 'ip6tables -F FABRIC-FORWARD && ip6tables -t nat -D POSTROUTING -j FABRIC-POSTROUTING'])
    const wiped = Date.now()
    t.truthy(await waitFor(async () => ((await fabric6InPlace(h2)) ? true : undefined), 10_000, 100), 'ip6tables chains restored')
    t.log(`ip6tables chains restored ${Date.now() - wiped} ms after the wipe`)
    t.true(await ping6(h3, ips6[1]!), 'cross-host IPv6 after the repair')

    // --- leave on node3: IPv6 routes and ip6tables chains gone, daemon.json restored
    const leave = await run(process.execPath, [fabricBin, 'leave', '--yes', '--socket', join(h3.run, 'fabric.sock')])
    t.is(leave.code, 0, `${leave.stdout}\n${leave.stderr}\n${tail(join(h3.dir, 'agent.log'), 15)}`)
    await waitFor(() => (agents.get(3)!.exitCode !== null ? true : undefined), 15_000, 100)
    t.deepEqual(await routes6(h3.ns), [], 'no fabric IPv6 route on node3')
    t.is((await run('ip', ['-n', h3.ns, 'route', 'show', 'proto', '233'])).stdout.trim(), '')
    t.deepEqual(await ip6Rules(h3.ns), ip6Before[2]!, 'ip6tables-save as before join')
    t.false((await run('ip', ['netns', 'exec', h3.ns, 'iptables-save'])).stdout.includes('FABRIC'))
    t.is(readFileSync(h3.daemonJson, 'utf8'), original[2]!, 'daemon.json as it was')
    t.true(await ping6(h1, ips6[1]!), 'node1 <-> node2 unaffected')
    step('leave')

    // --- node3 again, the docker-network way: a dual-stack Docker network (EnableIPv6, subnet6), no daemon.json change
    await lab.mustDocker(h3, ['rm', '-f', 'ct'])
    const pid3 = lab.dockerdPid(h3)!
    process.kill(pid3, 'SIGTERM')
    await waitFor(() => (lab.dockerdPid(h3) !== undefined && lab.dockerdPid(h3) !== pid3 ? true : undefined), 30_000, 100)
    await lab.waitDocker(h3)
    t.truthy(await waitFor(async () => ((await run('ip', ['-n', h3.ns, '-4', '-o', 'addr', 'show', 'docker0'])).stdout.includes(h3.initialBip) ? true : undefined), 10_000, 100), 'docker0 back outside the pool')
    agents.set(3, startAgent(lab, h3, ini, ['--docker-network', 'fabric6']))
    const back = await waitFor(async () => {
      try {
        const s = await status(h3)
        return s.healthy && s.kernel?.routes?.installed === 2 && (await routes6(h3.ns)).length === 2 ? s : undefined
      } catch {
        return undefined
      }
    }, 30_000, 250)
    if (!back) throw new Error(`agent of node3 (--docker-network) not healthy:\n${tail(join(h3.dir, 'agent.log'), 30)}`)
    const net = JSON.parse(await lab.mustDocker(h3, ['network', 'inspect', 'fabric6'])) as { EnableIPv6: boolean; IPAM: { Config: { Subnet: string }[] } }[]
    t.true(net[0]!.EnableIPv6)
    t.deepEqual(net[0]!.IPAM.Config.map((c) => c.Subnet), ['10.244.3.0/24', subnet6(h3)])
    t.is(readFileSync(h3.daemonJson, 'utf8'), original[2]!, 'daemon.json not touched')
    await lab.mustDocker(h3, ['run', '-d', '--name', 'ct', '--network', 'fabric6', BUSYBOX, 'sleep', '3600'])
    const ip3 = (await lab.mustDocker(h3, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}', 'ct'])).trim()
    t.true(ip3.startsWith('fd00:fab:0:3:'), `container on the fabric6 network got ${ip3}`)
    const pidCt3 = (await lab.mustDocker(h3, ['inspect', '-f', '{{.State.Pid}}', 'ct'])).trim()
    await waitFor(async () => (/tentative/.test((await run('nsenter', ['-t', pidCt3, '-n', 'ip', '-6', 'addr', 'show'])).stdout) ? undefined : true), 10_000, 100)
    t.true(await ping6(h1, ip3), `ping6 node1 -> node3 on the Docker network (${ip3})`)
    t.true(await ping6(h3, ips6[1]!), 'ping6 node3 (Docker network) -> node2')
    step('docker-network way')

    step('total')
    t.is((await run('ip6tables-save', [])).stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n'), rootIp6Before, "the root namespace's ip6tables are untouched")
  })
}
