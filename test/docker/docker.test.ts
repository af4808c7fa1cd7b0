
import { cpSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { getJson } from '../../src/api/client.js'
import type { StatusResponse } from '../../src/api/types.js'
import { type DHost, DockerLab, INET_ADDRESS, copyImage, must, run, sleep, tail, waitFor, missingCommands } from './helpers.js'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const AGENT = 'fabric-test/agent'
const BUSYBOX = 'fabric-test/busybox'

/** Capability names by number (Docker's spelling), for those a sandbox may lack. */
const CAP_NAMES = ['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE',
  'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE',
  'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE']

/**
 * `--privileged` gives a container every capability the kernel knows; where
 * this machine's own bounding set lacks some (a sandboxed CI VM), runc cannot
 * grant them. Then the closest equivalent: all capabilities but those, no
 * seccomp/AppArmor profile.
 */
function privilegedArgs(): { args: string[]; note?: string } {
  const bnd = BigInt(`0x${/CapBnd:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`)
  const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'))
  const lacking: string[] = []
  for (let i = 0; i <= last; i++) if (!(bnd & (1n << BigInt(i)))) lacking.push(CAP_NAMES[i] ?? String(i))
  if (lacking.length === 0) return { args: ['--privileged'] }
  return {
    args: ['--cap-add', 'ALL', ...lacking.flatMap((c) => ['--cap-drop', c]), '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined'],
    note: `this machine's capability bounding set lacks ${lacking.join(', ')}: --privileged cannot work, the agent runs with all other capabilities`,
  }
}

const missing = missingCommands(['dockerd', 'containerd', 'runc', 'debootstrap', 'busybox', 'nsenter', 'iptables-save'])

function timed<T>(t: { log: (...a: unknown[]) => void }, what: string, f: () => Promise<T>): Promise<T> {
  const t0 = Date.now()
  return f().then((v) => {
    t.log(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    return v
  })
}

function script(name: string): Promise<string> {
  // a fresh machine builds the base image (debootstrap) and the npm cache here: minutes, not seconds
  return must('bash', [join(repo, 'test/docker', name)], undefined, 900_000).then((s) => s.trim().split('\n').pop()!)
}

async function status(h: DHost): Promise<StatusResponse> {
  return getJson<StatusResponse>(join(h.run, 'fabric.sock'), '/v1/status', 2000)
}

async function containerIp(lab: DockerLab, h: DHost, name: string): Promise<string> {
  return (await lab.mustDocker(h, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', name])).trim()
}

async function ping(lab: DockerLab, h: DHost, ip: string): Promise<boolean> {
  return (await lab.docker(h, ['exec', 'ct', 'ping', '-c', '1', '-W', '2', ip])).code === 0
}

/** Established TCP peers (address:port) on `port` in a container's network namespace. */
async function peersOf(lab: DockerLab, h: DHost, name: string, port: number): Promise<string[]> {
  const pid = (await lab.mustDocker(h, ['inspect', '-f', '{{.State.Pid}}', name])).trim()
  const r = await run('nsenter', ['-t', pid, '-n', 'ss', '-Htn', 'state', 'established'])
  return establishedOn(r.stdout, port)
}

/** Peers of `ss -Htn state established` lines whose local port is `port`. */
function establishedOn(ssOut: string, port: number): string[] {
  return ssOut.split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/)).filter((c) => c.length >= 2 && c[c.length - 2]!.endsWith(`:${port}`))
    // "10.244.1.2:40000" or, on a dual-stack listener, "[::ffff:10.244.1.2]:40000": the IPv4 address
    .map((c) => /^\[?(?:::ffff:)?([\d.]+)\]?:\d+$/.exec(c[c.length - 1]!)?.[1] ?? c[c.length - 1]!)
}

/** A TCP connection from container c on `from` to container c on `to`: the receiver's view of the sender. */
async function tcpPeer(lab: DockerLab, from: DHost, to: DHost, port: number): Promise<string[]> {
  const toIp = await containerIp(lab, to, 'ct')
  // the listener's stdin stays open (nc closes the connection at EOF on stdin)
  await lab.mustDocker(to, ['exec', '-d', 'ct', 'sh', '-c', `sleep 10 | nc -l -p ${port}`])
  await sleep(300)
  await lab.mustDocker(from, ['exec', '-d', 'ct', 'sh', '-c', `sleep 4 | nc ${toIp} ${port}`])
  const peers = await waitFor(async () => {
    const p = await peersOf(lab, to, 'ct', port)
    return p.length ? p : undefined
  }, 5000, 200)
  return peers ?? []
}

async function fabricRulesInPlace(h: DHost): Promise<boolean> {
  const s = (await run('ip', ['netns', 'exec', h.ns, 'iptables-save'])).stdout
  const lines = s.split('\n')
  const firstOf = (chain: string) => lines.find((l) => l.startsWith(`-A ${chain} `))
  return firstOf('DOCKER-USER') === '-A DOCKER-USER -j FABRIC-FORWARD' && firstOf('POSTROUTING') === '-A POSTROUTING -j FABRIC-POSTROUTING' &&
    lines.filter((l) => l.startsWith('-A FABRIC-FORWARD ')).length === 2 && lines.filter((l) => l.startsWith('-A FABRIC-POSTROUTING ')).length === 2
}

if (missing.length > 0 && process.env.FABRIC_SKIP_DOCKER_TEST === '1') {
  test.skip(`Docker engines (missing: ${missing.join(', ')})`, () => {})
} else {
  test('fabric on real Docker engines: docker0 configured, routed container traffic without NAT, masquerade out, rules restored, leave', async (t) => {
    t.timeout(45 * 60_000)
    t.deepEqual(missing, [], 'scripts/setup.sh installs docker.io, containerd, runc, debootstrap, busybox-static')
    const rootIptBefore = (await run('iptables-save', [])).stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n')
    const runDockerExisted = existsSync('/run/docker')
    const lab = new DockerLab(`dk${process.pid % 100000}`, 3)
    t.teardown(async () => {
      const notes = await lab.down()
      if (notes.length) t.log(`cleanup: ${notes.join(', ')}`)
      // dockerd creates an empty /run/docker/plugins for plugin discovery
      if (!runDockerExisted) for (const d of ['/run/docker/plugins', '/run/docker']) try { rmdirSync(d) } catch { /* not empty or gone */ }
    })
    const t0 = Date.now()

    // --- the images: base rootfs (debootstrap, cached), npm cache (cached), busybox
    const [baseTar, npmCache] = await timed(t, 'base rootfs + npm cache (cached between runs)', () => Promise.all([script('build-base.sh'), script('npm-cache.sh')]))
    await lab.up()
    for (const h of lab.hosts) {
      // the operator's daemon.json: a bip outside the pool (fabric must change it) and keys fabric must keep
      writeFileSync(h.daemonJson, `${JSON.stringify({ bip: h.initialBip, 'log-level': 'info', labels: [`fabric-test=${h.name}`], 'deprecated-key-path': join(h.dir, 'key.json') }, null, 2)}\n`)
      lab.startDockerd(h)
    }
    await Promise.all(lab.hosts.map((h) => lab.waitDocker(h)))
    const originalDaemonJson = lab.hosts.map((h) => readFileSync(h.daemonJson, 'utf8'))
    const [h1, h2, h3] = lab.hosts as [DHost, DHost, DHost]

    const bbRoot = join(lab.root, 'busybox')
    mkdirSync(join(bbRoot, 'bin'), { recursive: true })
    cpSync('/bin/busybox', join(bbRoot, 'bin/busybox'))
    await must('/bin/busybox', ['--install', '-s', join(bbRoot, 'bin')])
    await must('sh', ['-c', `cd ${bbRoot}/bin && for l in *; do [ -L "$l" ] && ln -sf busybox "$l"; done; true`])
    const bbTar = join(lab.root, 'busybox.tar')
    await must('tar', ['-C', bbRoot, '-cf', bbTar, '.'])
    await timed(t, 'busybox image imported on 3 engines', () => Promise.all(lab.hosts.map((h) => lab.mustDocker(h, ['import', '--change', 'CMD ["/bin/sh"]', bbTar, BUSYBOX]))))

    await timed(t, 'agent image built from containers/Dockerfile', async () => {
      await lab.mustDocker(h1, ['import', baseTar, 'fabric-test/base0'], { timeoutMs: 300_000 })
      const ctx = join(lab.root, 'base-ctx')
      mkdirSync(ctx, { recursive: true })
      await must('cp', ['-a', npmCache, join(ctx, 'npm')])
      writeFileSync(join(ctx, 'Dockerfile'), 'FROM fabric-test/base0\nCOPY npm /root/.npm\n')
      await lab.mustDocker(h1, ['build', '-q', '-t', 'fabric-test/base', ctx], { timeoutMs: 300_000 })
      await lab.mustDocker(h1, ['build', '-q', '-f', join(repo, 'containers/Dockerfile'), '--build-arg', 'BASE_IMAGE=fabric-test/base', '--build-arg', 'NPM_CI_FLAGS=--offline', '-t', AGENT, repo], { timeoutMs: 1_200_000 })
    })
    await timed(t, 'agent image copied to the other engines', () => Promise.all([copyImage(lab, h1, h2, AGENT), copyImage(lab, h1, h3, AGENT)]))

    // --- before fabric: what leave must give back (after Docker is restarted with the restored daemon.json)
    const iptBefore = await Promise.all(lab.hosts.map((h) => lab.iptablesSave(h.ns)))
    t.true(iptBefore[0]!.includes(`-A POSTROUTING -s ${h1.initialBip.replace('.1/24', '.0/24')} ! -o docker0 -j MASQUERADE`))

    // --- the agent as the privileged host-network container, --configure-docker
    const priv = privilegedArgs()
    if (priv.note) t.log(priv.note)
    const agentRun = (h: DHost): string[] => [
      'run', '-d', '--name', 'fabric', '--restart=always', '--net=host', ...priv.args, '--pid=host',
      '-v', `${h.etcDocker}:/etc/docker`, '-v', `${h.sock}:/var/run/docker.sock`, '-v', `${h.state}:/var/lib/fabric`, '-v', `${h.run}:/run/fabric`,
      '-v', `${lab.iniFile}:/etc/fabric/fabric.ini:ro`, '-v', `${h.dir}:/fabric-host:ro`,
      // this lab's dockerd is not a systemd service: the agent restarts it by signal, the lab's supervisor starts it again
      '-e', 'FABRIC_DOCKER_RESTART_COMMAND=kill -TERM $(cat /fabric-host/docker.pid)',
      AGENT, 'join', '--config', '/etc/fabric/fabric.ini', '--address', h.address, '--configure-docker', '--log-format', 'json', '--firewall-check-interval', '2',
    ]
    // first without --configure-docker: docker0 does not match -> exit 3 with the commands
    const refused = await lab.docker(h1, ['run', '--rm', '--net=host', ...priv.args, '-v', `${h1.etcDocker}:/etc/docker`, '-v', `${h1.sock}:/var/run/docker.sock`,
      '-v', `${lab.iniFile}:/etc/fabric/fabric.ini:ro`, '--tmpfs', '/var/lib/fabric', '--tmpfs', '/run/fabric', AGENT, 'join', '--config', '/etc/fabric/fabric.ini', '--address', h1.address])
    t.is(refused.code, 3, refused.stderr)
    t.regex(refused.stderr, /docker0 has 172\.30\.1\.1\/24 but this host's fabric subnet is 10\.244\.1\.0\/24/)
    t.regex(refused.stderr, /"bip": "10\.244\.1\.1\/24"/)
    t.is(readFileSync(h1.daemonJson, 'utf8'), originalDaemonJson[0]!, 'nothing changed when refused')

    await timed(t, 'agents configured docker0 (daemon.json, dockerd restart) and synced', async () => {
      for (const h of lab.hosts) await lab.mustDocker(h, agentRun(h))
      for (const h of lab.hosts) {
        const ok = await waitFor(async () => {
          try {
            const s = await status(h)
            return s.healthy && s.hostIntegration?.docker?.bridgeMatches && s.kernel?.routes?.installed === 2 ? s : undefined
          } catch {
            return undefined
          }
        }, 120_000, 500)
        if (!ok) throw new Error(`agent of ${h.name} not healthy:\n${(await lab.docker(h, ['logs', '--tail', '30', 'fabric'])).stdout}\n${tail(h.log, 10)}`)
      }
    })
    for (const [i, h] of lab.hosts.entries()) {
      const dj = JSON.parse(readFileSync(h.daemonJson, 'utf8')) as Record<string, unknown>
      t.is(dj.bip, `10.244.${h.index}.1/24`)
      t.is(dj['log-level'], 'info', 'user keys kept')
      t.deepEqual(dj.labels, [`fabric-test=${h.name}`])
      t.false('allow-direct-routing' in dj, 'not for Docker 20.10')
      t.is(readFileSync(`${h.daemonJson}.fabric-backup`, 'utf8'), originalDaemonJson[i]!)
      t.true(lab.starts.get(h.index)! >= 2, 'dockerd was restarted by the agent')
      t.true(await fabricRulesInPlace(h), `fabric chains on ${h.name}`)
    }
    const st = await status(h2)
    t.is(st.hostIntegration.firewall?.backend, 'nft')
    t.is(st.hostIntegration.firewall?.forwardJumpFrom, 'DOCKER-USER')

    // --- plain `docker run` containers talk across hosts without NAT
    for (const h of lab.hosts) await lab.mustDocker(h, ['run', '-d', '--name', 'ct', '--restart=always', BUSYBOX, 'sleep', '3600'])
    let ips = await Promise.all(lab.hosts.map((h) => containerIp(lab, h, 'ct')))
    for (const [i, ip] of ips.entries()) t.true(ip.startsWith(`10.244.${i + 1}.`), `container on node${i + 1} got ${ip}`)
    for (const a of lab.hosts) for (const [j, b] of lab.hosts.entries()) if (a !== b) t.true(await ping(lab, a, ips[j]!), `ping ${a.name} -> ${b.name} (${ips[j]})`)
    t.deepEqual((await tcpPeer(lab, h1, h2, 5001)), [ips[0]], 'node2 sees node1\'s container address')
    t.deepEqual((await tcpPeer(lab, h3, h1, 5002)), [ips[2]], 'node1 sees node3\'s container address')

    // --- outside the pool: masqueraded (the "internet" namespace has no route to the pool)
    t.true(await ping(lab, h1, INET_ADDRESS), 'container reaches an address outside the pool')
    await run('sh', ['-c', `ip netns exec ${lab.inet} sh -c 'sleep 10 | busybox nc -l -p 7000' >/dev/null 2>&1 &`])
    await sleep(300)
    await lab.mustDocker(h1, ['exec', '-d', 'ct', 'sh', '-c', `sleep 4 | nc ${INET_ADDRESS} 7000`])
    const outside = await waitFor(async () => {
      const r = await run('ip', ['netns', 'exec', lab.inet, 'ss', '-Htn', 'state', 'established'])
      const p = establishedOn(r.stdout, 7000)
      return p.length ? p : undefined
    }, 5000, 200)
    t.deepEqual(outside, [h1.address], 'seen from outside as the host (masquerade)')

    // --- dockerd restarts (containers stop and come back by their restart policy) and a firewall reload: rules back within 10 s
    const pid = lab.dockerdPid(h2)!
    process.kill(pid, 'SIGTERM')
    await waitFor(() => (lab.dockerdPid(h2) !== undefined && lab.dockerdPid(h2) !== pid ? true : undefined), 30_000, 100)
    await lab.waitDocker(h2)
    const back = Date.now()
    t.truthy(await waitFor(async () => ((await fabricRulesInPlace(h2)) ? true : undefined), 10_000, 250), 'rules in place after dockerd restart')
    t.log(`rules in place ${Date.now() - back} ms after dockerd answered again`)
    await waitFor(async () => ((await lab.docker(h2, ['inspect', '-f', '{{.State.Running}}', 'ct'])).stdout.trim() === 'true' ? true : undefined), 20_000, 200)
    ips = await Promise.all(lab.hosts.map((h) => containerIp(lab, h, 'ct')))
    t.true(await ping(lab, h1, ips[1]!), 'cross-host traffic after dockerd restart')
    await must('ip', ['netns', 'exec', h2.ns, 'sh', '-c', 'iptables -F FABRIC-FORWARD && iptables -D DOCKER-USER -j FABRIC-FORWARD && iptables -t nat -D POSTROUTING -j FABRIC-POSTROUTING && iptables -t nat -I POSTROUTING 1 -s 10.244.2.0/24 ! -o docker0 -j MASQUERADE'])
    const wiped = Date.now()
    t.truthy(await waitFor(async () => ((await fabricRulesInPlace(h2)) ? true : undefined), 10_000, 250), 'rules restored after a firewall reload')
    t.log(`rules restored ${Date.now() - wiped} ms after the wipe`)
    await must('ip', ['netns', 'exec', h2.ns, 'iptables', '-t', 'nat', '-D', 'POSTROUTING', '-s', '10.244.2.0/24', '!', '-o', 'docker0', '-j', 'MASQUERADE'])
    t.true(await ping(lab, h3, ips[1]!), 'cross-host traffic after the firewall reload')
    t.deepEqual((await tcpPeer(lab, h3, h2, 5003)), [ips[2]], 'still no NAT between hosts')
    t.true(((await status(h2)).hostIntegration.firewall?.restored ?? 0) >= 1)

    // --- fabric leave on node3: chains gone, daemon.json restored; after Docker restarts, iptables as before
    await lab.mustDocker(h3, ['update', '--restart=no', 'fabric'])
    const leave = await lab.docker(h3, ['exec', 'fabric', 'node', '/usr/lib/fabric/bin/fabric.js', 'leave', '--yes'])
    t.is(leave.code, 0, `${leave.stdout}\n${leave.stderr}\n${(await lab.docker(h3, ['logs', '--tail', '15', 'fabric'])).stdout}`)
    t.regex(leave.stdout, /node3 left the fabric: 2 routes removed/)
    await waitFor(async () => ((await lab.docker(h3, ['inspect', '-f', '{{.State.Running}}', 'fabric'])).stdout.trim() === 'false' ? true : undefined), 15_000, 200)
    t.is(readFileSync(h3.daemonJson, 'utf8'), originalDaemonJson[2]!, 'daemon.json as it was')
    t.false(existsSync(`${h3.daemonJson}.fabric-backup`))
    t.false((await lab.iptablesSave(h3.ns)).includes('FABRIC'))
    t.is((await run('ip', ['-n', h3.ns, 'route', 'show', 'proto', '233'])).stdout.trim(), '')
    await lab.mustDocker(h3, ['rm', '-f', 'fabric', 'ct'])
    const pid3 = lab.dockerdPid(h3)!
    process.kill(pid3, 'SIGTERM')
    await waitFor(() => (lab.dockerdPid(h3) !== undefined && lab.dockerdPid(h3) !== pid3 ? true : undefined), 30_000, 100)
    await lab.waitDocker(h3)
    t.truthy(await waitFor(async () => ((await run('ip', ['-n', h3.ns, '-4', '-o', 'addr', 'show', 'docker0'])).stdout.includes(h3.initialBip) ? true : undefined), 10_000, 200))
    t.is(await lab.iptablesSave(h3.ns), iptBefore[2]!, 'iptables-save as before fabric')
    // the other hosts keep node3's route until they are told (static mode: fabric.ini); traffic between 1 and 2 unaffected
    t.true(await ping(lab, h1, ips[1]!))

    t.log(`total ${((Date.now() - t0) / 1000).toFixed(0)} s`)
    const rootIptAfter = (await run('iptables-save', [])).stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n')
    t.is(rootIptAfter, rootIptBefore, "the root namespace's iptables are untouched")
  })
}
