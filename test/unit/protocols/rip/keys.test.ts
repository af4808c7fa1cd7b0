import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { AgentStartError } from '../../../../src/core/errors.js'
import type { FabricConfig } from '../../../../src/config/fabric-config.js'
import type { RipConfig } from '../../../../src/config/rip-config.js'
import { parsePrefix } from '../../../../src/net/ipv4.js'
import { selectSendKey, signPacket, verifyPacket } from '../../../../src/protocols/rip/auth.js'
import { decodePacket } from '../../../../src/protocols/rip/codec.js'
import { describeKeys, loadKeyFile, parseKeyFile } from '../../../../src/protocols/rip/keys.js'
import { loadRipAuth, resolveRipInterface } from '../../../../src/protocols/rip/source.js'
import { A as ip } from '../../../helpers/net.js'

const p = (s: string) => {
  const r = parsePrefix(s)
  if (!r.ok) throw new Error(r.error)
  return r.value
}

test('key file: comments, several keys, hex secrets and time windows', (t) => {
  const r = parseKeyFile(`# fabric RIP keys
  # ID ALGORITHM SECRET [options]

1   md5   fabric-md5
2   keyed-md5  hex:00ff10  send-from=2025-06-01T00:00:00Z  accept-until=2026-01-01
`, 'md5')
  t.true(r.ok)
  if (!r.ok) return
  t.is(r.value.length, 2)
  t.deepEqual(r.value[0], { id: 1, secret: Buffer.from('fabric-md5'), algorithm: 'md5' })
  t.is(r.value[1]!.algorithm, 'md5')
  t.deepEqual(r.value[1]!.secret, Buffer.from([0, 255, 16]))
  t.is(r.value[1]!.sendFrom, Date.parse('2025-06-01T00:00:00Z'))
  t.is(r.value[1]!.acceptUntil, Date.parse('2026-01-01'))
  // rotation: the newest valid send key signs
  t.is(selectSendKey({ keys: r.value }, Date.parse('2025-07-01'))?.id, 2)
  t.is(selectSendKey({ keys: r.value }, Date.parse('2025-05-01'))?.id, 1)
})

test('key file: sha256 and password keys; the keys sign and verify', (t) => {
  const sha = parseKeyFile('7 hmac-sha256 a-long-secret-longer-than-sixteen-bytes\n', 'sha256')
  t.true(sha.ok)
  if (!sha.ok) return
  const signed = signPacket({ command: 'response', entries: [{ kind: 'route', tag: 0, prefix: p('10.244.1.0/24'), nextHop: 0, metric: 1 }] }, { keys: sha.value }, 0, 1)
  t.true(signed.ok)
  if (!signed.ok) return
  const dec = decodePacket(signed.value)
  t.true(dec.ok)
  if (dec.ok) t.true(verifyPacket(signed.value, dec.value, { keys: sha.value }, 0).ok)
  const pw = parseKeyFile('0 password s3cret\n', 'password')
  t.true(pw.ok)
  t.deepEqual(describeKeys(sha.value, 0), [{ id: 7, algorithm: 'hmac-sha256', send: true, accept: true }], 'status never shows the secret')
})

const bad: { name: string; text: string; auth?: 'md5' | 'sha256' | 'password'; message: RegExp }[] = [
  { name: 'too few fields', text: '1 md5\n', message: /^3: expected "ID ALGORITHM SECRET/ },
  { name: 'key id not a number', text: 'one md5 x\n', message: /^1: key id "one": expected an integer 0\.\.255/ },
  { name: 'key id 256', text: '256 md5 x\n', message: /key id "256": expected an integer 0\.\.255/ },
  { name: 'unknown algorithm', text: '1 sha1 x\n', message: /algorithm "sha1": expected password, md5 or hmac-sha256/ },
  { name: 'algorithm differs from [rip] auth', text: '1 hmac-sha256 x\n', message: /algorithm hmac-sha256 does not match \[rip\] auth = md5 \(expected md5\)/ },
  { name: 'md5 secret over 16 bytes', text: '1 md5 12345678901234567\n', message: /a md5 secret is at most 16 bytes \(got 17\)/ },
  { name: 'odd hex', text: '1 md5 hex:abc\n', message: /expected an even number of hex digits/ },
  { name: 'unknown option', text: '1 md5 x valid-from=2025-01-01\n', message: /option "valid-from=2025-01-01": expected send-from=TIME/ },
  { name: 'bad time', text: '1 md5 x send-from=tomorrow\n', message: /send-from "tomorrow": expected an ISO 8601 time/ },
  { name: 'until before from', text: '1 md5 x send-from=2025-02-01 send-until=2025-01-01\n', message: /send-until must be after send-from/ },
  { name: 'duplicate id', text: '1 md5 x\n1 md5 y\n', message: /^2: key id 1 is already defined on line 1/ },
  { name: 'empty file', text: '# nothing\n\n', message: /no keys; expected at least one line/ },
]

for (const c of bad) {
  test(`key file refused: ${c.name}`, (t) => {
    const text = c.name === 'too few fields' ? `# header\n\n${c.text}` : c.text
    const r = parseKeyFile(text, c.auth ?? 'md5')
    t.false(r.ok)
    if (r.ok) return
    const e = r.error[r.error.length - 1]!
    t.regex(`${e.line}: ${e.message}`, c.message)
  })
}

function tmp(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'fabric-rip-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('loadKeyFile names the file and line of every problem', (t) => {
  const dir = tmp(t)
  const f = join(dir, 'rip.keys')
  writeFileSync(f, '1 md5 ok\n2 md5\n3 banana x\n', { mode: 0o600 })
  const e = t.throws(() => loadKeyFile(f, 'md5'))
  t.is(e?.message, `${f}:2: expected "ID ALGORITHM SECRET [send-from=TIME] [send-until=TIME] [accept-from=TIME] [accept-until=TIME]", got 2 fields\n${f}:3: algorithm "banana": expected password, md5 or hmac-sha256`)
  const missing = t.throws(() => loadKeyFile(join(dir, 'nope'), 'md5'))
  t.regex(missing?.message ?? '', /\[rip\] key-file .*nope: cannot read it \(ENOENT\); expected a readable file of lines "ID ALGORITHM SECRET/)
})

test('loadKeyFile warns when others can read the secrets', (t) => {
  const dir = tmp(t)
  const f = join(dir, 'rip.keys')
  writeFileSync(f, '1 md5 ok\n')
  chmodSync(f, 0o644)
  t.deepEqual(loadKeyFile(f, 'md5').warnings, [`key file ${f} is readable by group or others (mode 644); chmod 600 it`])
  chmodSync(f, 0o600)
  t.deepEqual(loadKeyFile(f, 'md5').warnings, [])
})

const rip = (over: Partial<RipConfig> = {}): RipConfig => ({
  neighbors: [], auth: 'none', updateInterval: 30, timeout: 180, garbageCollection: 120, triggeredMin: 1, triggeredMax: 5,
  splitHorizon: 'poisoned-reverse', cost: 1, maxRoutes: 10_000, allow: [], port: 520, ...over,
})

test('a bad key file is a start error with exit code 2', (t) => {
  const dir = tmp(t)
  const f = join(dir, 'rip.keys')
  writeFileSync(f, '1 md5 12345678901234567890\n', { mode: 0o600 })
  const e = t.throws(() => loadRipAuth(rip({ auth: 'md5', keyFile: f })))
  t.true(e instanceof AgentStartError)
  t.is((e as AgentStartError).exitCode, 2)
  t.regex(e?.message ?? '', /rip\.keys:1: a md5 secret is at most 16 bytes \(got 20\)/)
  t.deepEqual(loadRipAuth(rip()), { auth: undefined, keys: [], warnings: [] })
})

const self = { name: 'h1', address: ip('10.99.0.11'), subnet: p('10.244.1.0/24'), interface: 'eth0', underlay: p('10.99.0.0/24') }
const config = (r: RipConfig) => ({ pool: p('10.244.0.0/16'), rip: r }) as unknown as FabricConfig

test('RIP interface: the underlay by default; neighbours must be on it', (t) => {
  t.deepEqual(resolveRipInterface(config(rip({ neighbors: [ip('10.99.0.12')] })), self), { name: 'eth0', address: self.address, subnet: self.underlay })
  const off = t.throws(() => resolveRipInterface(config(rip({ neighbors: [ip('10.98.0.12')] })), self))
  t.is(off?.message, "[rip] neighbor = 10.98.0.12: expected another address on eth0's network 10.99.0.0/24 (RIP neighbours are on-link)")
  t.throws(() => resolveRipInterface(config(rip({ neighbors: [self.address] })), self), { message: /neighbor = 10\.99\.0\.11/ })
})

test('RIP interface: another underlay interface is found among the interfaces the agent read (rtnetlink)', (t) => {
  const interfaces = [
    { name: 'lo', up: true, addresses: [{ address: ip('127.0.0.1'), prefixLen: 8 }] },
    { name: 'eth1', up: true, addresses: [{ address: ip('10.98.0.5'), prefixLen: 24 }] },
  ]
  t.deepEqual(resolveRipInterface(config(rip({ interface: 'eth1' })), self, interfaces), { name: 'eth1', address: ip('10.98.0.5'), subnet: p('10.98.0.0/24') })
  const e = t.throws(() => resolveRipInterface(config(rip({ interface: 'eth9' })), self, interfaces))
  t.regex(e?.message ?? '', /interfaces: eth1\); expected the underlay interface/)
})

test('RIP interface: an unknown or container-facing interface is refused', (t) => {
  const e = t.throws(() => resolveRipInterface(config(rip({ interface: 'nosuchif0' })), self))
  t.regex(e?.message ?? '', /^\[rip\] interface = "nosuchif0": no such interface with an IPv4 address on this host/)
  t.is((e as AgentStartError).exitCode, 2)
  const docker = { ...self, interface: 'docker0', underlay: p('10.244.1.0/24') }
  t.throws(() => resolveRipInterface(config(rip()), docker), { message: /\[rip\] interface = "docker0": its network 10\.244\.1\.0\/24 is container-facing/ })
})
