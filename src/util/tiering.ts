/**
 * V8's optimizing compiler (TurboFan) held back until the agent has work.
 *
 * An idle agent's hot functions (the ESM loader's URL code at start, the
 * netlink decoder of the 5 s route dump) reach TurboFan's threshold within
 * seconds, and its first use faults in ~3.5 MB of the node binary's compiler
 * code (file-backed RSS that stays) for a gain no idle agent needs. Under
 * load (a BGP ingest, a big RIB) the same compiler is what makes the agent
 * fast, so it is switched on, for good, as soon as there is work:
 *   - `noteWork(n)`: n units of work (best-route changes) were done; past
 *     WORK_UNITS since start, TurboFan is on;
 *   - a CPU check: while the agent starts, more than START_BUSY_SHARE of a
 *     core in a second (a restart over a big kernel table: the first route
 *     dump); once it runs (`started()`), more than BUSY_SHARE of a core
 *     over CHECK_MS (anything else that is busy: many control API requests,
 *     a packet flood, a BFD worker with many sessions).
 * V8 reads its `--turbofan` flag at every tier-up decision, so functions
 * that were hot in the meantime are optimized at their next check. While
 * TurboFan is held back, unused code is also flushed sooner (IDLE_FLAGS).
 *
 * FABRIC_LAZY_TURBOFAN=0 leaves V8's default (TurboFan from the start);
 * FABRIC_IDLE_CODE_FLUSH=0 holds TurboFan back without IDLE_FLAGS.
 */
import { setFlagsFromString } from 'node:v8'

/**
 * While idle, code of functions that did not run since the last full GC is
 * dropped (V8's default: after 5 GCs, and Sparkplug code never): start-up
 * code (config, host identification, firewall setup) is ~0.8 MB of an idle
 * agent's heap. Back to V8's defaults with TurboFan.
 */
export const IDLE_FLAGS = ['--bytecode-old-age=1', '--flush-baseline-code']
export const BUSY_FLAGS = ['--bytecode-old-age=5', '--no-flush-baseline-code']

/** best-route changes after which TurboFan is switched on */
export const WORK_UNITS = 1000
/** share of one core (0..1) over one check interval that counts as busy, once the agent runs */
export const BUSY_SHARE = 0.05
export const CHECK_MS = 2000
/** the same while the agent starts (loading its modules costs ~0.3 s of CPU) */
export const START_BUSY_SHARE = 0.6
export const START_CHECK_MS = 1000

export interface TieringOptions {
  env?: NodeJS.ProcessEnv
  /** the process's CPU time so far in µs (user + system); injectable for tests */
  cpuMicros?: () => number
  /** ms (Date.now: `performance` would load perf_hooks); injectable for tests */
  now?: () => number
  /** sets a V8 flag; injectable for tests */
  setFlag?: (flag: string) => void
  /** timers; injectable for tests */
  setTimer?: (fn: () => void, ms: number) => { unref?(): unknown }
  clearTimer?: (t: unknown) => void
}

export interface Tiering {
  /** true once TurboFan is on (or was never held back) */
  readonly optimizing: boolean
  /** n units of work done (best-route changes); may switch TurboFan on */
  noteWork(n?: number): void
  /** the agent has started: from now on the CPU check uses BUSY_SHARE over CHECK_MS */
  started(): void
  /** switches TurboFan on now (idempotent) */
  optimize(reason: string): void
  /** why TurboFan was switched on (undefined while held back or when never held back) */
  readonly reason: string | undefined
  /** `fn(reason)` is called once, when TurboFan is switched on */
  onOptimize(fn: (reason: string) => void): void
  /** stops the CPU check (TurboFan stays as it is) */
  stop(): void
}

/**
 * Holds TurboFan back from now on (unless FABRIC_LAZY_TURBOFAN=0) and
 * returns the switch. Call it as early as possible in the agent's process.
 */
export function holdOptimizer(opts: TieringOptions = {}): Tiering {
  const env = opts.env ?? process.env
  const setFlag = opts.setFlag ?? setFlagsFromString
  const cpu = opts.cpuMicros ?? (() => {
    const u = process.cpuUsage()
    return u.user + u.system
  })
  const now = opts.now ?? Date.now
  const setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms))
  const clearTimer = opts.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout))
  let optimizing = env.FABRIC_LAZY_TURBOFAN === '0'
  const flush = env.FABRIC_IDLE_CODE_FLUSH !== '0'
  let reason: string | undefined
  let work = 0
  let timer: unknown
  let running = false
  let listener: ((reason: string) => void) | undefined
  let last = { cpu: cpu(), at: now() }
  const check = (): void => {
    timer = undefined
    if (optimizing) return
    const cur = { cpu: cpu(), at: now() }
    const wallMs = cur.at - last.at
    const share = wallMs > 0 ? (cur.cpu - last.cpu) / 1000 / wallMs : 0
    last = cur
    if (share > (running ? BUSY_SHARE : START_BUSY_SHARE)) return t.optimize(`busy: ${Math.round(share * 100)}% of a core${running ? '' : ' while starting'}`)
    arm()
  }
  const arm = (): void => {
    const h = setTimer(check, running ? CHECK_MS : START_CHECK_MS)
    h.unref?.()
    timer = h
  }
  const t: Tiering = {
    get optimizing() {
      return optimizing
    },
    get reason() {
      return reason
    },
    noteWork(n = 1) {
      if (optimizing) return
      work += n
      if (work >= WORK_UNITS) t.optimize(`${work} route changes`)
    },
    started() {
      if (optimizing || running) return
      running = true
      if (timer !== undefined) clearTimer(timer)
      last = { cpu: cpu(), at: now() }
      arm()
    },
    optimize(why) {
      if (optimizing) return
      optimizing = true
      reason = why
      setFlag('--turbofan')
      if (flush) for (const f of BUSY_FLAGS) setFlag(f)
      if (timer !== undefined) clearTimer(timer)
      timer = undefined
      listener?.(why)
    },
    onOptimize(fn) {
      listener = fn
    },
    stop() {
      if (timer !== undefined) clearTimer(timer)
      timer = undefined
    },
  }
  if (!optimizing) {
    setFlag('--no-turbofan')
    if (flush) for (const f of IDLE_FLAGS) setFlag(f)
    arm()
  }
  return t
}
