/**
 * Long wire-level fuzz run (prints figures; not a test): the campaign of
 * test/fuzz against a real agent in a lab, per protocol. RIP runs once
 * without auth and once with keyed MD5 (and HMAC-SHA-256 with --rip-auth all).
 *
 *   sudo node --import tsx bench/fuzz-wire.ts [--protocol bgp|rip|both] [--messages N] [--seed S] [--rip-auth none|md5|sha256|all] [--json]
 *
 * Defaults: both, 1000000 messages per protocol (per RIP auth mode), seed 1.
 * The agent runs compiled (`npm run build` first; FABRIC_USE_DIST=1). Every
 * lab is named fwPID..., removed at the end, on SIGINT and on failure.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { labDown } from '../src/lab/lab.js'
import { type CampaignResult, type RipAuthMode, runCampaign } from '../test/fuzz/campaign.js'
import { parseSeed } from '../test/fuzz/prng.js'

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def
}

const protocol = arg('protocol', 'both')
const messages = Number(arg('messages', '1000000'))
const seed = parseSeed(arg('seed', '1'))
const ripAuthArg = arg('rip-auth', 'none,md5')
if (!['bgp', 'rip', 'both'].includes(protocol) || !Number.isInteger(messages) || messages < 1) {
  console.error('usage: bench/fuzz-wire.ts [--protocol bgp|rip|both] [--messages N] [--seed S] [--rip-auth none|md5|sha256|all]')
  process.exit(2)
}
const ripAuths = (ripAuthArg === 'all' ? 'none,md5,sha256' : ripAuthArg).split(',') as RipAuthMode[]
const useDist = existsSync(fileURLToPath(new URL('../dist/cli.js', import.meta.url)))
if (!useDist) console.error('note: dist/ not built (npm run build): the agent runs through tsx')

const labs: string[] = []
let counter = 0
const nextName = (): string => {
  const n = `fw${process.pid % 100000}${counter++}`.slice(0, 12)
  labs.push(n)
  return n
}
let interrupted = false
process.on('SIGINT', () => {
  if (interrupted) return
  interrupted = true
  console.error('SIGINT: removing the labs')
  void Promise.all(labs.map((n) => labDown(n).catch(() => undefined))).then(() => process.exit(130))
})

const mb = (b: number): string => (b / 1048576).toFixed(0)
function print(r: CampaignResult): void {
  console.log(`\n== ${r.protocol}${r.auth ? ` (auth ${r.auth})` : ''}, seed ${r.seed}`)
  console.log(`messages sent        ${r.sent}`)
  console.log(`sessions opened      ${r.sessions}`)
  console.log(`findings             ${r.findings.length}`)
  console.log(`agent restarts       ${r.restarts}`)
  console.log(`RSS before / after   ${mb(r.rssBefore)} MB / ${mb(r.rssAfter)} MB (max ${mb(r.rssMax)} MB)`)
  console.log(`status latency       p50 ${r.latencyP50.toFixed(1)} ms, p99 ${r.latencyP99.toFixed(1)} ms, max ${r.latencyMax.toFixed(1)} ms (${r.checks} checks)`)
  console.log(`duration             ${r.seconds.toFixed(0)} s (${(r.sent / r.seconds).toFixed(0)} messages/s)`)
  console.log(`attacker             ${JSON.stringify(r.attacker)}`)
  for (const f of r.findings) {
    console.log(`  FINDING ${f.name} [seed ${f.seed}, message ${f.index}] ${f.detail.slice(0, 400)}`)
    if (f.hex) console.log(`    input ${f.hex.slice(0, 300)}${f.hex.length > 300 ? '...' : ''}`)
  }
}

const runs: Array<{ protocol: 'bgp' | 'rip'; auth?: RipAuthMode }> = []
if (protocol !== 'rip') runs.push({ protocol: 'bgp' })
if (protocol !== 'bgp') for (const a of ripAuths) runs.push({ protocol: 'rip', auth: a })
const results: CampaignResult[] = []
let failed = false
for (const run of runs) {
  const name = nextName()
  try {
    const r = await runCampaign({ name, protocol: run.protocol, ripAuth: run.auth, seed, messages, useDist, log: (l) => console.error(`[${run.protocol}${run.auth ? `/${run.auth}` : ''}] ${l}`) })
    results.push(r)
    print(r)
  } catch (e) {
    failed = true
    console.error(`${run.protocol}: ${(e as Error).stack ?? String(e)}`)
  } finally {
    await labDown(name)
  }
  if (interrupted) break
}
if (process.argv.includes('--json')) console.log(JSON.stringify(results.map((r) => ({ ...r, findings: r.findings.map((f) => ({ ...f, recent: undefined })) }))))
const total = results.reduce((s, r) => s + r.findings.length, 0)
console.log(`\ntotal findings: ${total}`)
process.exit(failed ? 1 : total > 0 ? 3 : 0)
