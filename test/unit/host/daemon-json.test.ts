import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import {
  BACKUP_SUFFIX, DaemonJsonError, bipOf, bridgeState, networkCreateBody, networkMismatch, parseVersion, readDaemonTemplate,
  renderDaemonJson, restartPlan, restoreDaemonJson, versionAtLeast, writeDaemonJson,
} from '../../../src/host/docker.js'
import { P } from '../../helpers/net.js'

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
