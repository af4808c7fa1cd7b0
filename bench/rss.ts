/**
 * Where an idle agent's RSS goes (prints figures; not a test).
 *
 * The same 4-host BGP lab as bench/idle.ts (full mesh, 3 peers per agent,
 * product defaults), but each host may run a different variant, so an A/B
 * comparison is made in one run on the same machine load:
 *
 *   npm run build && FABRIC_USE_DIST=1 node --import tsx bench/rss.ts [--seconds 20] [--smaps] \
 *     [--variant 'NAME;ENV=VALUE ...;--join-flag ...'] (up to 4; hosts cycle through them) [--keep SECONDS] [--save-logs DIR]
 *
 * A variant is `name;env;args`: env is space-separated KEY=VALUE (e.g.
 * NODE_OPTIONS=--max-opt=2, with `+` for a space inside a value), args are
 * extra `fabric join` arguments. Without a variant every host runs the
 * defaults. Once every BGP session is up it waits --seconds and prints, per
 * agent: VmRSS, RssFile (file-backed: the node binary's and libraries' pages
 * touched), RssAnon, the private part (USS: Private_Clean + Private_Dirty),
 * and with --smaps the largest mappings (by RSS) of the first agent of each
 * variant, grouped by file ([anon] and [heap] for the rest).
 *
 * Everything runs in namespaces of a lab named rssPID (removed at the end,
 * also on failure); nothing touches the root namespace.
 */
import { copyFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { agentPids, labDown, labUp, signalAgent } from '../src/lab/lab.js'
import { sleep } from '../src/lab/sh.js'
import { established, startIdleAgents } from './idle-lab.js'
import { option } from './options.js'

const args = process.argv.slice(2)
const seconds = Number(option('seconds', '20')) || 20
const withSmaps = args.includes('--smaps')
/** keep the agents running this many seconds after printing (for a look with other tools) */
const keep = Number(option('keep', '0')) || 0
/** copy each agent's log (stdout and stderr) into this directory at the end */
const saveLogs = option('save-logs', '')

interface Variant { name: string; env: Record<string, string>; join: string[] }
const variants: Variant[] = []
for (let i = 0; i < args.length; i++) {
  if (args[i] !== '--variant') continue
  const [name = `v${variants.length}`, env = '', join = ''] = args[i + 1]!.split(';')
  const e: Record<string, string> = {}
  for (const kv of env.split(' ').filter(Boolean)) {
    const at = kv.indexOf('=')
    e[kv.slice(0, at)] = kv.slice(at + 1).replaceAll('+', ' ')
  }
  variants.push({ name, env: e, join: join.split(' ').filter(Boolean) })
}
if (variants.length === 0) variants.push({ name: 'default', env: {}, join: [] })
if (process.env.FABRIC_USE_DIST !== '1') console.warn('note: FABRIC_USE_DIST is not 1: the agents run the TypeScript sources through tsx')

const kb = (text: string, key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0)
const mb = (k: number): string => `${(k / 1024).toFixed(1)}`

interface Mem { rss: number; file: number; anon: number; uss: number; cpuS: number }
function mem(pid: number): Mem {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8')
  const r = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const ticks = f.slice(f.lastIndexOf(')') + 2).split(' ')
  // utime + stime (fields 14, 15), 100 ticks a second
  const cpuS = (Number(ticks[11]) + Number(ticks[12])) / 100
  return { rss: kb(s, 'VmRSS'), file: kb(s, 'RssFile'), anon: kb(s, 'RssAnon'), uss: kb(r, 'Private_Clean') + kb(r, 'Private_Dirty'), cpuS }
}

/** RSS and private kB per mapped file ([anon] for anonymous mappings) */
function smaps(pid: number): { name: string; rss: number; priv: number }[] {
  const by = new Map<string, { rss: number; priv: number }>()
  let cur = '[anon]'
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line)
    if (head) {
      cur = head[1] || '[anon]'
      continue
    }
    const m = /^(Rss|Private_Clean|Private_Dirty):\s+(\d+) kB/.exec(line)
    if (!m) continue
    const e = by.get(cur) ?? { rss: 0, priv: 0 }
    if (m[1] === 'Rss') e.rss += Number(m[2])
    else e.priv += Number(m[2])
    by.set(cur, e)
  }
  return [...by].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.rss - a.rss)
}

const name = `rss${process.pid % 100000}`
const lab = await labUp({ name, hosts: 4, mode: 'bgp', start: false })
try {
  const of = (i: number): Variant => variants[i % variants.length]!
  await startIdleAgents(lab, (i) => ({ extraArgs: of(i).join, env: of(i).env }))
  console.log(`${lab.hosts.length} agents, ${lab.hosts.length - 1} BGP peers each; idle ${seconds} s ...`)
  const pidsAtStart = await Promise.all(lab.hosts.map(async (h) => (await agentPids(h))[0]!))
  const cpuBefore = pidsAtStart.map((p) => mem(p).cpuS)
  await sleep(seconds * 1000)
  console.log(`MB:        variant        RSS  file  anon  private  sessions  CPU s since start  CPU % of a core over the ${seconds} s`)
  const shown = new Set<string>()
  const pids: number[] = []
  for (const [i, h] of lab.hosts.entries()) {
    const [pid] = await agentPids(h)
    if (!pid) throw new Error(`no agent pid for ${h.name}`)
    pids.push(pid)
    const m = mem(pid)
    console.log(`  ${h.name.padEnd(8)} ${of(i).name.padEnd(12)} ${mb(m.rss).padStart(5)} ${mb(m.file).padStart(5)} ${mb(m.anon).padStart(5)} ${mb(m.uss).padStart(8)}  ${await established(h)}         ${m.cpuS.toFixed(2)}              ${(((m.cpuS - cpuBefore[i]!) / seconds) * 100).toFixed(3)}`)
  }
  if (withSmaps) {
    for (const [i, pid] of pids.entries()) {
      if (shown.has(of(i).name)) continue
      shown.add(of(i).name)
      console.log(`smaps of ${lab.hosts[i]!.name} (${of(i).name}): kB RSS / private`)
      for (const e of smaps(pid).slice(0, 14)) console.log(`  ${String(e.rss).padStart(6)} ${String(e.priv).padStart(6)}  ${e.name}`)
    }
  }
  if (keep > 0) {
    console.log(`agents' pids: ${pids.join(' ')}; kept running ${keep} s`)
    await sleep(keep * 1000)
  }
  if (saveLogs) for (const h of lab.hosts) copyFileSync(h.log, join(saveLogs, `${h.name}.log`))
  for (const h of lab.hosts) await signalAgent(h, 'SIGTERM')
} finally {
  await labDown(name)
}
