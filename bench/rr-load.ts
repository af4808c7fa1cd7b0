/**
 * Route-reflector load benchmark (prints figures; not a test).
 *
 * One reflector and N simulated clients (default 1000): this script, run a
 * second time inside a client namespace, opens N iBGP sessions from N
 * addresses of that namespace (10.98.1.0 upwards) to the reflector at
 * 10.98.0.1, each announcing one /24 (10.129.0.0 upwards) and counting the
 * prefixes it receives. The client side speaks through the project's BGP
 * codec, compiled (dist/protocols/bgp/codec, as the agent runs it: the one
 * client process decodes ~1M UPDATEs and must not be what both reflectors
 * wait for). Reported per reflector, in the same run (--engines, default all four):
 *   fabric       the compiled agent, `fabric join --route-reflector yes --listen-range`, no
 *                firewall: a fabric host that reflects, installing every route in its kernel
 *   bird-kernel  BIRD 2, templates/bird-route-reflector.conf plus a kernel protocol exporting every
 *                route: installs them as a fabric host does
 *   fabric-cp    fabric with --install-routes no: control plane only
 *   bird         BIRD 2, templates/bird-route-reflector.conf as operators get it: control plane only
 *   sessions  seconds until all N sessions are Established (at most 8
 *             handshakes pending at a time: BIRD listens with a backlog of 8)
 *   full      seconds from every client announcing its /24 at once until every
 *             client has the N-1 prefixes of the others
 *   reflect   seconds from client 0 writing one more prefix until every other
 *             client has it (timed in the client process), median (min-max)
 *             of --reflect-rounds (default 10) prefixes announced one at a time;
 *             also until the first client has it (the reflector's latency)
 *   client    what the bench client read from announce-all until full: reads,
 *             bytes, UPDATEs, prefixes (its own reflected back, repeated), its
 *             CPU seconds
 *   RSS       the reflector's resident memory once full, and after the 10 s idle window at the end (MB)
 *   CPU       the reflector's CPU seconds for the sessions (all threads, and of it its main thread) and until
 *             full, and % of a core idle after
 *
 *   npm run build && node --import tsx bench/rr-load.ts [--clients 1000] [--engines fabric,bird-kernel,fabric-cp,bird] [--no-pin]
 *   (the reflector runs on CPU 0 and the client on CPU 1 unless --no-pin) [--reflect-rounds 10]
 *   RR_PROF=DIR ... also writes a V8 CPU profile of the fabric reflector into DIR
 *   RR_LOG=DIR ... keeps the fabric reflector's log (DIR/NAME-agent.log)
 *   RR_NODE_ARGS='--flag ...' ... node/V8 options for the fabric reflector's process only (experiments)
 *   RR_STRACE=DIR ... strace -c -f of each reflector during the one-new-prefix rounds (DIR/ENGINE.strace;
 *             RR_STRACE_ARGS replaces -c, e.g. "-tt -e trace=write -s 0" for every write)
 *   RR_PERF_SESSIONS=DIR ... perf record -g of each reflector while the sessions come up (DIR/ENGINE-sessions.perf)
 *   RR_PERF_STAT=DIR ... perf stat -a -A of context switches, wake-ups and IPIs per CPU during those rounds
 *             (DIR/ENGINE.stat: how often a write had to wake the sleeping client on the other CPU)
 *   RR_CLIENT_SPIN=1 ... the bench client's event loop never sleeps (no write has to wake it: the
 *             shared-kernel wake-up cost left out of the reflector's writes)
 *   RR_PERF_WRITES=DIR ... perf record of the reflector's write(2)/writev(2) calls during those rounds
 *             (DIR/ENGINE.perf; bench/write-spans.ts prints each round's writes: the span, inside write(2) and between)
 *   RR_PERF_IDLE=DIR ... perf record -g of each reflector during the idle window at the end (DIR/ENGINE-idle.perf)
 *   RR_PERF=DIR ... perf record -g of each reflector during those rounds (DIR/ENGINE.perf; the fabric
 *             agent runs with --perf-basic-prof so its JavaScript frames have names)
 *
 * Namespaces rlPID-rr and rlPID-cl are removed at the end (also on failure).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { appendFileSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import net from 'node:net'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { LAB_ROOT, labsAlive, pidsInNamespaces } from '../src/lab/lab.js'
import { ensureNeigh, releaseNeigh } from '../src/lab/neigh.js'
import { startBirdReflector } from '../src/lab/reflectors.js'
import { must, run, sleep } from '../src/lab/sh.js'
import type { Message } from '../src/protocols/bgp/codec/types.js'
import { formatAddress } from '../src/net/ipv4.js'
import { option, useCompiledAgent } from './options.js'

const args = process.argv.slice(2)
const opt = option
const N = Number(opt('clients', '1000'))
/**
 * The reflector's threads on CPU 0 and the client process on CPU 1 (taskset), unless --no-pin or a
 * single CPU: on real hosts the 1000 clients do not share the reflector's CPU, and unpinned the
 * scheduler puts the woken client on the writer's CPU part of the time (a round's writes then take
 * turns with the client's reads)
 */
const pin = !args.includes('--no-pin') && availableParallelism() >= 2
const ASN = 64512
const RR = (10 << 24) | (98 << 16) | 1
const clientAddr = (i: number) => ((10 << 24) | (98 << 16)) + 256 + i
const clientPrefix = (i: number) => ({ addr: ((10 << 24) | (129 << 16)) + i * 256, len: 24 })
/** the k-th new prefix announced by client 0 after the full table: 10.255.k.0/24 */
const extraPrefix = (k: number) => ({ addr: ((10 << 24) | (255 << 16)) + k * 256, len: 24 })
const isExtra = (addr: number) => addr >>> 16 === ((10 << 8) | 255)
/** how many new prefixes, one at a time, for the 'reflect' figure (median, min, max) */
const REFLECT_ROUNDS = Number(option('reflect-rounds', '10'))
const ctx = { as4: true }

// ------------------------------------------------------------ client side

/**
 * The client decodes with the compiled codec (dist/, as the agent runs it).
 * Through tsx the decoder was ~10x slower (7 us against 0.6 us per UPDATE:
 * esbuild's keepNames wrapped each closure it made per attribute in a
 * __name() call; it makes none now, 0.7 us), and this one process decoding
 * the ~1M UPDATEs of the full table was what both reflectors waited for.
 */
type Codec = typeof import('../src/protocols/bgp/codec/index.js')

async function clientMain(): Promise<void> {
  const { createFramer, decodeMessage, encodeMessage } = await import(new URL('../dist/protocols/bgp/codec/index.js', import.meta.url).href) as Codec
  const out = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`)
  const have: Set<number>[] = Array.from({ length: N }, () => new Set())
  const socks: net.Socket[] = []
  let full = 0
  // the new prefixes: how many clients have each, and when client 0 sent it (performance.now())
  const reflected = new Map<number, number>()
  const sentAt = new Map<number, number>()
  const firstAt = new Map<number, number>()
  /** the client process's CPU when it sent a round's prefix */
  const cpuAtSend = new Map<number, NodeJS.CpuUsage>()
  let up = 0
  // what the clients received between announce-all and full (the 'stats' event)
  const st = { reads: 0, bytes: 0, updates: 0, nlri: 0, own: 0, dup: 0, withdrawn: 0, maxReads: 0, firstAt: 0 }
  const reads = new Array<number>(N).fill(0)
  let counting = false
  let cpuAtAnnounce = process.cpuUsage()
  const keepalive = encodeMessage({ type: 'keepalive' }, ctx)
  const update = (i: number, p: { addr: number; len: number }) => encodeMessage({
    type: 'update', withdrawn: [], nlri: [p],
    attributes: [{ type: 'origin', origin: 0 }, { type: 'asPath', segments: [] }, { type: 'nextHop', nextHop: clientAddr(i) }, { type: 'localPref', localPref: 100 }],
  }, ctx)
  // at most PENDING sessions between connect and the reflector's OPEN at a time, as
  // 1000 hosts booting are not one SYN burst (BIRD listens with a backlog of 8: a
  // burst overflows its accept queue and stalls the connections it dropped)
  const PENDING = 8
  let pending = 0
  const waiting: number[] = []
  const admit = (): void => {
    while (pending < PENDING && waiting.length > 0) {
      pending++
      connect(waiting.shift()!)
    }
  }
  const connect = (i: number): void => {
    const s = net.connect({ host: formatAddress(RR), port: 179, localAddress: formatAddress(clientAddr(i)) })
    socks[i] = s
    const framer = createFramer()
    let established = false
    let opened = false
    const handshake = setTimeout(() => s.destroy(), 5000)
    const done = (): void => {
      if (opened) return
      opened = true
      clearTimeout(handshake)
      pending--
      admit()
    }
    s.on('connect', () => {
      s.write(encodeMessage({
        type: 'open', version: 4, myAs: ASN, holdTime: 240, bgpId: clientAddr(i),
        capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'as4', asn: ASN }],
      }, ctx))
    })
    s.on('data', (chunk: Buffer) => {
      if (counting) {
        st.reads++
        st.bytes += chunk.length
        reads[i]!++
        if (st.firstAt === 0) st.firstAt = Date.now()
      }
      const r = framer.push(chunk)
      for (const m of r.messages) {
        const d = decodeMessage(m, ctx)
        if (!d.ok) {
          out({ event: 'error', client: i, error: d.error.message })
          continue
        }
        const msg: Message = d.value
        if (msg.type === 'open') {
          done()
          s.write(keepalive)
        }
        else if (msg.type === 'keepalive' && !established) {
          established = true
          if (++up === N) out({ event: 'established', t: Date.now() })
        } else if (msg.type === 'update') {
          const h = have[i]!
          const before = h.size
          for (const p of msg.withdrawn) h.delete(p.addr)
          if (counting) {
            st.updates++
            st.nlri += msg.nlri.length
            st.withdrawn += msg.withdrawn.length
            for (const p of msg.nlri) {
              if (p.addr === clientPrefix(i).addr) st.own++
              else if (h.has(p.addr)) st.dup++
            }
          }
          for (const p of msg.nlri) {
            if (p.addr === clientPrefix(i).addr) continue
            if (!isExtra(p.addr)) h.add(p.addr)
            else if (i !== 0 && sentAt.has(p.addr)) {
              const n = (reflected.get(p.addr) ?? 0) + 1
              reflected.set(p.addr, n)
              if (n === 1) firstAt.set(p.addr, performance.now())
              if (n === N - 1) {
                const cpu = process.cpuUsage(cpuAtSend.get(p.addr))
                out({ event: 'reflected', prefix: p.addr, seconds: (performance.now() - sentAt.get(p.addr)!) / 1000, first: (firstAt.get(p.addr)! - sentAt.get(p.addr)!) / 1000, clientCpu: (cpu.user + cpu.system) / 1e6 })
              }
            }
          }
          if (before < N - 1 && h.size >= N - 1 && ++full === N) {
            const t = Date.now()
            out({ event: 'full', t })
            counting = false
            const cpu = process.cpuUsage(cpuAtAnnounce)
            st.maxReads = Math.max(...reads)
            out({ event: 'stats', ...st, firstAfter: st.firstAt, cpuUser: cpu.user / 1e6, cpuSystem: cpu.system / 1e6 })
          }
        } else if (msg.type === 'notification') out({ event: 'notification', client: i, code: msg.code, subcode: msg.subcode })
      }
    })
    s.on('error', () => undefined)
    s.on('close', () => {
      if (!established) {
        if (!opened) {
          clearTimeout(handshake)
          opened = true
          pending--
        }
        setTimeout(() => {
          waiting.push(i)
          admit()
        }, 1000)
      } else out({ event: 'closed', client: i })
    })
  }
  setInterval(() => {
    for (const s of socks) if (s && !s.destroyed) s.write(keepalive)
  }, 30_000)
  createInterface({ input: process.stdin }).on('line', (l) => {
    if (l === 'announce-all') {
      counting = true
      cpuAtAnnounce = process.cpuUsage()
      out({ event: 'announced', t: Date.now() })
      for (let i = 0; i < N; i++) socks[i]!.write(update(i, clientPrefix(i)))
    }
    if (l.startsWith('announce ')) {
      const p = extraPrefix(Number(l.slice(9)))
      sentAt.set(p.addr, performance.now())
      cpuAtSend.set(p.addr, process.cpuUsage())
      socks[0]!.write(update(0, p))
    }
    if (l === 'count') out({ event: 'count', full, min: Math.min(...have.map((h) => h.size)) })
  })
  // experiment: the client's event loop never sleeps (epoll_wait with timeout 0), so no write of the reflector has to wake it
  if (process.env.RR_CLIENT_SPIN) {
    const spin = (): void => void setImmediate(spin)
    spin()
  }
  out({ event: 'start', t: Date.now() })
  for (let i = 0; i < N; i++) waiting.push(i)
  admit()
}

// ------------------------------------------------------------ orchestration

function ticks(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
  } catch {
    return 0
  }
}
/** CPU ticks of a process's main thread (tid = pid) and of its other threads (V8's compiler and GC workers, libuv's pool) */
function threadTicks(pid: number): [number, number] {
  let main = 0
  let others = 0
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
      const t = Number(f[11]) + Number(f[12])
      if (Number(tid) === pid) main += t
      else others += t
    }
  } catch {
    /* gone */
  }
  return [main, others]
}
const sumThreads = (pids: number[]): [number, number] => pids.map(threadTicks).reduce((a, b) => [a[0] + b[0], a[1] + b[1]], [0, 0])
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024

/** what the bench's clients received from announce-all until every client had every prefix */
interface ClientStats { reads: number; bytes: number; updates: number; nlri: number; own: number; dup: number; withdrawn: number; maxReads: number; firstAfter: number; cpuUser: number; cpuSystem: number }

interface Figures { client?: ClientStats; engine: string; sessions: number; cpuSessions: number; cpuSessionsMain: number; full?: number; reflect?: number[]; reflectFirst: number[]; reflectClientCpu: number[]; rss: number; rssIdle: number; cpuToFull: number; idleCpu: number }

/**
 * Who reflects: a fabric host (installs every route it reflects, as any fabric host), fabric with
 * --install-routes no (control plane only), BIRD from templates/bird-route-reflector.conf (control
 * plane only: no kernel protocol), and BIRD with a kernel protocol exporting every route (installs
 * them, as a fabric host does). Each route change in a kernel makes every TCP socket of that
 * namespace look its route up again on its next send, so the two roles are compared apart.
 */
const ENGINES = ['fabric', 'bird-kernel', 'fabric-cp', 'bird'] as const
type Engine = (typeof ENGINES)[number]

async function scenario(engine: Engine, index: number): Promise<Figures> {
  const name = `rl${process.pid % 10000}${index}`
  const rr = `${name}-rr`
  const cl = `${name}-cl`
  const dir = join(LAB_ROOT, name)
  let client: ChildProcess | undefined
  const cleanup = async (): Promise<void> => {
    client?.kill()
    if (process.env.RR_PROF) {
      // a profiled agent writes its profile on a clean exit
      for (const p of pidsInNamespaces([rr]).get(rr) ?? []) try { process.kill(p, 'SIGTERM') } catch { /* gone */ }
      for (let i = 0; i < 150 && (pidsInNamespaces([rr]).get(rr) ?? []).length > 0; i++) await sleep(100)
    }
    for (const pid of pidsInNamespaces([rr, cl]).values()) for (const p of pid) try { process.kill(p, 'SIGKILL') } catch { /* gone */ }
    await sleep(300)
    await run('ip', ['-batch', '-'], { input: `netns del ${rr}\nnetns del ${cl}\n` })
    if (process.env.RR_LOG && existsSync(join(dir, 'agent.log'))) copyFileSync(join(dir, 'agent.log'), join(process.env.RR_LOG, `${name}-agent.log`))
    rmSync(dir, { recursive: true, force: true })
    // other labs' and benches' claims stay (they may be running)
    await releaseNeigh(LAB_ROOT, name, await labsAlive())
  }
  const onInt = (): void => {
    void cleanup().finally(() => process.exit(130))
  }
  process.once('SIGINT', onInt)
  try {
    mkdirSync(dir, { recursive: true })
    await ensureNeigh(LAB_ROOT, name, 50, true) // ~N entries in the reflector's namespace
    await must('ip', ['-batch', '-'], `netns add ${rr}\nnetns add ${cl}\nlink add eth0 netns ${rr} type veth peer name eth0 netns ${cl}\n`)
    await must('ip', ['-n', rr, '-batch', '-'], ['link set lo up', `addr add ${formatAddress(RR)}/16 dev eth0`, 'link set eth0 up',
      'link add docker0 type bridge', 'addr add 10.128.0.1/24 dev docker0', 'link set docker0 up'].join('\n') + '\n')
    const addrs = Array.from({ length: N }, (_, i) => `addr add ${formatAddress(clientAddr(i))}/16 dev eth0`)
    await must('ip', ['-n', cl, '-batch', '-'], ['link set lo up', ...addrs, 'link set eth0 up'].join('\n') + '\n', 60_000)
    if (engine === 'bird' || engine === 'bird-kernel') {
      await startBirdReflector({ ns: rr, dir, address: formatAddress(RR), asn: ASN, clusterId: formatAddress(RR), clientRange: '10.98.0.0/16', holdTime: 240, clients: N })
      if (engine === 'bird-kernel') {
        appendFileSync(join(dir, 'bird.conf'), 'protocol kernel { ipv4 { export all; }; }\n')
        await must('ip', ['netns', 'exec', rr, 'birdc', '-s', join(dir, 'bird.ctl'), 'configure'])
      }
    } else {
      const log = openSync(join(dir, 'agent.log'), 'a')
      const p = spawn('ip', ['netns', 'exec', rr, process.execPath, ...(process.env.RR_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.RR_PROF}`] : []), ...(process.env.RR_PERF || process.env.RR_PERF_SESSIONS ? ['--perf-basic-prof'] : []), ...(process.env.RR_NODE_ARGS ?? '').split(' ').filter(Boolean), fileURLToPath(new URL('../bin/fabric.js', import.meta.url)), 'join', '--mode', 'bgp',
        '--pool', '10.128.0.0/9', '--subnet', '10.128.0.0/24', '--address', formatAddress(RR), '--route-reflector', 'yes', '--listen-range', '10.98.0.0/16', ...(engine === 'fabric-cp' ? ['--install-routes', 'no'] : []),
        '--hold-time', '240', '--keepalive-time', '80', '--max-prefixes', String(N * 2), '--no-firewall', '--state-dir', dir, '--socket', join(dir, 'fabric.sock'), '--log-level', 'info', '--log-format', 'json'],
      { stdio: ['ignore', log, log], detached: true, env: { ...process.env, FABRIC_USE_DIST: '1', FABRIC_RT_PROTOS_DIR: join(dir, 'rt_protos.d'), } })
      p.unref()
      for (let i = 0; i < 100 && !existsSync(join(dir, 'fabric.sock')); i++) await sleep(100)
    }
    await sleep(1000)
    const rrPids = () => pidsInNamespaces([rr]).get(rr)!
    const cpu0 = rrPids().reduce((a, p) => a + ticks(p), 0)
    const threads0 = sumThreads(rrPids())
    // perf record of the reflector's processes into DIR/FILE, when DIR (an RR_PERF* variable) is set
    const perfRecord = (dir: string | undefined, file: string, events: string[]) =>
      dir ? spawn('perf', ['record', ...events, '-o', `${dir}/${file}`, '-p', rrPids().join(',')], { stdio: 'ignore' }) : undefined
    const profile = ['-e', 'cpu-clock', '-F', '4000', '-g']
    const perfSessions = perfRecord(process.env.RR_PERF_SESSIONS, `${engine}-sessions.perf`, profile)
    if (perfSessions) await sleep(1000)
    client = spawn('ip', ['netns', 'exec', cl, process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--client-mode', '--clients', String(N)], { stdio: ['pipe', 'pipe', 'inherit'] })
    if (pin) {
      // the reflector's threads on CPU 0, the client process's on CPU 1 (as on real hosts, the clients do not share the reflector's CPU)
      for (const p of rrPids()) await must('taskset', ['-a', '-p', '-c', '0', String(p)])
      await sleep(200)
      for (const p of pidsInNamespaces([cl]).get(cl) ?? []) await must('taskset', ['-a', '-p', '-c', '1', String(p)])
    }
    const events: Record<string, number> = {}
    let clientStats: ClientStats | undefined
    const reflectSeconds: number[] = []
    /** from client 0's write to the first other client having it */
    const reflectFirst: number[] = []
    /** the client process's CPU seconds in a round (from its write to the last client having it) */
    const reflectClientCpu: number[] = []
    createInterface({ input: client.stdout! }).on('line', (l) => {
      try {
        const e = JSON.parse(l) as { event: string; t?: number; seconds?: number; first?: number; clientCpu?: number }
        if (e.t !== undefined) events[e.event] = e.t
        else if (e.event === 'reflected') {
          reflectSeconds.push(e.seconds!)
          reflectFirst.push(e.first!)
          reflectClientCpu.push(e.clientCpu!)
        }
        else if (e.event === 'stats') clientStats = e as unknown as ClientStats
        else if (e.event !== 'count') process.stderr.write(`  client: ${l}\n`)
      } catch {
        /* not ours */
      }
    })
    const wait = async (ev: string, ms: number) => {
      for (let i = 0; i < ms / 100 && events[ev] === undefined; i++) await sleep(100)
      return events[ev]
    }
    await wait('start', 30_000)
    const upAt = await wait('established', 300_000)
    if (upAt === undefined) throw new Error(`${engine}: not every client session came up within 300 s`)
    perfSessions?.kill('SIGINT')
    await sleep(2000)
    const cpu1 = rrPids().reduce((a, p) => a + ticks(p), 0)
    const threads1 = sumThreads(rrPids())
    client.stdin!.write('announce-all\n')
    await wait('announced', 10_000)
    const fullAt = await wait('full', 300_000)
    const cpuToFull = (rrPids().reduce((a, p) => a + ticks(p), 0) - cpu1) / 100
    const cpuSessions = (cpu1 - cpu0) / 100
    const cpuSessionsMain = (threads1[0] - threads0[0]) / 100
    const rss = rrPids().reduce((a, p) => a + rssMb(p), 0)
    await sleep(3000)
    const tracer = process.env.RR_STRACE ? spawn('strace', [...(process.env.RR_STRACE_ARGS ?? '-c').split(' '), '-f', '-o', `${process.env.RR_STRACE}/${engine}.strace`, ...rrPids().flatMap((p) => ['-p', String(p)])], { stdio: 'ignore' }) : undefined
    const perf = perfRecord(process.env.RR_PERF, `${engine}.perf`, profile)
    const pstat = process.env.RR_PERF_STAT ? spawn('perf', ['stat', '-a', '-A', '-e', 'sched:sched_switch,sched:sched_wakeup,ipi:ipi_send_cpu,irq_vectors:call_function_single_entry', '-o', `${process.env.RR_PERF_STAT}/${engine}.stat`], { stdio: 'ignore' }) : undefined
    // every write(2)/writev(2) of the reflector, timestamped by the kernel: the span of each round's writes
    const pwrites = perfRecord(process.env.RR_PERF_WRITES, `${engine}.perf`, ['-e', 'syscalls:sys_enter_write,syscalls:sys_exit_write,syscalls:sys_enter_writev,syscalls:sys_exit_writev'])
    if (tracer || perf || pstat || pwrites) await sleep(1000)
    // one new prefix at a time, each once the previous one is everywhere and 300 ms have passed
    for (let k = 0; k < REFLECT_ROUNDS; k++) {
      client.stdin!.write(`announce ${k}\n`)
      for (let j = 0; j < 1200 && reflectSeconds.length <= k; j++) await sleep(100)
      if (reflectSeconds.length <= k) break
      await sleep(300)
    }
    if (tracer || perf || pstat || pwrites) {
      pwrites?.kill('SIGINT')
      pstat?.kill('SIGINT')
      tracer?.kill('SIGINT')
      perf?.kill('SIGINT')
      await sleep(1000)
    }
    const kernelRoutes = (await run('ip', ['-n', rr, 'route', 'show'])).stdout.split('\n').filter(Boolean).length
    process.stderr.write(`${engine}: ${kernelRoutes} routes in the reflector's kernel table\n`)
    await sleep(2000)
    const perfIdle = perfRecord(process.env.RR_PERF_IDLE, `${engine}-idle.perf`, profile)
    const i0 = rrPids().reduce((a, p) => a + ticks(p), 0)
    await sleep(10_000)
    perfIdle?.kill('SIGINT')
    const idleCpu = (rrPids().reduce((a, p) => a + ticks(p), 0) - i0) / 100 / 10 * 100
    const rssIdle = rrPids().reduce((a, p) => a + rssMb(p), 0)
    if (clientStats) clientStats.firstAfter = (clientStats.firstAfter - events.announced!) / 1000
    return {
      client: clientStats, engine, sessions: (upAt - events.start!) / 1000, cpuSessions, cpuSessionsMain, full: fullAt === undefined ? undefined : (fullAt - events.announced!) / 1000,
      reflect: reflectSeconds.length < REFLECT_ROUNDS ? undefined : reflectSeconds, reflectFirst, reflectClientCpu, rss, rssIdle, cpuToFull, idleCpu,
    }
  } finally {
    process.off('SIGINT', onInt)
    await cleanup()
  }
}

if (args.includes('--client-mode')) await clientMain()
else {
  useCompiledAgent('bench/rr-load.ts')
  const list = (opt('engines', '') || opt('only', '') || ENGINES.join(',')).split(',').filter(Boolean)
  const bad = list.filter((e) => !(ENGINES as readonly string[]).includes(e))
  if (bad.length > 0) throw new Error(`--engines: unknown ${bad.join(', ')} (known: ${ENGINES.join(', ')})`)
  const rows: Figures[] = []
  for (const [i, e] of (list as Engine[]).entries()) {
    process.stderr.write(`${e} reflector, ${N} clients${pin ? " (reflector on CPU 0, client on CPU 1)" : " (not pinned)"}...\n`)
    rows.push(await scenario(e, i))
  }
  const f = (x: number | undefined) => (x === undefined ? 'timeout' : x.toFixed(2))
  // median (min-max) of the rounds, in seconds
  const spread = (xs: number[] | undefined) => {
    if (xs === undefined) return 'timeout'
    const v = [...xs].sort((a, b) => a - b)
    return `${v[v.length >> 1]!.toFixed(3)} (${v[0]!.toFixed(3)}-${v[v.length - 1]!.toFixed(3)})`
  }
  console.log(`| reflector (${N} clients, 1 /24 each) | ${N} sessions up (s) | reflector CPU for them (s), of it main thread | all announce: every client has all ${N} prefixes (s) | reflector CPU for it (s) | one new prefix at all clients (s, median (min-max) of ${REFLECT_ROUNDS}) | RSS full / idle (MB) | idle CPU (% of a core) |`)
  console.log('|---|---|---|---|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.engine} | ${r.sessions.toFixed(2)} | ${r.cpuSessions.toFixed(2)}, ${r.cpuSessionsMain.toFixed(2)} | ${f(r.full)} | ${r.cpuToFull.toFixed(2)} | ${spread(r.reflect)} | ${r.rss.toFixed(1)} / ${r.rssIdle.toFixed(1)} | ${r.idleCpu.toFixed(2)} |`)
  console.log('')
  console.log('')
  console.log(`| one new prefix (${REFLECT_ROUNDS} rounds) | at the first client (s, median (min-max)) | at all clients (s) | the bench client's CPU in the round (s) |`)
  console.log('|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.engine} | ${spread(r.reflectFirst)} | ${spread(r.reflect)} | ${spread(r.reflectClientCpu)} |`)
  console.log('')
  console.log(`| bench client, announce-all to full | reads | max reads of a client | bytes (MB) | UPDATEs | prefixes | own prefix back | repeated | first UPDATE after (s) | client CPU user+sys (s) |`)
  console.log('|---|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    const c = r.client
    if (c) console.log(`| ${r.engine} | ${c.reads} | ${c.maxReads} | ${(c.bytes / 1e6).toFixed(1)} | ${c.updates} | ${c.nlri} | ${c.own} | ${c.dup} | ${c.firstAfter.toFixed(3)} | ${c.cpuUser.toFixed(2)}+${c.cpuSystem.toFixed(2)} |`)
  }
}
