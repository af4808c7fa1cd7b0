/** The operator surface against real agents in a lab: routes filters and --watch, peers, status, doctor, metrics, socket permissions. */
import { statSync, writeFileSync, readFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { startAgent, waitAgents } from '../../src/lab/lab.js'
import { fabric, ip, run, waitFor, waitRoutes, withLab } from './helpers.js'

const fabricBin = fileURLToPath(new URL('../../bin/fabric.js', import.meta.url))

/** One raw HTTP request on the control socket; the status code of the answer (0: no answer, connection closed). */
function rawStatus(socket: string, bytes: string): Promise<number> {
  return new Promise((resolve) => {
    const s = connect(socket)
    let out = ''
    const done = (): void => {
      clearTimeout(timer)
      s.destroy()
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0))
    }
    const timer = setTimeout(done, 3000)
    s.on('data', (d: Buffer) => {
      out += d.toString()
      if (/\r\n\r\n/.test(out)) done()
    })
    s.on('end', done)
    s.on('error', done)
    s.write(bytes)
  })
}

/** Human output is text: no JSON object or quoted key on any line. */
function assertText(t: { true(v: boolean, m?: string): void }, what: string, text: string): void {
  for (const line of text.split('\n')) t.true(!/[{}]|"\w+":/.test(line), `${what} prints text, not JSON: ${line}`)
}

test.serial('routes: filters, longest match, exit codes; peers and status shapes', async (t) => {
  const lab = await withLab(t, { tag: 'op', hosts: 3 })
  const h1 = lab.hosts[0]!
  await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'])
  const json = async (...args: string[]) => {
    const r = await fabric(['routes', '--json', '--socket', h1.socket, ...args])
    return { code: r.code, body: r.code === 0 ? JSON.parse(r.stdout) : undefined, stderr: r.stderr }
  }
  t.deepEqual((await json('--peer', 'node3')).body.routes.map((r: { prefix: string }) => r.prefix), ['10.244.3.0/24'])
  t.deepEqual((await json('--peer', '10.99.0.12')).body.routes.map((r: { prefix: string }) => r.prefix), ['10.244.2.0/24'])
  t.deepEqual((await json('--source', 'bgp')).body.routes, [])
  t.deepEqual((await json('10.244.3.77')).body.routes.map((r: { prefix: string }) => r.prefix), ['10.244.3.0/24'], 'an address: the longest match')
  t.deepEqual((await json('10.244.2.128/25')).body.routes.map((r: { prefix: string }) => r.prefix), ['10.244.2.0/24'], 'a more specific prefix')
  t.deepEqual((await json('10.245.0.1')).body.routes, [], 'no match')
  const bad = await json('banana')
  t.is(bad.code, 2)
  t.regex(bad.stderr, /"banana": expected an address or a prefix/)
  const table = await fabric(['routes', '--socket', h1.socket])
  for (const line of table.stdout.split('\n')) t.true(line.length <= 80, `fits 80 columns: ${line}`)
  // peers
  const peers = await fabric(['peers', '--socket', h1.socket])
  t.is(peers.code, 0)
  t.regex(peers.stdout, /^PEER\s+ADDRESS\s+AS\/PROTO\s+STATE\s+SINCE\s+RCVD\s+ACCEPT\s+SENT\s+LAST ERROR$/m)
  t.regex(peers.stdout, /^node2\s+10\.99\.0\.12\s+static\s+configured\s+\d+s\s+1\s+1\s+-\s+-$/m)
  const pj = JSON.parse((await fabric(['peers', '--json', '--socket', h1.socket])).stdout)
  t.deepEqual(pj.peers.map((p: { peer: string; source: string }) => `${p.source}/${p.peer}`), ['static/node2', 'static/node3'])
  // status
  const st = await fabric(['status', '--socket', h1.socket])
  t.is(st.code, 0)
  t.regex(st.stdout, /^host\s+node1 10\.99\.0\.11 on eth0 \(10\.99\.0\.0\/24\), subnet 10\.244\.1\.0\/24$/m)
  t.regex(st.stdout, /^kernel\s+in sync: 2\/2 routes installed$/m)
  t.regex(st.stdout, /^health\s+healthy$/m)
  assertText(t, 'status', st.stdout)
  assertText(t, 'peers', peers.stdout)
  assertText(t, 'routes', table.stdout)
  const doctor = await fabric(['doctor', '--socket', h1.socket, '--config', lab.config, '--state-dir', h1.dir, '--timeout', '1'], h1.ns)
  assertText(t, 'doctor', doctor.stdout)
})

test.serial('control socket: malformed requests get a 4xx, a bad leave body leaves nothing, the agent keeps running', async (t) => {
  const lab = await withLab(t, { tag: 'cs', hosts: 2 })
  const h1 = lab.hosts[0]!
  await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12'])
  t.is(await rawStatus(h1.socket, 'GET // HTTP/1.1\r\nhost: x\r\n\r\n'), 400)
  t.is(await rawStatus(h1.socket, 'GET //fabric:99999/v1/status HTTP/1.1\r\nhost: x\r\n\r\n'), 400)
  for (const body of ['banana', '[1]', '{"x":1}']) {
    t.is(await rawStatus(h1.socket, `POST /v1/leave HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n${body}`), 400, body)
  }
  const st = await fabric(['status', '--json', '--socket', h1.socket])
  t.is(st.code, 0, st.stderr)
  t.true(JSON.parse(st.stdout).healthy)
  t.deepEqual(await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12']), ['10.244.2.0/24 via 10.99.0.12'], 'still in the fabric')
})

test.serial('routes --watch prints a route as it appears', async (t) => {
  const lab = await withLab(t, { tag: 'wa', hosts: 2 })
  const h1 = lab.hosts[0]!
  await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12'])
  const child = spawn(process.execPath, [fabricBin, 'routes', '--watch', '--socket', h1.socket], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => child.kill())
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  await waitFor(() => (out.includes('10.244.2.0/24') ? true : undefined), 10_000)
  // a new host appears in fabric.ini
  writeFileSync(lab.config, `${readFileSync(lab.config, 'utf8')}\n[host.node9]\naddress = 10.99.0.19\nsubnet = 10.244.9.0/24\n`)
  await run('kill', ['-HUP', ...(await (await import('../../src/lab/lab.js')).agentPids(h1)).map(String)])
  const seen = await waitFor(() => (/route-added\s+10\.244\.9\.0\/24 via 10\.99\.0\.19 \(node9\)/.test(out) ? true : undefined), 10_000)
  t.true(seen, out)
  child.kill('SIGINT')
})

test.serial('doctor passes on a healthy host and catches planted faults', async (t) => {
  // without fabric's firewall chains, which would repair the planted FORWARD/masquerade faults
  const lab = await withLab(t, { tag: 'dr', hosts: 3, joinArgs: ['--no-firewall'] })
  const h1 = lab.hosts[0]!
  await waitRoutes(h1.ns, ['10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13'])
  const doctor = async () => {
    const r = await fabric(['doctor', '--json', '--config', lab.config, '--socket', h1.socket, '--state-dir', h1.dir, '--timeout', '1'], h1.ns)
    const body = JSON.parse(r.stdout) as { healthy: boolean; checks: { name: string; result: string; detail: string; fix?: string }[] }
    const by = (name: string) => body.checks.find((c) => c.name === name)
    return { code: r.code, body, by }
  }
  const ok = await doctor()
  t.is(ok.code, 0, JSON.stringify(ok.body.checks.filter((c) => c.result === 'fail')))
  t.true(ok.body.healthy)
  // faults
  await run('ip', ['netns', 'exec', h1.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=0'])
  await run('ip', ['netns', 'exec', h1.ns, 'iptables', '-P', 'FORWARD', 'DROP'])
  await run('ip', ['netns', 'exec', h1.ns, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', '10.244.1.0/24', '!', '-o', 'docker0', '-j', 'MASQUERADE'])
  await ip(h1.ns, 'route', 'add', '10.244.77.0/24', 'via', '10.99.0.12', 'proto', 'bird')
  writeFileSync(lab.config, `${readFileSync(lab.config, 'utf8')}\n[host.ghost]\naddress = 10.99.0.99\nsubnet = 10.244.99.0/24\n`)
  const bad = await doctor()
  t.is(bad.code, 1)
  t.false(bad.body.healthy)
  t.is(bad.by('ip_forward')?.result, 'fail')
  t.regex(bad.by('ip_forward')!.fix!, /sysctl -w net\.ipv4\.ip_forward=1/)
  t.is(bad.by('FORWARD policy')?.result, 'fail')
  t.is(bad.by('masquerade')?.result, 'fail')
  t.regex(bad.by('masquerade')!.fix!, /-s 10\.244\.1\.0\/24 -d 10\.244\.0\.0\/16 -j RETURN/)
  t.is(bad.by('pool overlaps')?.result, 'fail')
  t.regex(bad.by('pool overlaps')!.detail, /10\.244\.77\.0\/24 via 10\.99\.0\.12 proto bird/)
  t.is(bad.by('other routing daemons')?.result, 'fail')
  t.regex(bad.by('other routing daemons')!.detail, /bird owns 10\.244\.77\.0\/24/)
  t.is(bad.by('path MTU')?.result, 'fail')
  t.regex(bad.by('path MTU')!.detail, /ghost 10\.99\.0\.99/)
  // with the agent stopped it still runs, and says the agent is down
  await run('kill', ['-TERM', ...(await (await import('../../src/lab/lab.js')).agentPids(h1)).map(String)])
  await waitFor(async () => ((await (await import('../../src/lab/lab.js')).agentPids(h1)).length === 0 ? true : undefined), 10_000)
  const down = await doctor()
  t.is(down.by('agent')?.result, 'fail')
  t.is(down.by('ip_forward')?.result, 'fail')
})

test.serial('the control socket is root-only (0600) and refuses another user clearly', async (t) => {
  const lab = await withLab(t, { tag: 'so', hosts: 2 })
  const h1 = lab.hosts[0]!
  t.is(statSync(h1.socket).mode & 0o777, 0o600)
  const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, fabricBin, 'status', '--socket', h1.socket])
  t.is(r.code, 1)
  t.regex(r.stderr, /permission denied on .*fabric\.sock: the control socket is root-only \(mode 0600\); run this as root/)
})

test.serial('metrics: Prometheus text on --metrics-listen', async (t) => {
  const lab = await withLab(t, { tag: 'me', hosts: 2, start: false })
  startAgent(lab, lab.hosts[0]!, { extraArgs: ['--metrics-listen', '127.0.0.1:9477'] })
  startAgent(lab, lab.hosts[1]!)
  await waitAgents(lab)
  await waitRoutes(lab.hosts[0]!.ns, ['10.244.2.0/24 via 10.99.0.12'])
  const r = await run('ip', ['netns', 'exec', lab.hosts[0]!.ns, process.execPath, '-e', "fetch('http://127.0.0.1:9477/metrics').then(async (r) => console.log(r.headers.get('content-type') + '\\n' + await r.text()))"])
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /^text\/plain; version=0\.0\.4/)
  t.regex(r.stdout, /^fabric_routes\{source="static",state="installed"\} 1$/m)
  t.regex(r.stdout, /^fabric_sessions\{source="static",state="configured"\} 1$/m)
  t.regex(r.stdout, /^fabric_kernel_operations_total \d+$/m)
  t.regex(r.stdout, /^fabric_kernel_sync_duration_seconds_count\{kind="full"\} [1-9]\d*$/m)
  t.regex(r.stdout, /^fabric_info\{version="[^"]+",host="node1",mode="static"\} 1$/m)
  t.regex(r.stdout, /^fabric_events_dropped_total 0$/m)
})
