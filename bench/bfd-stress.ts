/**
 * BFD under CPU contention (prints figures; not a test): false downs of N
 * sessions at 100 ms x 3 between two BFD processes while the machine, and the
 * subject's own main thread, are busy.
 *
 *   npm run build && FABRIC_USE_DIST=1 node --import tsx bench/bfd-stress.ts \
 *     [--sessions 50] [--seconds 30] [--hogs 6] [--phases quiet,hogs,busy,both]
 *
 * Two namespaces on a veth: the subject (10.215.0.1, one BfdService with N
 * sessions: a reflector's side) and the peers (10.215.0.2 .. N+1, one
 * BfdService with N sessions in another process: the clients' side). Each
 * phase runs --seconds with the sessions Up:
 *   quiet  nothing else
 *   hogs   --hogs busy loops (`sh -c 'while :; do :; done'`, nice 0, in the
 *          root namespace; no traffic) compete for the CPUs
 *   busy   the subject's main thread is busy as a reflector's is while
 *          routes churn: 40 ms slices of allocating work (objects, strings,
 *          Maps: young and old-generation garbage) with 5 ms gaps
 *   both   hogs and busy together
 * and prints, per phase, the sessions that left Up on each side (a false
 * down: nothing failed) and the worker's timer lateness on the subject (how
 * late its BFD timers fired: counts of >= 50 and >= 200 ms, of all fired)
 * and the detection expiries that packets read after a stall undid.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { roleSessions, startRole, upCount as up, vethLab } from './bfd-roles.js'
import { option } from './options.js'

const self = fileURLToPath(import.meta.url)

/** a reflector's main thread while routes churn: allocating work in 40 ms slices, 5 ms gaps */
function busyMain(): () => void {
  let on = true
  const keep: unknown[] = []
  const slice = () => {
    if (!on) return
    const end = performance.now() + 40
    while (performance.now() < end) {
      const m = new Map<string, { a: number[]; s: string }>()
      for (let i = 0; i < 200; i++) m.set(`k${i}-${Math.random()}`, { a: [i, i + 1, i + 2], s: `v${i}` })
      keep.push(m)
      if (keep.length > 2000) keep.splice(0, 1000)
    }
    setTimeout(slice, 5)
  }
  slice()
  return () => {
    on = false
    keep.length = 0
  }
}

/** Runs inside a namespace: `role LOCALS REMOTES` (comma lists, paired by index or one local for all). */
async function role(locals: string[], remotes: string[]): Promise<void> {
  const { bfd, out } = await roleSessions(locals, remotes)
  let stop: (() => void) | undefined
  for await (const line of createInterface({ input: process.stdin })) {
    const m = JSON.parse(line) as { cmd: string }
    if (m.cmd === 'busy') stop = busyMain()
    else if (m.cmd === 'idle') {
      stop?.()
      stop = undefined
    } else if (m.cmd === 'stats') {
      const st = await bfd.status()
      out({ ev: 'stats', up: st.sessions.filter((s) => s.state === 'Up').length, loop: st.loop })
    } else if (m.cmd === 'close') {
      stop?.()
      await bfd.close()
      process.exit(0)
    }
  }
}

type Loop = { timerLate: number[]; heldSaved: number }
type Ev = { ev: string; key?: string; from?: string; to?: string; at?: number; up?: number; loop?: Loop }
/** timers >= 50 ms late, >= 200 ms late, detections a late read saved: b - a */
const lateDiff = (a: Loop | undefined, b: Loop | undefined) => {
  if (!a?.timerLate?.length || !b?.timerLate?.length) return '-'
  const d = b.timerLate.map((n, i) => n - (a.timerLate[i] ?? 0))
  const fired = d.reduce((x, y) => x + y, 0)
  return `${d[2]! + d[3]! + d[4]!} / ${d[4]} of ${fired} | ${b.heldSaved - a.heldSaved}`
}

async function main(): Promise<void> {
  const n = Number(option('sessions', '50'))
  const seconds = Number(option('seconds', '30'))
  const hogCount = Number(option('hogs', '6'))
  const phases = option('phases', 'quiet,hogs,busy,both').split(',')
  const tag = `bs${process.pid % 100000}`
  const children: ChildProcess[] = []
  process.on('exit', () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  })
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => process.exit(130))
  const { nsF, nsP, local, peers } = vethLab(tag, '10.215', n)
  const start = (ns: string, locals: string[], remotes: string[]) => {
    const r = startRole<Ev>(self, ns, locals, remotes)
    children.push(r.child)
    return r
  }
  const subject = start(nsF, [local], peers)
  const clients = start(nsP, peers, peers.map(() => local))
  const upCount = (p: typeof subject) => up(p.events)
  const downs = (p: typeof subject, from: number) => p.events.slice(from).filter((e) => e.ev === 'state' && e.from === 'Up').length
  const stats = async (p: typeof subject) => {
    const mark = p.events.length
    p.send({ cmd: 'stats' })
    await p.until(() => p.events.slice(mark).some((e) => e.ev === 'stats'), 10_000)
    return p.events.slice(mark).find((e) => e.ev === 'stats')
  }
  const bothUp = () => upCount(subject) === n && upCount(clients) === n
  if (!(await subject.until(bothUp, 30_000))) throw new Error(`only ${upCount(subject)} / ${upCount(clients)} of ${n} sessions came up`)
  await new Promise((r) => setTimeout(r, 3000))
  console.log(`${n} BFD sessions at 100 ms x 3 (${process.env.FABRIC_USE_DIST === '1' ? 'dist' : 'src via tsx'}), ${seconds} s per phase, ${hogCount} hogs`)
  console.log('| phase | load 1 min before / after | subject: false downs | clients: false downs | subject: timers >= 50 / >= 200 ms late | subject: expiries a late read undid |')
  console.log('|---|---|---|---|---|---|')
  for (const phase of phases) {
    // every session Up again before the phase (a false down recovers in ~1 s)
    await subject.until(bothUp, 20_000)
    const before = (await stats(subject))?.loop
    const load0 = execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ')[0]
    const mS = subject.events.length
    const mC = clients.events.length
    const hogs: ReturnType<typeof spawn>[] = []
    if (phase === 'hogs' || phase === 'both') for (let i = 0; i < hogCount; i++) hogs.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }))
    children.push(...hogs)
    if (phase === 'busy' || phase === 'both') subject.send({ cmd: 'busy' })
    await new Promise((r) => setTimeout(r, seconds * 1000))
    for (const h of hogs) h.kill('SIGKILL')
    subject.send({ cmd: 'idle' })
    const st = await stats(subject)
    const load1 = execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ')[0]
    console.log(`| ${phase} | ${load0} / ${load1} | ${downs(subject, mS)} | ${downs(clients, mC)} | ${lateDiff(before, st?.loop)} |`)
  }
  for (const p of [subject, clients]) p.send({ cmd: 'close' })
  await new Promise((r) => setTimeout(r, 1000))
}

if (process.argv[2] === 'role') await role(process.argv[3]!.split(','), process.argv[4]!.split(','))
else await main()
