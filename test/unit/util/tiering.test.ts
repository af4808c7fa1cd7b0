import test from 'ava'
import { BUSY_FLAGS, BUSY_SHARE, CHECK_MS, IDLE_FLAGS, START_BUSY_SHARE, START_CHECK_MS, WORK_UNITS, holdOptimizer } from '../../../src/util/tiering.js'

/** A clock, CPU counter and timers the test drives by hand. */
function rig(env: NodeJS.ProcessEnv = {}) {
  const flags: string[] = []
  let cpuUs = 0
  let nowMs = 0
  let timer: { fn: () => void; ms: number; unref(): void } | undefined
  const t = holdOptimizer({
    env,
    cpuMicros: () => cpuUs,
    now: () => nowMs,
    setFlag: (f) => flags.push(f),
    setTimer: (fn, ms) => {
      timer = { fn, ms, unref: () => undefined }
      return timer
    },
    clearTimer: (h) => {
      if (h === timer) timer = undefined
    },
  })
  /** `ms` of wall time pass with `cpuMs` of CPU used, then the pending check runs */
  const pass = (ms: number, cpuMs: number): void => {
    nowMs += ms
    cpuUs += cpuMs * 1000
    const p = timer
    timer = undefined
    p?.fn()
  }
  return { t, flags, pass, pending: () => timer }
}

test('tiering: TurboFan is off from the start, with the idle flags, and a start-up CPU check is armed', (t) => {
  const r = rig()
  t.false(r.t.optimizing)
  t.deepEqual(r.flags, ['--no-turbofan', ...IDLE_FLAGS])
  t.is(r.pending()?.ms, START_CHECK_MS)
})

test('tiering: FABRIC_LAZY_TURBOFAN=0 leaves V8 alone', (t) => {
  const r = rig({ FABRIC_LAZY_TURBOFAN: '0' })
  t.true(r.t.optimizing)
  t.deepEqual(r.flags, [])
  t.is(r.pending(), undefined)
})

test('tiering: WORK_UNITS route changes switch TurboFan on, once, and say why', (t) => {
  const r = rig()
  const reasons: string[] = []
  r.t.onOptimize((why) => reasons.push(why))
  r.t.noteWork(WORK_UNITS - 1)
  t.false(r.t.optimizing)
  r.t.noteWork()
  t.true(r.t.optimizing)
  t.deepEqual(r.flags.slice(-1 - BUSY_FLAGS.length), ['--turbofan', ...BUSY_FLAGS])
  t.deepEqual(reasons, [`${WORK_UNITS} route changes`])
  t.is(r.pending(), undefined, 'the CPU check is stopped')
  r.t.noteWork(WORK_UNITS)
  r.t.optimize('again')
  t.is(r.flags.filter((f) => f === '--turbofan').length, 1)
  t.is(reasons.length, 1)
})

test('tiering: while starting, only more than START_BUSY_SHARE of a core counts as busy', (t) => {
  const r = rig()
  r.pass(START_CHECK_MS, START_CHECK_MS * START_BUSY_SHARE * 0.9)
  t.false(r.t.optimizing, 'loading modules is not work')
  t.is(r.pending()?.ms, START_CHECK_MS)
  r.pass(START_CHECK_MS, START_CHECK_MS * 0.95)
  t.true(r.t.optimizing, 'a restart over a big kernel table is')
  t.regex(r.t.reason ?? '', /busy: 95% of a core while starting/)
})

test('tiering: once started, more than BUSY_SHARE of a core over CHECK_MS switches TurboFan on; idle does not', (t) => {
  const r = rig()
  r.pass(START_CHECK_MS, START_CHECK_MS * 0.5)
  r.t.started()
  t.is(r.pending()?.ms, CHECK_MS)
  for (let i = 0; i < 100; i++) r.pass(CHECK_MS, CHECK_MS * 0.002)
  t.false(r.t.optimizing, 'an idle agent (0.2% of a core) keeps TurboFan off')
  r.pass(CHECK_MS, CHECK_MS * BUSY_SHARE * 2)
  t.true(r.t.optimizing)
  t.is(r.t.reason, `busy: ${Math.round(BUSY_SHARE * 200)}% of a core`)
})

test('tiering: the real V8 switch (no injected flag setter) keeps JavaScript running', (t) => {
  const real = holdOptimizer({ env: {}, setTimer: () => ({}), clearTimer: () => undefined })
  let s = 0
  for (let i = 0; i < 1e5; i++) s += i & 7
  real.optimize('test')
  for (let i = 0; i < 1e5; i++) s += i & 7
  t.true(real.optimizing)
  t.is(s, 2 * 350000)
})
