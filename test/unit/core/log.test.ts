import { Writable } from 'node:stream'
import test from 'ava'
import { RateLimiter, createLogger } from '../../../src/core/log.js'

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
