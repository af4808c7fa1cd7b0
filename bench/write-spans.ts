/**
 * Each one-new-prefix round's writes, from `RR_PERF_WRITES=DIR node --import tsx bench/rr-load.ts`
 * (prints figures; not a test):
 *
 *   node --import tsx bench/write-spans.ts DIR [ENGINE ...]   (default: fabric bird)
 *
 * reads DIR/ENGINE.perf (perf record of the reflector's write(2)/writev(2) entries and exits) with
 * `perf script`, cuts it into rounds at gaps of more than 100 ms, and keeps in each round the writes
 * of its most frequent size (the UPDATE every client gets; KEEPALIVEs and log lines are other sizes).
 * Per engine, the median over the rounds of: writes, first-to-last span, time inside write(2) per
 * write (the kernel: TCP, the veth and, on this one machine, the client's receive path and wake-up)
 * and time between one write's return and the next write (the reflector's own code, and anything
 * that ran in between on its CPU).
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

interface Write { enter: number; exit: number; size: number }

function writesOf(file: string): Write[] {
  const text = execFileSync('perf', ['script', '-i', file, '-F', 'tid,time,event,trace'], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] })
  const open = new Map<number, Write>()
  const out: Write[] = []
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+([\d.]+):\s+syscalls:sys_(enter|exit)_writev?:\s*(.*)$/.exec(line)
    if (!m) continue
    const tid = Number(m[1])
    const t = Number(m[2])
    if (m[3] === 'enter') {
      const count = /count: (0x[0-9a-f]+)/.exec(m[4]!)
      const vlen = /vlen: (0x[0-9a-f]+)/.exec(m[4]!)
      open.set(tid, { enter: t, exit: t, size: count ? Number(count[1]) : -Number(vlen?.[1] ?? 0) })
    } else {
      const w = open.get(tid)
      if (!w) continue
      open.delete(tid)
      w.exit = t
      out.push(w)
    }
  }
  return out.sort((a, b) => a.enter - b.enter)
}

function rounds(writes: Write[]): Write[][] {
  const out: Write[][] = []
  let cur: Write[] = []
  for (const w of writes) {
    if (cur.length > 0 && w.enter - cur[cur.length - 1]!.exit > 0.1) {
      out.push(cur)
      cur = []
    }
    cur.push(w)
  }
  if (cur.length > 0) out.push(cur)
  // the round's UPDATE: the most frequent size
  return out.map((r) => {
    const bySize = new Map<number, number>()
    for (const w of r) bySize.set(w.size, (bySize.get(w.size) ?? 0) + 1)
    const size = [...bySize].sort((a, b) => b[1] - a[1])[0]![0]
    return r.filter((w) => w.size === size)
  }).filter((r) => r.length >= 10)
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const [dir, ...engines] = process.argv.slice(2)
if (!dir) {
  console.error('usage: node --import tsx bench/write-spans.ts DIR [ENGINE ...]')
  process.exit(2)
}
console.log('| engine | rounds | writes per round | span, first to last write (ms) | inside write(2), per write (µs) | between writes, per write (µs) |')
console.log('|---|---|---|---|---|---|')
for (const engine of engines.length > 0 ? engines : ['fabric', 'bird']) {
  const rs = rounds(writesOf(join(dir, `${engine}.perf`)))
  const span = rs.map((r) => (r[r.length - 1]!.exit - r[0]!.enter) * 1000)
  const inside = rs.map((r) => r.reduce((a, w) => a + w.exit - w.enter, 0) / r.length * 1e6)
  const between = rs.map((r) => {
    let gap = 0
    for (let i = 1; i < r.length; i++) gap += r[i]!.enter - r[i - 1]!.exit
    return gap / (r.length - 1) * 1e6
  })
  const f = (xs: number[], d: number) => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})`
  console.log(`| ${engine} | ${rs.length} | ${median(rs.map((r) => r.length))} | ${f(span, 2)} | ${f(inside, 1)} | ${f(between, 1)} |`)
}
