/** The control socket's HTTP/1.1 request decoder against valid, partial and hostile heads. */
import test from 'ava'
import { DEFAULT_LIMITS, type HeadLimits, type HeadResult, parseRequestHead, responseHead } from '../../../src/util/http-lite.js'

const LIMITS: HeadLimits = { maxHead: 1024, maxHeaders: 8, maxBody: 4096 }
const parse = (text: string, limits = LIMITS): HeadResult => parseRequestHead(Buffer.from(text, 'latin1'), limits)
const statusOf = (r: HeadResult): number | string => (r.kind === 'error' ? r.status : r.kind)

test('valid heads: method, target, version, headers (lower-case names, trimmed values), content-length, head length', (t) => {
  const text = 'POST /v1/leave?x=1 HTTP/1.1\r\nHost: localhost\r\nContent-Type:  application/json \r\ncontent-length: 2\r\nX-A: 1\r\nx-a: 2\r\n\r\n{}'
  const r = parse(text)
  if (r.kind !== 'ok') return t.fail(JSON.stringify(r))
  t.is(r.head.method, 'POST')
  t.is(r.head.target, '/v1/leave?x=1')
  t.is(r.head.version, '1.1')
  t.is(r.head.contentLength, 2)
  t.is(r.head.headers.get('content-type'), 'application/json')
  t.is(r.head.headers.get('x-a'), '1, 2')
  t.is(r.length, text.length - 2, 'the head ends before the body')
})

test('what node:http sends (GET with keep-alive, POST with a body) parses', (t) => {
  t.like(parse('GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n'), { kind: 'ok', head: { method: 'GET', contentLength: 0 } })
  t.like(parse('POST /v1/leave HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n{}'), { kind: 'ok', head: { contentLength: 2 } })
})

test('empty lines before the request line are skipped; HTTP/1.0 needs no host; an equal repeated content-length is one', (t) => {
  const r = parse('\r\n\r\nGET / HTTP/1.0\r\n\r\n')
  t.like(r, { kind: 'ok', head: { version: '1.0', target: '/' } })
  if (r.kind === 'ok') t.is(r.length, 22, 'the skipped lines are part of the head')
  t.like(parse('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\nContent-Length: 3\r\n\r\n'), { kind: 'ok', head: { contentLength: 3 } })
})

test('every proper prefix of a valid request is incomplete, never an error', (t) => {
  const text = '\r\nPOST /v1/leave HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n'
  for (let n = 0; n < text.length; n++) t.is(parse(text.slice(0, n)).kind, 'incomplete', JSON.stringify(text.slice(0, n)))
  t.is(parse(text).kind, 'ok')
})

test('hostile and unsupported heads get the status RFC 9110/9112 give them', (t) => {
  const h = 'host: x\r\n'
  const cases: [string, string, number][] = [
    ['bare LF', 'GET / HTTP/1.1\nhost: x\n\n', 400],
    ['bare LF in a header', `GET / HTTP/1.1\r\n${h}x: y\n\r\n\r\n`, 400],
    ['LF at the start', '\nGET / HTTP/1.1\r\n\r\n', 400],
    ['obs-fold', `GET / HTTP/1.1\r\n${h}x: a\r\n b\r\n\r\n`, 400],
    ['space before the colon', `GET / HTTP/1.1\r\n${h}x : y\r\n\r\n`, 400],
    ['no colon', `GET / HTTP/1.1\r\n${h}xy\r\n\r\n`, 400],
    ['empty name', `GET / HTTP/1.1\r\n${h}: y\r\n\r\n`, 400],
    ['NUL in a name', `GET / HTTP/1.1\r\n${h}x\u0000: y\r\n\r\n`, 400],
    ['CTL in a value', `GET / HTTP/1.1\r\n${h}x: a\u0001b\r\n\r\n`, 400],
    ['CR inside a value', `GET / HTTP/1.1\r\n${h}x: a\rb\r\n\r\n`, 400],
    ['DEL in a value', `GET / HTTP/1.1\r\n${h}x: a\u007f\r\n\r\n`, 400],
    ['two spaces in the request line', 'GET  / HTTP/1.1\r\nhost: x\r\n\r\n', 400],
    ['four parts', 'GET / x HTTP/1.1\r\nhost: x\r\n\r\n', 400],
    ['HTTP/0.9 style', 'GET /\r\n\r\n', 400],
    ['bad method', 'G(T / HTTP/1.1\r\nhost: x\r\n\r\n', 400],
    ['octet >= 0x80 in the target', 'GET /\u00e9 HTTP/1.1\r\nhost: x\r\n\r\n', 400],
    ['CTL in the target', 'GET /\u0007 HTTP/1.1\r\nhost: x\r\n\r\n', 400],
    ['lower-case protocol', 'GET / http/1.1\r\nhost: x\r\n\r\n', 400],
    ['version with more digits', 'GET / HTTP/1.10\r\nhost: x\r\n\r\n', 400],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\nhost: x\r\n\r\n', 505],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\nhost: x\r\n\r\n', 505],
    ['HTTP/1.1 without host', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['two hosts', `GET / HTTP/1.1\r\n${h}${h}\r\n`, 400],
    ['conflicting content-length', `POST / HTTP/1.1\r\n${h}content-length: 1\r\ncontent-length: 2\r\n\r\n`, 400],
    ['content-length list', `POST / HTTP/1.1\r\n${h}content-length: 1, 1\r\n\r\n`, 400],
    ['negative content-length', `POST / HTTP/1.1\r\n${h}content-length: -1\r\n\r\n`, 400],
    ['hex content-length', `POST / HTTP/1.1\r\n${h}content-length: 0x10\r\n\r\n`, 400],
    ['exponent content-length', `POST / HTTP/1.1\r\n${h}content-length: 1e3\r\n\r\n`, 400],
    ['empty content-length', `POST / HTTP/1.1\r\n${h}content-length:\r\n\r\n`, 400],
    ['huge content-length', `POST / HTTP/1.1\r\n${h}content-length: 99999999999999999999\r\n\r\n`, 400],
    ['body over the limit', `POST / HTTP/1.1\r\n${h}content-length: 4097\r\n\r\n`, 413],
    ['chunked', `POST / HTTP/1.1\r\n${h}transfer-encoding: chunked\r\n\r\n`, 501],
    ['chunked and content-length (smuggling)', `POST / HTTP/1.1\r\n${h}content-length: 3\r\ntransfer-encoding: chunked\r\n\r\n`, 501],
    ['too many header fields', `GET / HTTP/1.1\r\n${h}${'a: b\r\n'.repeat(8)}\r\n`, 431],
    ['a head over the limit, complete', `GET / HTTP/1.1\r\n${h}x: ${'y'.repeat(1100)}\r\n\r\n`, 431],
    ['a head over the limit, never ending', `GET / HTTP/1.1\r\n${h}x: ${'y'.repeat(1100)}`, 431],
    ['nothing but empty lines, over the limit', '\r\n'.repeat(600), 431],
  ]
  for (const [name, text, status] of cases) t.is(statusOf(parse(text)), status, name)
})

test('the limits are those given: exactly maxHeaders fields and a body of exactly maxBody are accepted', (t) => {
  t.is(parse(`GET / HTTP/1.1\r\nhost: x\r\n${'a: b\r\n'.repeat(7)}\r\n`).kind, 'ok')
  t.like(parse('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4096\r\n\r\n'), { kind: 'ok', head: { contentLength: 4096 } })
  const line = 'GET / HTTP/1.1\r\nhost: x\r\n'
  t.is(parse(`${line}x: ${'y'.repeat(1024 - line.length - 3)}\r\n\r\n`).kind, 'ok', 'a head of exactly maxHead octets')
})

test('random bytes and mutations of a valid head never throw and give only the known outcomes', (t) => {
  let seed = 7
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0
    return seed % n
  }
  const valid = Buffer.from('POST /v1/leave HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}', 'latin1')
  const statuses = new Set([400, 413, 431, 501, 505])
  for (let i = 0; i < 20_000; i++) {
    let buf: Buffer
    if (i % 2 === 0) {
      buf = Buffer.alloc(rand(300))
      for (let j = 0; j < buf.length; j++) buf[j] = rand(4) === 0 ? [13, 10, 32, 58][rand(4)]! : rand(256)
    } else {
      buf = Buffer.from(valid)
      for (let k = rand(4) + 1; k > 0; k--) buf[rand(buf.length)] = rand(256)
      buf = buf.subarray(0, rand(buf.length + 1))
    }
    let r: HeadResult
    try {
      r = parseRequestHead(buf, DEFAULT_LIMITS)
    } catch (e) {
      return t.fail(`threw ${String(e)} on ${buf.toString('hex')}`)
    }
    if (r.kind === 'error' && !statuses.has(r.status)) return t.fail(`status ${r.status} on ${buf.toString('hex')}`)
    if (r.kind === 'ok' && (r.length > buf.length || r.head.contentLength > DEFAULT_LIMITS.maxBody)) return t.fail(`bad ok on ${buf.toString('hex')}`)
  }
  t.pass()
})

test('optional whitespace (SP, HTAB) around a value is trimmed, inside it kept; a value of only whitespace is empty', (t) => {
  const spaces = ' \t'.repeat(2000)
  const limits = { ...DEFAULT_LIMITS, maxHead: 16384 }
  const r = parseRequestHead(Buffer.from(`GET / HTTP/1.1\r\nhost: x\r\nx:${spaces}a${spaces}b${spaces}\r\n\r\n`, 'latin1'), limits)
  t.like(r, { kind: 'ok' })
  if (r.kind === 'ok') t.is(r.head.headers.get('x'), `a${spaces}b`)
  const empty = parseRequestHead(Buffer.from(`GET / HTTP/1.1\r\nhost: x\r\nx:${spaces}\r\n\r\n`, 'latin1'), limits)
  t.is(empty.kind === 'ok' ? empty.head.headers.get('x') : empty.kind, '')
})

test('responseHead: status line with its reason, fields, empty line', (t) => {
  t.is(responseHead(413, [['content-length', 0], ['connection', 'close']]), 'HTTP/1.1 413 Content Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')
})
