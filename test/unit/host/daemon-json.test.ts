import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import {
  BACKUP_SUFFIX, DaemonJsonError, bip6Of, bipOf, bridgeState, bridgeState6, interfaceAddresses6, ipv6Conflicts, networkCreateBody, networkMismatch, parseVersion,
  readDaemonTemplate, renderDaemonJson, restartPlan, restoreDaemonJson, versionAtLeast, writeDaemonJson,
} from '../../../src/host/docker.js'
import { P, P6 } from '../../helpers/net.js'

const template = readDaemonTemplate()
const subnet = P('10.244.3.0/24')

test('bip is the first address of the subnet with its length', (t) => {
  t.is(bipOf(subnet), '10.244.3.1/24')
  t.is(bipOf(P('10.8.0.0/16')), '10.8.0.1/16')
})

test('versions: parsed from Engine API strings, compared by major.minor', (t) => {
  t.deepEqual(parseVersion('20.10.24+dfsg1'), [20, 10, 24])
  t.deepEqual(parseVersion('28.2'), [28, 2, 0])
  t.is(parseVersion('dev'), undefined)
  t.true(versionAtLeast('28.2.2', 28, 2))
  t.true(versionAtLeast('29.0.0', 28, 2))
  t.false(versionAtLeast('28.1.1', 28, 2))
  t.false(versionAtLeast('20.10.24', 28, 2))
  t.false(versionAtLeast(undefined, 28, 2))
})

test('no daemon.json: bip only for Docker < 28.2 (older engines reject unknown keys)', (t) => {
  const r = renderDaemonJson({ current: undefined, template, subnet, dockerVersion: '20.10.24' })
  t.deepEqual(JSON.parse(r.text), { bip: '10.244.3.1/24' })
  t.true(r.changed)
  t.true(r.text.endsWith('}\n'))
})

test('Docker >= 28.2 also gets allow-direct-routing: true', (t) => {
  const r = renderDaemonJson({ current: undefined, template, subnet, dockerVersion: '28.2.2' })
  t.deepEqual(JSON.parse(r.text), { bip: '10.244.3.1/24', 'allow-direct-routing': true })
  const old = renderDaemonJson({ current: '{"allow-direct-routing": false}', template, subnet, dockerVersion: '28.3.0' })
  t.is(JSON.parse(old.text)['allow-direct-routing'], true)
})

test('every user key is kept, in its place; fabric overwrites only its own keys', (t) => {
  const current = JSON.stringify({ 'log-driver': 'journald', bip: '172.17.0.1/16', 'live-restore': true, 'default-address-pools': [{ base: '172.80.0.0/16', size: 24 }], labels: ['a=b'] }, null, 2)
  const r = renderDaemonJson({ current, template, subnet, dockerVersion: '20.10.24' })
  const out = JSON.parse(r.text) as Record<string, unknown>
  t.deepEqual(Object.keys(out), ['log-driver', 'bip', 'live-restore', 'default-address-pools', 'labels'])
  t.is(out.bip, '10.244.3.1/24')
  t.is(out['log-driver'], 'journald')
  t.deepEqual(out['default-address-pools'], [{ base: '172.80.0.0/16', size: 24 }])
  t.deepEqual(r.set, { bip: '10.244.3.1/24' })
})

test('already configured: not changed (idempotent)', (t) => {
  const first = renderDaemonJson({ current: '{"debug": true}', template, subnet, dockerVersion: '28.2.0' })
  const again = renderDaemonJson({ current: first.text, template, subnet, dockerVersion: '28.2.0' })
  t.false(again.changed)
  t.is(again.text, first.text)
})

test('invalid daemon.json is refused with the file named, never overwritten', (t) => {
  const e = t.throws(() => renderDaemonJson({ current: '{"bip": ', template, subnet, file: '/x/daemon.json' }), { instanceOf: DaemonJsonError })
  t.regex(e!.message, /\/x\/daemon\.json: is not valid JSON/)
  t.throws(() => renderDaemonJson({ current: '[1]', template, subnet }), { message: /expected a JSON object/ })
})

test('warnings for keys that fight the bip', (t) => {
  const r = renderDaemonJson({ current: '{"fixed-cidr": "172.17.5.0/24", "bridge": "br9"}', template, subnet })
  t.is(r.warnings.length, 2)
})

test('atomic write keeps the first original as backup; restore puts it back byte for byte', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fabric-dj-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'daemon.json')
  const original = '{\n    "debug": true\n}\n'
  writeFileSync(file, original, { mode: 0o600 })
  const w1 = writeDaemonJson(file, '{"bip": "10.244.3.1/24"}\n')
  t.true(w1.backupCreated)
  t.is(readFileSync(file + BACKUP_SUFFIX, 'utf8'), original)
  t.is(statSync(file).mode & 0o777, 0o600)
  const w2 = writeDaemonJson(file, '{"bip": "10.244.4.1/24"}\n')
  t.false(w2.backupCreated)
  t.is(readFileSync(file + BACKUP_SUFFIX, 'utf8'), original, 'the first original is kept')
  t.is(restoreDaemonJson(file), 'restored')
  t.is(readFileSync(file, 'utf8'), original)
  t.false(existsSync(file + BACKUP_SUFFIX))
  t.is(restoreDaemonJson(file), 'no-backup')
})

test('no daemon.json before: leave removes the one fabric wrote', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fabric-dj-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'daemon.json')
  writeDaemonJson(file, '{"bip": "10.244.3.1/24"}\n')
  t.is(readFileSync(file + BACKUP_SUFFIX, 'utf8'), '')
  t.is(restoreDaemonJson(file), 'removed')
  t.false(existsSync(file))
})

test('docker0 state: match, mismatch, absent', (t) => {
  t.deepEqual(bridgeState(['10.244.3.1/24'], subnet), { state: 'match' })
  t.deepEqual(bridgeState(['172.17.0.1/16'], subnet), { state: 'mismatch', addresses: ['172.17.0.1/16'] })
  t.is(bridgeState(['10.244.3.1/16'], subnet).state, 'mismatch', 'the length counts too')
  t.deepEqual(bridgeState(undefined, subnet), { state: 'absent' })
})

test('restart: given command, systemd, service, through the host init, refused without --pid=host', (t) => {
  const host = { inContainer: false, sameMountNsAsInit: true, initComm: 'systemd', hasSystemdDir: true }
  t.deepEqual(restartPlan('kill -HUP 1', host), { argv: ['sh', '-c', 'kill -HUP 1'], display: 'kill -HUP 1', via: '--docker-restart-command' })
  t.deepEqual((restartPlan(undefined, host) as { argv: string[] }).argv, ['systemctl', 'restart', 'docker'])
  t.deepEqual((restartPlan(undefined, { ...host, initComm: 'init', hasSystemdDir: false }) as { argv: string[] }).argv, ['service', 'docker', 'restart'])
  const pidHost = restartPlan(undefined, { inContainer: true, sameMountNsAsInit: false, initComm: 'systemd', hasSystemdDir: false }) as { argv: string[] }
  t.deepEqual(pidHost.argv.slice(0, 3), ['nsenter', '--target', '1'])
  t.deepEqual(pidHost.argv.slice(-3), ['systemctl', 'restart', 'docker'])
  const noPid = restartPlan(undefined, { inContainer: true, sameMountNsAsInit: true, initComm: 'node', hasSystemdDir: false })
  t.regex((noPid as { error: string }).error, /--pid=host/)
})

test('docker network: masquerade off, gateway mode for Docker >= 28, existing network checked', (t) => {
  const old = networkCreateBody('fabric', subnet, '20.10.24')
  t.deepEqual(old.IPAM, { Driver: 'default', Config: [{ Subnet: '10.244.3.0/24', Gateway: '10.244.3.1' }] })
  t.deepEqual(old.Options, { 'com.docker.network.bridge.enable_ip_masquerade': 'false' })
  const v28 = networkCreateBody('fabric', subnet, '28.0.1')
  t.is((v28.Options as Record<string, string>)['com.docker.network.bridge.gateway_mode_ipv4'], 'nat-unprotected')
  const good = { Id: 'abc', Name: 'fabric', Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.244.3.0/24' }] }, Options: { 'com.docker.network.bridge.enable_ip_masquerade': 'false' } }
  t.deepEqual(networkMismatch(good, subnet), [])
  t.is(networkMismatch({ ...good, IPAM: { Config: [{ Subnet: '172.20.0.0/16' }] }, Options: {} }, subnet).length, 2)
})

// ---- IPv6 (dual-stack host: pool6 configured) ---------------------------------------

const subnet6 = P6('fd00:fab:0:3::/64')

test('IPv6: docker0 gateway is ::1 of subnet6 with its length', (t) => {
  t.is(bip6Of(subnet6), 'fd00:fab:0:3::1/64')
  t.is(bip6Of(P6('fd00:fab:0:300::/56')), 'fd00:fab:0:300::1/56')
  t.is(bip6Of(P6('2001:db8:0:7:8::/80')), '2001:db8:0:7:8::1/80')
})

test('IPv6: with subnet6, "ipv6": true and "fixed-cidr-v6" are set next to bip; without it, neither', (t) => {
  const r = renderDaemonJson({ current: undefined, template, subnet, subnet6, dockerVersion: '20.10.24' })
  t.deepEqual(JSON.parse(r.text), { bip: '10.244.3.1/24', ipv6: true, 'fixed-cidr-v6': 'fd00:fab:0:3::/64' })
  t.deepEqual(r.set, { bip: '10.244.3.1/24', ipv6: true, 'fixed-cidr-v6': 'fd00:fab:0:3::/64' })
  const v4 = renderDaemonJson({ current: undefined, template, subnet, dockerVersion: '20.10.24' })
  t.deepEqual(JSON.parse(v4.text), { bip: '10.244.3.1/24' }, 'an IPv4-only host gets no IPv6 key')
  // the built-in template (no templates/ installed) says the same
  t.deepEqual(JSON.parse(renderDaemonJson({ current: undefined, template: '{"bip": "{{bip}}", "allow-direct-routing": "{{allow-direct-routing}}", "ipv6": "{{ipv6}}", "fixed-cidr-v6": "{{fixed-cidr-v6}}"}', subnet, subnet6 }).text), JSON.parse(r.text))
})

test('IPv6: user keys kept in place, also their IPv6 keys when they agree; idempotent', (t) => {
  const current = JSON.stringify({ 'log-driver': 'journald', ipv6: true, 'fixed-cidr-v6': 'fd00:fab:0:3:0::/64', 'ip6tables': true, experimental: true })
  const r = renderDaemonJson({ current, template, subnet, subnet6, dockerVersion: '20.10.24' })
  const out = JSON.parse(r.text) as Record<string, unknown>
  t.deepEqual(Object.keys(out), ['log-driver', 'ipv6', 'fixed-cidr-v6', 'ip6tables', 'experimental', 'bip'])
  t.is(out['fixed-cidr-v6'], 'fd00:fab:0:3::/64', 'the same prefix in another spelling is no conflict; written canonically')
  t.is(out.ip6tables, true)
  const again = renderDaemonJson({ current: r.text, template, subnet, subnet6, dockerVersion: '20.10.24' })
  t.false(again.changed)
  t.is(again.text, r.text)
})

test('IPv6: a conflicting user "fixed-cidr-v6" or "ipv6": false is refused (DaemonJsonError, exit 2), never overwritten', (t) => {
  const e = t.throws(() => renderDaemonJson({ current: '{"fixed-cidr-v6": "2001:db8:1::/64", "bip": "172.17.0.1/16"}', template, subnet, subnet6, file: '/x/daemon.json' }), { instanceOf: DaemonJsonError })
  t.regex(e!.message, /^\/x\/daemon\.json: conflicts with fabric's IPv6 settings \(nothing changed\): "fixed-cidr-v6": "2001:db8:1::\/64", but this host's fabric subnet6 is fd00:fab:0:3::\/64/)
  t.regex(e!.message, /set it to "fd00:fab:0:3::\/64"/)
  t.throws(() => renderDaemonJson({ current: '{"ipv6": false}', template, subnet, subnet6 }), { message: /"ipv6": false, but pool6 is configured/ })
  t.throws(() => renderDaemonJson({ current: '{"fixed-cidr-v6": 64}', template, subnet, subnet6 }), { message: /"fixed-cidr-v6": 64/ })
  // IPv4 keeps its way: a user bip is replaced, not refused
  t.is(JSON.parse(renderDaemonJson({ current: '{"bip": "172.17.0.1/16"}', template, subnet, subnet6 }).text).bip, '10.244.3.1/24')
  // and without subnet6 the IPv6 keys are the user's business
  t.notThrows(() => renderDaemonJson({ current: '{"fixed-cidr-v6": "2001:db8:1::/64"}', template, subnet }))
})

test('IPv6: the user\'s values are those of the backup once fabric wrote the file (a new subnet6 replaces fabric\'s own old one)', (t) => {
  // fabric wrote fd00:fab:0:3::/64 before; this host now has fd00:fab:0:9::/64
  const written = renderDaemonJson({ current: '{"debug": true}', template, subnet, subnet6, dockerVersion: '20.10.24' }).text
  const moved = renderDaemonJson({ current: written, original: '{"debug": true}', template, subnet, subnet6: P6('fd00:fab:0:9::/64'), dockerVersion: '20.10.24' })
  t.is(JSON.parse(moved.text)['fixed-cidr-v6'], 'fd00:fab:0:9::/64')
  t.true(moved.changed)
  // an empty backup: there was no daemon.json before fabric
  t.notThrows(() => renderDaemonJson({ current: written, original: '', template, subnet, subnet6: P6('fd00:fab:0:9::/64') }))
  // the user's own value in the backup still conflicts
  t.throws(() => renderDaemonJson({ current: written, original: '{"fixed-cidr-v6": "2001:db8:1::/64"}', template, subnet, subnet6: P6('fd00:fab:0:9::/64') }), { instanceOf: DaemonJsonError })
})

test('IPv6: ipv6Conflicts names each conflicting key', (t) => {
  t.deepEqual(ipv6Conflicts({}, subnet6), [])
  t.deepEqual(ipv6Conflicts({ ipv6: true, 'fixed-cidr-v6': 'fd00:fab:0:3::/64' }, subnet6), [])
  t.is(ipv6Conflicts({ ipv6: 'yes', 'fixed-cidr-v6': 'fd00:fab:0:4::/64' }, subnet6).length, 2)
  t.is(ipv6Conflicts({ 'fixed-cidr-v6': 'fd00:fab:0:3::/80' }, subnet6).length, 1, 'the length counts')
})

test('IPv6: docker0 state from its IPv6 addresses (link-local ones ignored)', (t) => {
  t.deepEqual(bridgeState6(['fe80::42:acff:fe11:2/64', 'fd00:fab:0:3::1/64'], subnet6), { state: 'match' })
  t.is(bridgeState6(['fe80::42:acff:fe11:2/64'], subnet6).state, 'mismatch')
  t.is(bridgeState6(['fd00:fab:0:3::1/56'], subnet6).state, 'mismatch', 'the length counts too')
  t.deepEqual(bridgeState6(undefined, subnet6), { state: 'absent' })
})

test('IPv6: interfaceAddresses6 reads the link\'s IPv6 addresses from rtnetlink dumps', async (t) => {
  const rtnl = {
    dumpLinks: async () => [{ index: 1, name: 'lo', flags: 1 }, { index: 5, name: 'docker0', flags: 1 }] as never,
    dumpAddresses6: async () => [
      { index: 5, address: 'fd00:fab:0:3::1', prefixLen: 64, scope: 0, flags: 0 },
      { index: 1, address: '::1', prefixLen: 128, scope: 254, flags: 0 },
      { index: 5, address: 'fe80::1', prefixLen: 64, scope: 253, flags: 0 },
    ],
  }
  t.deepEqual(await interfaceAddresses6('docker0', rtnl), ['fd00:fab:0:3::1/64', 'fe80::1/64'])
  t.is(await interfaceAddresses6('docker9', rtnl), undefined)
})

test('IPv6: --docker-network on a dual-stack host: EnableIPv6 with subnet6 and its ::1 gateway; an existing network without them does not fit', (t) => {
  const body = networkCreateBody('fabric', subnet, '20.10.24', undefined, subnet6)
  t.is(body.EnableIPv6, true)
  t.deepEqual(body.IPAM, { Driver: 'default', Config: [{ Subnet: '10.244.3.0/24', Gateway: '10.244.3.1' }, { Subnet: 'fd00:fab:0:3::/64', Gateway: 'fd00:fab:0:3::1' }] })
  t.deepEqual(body.Options, { 'com.docker.network.bridge.enable_ip_masquerade': 'false' })
  const v28 = networkCreateBody('fabric', subnet, '28.0.1', undefined, subnet6).Options as Record<string, string>
  t.is(v28['com.docker.network.bridge.gateway_mode_ipv6'], 'nat-unprotected')
  t.false('EnableIPv6' in networkCreateBody('fabric', subnet, '28.0.1'), 'IPv4-only host: as before')
  t.false('com.docker.network.bridge.gateway_mode_ipv6' in (networkCreateBody('fabric', subnet, '28.0.1').Options as Record<string, string>))
  const opts = { 'com.docker.network.bridge.enable_ip_masquerade': 'false' }
  const dual = { Id: 'abc', Name: 'fabric', Driver: 'bridge', EnableIPv6: true, IPAM: { Config: [{ Subnet: '10.244.3.0/24' }, { Subnet: 'fd00:fab:0:3::/64' }] }, Options: opts }
  t.deepEqual(networkMismatch(dual, subnet, subnet6), [])
  t.deepEqual(networkMismatch({ ...dual, EnableIPv6: false, IPAM: { Config: [{ Subnet: '10.244.3.0/24' }] } }, subnet, subnet6), [
    'IPv6 subnet none (fabric needs fd00:fab:0:3::/64)', 'IPv6 off (fabric needs EnableIPv6 with subnet6 fd00:fab:0:3::/64)',
  ])
  t.deepEqual(networkMismatch({ ...dual, IPAM: { Config: [{ Subnet: '10.244.3.0/24' }] } }, subnet), [], 'without subnet6 the IPv6 side is not looked at')
})
