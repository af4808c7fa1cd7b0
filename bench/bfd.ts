/**
 * BFD benchmark: CPU of 50 sessions at 100 ms x 3, and detection times.
 *
 *   npm run build && FABRIC_USE_DIST=1 node --import tsx bench/bfd.ts [--sessions 50] [--seconds 20]
 *
 * Two namespaces on a veth: "fabric" (10.214.0.1) runs one BfdService with N
 * sessions, "peers" (10.214.0.2 .. N+1) runs N endpoints in another process.
 * Prints the fabric process's CPU (process.cpuUsage, main + BFD worker
 * thread, as % of one core) over the measuring window, then sets the peers'
 * link down and prints the time from `ip link set down` to each session's
 * Down (min / median / max), and the time to Up again after link up.
 * With FABRIC_USE_DIST=1 the BFD processes load dist/ (the compiled agent code).
 */
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { roleSessions, sh, startRole, upCount as up, vethLab } from './bfd-roles.js'

const self = fileURLToPath(import.meta.url)
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : dflt
}

/** Runs inside a namespace: `role LOCALS REMOTES` (comma lists, paired by index or one local for all). */
async function role(locals: string[], remotes: string[]): Promise<void> {
  const { bfd, out } = await roleSessions(locals, remotes)
  for await (const line of createInterface({ input: process.stdin })) {
    const m = JSON.parse(line) as { cmd: string; seconds?: number }
    if (m.cmd === 'cpu') {
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      await new Promise((r) => setTimeout(r, m.seconds! * 1000))
      const c = process.cpuUsage(c0)
      const wall = (performance.now() - t0) * 1000
      const st = await bfd.status()
      out({ ev: 'cpu', percent: ((c.user + c.system) / wall) * 100, user: c.user, system: c.system, up: st.sessions.filter((s) => s.state === 'Up').length, packetsOut: st.sessions.reduce((n, s) => n + s.packetsOut, 0) })
    } else if (m.cmd === 'close') {
      await bfd.close()
      process.exit(0)
    }
  }
}

type Ev = { ev: string; key?: string; to?: string; at?: number; percent?: number; up?: number; packetsOut?: number }

async function main(): Promise<void> {
  const n = arg('sessions', 50)
  const seconds = arg('seconds', 20)
  const tag = `bb${process.pid % 100000}`
  const { nsF, nsP, local, peers } = vethLab(tag, '10.214', n)
  const start = (ns: string, locals: string[], remotes: string[]) => startRole<Ev>(self, ns, locals, remotes)
  const fab = start(nsF, [local], peers)
  const end = start(nsP, peers, peers.map(() => local))
  const upCount = (p: typeof fab) => up(p.events)
  if (!(await fab.until(() => upCount(fab) === n, 30_000))) throw new Error(`only ${upCount(fab)} of ${n} sessions came up`)
  await new Promise((r) => setTimeout(r, 3000)) // Poll Sequences to 100 ms done
  console.log(`${n} BFD sessions at 100 ms x 3 up (${process.env.FABRIC_USE_DIST === '1' ? 'dist' : 'src via tsx'}); measuring CPU for ${seconds} s ...`)
  fab.send({ cmd: 'cpu', seconds })
  await fab.until(() => fab.events.some((e) => e.ev === 'cpu'), (seconds + 10) * 1000)
  const cpu = fab.events.find((e) => e.ev === 'cpu')!
  console.log(`CPU of the fabric process: ${cpu.percent!.toFixed(2)} % of one core (${cpu.up} sessions Up at the end, ${cpu.packetsOut} packets sent in total)`)

  const mark = fab.events.length
  const downAt = Date.now()
  sh('ip', '-n', nsP, 'link', 'set', `${tag}p`, 'down')
  await fab.until(() => fab.events.slice(mark).filter((e) => e.ev === 'state' && e.to === 'Down').length === n, 5000)
  const times = fab.events.slice(mark).filter((e) => e.ev === 'state' && e.to === 'Down').map((e) => e.at! - downAt).sort((a, b) => a - b)
  console.log(`link down -> session Down (${times.length}/${n} sessions): min ${times[0]} ms, median ${times[Math.floor(times.length / 2)]} ms, max ${times[times.length - 1]} ms (detection time 300 ms)`)
  const mark2 = fab.events.length
  const upAt = Date.now()
  sh('ip', '-n', nsP, 'link', 'set', `${tag}p`, 'up')
  await fab.until(() => fab.events.slice(mark2).filter((e) => e.ev === 'state' && e.to === 'Up').length === n, 15_000)
  const ups = fab.events.slice(mark2).filter((e) => e.ev === 'state' && e.to === 'Up').map((e) => e.at! - upAt).sort((a, b) => a - b)
  console.log(`link up -> session Up (${ups.length}/${n}): median ${ups[Math.floor(ups.length / 2)]} ms, max ${ups[ups.length - 1]} ms`)
  for (const p of [fab, end]) p.send({ cmd: 'close' })
  await new Promise((r) => setTimeout(r, 1000))
  for (const p of [fab, end]) if (p.child.exitCode === null) p.child.kill('SIGKILL')
}

if (process.argv[2] === 'role') await role(process.argv[3]!.split(','), process.argv[4]!.split(','))
else await main()
