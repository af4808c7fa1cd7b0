/**
 * fabric's ip6tables chains on dual-stack lab hosts (issue 13): a 2-host
 * static lab given pool6, address6 and subnet6 (fd00:99::N on eth0,
 * fd00:fab:0:N::/64 with ::1 on the host's docker0 bridge and ::2 in its
 * container). The chains appear in ip6tables next to the IPv4 ones, come back
 * after `ip6tables -F FABRIC-FORWARD` (nf_tables events: the agents poll only
 * every 300 s) and are gone after leave, ip6tables-save as before join.
 * Everything lives in the lab's namespaces.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import test from 'ava'
import { getJson } from '../../src/api/client.js'
import { startAgents, waitAgents } from '../../src/lab/lab.js'
import { fabric, logEvents, run, uniqueName, waitFor, withLab } from './helpers.js'

const IP6TABLES_TOOLS = ['ip6tables', 'ip6tables-save', 'ip6tables-restore', 'ip6tables-nft', 'ip6tables-nft-save', 'ip6tables-nft-restore', 'ip6tables-legacy', 'ip6tables-legacy-save', 'ip6tables-legacy-restore']

/**
 * A directory of ip6tables* wrappers that record every call in calls.log and
 * then run the real program (or, `missing`, fail as if not installed), for
 * the agents' PATH. Removed when the test ends.
 */
function ip6tablesRecorder(t: ExecutionContext, missing: boolean): { dir: string; calls: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), `${uniqueName('r6')}-`))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const log = join(dir, 'calls.log')
  for (const tool of IP6TABLES_TOOLS) {
    const real = ['/usr/sbin', '/sbin', '/usr/bin'].map((d) => join(d, tool)).find((p) => existsSync(p))
    const body = missing || !real ? `echo "${tool}: not installed" >&2\nexit 127` : `exec ${real} "$@"`
    writeFileSync(join(dir, tool), `#!/bin/sh\necho "${tool} $*" >> ${log}\n${body}\n`)
    chmodSync(join(dir, tool), 0o755)
  }
  return { dir, calls: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []) }
}

async function inNs(ns: string, ...args: string[]): Promise<string> {
  const r = await run('ip', ['netns', 'exec', ns, ...args])
  if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

/** rules and user chains of an *-save (an empty built-in table loaded by a listing is no difference) */
function strip(save: string): string[] {
  return save.split('\n').filter((l) => l.startsWith('-A ') || (l.startsWith(':') && !/^:(INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) /.test(l))).map((l) => l.replace(/\s*\[\d+:\d+\]/g, ''))
}

const fabricLines = (save: string): string[] => strip(save).filter((l) => l.includes('FABRIC-')).sort()

interface FwStatus { inSync: boolean; restored: number; watch: string | null; ipv6?: { enabled: boolean; inSync?: boolean; forwardJumpFrom?: string | null } }

test('ip6tables on dual-stack hosts: FABRIC-FORWARD / FABRIC-POSTROUTING for pool6 appear, are repaired after ip6tables -F, and are gone after leave', async (t) => {
  t.timeout(120_000)
  const lab = await withLab(t, { tag: 'f6', hosts: 2, start: false, joinArgs: ['--firewall-check-interval', '300'], iniExtra: ['pool6 = fd00:fab::/48', 'host-prefix6 = 64'] })
  // dual-stack hosts: the lab's fabric.ini gets address6 / subnet6 per host, the namespaces their IPv6 addresses
  const ini = readFileSync(lab.config, 'utf8').split('\n').flatMap((l) => {
    const h = lab.hosts.find((x) => l === `[host.${x.name}]`)
    return h ? [l, `address6 = fd00:99::${h.index}`, `subnet6 = fd00:fab:0:${h.index}::/64`] : [l]
  })
  writeFileSync(lab.config, ini.join('\n'))
  for (const h of lab.hosts) {
    await run('ip', ['-n', h.ns, '-batch', '-'], { input: `addr add fd00:99::${h.index}/64 dev eth0 nodad\naddr add fd00:fab:0:${h.index}::1/64 dev docker0 nodad\n` })
    await run('ip', ['-n', h.containerNs, '-batch', '-'], { input: `addr add fd00:fab:0:${h.index}::2/64 dev eth0 nodad\nroute add default via fd00:fab:0:${h.index}::1\n` })
  }
  const before = await Promise.all(lab.hosts.map((h) => inNs(h.ns, 'ip6tables-save')))
  const before4 = await Promise.all(lab.hosts.map((h) => inNs(h.ns, 'iptables-save')))
  await startAgents(lab, lab.hosts)
  await waitAgents(lab)
  const h = lab.hosts[0]!
  const fw = async (): Promise<FwStatus> => ((await getJson(h.socket, '/v1/status', 2000)) as { hostIntegration: { firewall: FwStatus } }).hostIntegration.firewall

  const want = [
    '-A FABRIC-FORWARD -s fd00:fab:0:1::/64 -d fd00:fab::/48 -j ACCEPT',
    '-A FABRIC-FORWARD -s fd00:fab::/48 -d fd00:fab:0:1::/64 -j ACCEPT',
    '-A FABRIC-POSTROUTING -s fd00:fab:0:1::/64 -d fd00:fab::/48 -j ACCEPT',
    '-A FABRIC-POSTROUTING -s fd00:fab:0:1::/64 -j MASQUERADE',
    '-A FORWARD -j FABRIC-FORWARD',
    '-A POSTROUTING -j FABRIC-POSTROUTING',
    ':FABRIC-FORWARD -',
    ':FABRIC-POSTROUTING -',
  ]
  const ok = await waitFor(async () => (JSON.stringify(fabricLines(await inNs(h.ns, 'ip6tables-save'))) === JSON.stringify(want) ? true : undefined), 10_000, 100)
  t.truthy(ok, `fabric's ip6tables chains on ${h.name}: ${fabricLines(await inNs(h.ns, 'ip6tables-save')).join(' | ')}`)
  const v4 = fabricLines(await inNs(h.ns, 'iptables-save'))
  t.true(v4.includes('-A FABRIC-FORWARD -s 10.244.0.0/16 -d 10.244.1.0/24 -j ACCEPT'), 'the IPv4 chains as before')
  t.false(v4.some((l) => l.includes('fd00:')), 'no IPv6 prefix in iptables')
  // containers reach each other over IPv6 through the accepted, not masqueraded, pool6 traffic
  const c1 = lab.hosts[0]!.containerNs
  t.truthy(await waitFor(async () => ((await run('ip', ['netns', 'exec', c1, 'ping', '-6', '-c', '1', '-W', '1', 'fd00:fab:0:2::2'])).code === 0 ? true : undefined), 10_000, 200), 'container 1 -> container 2 over IPv6')
  const st = await fw()
  t.is(st.watch, 'events')
  t.like(st.ipv6, { enabled: true, inSync: true, forwardJumpFrom: 'FORWARD' })

  // fabric doctor's IPv6 checks on the running host (no Docker here: docker0 is the lab's bridge, no daemon.json)
  const doc = await fabric(['doctor', '--json', '--config', lab.config, '--socket', h.socket, '--state-dir', h.dir, '--timeout', '1'], h.ns)
  const checks = new Map((JSON.parse(doc.stdout) as { checks: { name: string; result: string; detail: string }[] }).checks.map((c) => [c.name, c]))
  t.log([...checks.values()].filter((c) => /ipv6|ip6/.test(c.name)).map((c) => `${c.name}: ${c.result}: ${c.detail}`).join('\n'))
  t.is(checks.get('ipv6 forwarding')?.result, 'pass')
  t.is(checks.get('ipv6 routes')?.result, 'pass', checks.get('ipv6 routes')?.detail)
  t.is(checks.get('docker0 ipv6')?.result, 'pass', checks.get('docker0 ipv6')?.detail)
  t.is(checks.get('ip6tables')?.result, 'pass', checks.get('ip6tables')?.detail)
  // eth0 keeps the kernel's default accept_ra = 1: with forwarding on, RAs are ignored; static addresses here, so nothing depends on them
  t.is(checks.get('ipv6 accept_ra')?.result, 'warn')
  t.regex(checks.get('ipv6 accept_ra')!.detail, /nothing from RAs now \(static IPv6\)/)

  // drift: flush and a deleted jump, repaired by the nf_tables event watch (polling is every 300 s)
  const t0 = Date.now()
  await inNs(h.ns, 'ip6tables', '-F', 'FABRIC-FORWARD')
  const flushed = await waitFor(async () => (JSON.stringify(fabricLines(await inNs(h.ns, 'ip6tables-save'))) === JSON.stringify(want) ? true : undefined), 5000, 25)
  t.truthy(flushed, 'ip6tables -F FABRIC-FORWARD repaired')
  t.log(`ip6tables -F FABRIC-FORWARD: repaired in ${Date.now() - t0} ms`)
  const t1 = Date.now()
  await inNs(h.ns, 'ip6tables', '-t', 'nat', '-D', 'POSTROUTING', '-j', 'FABRIC-POSTROUTING')
  const jump = await waitFor(async () => (JSON.stringify(fabricLines(await inNs(h.ns, 'ip6tables-save'))) === JSON.stringify(want) ? true : undefined), 5000, 25)
  t.truthy(jump, 'deleted ip6tables jump repaired')
  t.log(`ip6tables -t nat -D POSTROUTING -j FABRIC-POSTROUTING: repaired in ${Date.now() - t1} ms`)
  // (the agent counts a repair once its ip6tables-restore has been reaped, which may be after the rules are visible)
  t.truthy(await waitFor(async () => ((await fw()).restored >= 2 ? true : undefined), 3000, 50), 'two repairs counted')

  // leave: both families' chains gone, each *-save as before join
  for (const x of lab.hosts) {
    const r = await fabric(['leave', '--yes', '--socket', x.socket])
    t.is(r.code, 0, r.stderr)
  }
  for (const [i, x] of lab.hosts.entries()) {
    t.deepEqual(strip(await inNs(x.ns, 'ip6tables-save')), strip(before[i]!), `${x.name}: ip6tables-save as before join`)
    t.deepEqual(strip(await inNs(x.ns, 'iptables-save')), strip(before4[i]!), `${x.name}: iptables-save as before join`)
  }
})

test('an IPv4-only host makes no ip6tables call at all (every ip6tables program on its PATH records its calls)', async (t) => {
  t.timeout(60_000)
  const rec = ip6tablesRecorder(t, false)
  const lab = await withLab(t, { tag: 'f4', hosts: 1, start: false, joinArgs: ['--firewall-check-interval', '300'] })
  await startAgents(lab, lab.hosts, { env: { PATH: `${rec.dir}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` } })
  const h = lab.hosts[0]!
  t.truthy(await waitFor(async () => ((await getJson(h.socket, '/v1/status', 2000)) as { hostIntegration: { firewall: FwStatus } }).hostIntegration.firewall.inSync ? true : undefined, 10_000, 100))
  // a change of the IPv4 chains: the watch runs a check, which must not look at ip6tables either
  await inNs(h.ns, 'iptables', '-F', 'FABRIC-FORWARD')
  t.truthy(await waitFor(async () => (fabricLines(await inNs(h.ns, 'iptables-save')).length >= 6 ? true : undefined), 5000, 50), 'IPv4 chains repaired')
  const r = await fabric(['leave', '--yes', '--socket', h.socket])
  t.is(r.code, 0, r.stderr)
  t.deepEqual(rec.calls(), [], 'no ip6tables program was run')
  const st = logEvents(h.log, 'firewall-backend')[0]
  t.truthy(st)
  t.false('ipv6' in st!, 'no IPv6 backend chosen')
})

test('a dual-stack host without ip6tables starts with a warning and its IPv4 chains, no IPv6 chains', async (t) => {
  t.timeout(60_000)
  const rec = ip6tablesRecorder(t, true)
  const lab = await withLab(t, { tag: 'f7', hosts: 1, start: false, joinArgs: ['--firewall-check-interval', '300'], iniExtra: ['pool6 = fd00:fab::/48'] })
  const h = lab.hosts[0]!
  writeFileSync(lab.config, readFileSync(lab.config, 'utf8').replace(`[host.${h.name}]`, `[host.${h.name}]\naddress6 = fd00:99::1\nsubnet6 = fd00:fab:0:1::/64`))
  await run('ip', ['-n', h.ns, '-batch', '-'], { input: 'addr add fd00:99::1/64 dev eth0 nodad\naddr add fd00:fab:0:1::1/64 dev docker0 nodad\n' })
  await startAgents(lab, lab.hosts, { env: { PATH: `${rec.dir}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` } })
  const st = (await getJson(h.socket, '/v1/status', 2000)) as { warnings: string[]; hostIntegration: { firewall: FwStatus } }
  t.true(st.warnings.some((w) => /pool6 is configured but neither ip6tables-nft-save nor ip6tables is installed/.test(w)), st.warnings.join(' | '))
  t.like(st.hostIntegration.firewall.ipv6, { enabled: false })
  t.true(st.hostIntegration.firewall.inSync)
  t.true(fabricLines(await inNs(h.ns, 'iptables-save')).includes('-A FORWARD -j FABRIC-FORWARD'), 'the IPv4 chains are in place')
  t.true(rec.calls().some((c) => c.startsWith('ip6tables-nft-save')), 'ip6tables was looked for')
  t.false(rec.calls().some((c) => c.includes('restore')), 'and nothing was written')
  t.is(logEvents(h.log, 'ip6tables-missing').length, 1)
})
