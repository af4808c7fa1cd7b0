import { spawnSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath, pathToFileURL } from 'node:url'
import test from 'ava'
import { LineBuffer, RateLimiter, createLogger } from '../../../src/core/log.js'

test('RateLimiter: one line per interval per key, then the count left out', (t) => {
  let now = 0
  const r = new RateLimiter({ intervalMs: 1000, now: () => now })
  t.is(r.admit('a'), 0)
  t.is(r.admit('a'), undefined)
  t.is(r.admit('a'), undefined)
  t.is(r.admit('b'), 0, 'another key is not held back')
  now = 1000
  t.is(r.admit('a'), 2, 'the next line carries the suppressed count')
  t.is(r.admit('a'), undefined)
})

test('RateLimiter: remembers at most maxKeys pairs', (t) => {
  let now = 0
  const r = new RateLimiter({ intervalMs: 1000, maxKeys: 2, now: () => now })
  r.admit('a')
  r.admit('b')
  r.admit('c') // forgets a
  t.is(r.admit('a'), 0, 'a was forgotten, so it is logged again at once')
  t.is(r.admit('c'), undefined)
  now = 5
  t.is(r.admit('b'), 0, 'b was forgotten when a came back')
})

test('Logger.limited writes one line and then the suppressed count', (t) => {
  const lines: string[] = []
  const stream = new Writable({ write(chunk, _e, cb) { lines.push(String(chunk)); cb() } })
  let now = 0
  const log = createLogger({ level: 'info', format: 'human', stream, rateLimit: { intervalMs: 100, now: () => now } })
  for (let i = 0; i < 1000; i++) log.limited('warn', 'bgp-connection-refused', '10.0.0.9', { from: '10.0.0.9' })
  log.child({ part: 'x' }).limited('warn', 'bgp-connection-refused', '10.0.0.9')
  t.is(lines.length, 1)
  now = 100
  log.limited('warn', 'bgp-connection-refused', '10.0.0.9')
  t.is(lines.length, 2)
  t.regex(lines[1] ?? '', /suppressed=1000/)
})

function capture() {
  const lines: string[] = []
  const stream = new Writable({ write(chunk, _e, cb) { lines.push(String(chunk)); cb() } })
  return { lines, stream }
}

test('JSON lines: pino\'s format (level number, ISO time, pid, flat fields, event last)', (t) => {
  const { lines, stream } = capture()
  const log = createLogger({ level: 'debug', format: 'json', stream })
  log.child({ peer: '10.0.0.2' }).info('session-up', { asn: 64512, up: true, list: [1, 2], nested: { a: 'b' }, gone: undefined })
  log.debug('d')
  log.warn('w', { n: null })
  log.error('e', { big: 10n, err: new Error('boom') })
  t.is(lines.length, 4)
  for (const l of lines) t.true(l.endsWith('}\n') && !l.slice(0, -1).includes('\n'), 'one line each')
  t.regex(lines[0]!, /^\{"level":30,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","pid":\d+,"peer":"10\.0\.0\.2","asn":64512,"up":true,"list":\[1,2\],"nested":\{"a":"b"\},"event":"session-up"\}\n$/)
  const [a, b, c, d] = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
  t.is(a!.pid, process.pid)
  t.false('gone' in a!, 'undefined fields are left out')
  t.like(b, { level: 20, event: 'd' })
  t.like(c, { level: 40, event: 'w', n: null })
  t.like(d, { level: 50, event: 'e', big: '10', err: 'boom' })
})

test('JSON lines: levels below the minimum are not written; a cycle does not throw', (t) => {
  const { lines, stream } = capture()
  const log = createLogger({ level: 'warn', format: 'json', stream })
  log.info('not-written')
  log.debug('not-written')
  const o: Record<string, unknown> = { a: 1 }
  o.self = o
  log.warn('cyclic', { o, s: 'x"y\n' })
  t.is(lines.length, 1)
  const p = JSON.parse(lines[0]!) as { o: { a: number; self: string }; s: string }
  t.is(p.o.a, 1)
  t.is(p.o.self, '[Circular]')
  t.is(p.s, 'x"y\n', 'strings escaped')
})

test('the human format is one short line', (t) => {
  const { lines, stream } = capture()
  const log = createLogger({ level: 'info', format: 'human', stream })
  log.warn('firewall-restored', { changes: 2, note: 'put back' })
  t.regex(lines[0]!, /^\d\d:\d\d:\d\d WARN {2}firewall-restored changes=2 note="put back"\n$/)
})

test('a buffered logger writes the lines of one turn of the event loop in one write, in order, at its end', async (t) => {
  const writes: string[] = []
  const stream = new Writable({ write(chunk, _e, cb) { writes.push(String(chunk)); cb() } })
  const log = createLogger({ level: 'info', format: 'json', stream, buffer: true })
  for (let i = 0; i < 100; i++) log.info('session-up', { peer: `10.98.1.${i}` })
  t.is(writes.length, 0, 'nothing written during the burst')
  await new Promise((r) => setImmediate(r))
  t.is(writes.length, 1, 'one write for the burst')
  const lines = writes[0]!.split('\n').slice(0, -1)
  t.is(lines.length, 100)
  t.deepEqual(lines.map((l) => (JSON.parse(l) as { peer: string }).peer), Array.from({ length: 100 }, (_, i) => `10.98.1.${i}`))
  log.warn('later')
  log.flush?.()
  t.is(writes.length, 2, 'flush() writes at once')
  t.regex(writes[1]!, /"event":"later"/)
})

test('LineBuffer: past its size the lines go out at once; a throwing stream does not throw', (t) => {
  const writes: string[] = []
  const stream = new Writable({ write(chunk, _e, cb) { writes.push(String(chunk)); cb() } })
  const scheduled: (() => void)[] = []
  const b = new LineBuffer(stream, 100, (fn) => { scheduled.push(fn) })
  b.write('a'.repeat(60))
  t.is(writes.length, 0)
  t.is(scheduled.length, 1)
  b.write('b'.repeat(60))
  t.is(writes.length, 1, 'written at 120 > 100 characters')
  t.is(writes[0], `${'a'.repeat(60)}${'b'.repeat(60)}`)
  t.is(b.pending, 0)
  scheduled[0]!()
  t.is(writes.length, 1, 'the scheduled flush finds nothing left')
  const bad = new LineBuffer({ write: () => { throw new Error('EPIPE') } } as unknown as NodeJS.WritableStream, 100, () => undefined)
  bad.write('x')
  t.notThrows(() => bad.flush())
})

/** Runs a script with the default (stdout, buffered) logger; stdout and stderr into one file, as the bench and systemd do. */
function runLoggingScript(body: string): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fabric-log-'))
  try {
    const script = join(dir, 'run.mjs')
    const logModule = pathToFileURL(fileURLToPath(new URL('../../../src/core/log.ts', import.meta.url))).href
    writeFileSync(script, `import { createLogger } from ${JSON.stringify(logModule)}\nconst log = createLogger({ level: 'info', format: 'json' })\n${body}\n`)
    const outFile = join(dir, 'out.log')
    const fd = openSync(outFile, 'w')
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', fd, fd], timeout: 30_000 })
    closeSync(fd)
    return { status: r.status, out: readFileSync(outFile, 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('a buffered logger\'s lines reach the file before process.exit and before an uncaught exception\'s report', (t) => {
  const exit = runLoggingScript("for (let i = 0; i < 3; i++) log.info('line', { i })\nprocess.exit(3)")
  t.is(exit.status, 3)
  t.deepEqual(exit.out.trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i), [0, 1, 2])
  const crash = runLoggingScript("log.info('before-crash', { n: 1 })\nlog.warn('last-words')\nprocess.nextTick(() => { throw new Error('boom') })")
  t.is(crash.status, 1)
  const before = crash.out.indexOf('"event":"before-crash"')
  const last = crash.out.indexOf('"event":"last-words"')
  const report = crash.out.indexOf('Error: boom')
  t.true(before >= 0 && last > before, 'both lines, in order')
  t.true(report > last, 'the lines come before the crash report')
})

test('LineBuffer: a line after a quiet spell is written at the end of its turn; while lines keep coming, at most one write per gap', (t) => {
  const writes: string[] = []
  const stream = new Writable({ write(chunk, _e, cb) { writes.push(String(chunk)); cb() } })
  let now = 1000
  const scheduled: { fn: () => void; ms: number }[] = []
  const b = new LineBuffer(stream, 1 << 20, (fn, ms) => { scheduled.push({ fn, ms }) }, 10, () => now)
  b.write('a\n')
  t.is(scheduled.at(-1)?.ms, 0, 'quiet before: at the end of this turn')
  scheduled.pop()!.fn()
  t.deepEqual(writes, ['a\n'])
  now += 3
  b.write('b\n')
  b.write('c\n')
  t.is(scheduled.length, 1, 'one flush scheduled for both')
  t.is(scheduled[0]!.ms, 7, 'the rest of the 10 ms gap since the last write')
  scheduled.pop()!.fn()
  t.deepEqual(writes, ['a\n', 'b\nc\n'])
  now += 50
  b.write('d\n')
  t.is(scheduled.pop()?.ms, 0, 'quiet again: at once')
})
