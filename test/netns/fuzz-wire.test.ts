/**
 * Short seeded wire-level fuzz runs (test/fuzz): a hostile BGP peer and a
 * hostile RIP neighbour (without auth and with keyed MD5) against a real
 * agent in a lab, a well-behaved fabric agent beside it. Each test fails
 * with the list of findings (seed, message index, hex of the input); the
 * long run is bench/fuzz-wire.ts. FUZZ_SEED overrides the seed.
 */
import test, { type ExecutionContext } from 'ava'
import { labDown } from '../../src/lab/lab.js'
import { type CampaignOptions, type CampaignResult, runCampaign } from '../fuzz/campaign.js'
import { parseSeed } from '../fuzz/prng.js'
import { uniqueName } from './helpers.js'

const SEED = parseSeed(process.env.FUZZ_SEED ?? '0x9f2a')

function describe(r: CampaignResult): string {
  return r.findings.map((f) => {
    const input = f.hex ? ` input ${f.hex.slice(0, 400)}${f.hex.length > 400 ? '...' : ''}` : ''
    return `- ${f.name} [seed ${f.seed}, message ${f.index}]: ${f.detail.slice(0, 600)}${input}`
  }).join('\n')
}

async function campaign(t: ExecutionContext, o: Omit<CampaignOptions, 'name' | 'log'> & { tag: string }): Promise<CampaignResult> {
  const name = uniqueName(o.tag)
  t.teardown(async () => {
    await labDown(name)
  })
  // the control socket must answer within 3 s here: the short run shares two cores with the
  // rest of the suite (a 100-host lab among it); bench/fuzz-wire.ts holds it to 1 s
  const r = await runCampaign({ controlTimeoutMs: 3000, ...o, name, log: (l) => t.log(l) })
  t.log(`${o.protocol}${r.auth ? `/${r.auth}` : ''} seed ${r.seed}: ${r.sent} messages, ${r.sessions} sessions, ${r.findings.length} findings, ${r.restarts} restarts, RSS ${(r.rssBefore / 1048576).toFixed(0)} -> ${(r.rssAfter / 1048576).toFixed(0)} MB (max ${(r.rssMax / 1048576).toFixed(0)}), status p50 ${r.latencyP50.toFixed(0)} ms p99 ${r.latencyP99.toFixed(0)} ms, ${r.seconds.toFixed(0)} s`)
  return r
}

test.serial('fuzz: a hostile BGP peer does not crash, poison or bloat the agent; the good iBGP peer survives', async (t) => {
  const r = await campaign(t, { tag: 'fb', protocol: 'bgp', seed: SEED, messages: 3000 })
  t.true(r.sent >= 3000, `only ${r.sent} messages sent`)
  t.true(r.sessions > 10, `only ${r.sessions} sessions`)
  t.deepEqual(r.findings.map((f) => f.name), [], `findings:\n${describe(r)}`)
  t.is(r.restarts, 0)
})

test.serial('fuzz: a hostile RIP neighbour without auth does not crash, poison or bloat the agent; the good route stays', async (t) => {
  const r = await campaign(t, { tag: 'fr', protocol: 'rip', seed: SEED, messages: 4000, ripAuth: 'none' })
  t.true(r.sent >= 4000, `only ${r.sent} messages sent`)
  t.deepEqual(r.findings.map((f) => f.name), [], `findings:\n${describe(r)}`)
})

test.serial('fuzz: a hostile RIP neighbour with keyed MD5 (insider, outsider, replays) does not crash, poison or bloat the agent', async (t) => {
  const r = await campaign(t, { tag: 'fm', protocol: 'rip', seed: SEED, messages: 4000, ripAuth: 'md5' })
  t.true(r.sent >= 4000, `only ${r.sent} messages sent`)
  t.true(Number(r.attacker.captured ?? 0) > 0, 'captured none of the good neighbour\'s packets to replay')
  t.deepEqual(r.findings.map((f) => f.name), [], `findings:\n${describe(r)}`)
})
