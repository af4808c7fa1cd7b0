import test from 'ava'
import { run, waitFor } from '../../../src/util/process.js'

test('run: exit code, stdout and stderr of a program', async (t) => {
  const r = await run('sh', ['-c', 'echo out; echo err >&2; exit 3'])
  t.is(r.code, 3)
  t.is(r.stdout, 'out\n')
  t.is(r.stderr, 'err\n')
  t.false(r.timedOut)
  t.false(r.truncated)
})

test('run: input goes to stdin, env is added to the environment', async (t) => {
  const r = await run('sh', ['-c', 'cat; printf "%s" "$FABRIC_TEST_VAR"'], { input: 'hello\n', env: { FABRIC_TEST_VAR: 'x1' } })
  t.is(r.code, 0)
  t.is(r.stdout, 'hello\nx1')
  t.truthy(process.env.PATH, 'PATH is kept')
})

test('run: without input stdin is closed (a reader ends at once)', async (t) => {
  const r = await run('cat', [], { timeoutMs: 5_000 })
  t.is(r.code, 0)
  t.false(r.timedOut)
})

test('run: a missing program gives 127 and the reason, never a rejection', async (t) => {
  const r = await run('/nonexistent/fabric-no-such-program', [])
  t.is(r.code, 127)
  t.regex(r.stderr, /ENOENT/)
})

test('run: the timeout ends the program and says so', async (t) => {
  const start = Date.now()
  const r = await run('sleep', ['30'], { timeoutMs: 200 })
  t.true(r.timedOut)
  t.not(r.code, 0)
  t.regex(r.stderr, /no answer within 0\.2 s/)
  t.true(Date.now() - start < 5_000)
})

test('run: a program that ignores SIGTERM is killed', async (t) => {
  const r = await run('sh', ['-c', 'trap "" TERM; sleep 30'], { timeoutMs: 100 })
  t.true(r.timedOut)
  t.not(r.code, 0)
})

test('run: output beyond maxOutput is dropped and flagged', async (t) => {
  const r = await run('head', ['-c', '100000', '/dev/zero'], { maxOutput: 1000 })
  t.is(r.code, 0)
  t.is(r.stdout.length, 1000)
  t.true(r.truncated)
})

test('waitFor: resolves with the first defined value', async (t) => {
  let n = 0
  const v = await waitFor(() => (++n >= 3 ? n : undefined), { timeoutMs: 2_000, intervalMs: 10 })
  t.is(v, 3)
})

test('waitFor: undefined after the timeout; the lab form (ms, interval) works too', async (t) => {
  let calls = 0
  const start = Date.now()
  t.is(await waitFor(async () => { calls++; return undefined }, 150, 20), undefined)
  t.true(Date.now() - start >= 140)
  t.true(calls >= 2)
  t.is(await waitFor(() => false, { timeoutMs: 10 }), false, 'false is a value, not "keep waiting"')
})
