import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { BFD_DEFAULTS, bfdKeys, loadBfdKeyFile, parseBfdKeyFile, readBfdSection } from '../../../../src/config/bfd-config.js'
import type { ConfigError } from '../../../../src/config/errors.js'
import { parseIni } from '../../../../src/config/ini.js'

function read(text: string, sectionName: string, overrides: Record<string, string | undefined> = {}, flagPrefix: string | undefined = '') {
  const { doc, errors: iniErrors } = parseIni(text, '/etc/fabric.ini')
  if (iniErrors.length > 0) throw new Error(iniErrors.map((e) => e.message).join('\n'))
  const errors: ConfigError[] = []
  const config = readBfdSection({ file: '/etc/fabric.ini', sectionName, section: doc.sections.find((s) => s.name === sectionName), overrides, ...(flagPrefix !== undefined ? { flagPrefix } : {}), errors })
  return { config, errors }
}

test('defaults: off, 100 ms x 3, no auth', (t) => {
  const r = read('[bgp]\nasn = 65000\n', 'bgp')
  t.deepEqual(r.errors, [])
  t.deepEqual(r.config, BFD_DEFAULTS)
})

test('reads every key; other keys of the section are left alone', (t) => {
  const r = read('[peer.tor]\naddress = 10.0.0.1\nbfd = yes\nbfd-interval = 50\nbfd-multiplier = 5\nbfd-auth = meticulous-sha1\nbfd-key-file = /etc/fabric/bfd.keys\n', 'peer.tor', {}, undefined)
  t.deepEqual(r.errors, [])
  t.deepEqual(r.config, { enabled: true, interval: 50, multiplier: 5, auth: 'meticulous-sha1', keyFile: '/etc/fabric/bfd.keys' })
})

test('flags override the file and name themselves in errors', (t) => {
  const r = read('[rip]\nbfd = no\n', 'rip', { bfd: 'yes', 'bfd-interval': '300ms' })
  t.deepEqual(r.errors, [])
  t.true(r.config.enabled)
  t.is(r.config.interval, 300)
  const bad = read('[rip]\n', 'rip', { 'bfd-multiplier': '0' })
  t.is(bad.errors.length, 1)
  t.regex(bad.errors[0]!.message, /^--bfd-multiplier \(or FABRIC_BFD_MULTIPLIER\) \[rip\] bfd-multiplier = "0": multiplier: an integer from 1 to 255$/)
})

const refusals: Array<[string, string, RegExp]> = [
  ['bfd = maybe', 'bfd', /\/etc\/fabric.ini:2 \[bgp\] bfd = "maybe": yes or no/],
  ['bfd-interval = 5', 'bfd-interval', /bfd-interval = "5": milliseconds: an integer from 10 to 10000/],
  ['bfd-interval = 10001', 'bfd-interval', /an integer from 10 to 10000/],
  ['bfd-interval = 0.5', 'bfd-interval', /an integer from 10 to 10000/],
  ['bfd-multiplier = 256', 'bfd-multiplier', /bfd-multiplier = "256": multiplier: an integer from 1 to 255/],
  ['bfd-multiplier = -1', 'bfd-multiplier', /an integer from 1 to 255/],
  ['bfd-auth = sha256', 'bfd-auth', /bfd-auth = "sha256": one of none, simple, md5, meticulous-md5, sha1, meticulous-sha1/],
]
for (const [line, key, re] of refusals) {
  test(`refuses ${line}`, (t) => {
    const r = read(`[bgp]\n${line}\n`, 'bgp')
    t.is(r.errors.length, 1)
    t.is(r.errors[0]!.key, key)
    t.regex(r.errors[0]!.message, re)
  })
}

test('refuses auth without a key file', (t) => {
  const r = read('[bgp]\nbfd = yes\nbfd-auth = sha1\n', 'bgp')
  t.is(r.errors.length, 1)
  t.regex(r.errors[0]!.message, /\/etc\/fabric.ini:3 \[bgp\] bfd-key-file: required with bfd-auth = sha1/)
})

test('a peer inherits the [bgp] values it does not set', (t) => {
  const bgp = read('[bgp]\nbfd = yes\nbfd-interval = 200\n', 'bgp').config
  const { doc } = parseIni('[peer.a]\nbfd-multiplier = 4\n', '/etc/fabric.ini')
  const errors: ConfigError[] = []
  const peer = readBfdSection({ file: '/etc/fabric.ini', sectionName: 'peer.a', section: doc.sections.find((s) => s.name === "peer.a"), overrides: {}, base: bgp, errors })
  t.deepEqual(errors, [])
  t.deepEqual(peer, { enabled: true, interval: 200, multiplier: 4, auth: 'none' })
})

test('bfdKeys without a prefix has no flags; with one, prefixed flags', (t) => {
  t.true(Object.values(bfdKeys(undefined)).every((k) => k.flag === undefined))
  t.is(bfdKeys('rip-')['bfd-interval']!.flag, 'rip-bfd-interval')
})

test('key file: parses ids and secrets (word or hex)', (t) => {
  const r = parseBfdKeyFile('# keys\n1 sha1 fabric\n\n2  sha1  hex:00ff\n', 'sha1')
  t.deepEqual(r, { ok: true, value: [{ id: 1, secret: Buffer.from('fabric') }, { id: 2, secret: Buffer.from([0, 255]) }] })
})

const keyRefusals: Array<[string, string, RegExp]> = [
  ['empty', '# nothing\n', /no keys/],
  ['two fields', '1 sha1\n', /:?expected "ID ALGORITHM SECRET", got 2 fields/],
  ['time options are not for BFD', '1 sha1 k send-from=2025-01-01\n', /got 4 fields/],
  ['id 256', '256 sha1 k\n', /key id "256": expected an integer 0..255/],
  ['algorithm mismatch', '1 md5 k\n', /algorithm "md5" does not match bfd-auth = sha1/],
  ['odd hex', '1 sha1 hex:abc\n', /even number of hex digits/],
  ['secret too long', `1 sha1 ${'x'.repeat(21)}\n`, /at most 20 bytes \(got 21\)/],
  ['duplicate id', '1 sha1 a\n1 sha1 b\n', /key id 1 is defined twice/],
]
for (const [name, text, re] of keyRefusals) {
  test(`key file refuses: ${name}`, (t) => {
    const r = parseBfdKeyFile(text, 'sha1')
    t.false(r.ok)
    if (!r.ok) t.regex(r.error.map((e) => e.message).join('\n'), re)
  })
}

test('key file: md5 secrets are at most 16 bytes; loading names file and line, warns on a readable file', (t) => {
  t.false(parseBfdKeyFile(`1 md5 ${'x'.repeat(17)}\n`, 'md5').ok)
  const dir = mkdtempSync(join(tmpdir(), 'bfd-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'keys')
  writeFileSync(file, '1 md5 ok\nbad\n')
  const e = t.throws(() => loadBfdKeyFile(file, 'md5'))
  t.regex(e!.message, new RegExp(`${file}:2: expected`))
  writeFileSync(file, '1 md5 ok\n')
  chmodSync(file, 0o644)
  t.is(loadBfdKeyFile(file, 'md5').warnings.length, 1)
  chmodSync(file, 0o600)
  t.deepEqual(loadBfdKeyFile(file, 'md5'), { keys: [{ id: 1, secret: Buffer.from('ok') }], warnings: [] })
  t.throws(() => loadBfdKeyFile(join(dir, 'missing'), 'md5'), { message: /cannot read it \(ENOENT\)/ })
})
