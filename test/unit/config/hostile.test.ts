/** fabric.ini with hostile content: refused with messages a person can read (issue 9). */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { ConfigError, ConfigErrors } from '../../../src/config/errors.js'
import { loadConfig, loadConfigText } from '../../../src/config/fabric-config.js'

const HEAD = '[fabric]\npool = 10.244.0.0/16\n'
/** no message line may be longer than this, whatever the input */
const MAX_LINE = 600

function refused(t: import('ava').ExecutionContext, text: string): ConfigErrors {
  return t.throws(() => loadConfigText(text, 'fabric.ini'), { instanceOf: ConfigErrors })!
}

function readable(t: import('ava').ExecutionContext, message: string): void {
  for (const line of message.split('\n')) t.true(line.length <= MAX_LINE, `a message line of ${line.length} chars: ${line.slice(0, 200)}`)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for control characters
  t.notRegex(message.replace(/\n/g, ''), /[\u0000-\u001f\u007f-\u009f\ufffd]/, 'control bytes and undecodable bytes are escaped')
}

test('a 20 MB value is refused with its first characters and its size, naming file:line, section, key and what is expected', (t) => {
  const big = 'x'.repeat(20 << 20)
  const e = refused(t, `[fabric]\npool = ${big}\n`)
  readable(t, e.message)
  t.is(e.errors.length, 1)
  t.regex(e.message, /^fabric\.ini:2 \[fabric\] pool = "x{60}…" \(20971520 bytes\): .*CIDR/)
  t.is(e.errors[0]!.value, big, 'the error object keeps the full value for callers')
})

test('a 20 MB line without "=" is refused readably', (t) => {
  const e = refused(t, `${HEAD}${'a'.repeat(20 << 20)}\n`)
  readable(t, e.message)
  t.regex(e.message, /^fabric\.ini:3 \[fabric\] "a{60}…" \(20971520 bytes\): a line of the form `key = value`/)
})

test('a 20 MB section name and a 20 MB key are refused readably', (t) => {
  const e = refused(t, `${HEAD}${'k'.repeat(20 << 20)} = 1\n[${'s'.repeat(1 << 20)}]\n`)
  readable(t, e.message)
  t.regex(e.message, /^fabric\.ini:3 \[fabric\] "k{60}…" \(20971520 bytes\) = "1": unknown key; \[fabric\] accepts pool, /m)
  t.regex(e.message, /^fabric\.ini:4 \[s{60}…\] \(1048576 bytes\): unknown section/m)
})

test('binary garbage: control bytes escaped, values cut, every line still located', (t) => {
  const garbage = randomBytes(256 << 10)
  const dir = mkdtempSync(join(tmpdir(), 'fabric-hostile-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'fabric.ini')
  writeFileSync(file, Buffer.concat([Buffer.from(`${HEAD}address = `), garbage, Buffer.from('\n[host.a]\nsubnet = \u0007\u001b[31m10.244.1.0/24\n')]))
  const e = t.throws(() => loadConfig({ file }), { instanceOf: ConfigErrors })!
  readable(t, e.message)
  t.true(e.errors.length >= 2)
  for (const err of e.errors) t.regex(err.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(:\\d+)? `), 'each error names the file and line')
  const subnet = e.errors.find((x) => x.key === 'subnet')
  t.truthy(subnet)
  t.regex(subnet!.message, /\[host\.a\] subnet = "\\x07\\x1b\[31m10\.244\.1\.0\/24": /, 'a short value is shown whole, with its control bytes escaped')
  if (e.errors.length > 20) t.regex(e.message, new RegExp(`\\(and ${e.errors.length - 20} more errors\\)$`), 'the message lists 20 errors and counts the rest')
})

test('ConfigError shows a cut, escaped value; short printable values as they are', (t) => {
  t.is(new ConfigError({ where: 'f:1', section: 'bgp', key: 'asn', value: '65000x', expected: 'an AS number' }).message, 'f:1 [bgp] asn = "65000x": an AS number')
  const m = new ConfigError({ where: 'f:2', section: 'bgp', key: 'asn', value: `${'9'.repeat(100)}\u0000`, expected: 'an AS number' }).message
  t.is(m, `f:2 [bgp] asn = "${'9'.repeat(60)}…" (101 bytes): an AS number`)
  t.is(new ConfigError({ where: 'f:3', key: 'k', value: 'tab\there "q" \\ é', expected: 'x' }).message, 'f:3 k = "tab\\there \\"q\\" \\\\ é": x')
})
