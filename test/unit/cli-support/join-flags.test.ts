/**
 * `fabric join` parses its flags without oclif (cli-support/plain-flags.ts)
 * when every argument is a known flag with a valid value, and hands anything
 * else to oclif. The direct parse must give exactly what oclif's parser gives
 * for the same command line and environment; the agent's module graph on that
 * path must not contain @oclif/core.
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Parser } from '@oclif/core'
import test from 'ava'
import { oclifFlags } from '../../../src/cli-support/flags.js'
import { JOIN_FLAGS, joinOverrides } from '../../../src/cli-support/join-flags.js'
import { type FlagValues, parseFlagsFast } from '../../../src/cli-support/plain-flags.js'

async function oclifParse(argv: string[], env: Record<string, string>): Promise<FlagValues | Error> {
  const saved = { ...process.env }
  for (const k of Object.keys(process.env)) if (k.startsWith('FABRIC_')) delete process.env[k]
  Object.assign(process.env, env)
  try {
    const r = await Parser.parse(argv, { flags: oclifFlags(JOIN_FLAGS), strict: true, args: {} })
    return r.flags as FlagValues
  } catch (e) {
    return e as Error
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
    Object.assign(process.env, saved)
  }
}

const LAB = ['--state-dir', '/run/x/h1', '--socket', '/run/x/h1/fabric.sock', '--log-level', 'debug', '--log-format', 'json', '--config', '/run/x/fabric.ini', '--address', '10.99.0.11']

/** command lines the direct parse handles: its result must equal oclif's */
const DIRECT: { name: string; argv: string[]; env?: Record<string, string> }[] = [
  { name: 'no flags: defaults only', argv: [] },
  { name: 'the lab agent', argv: LAB },
  { name: 'the lab agent with peers and reflector flags', argv: [...LAB, '--peer', '10.99.0.1', '--peer', '10.99.0.2@65001', '--route-reflector', 'yes', '--cluster-id', '10.99.0.1'] },
  { name: 'short -c and --flag=value', argv: ['-c', 'f.ini', '--address=10.0.0.1', '--mode=bgp', '--peer=10.0.0.2'] },
  { name: 'booleans and their negation, the last one wins', argv: ['--no-firewall', '--configure-docker', '--no-masquerade', '--masquerade', '--firewall', '--no-firewall'] },
  { name: 'repeatable section flags', argv: ['--listen-range', '10.0.0.0/24', '--listen-range', '10.1.0.0/24', '--allow', '10.9.0.0/16'] },
  {
    name: 'env vars, and flags over env vars',
    argv: ['--mode', 'rip'],
    env: { FABRIC_MODE: 'bgp', FABRIC_FIREWALL: 'no', FABRIC_CONFIGURE_DOCKER: 'yes', FABRIC_PEER: '10.0.0.2,10.0.0.3', FABRIC_ASN: '64600', FABRIC_SOCKET: '/tmp/s', FABRIC_LOG_LEVEL: 'warn' },
  },
  { name: 'a boolean env var that is not truthy', argv: [], env: { FABRIC_MASQUERADE: 'off', FABRIC_CONFIGURE_DOCKER: 'TRUE' } },
  { name: 'an empty env var counts as unset', argv: [], env: { FABRIC_SOCKET: '', FABRIC_FIREWALL: '' } },
  {
    name: 'the IPv6 flags (a dual-stack reflector client of the lab)',
    argv: [...LAB, '--pool6', 'fd00:fab::/48', '--host-prefix6', '64', '--subnet6', 'fd00:fab:0:1::/64', '--address6', 'fd00:99::1', '--allow6', 'fd00:77::/48', '--allow6', 'fd00:78::/48', '--max-prefix-length6', '64'],
    env: { FABRIC_POOL6: 'fd00:1::/48' },
  },
]

for (const c of DIRECT) {
  test.serial(`direct parse = oclif: ${c.name}`, async (t) => {
    const env = c.env ?? {}
    const expected = await oclifParse(c.argv, env)
    t.false(expected instanceof Error, String(expected))
    t.deepEqual(parseFlagsFast(c.argv, JOIN_FLAGS, env), expected)
  })
}

/** command lines left to oclif (help, errors, or forms the direct parse does not take) */
const TO_OCLIF: { name: string; argv: string[]; env?: Record<string, string>; oclifFails: boolean }[] = [
  { name: '--help', argv: ['--help'], oclifFails: true },
  { name: '-h', argv: ['-h'], oclifFails: true },
  { name: 'an unknown flag', argv: ['--bogus'], oclifFails: true },
  { name: 'a value not among the options', argv: ['--mode', 'ospf'], oclifFails: true },
  { name: 'an env value not among the options', argv: [], env: { FABRIC_MODE: 'ospf' }, oclifFails: true },
  { name: 'a missing value', argv: ['--address'], oclifFails: true },
  { name: 'a flag as the value', argv: ['--address', '--pool', '10.0.0.0/8'], oclifFails: true },
  { name: 'a single flag given twice', argv: ['--address', '10.0.0.1', '--address', '10.0.0.2'], oclifFails: true },
  { name: 'an argument', argv: ['extra'], oclifFails: true },
  { name: '--no- of a boolean without allowNo', argv: ['--no-configure-docker'], oclifFails: true },
  { name: 'a boolean with =', argv: ['--firewall=false'], oclifFails: true },
  { name: 'greedy values of a repeatable flag', argv: ['--peer', '10.0.0.2', '10.0.0.3'], oclifFails: false },
  { name: '--', argv: ['--'], oclifFails: false },
  { name: 'an empty value', argv: ['--address='], oclifFails: false },
  { name: 'a value starting with -', argv: ['--docker-restart-command', '-x'], oclifFails: false },
]

for (const c of TO_OCLIF) {
  test.serial(`left to oclif: ${c.name}`, async (t) => {
    t.is(parseFlagsFast(c.argv, JOIN_FLAGS, c.env ?? {}), undefined)
    t.is((await oclifParse(c.argv, c.env ?? {})) instanceof Error, c.oclifFails)
  })
}

test.serial('FABRIC_PEER is a comma-separated list of peers (oclif gives a repeatable flag\'s env var as one string)', async (t) => {
  const flags = await oclifParse([], { FABRIC_PEER: '10.0.0.2, 10.0.0.3@65001' })
  t.false(flags instanceof Error)
  t.deepEqual(joinOverrides(flags as FlagValues).peers, ['10.0.0.2', '10.0.0.3@65001'])
  t.deepEqual(joinOverrides(parseFlagsFast(['--peer', '10.0.0.2', '--peer', '10.0.0.4'], JOIN_FLAGS, {})!).peers, ['10.0.0.2', '10.0.0.4'])
  t.is(joinOverrides(parseFlagsFast([], JOIN_FLAGS, {})!).peers, undefined)
})

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url))

/** packages reached from a file through runtime imports (static and dynamic; `import type` skipped) */
function packagesReached(entry: string): Set<string> {
  const seen = new Set<string>()
  const packages = new Set<string>()
  const visit = (f: string): void => {
    if (seen.has(f)) return
    seen.add(f)
    const text = readFileSync(f, 'utf8')
    for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^'\n]*?from\s*'([^']+)'|^\s*import\s*'([^']+)'|import\s*\(\s*'([^']+)'\s*\)/gm)) {
      const spec = m[1] ?? m[2] ?? m[3]
      if (spec === undefined) continue
      if (spec.startsWith('.')) visit(resolve(dirname(f), spec.replace(/\.js$/, '.ts')))
      else packages.add(spec)
    }
  }
  visit(entry)
  return packages
}

test('joinOverrides carries the IPv6 flags into the config overrides', (t) => {
  const o = joinOverrides(parseFlagsFast(['--pool6', 'fd00:fab::/48', '--host-prefix6', '56', '--subnet6', 'fd00:fab:1::/56', '--address6', 'fd00:99::1', '--allow6', 'fd00:77::/48'], JOIN_FLAGS, {}) as FlagValues)
  t.like(o, { pool6: 'fd00:fab::/48', hostPrefix6: '56', subnet6: 'fd00:fab:1::/56', address6: 'fd00:99::1' })
  t.is(o.bgp?.allow6, 'fd00:77::/48')
})

test('the direct `fabric join` path does not load @oclif/core; the oclif command does', (t) => {
  const direct = packagesReached(resolve(SRC, 'commands/join-main.ts'))
  t.true(direct.has('netlink/dist/raw.js'), 'the agent is reached')
  t.false([...direct].some((p) => p.startsWith('@oclif/')), [...direct].join(' '))
  t.true(packagesReached(resolve(SRC, 'commands/join.ts')).has('@oclif/core'), 'the check finds oclif where it is')
})
