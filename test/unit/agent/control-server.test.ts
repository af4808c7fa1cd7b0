/** The control socket against malformed requests: a real ControlServer on a Unix socket of this run. */
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { type AgentApi, controlApi } from '../../../src/agent/control-api.js'
import { ControlServer, type Handler, json, parseTarget } from '../../../src/agent/control-server.js'
import { EventHub } from '../../../src/agent/events.js'
import type { LeaveResponse, StatusResponse } from '../../../src/api/types.js'
import { getJson, postJson } from '../../../src/api/client.js'

/** Sends raw bytes, returns everything the server answers until it closes (or 2 s pass). */
function raw(socket: string, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socket)
    let out = ''
    const timer = setTimeout(() => {
      s.destroy()
      resolve(out)
    }, 2000)
    s.on('data', (d) => {
      out += d.toString()
      if (/\r\n\r\n/.test(out) && /content-length: (\d+)/i.test(out)) {
        const len = Number(/content-length: (\d+)/i.exec(out)![1])
        if (out.length - out.indexOf('\r\n\r\n') - 4 >= len) {
          clearTimeout(timer)
          s.destroy()
          resolve(out)
        }
      }
    })
    s.on('end', () => {
      clearTimeout(timer)
      resolve(out)
    })
    s.on('error', reject)
    s.write(bytes)
  })
}

const statusOf = (answer: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)

async function serve(t: { teardown(f: () => Promise<void> | void): void }, opts: { events?: EventHub; requestTimeoutMs?: number; routes?: Map<string, Handler> } = {}) {
  const dir = mkdtempSync(join(tmpdir(), `fabric-cs-${process.pid}-`))
  const socket = join(dir, 'fabric.sock')
  const calls = { leave: 0, afterLeave: 0 }
  const api: AgentApi = {
    hostName: 'node1',
    status: async () => ({ healthy: true, host: { name: 'node1' } }) as unknown as StatusResponse,
    routes: async () => ({ host: 'node1', routes: [] }),
    peers: () => ({ host: 'node1', peers: [] }),
    leave: async (): Promise<LeaveResponse> => {
      calls.leave++
      return { left: true, host: 'node1', routesRemoved: 0, routesFailed: 0 }
    },
    afterLeave: () => {
      calls.afterLeave++
    },
    events: opts.events,
  }
  const server = new ControlServer(socket, opts.routes ?? controlApi(api), { requestTimeoutMs: opts.requestTimeoutMs })
  await server.listen()
  t.teardown(async () => {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { socket, calls, server }
}

test('request targets that are not a path are refused, not thrown', (t) => {
  for (const bad of ['//', '//fabric:99999/v1/status', 'http://x/v1/status', '*', '', 'v1/status']) t.false(parseTarget(bad).ok, bad)
  t.true(parseTarget('/v1/status?x=1').ok)
})

test('malformed requests get a 4xx and the server keeps answering', async (t) => {
  const { socket } = await serve(t)
  const cases: [string, number][] = [
    ['GET // HTTP/1.1\r\nhost: x\r\n\r\n', 400],
    ['GET //fabric:99999/v1/status HTTP/1.1\r\nhost: x\r\n\r\n', 400],
    ['GET http://fabric:99999/v1/status HTTP/1.1\r\nhost: x\r\n\r\n', 400],
    ['GET /v1/nothing HTTP/1.1\r\nhost: x\r\n\r\n', 404],
    ['DELETE /v1/status HTTP/1.1\r\nhost: x\r\n\r\n', 405],
    ['GET /v1/leave HTTP/1.1\r\nhost: x\r\n\r\n', 405],
    ['\u0000\u0001garbage\r\n\r\n', 400],
    ['GET /v1/status HTTP/1.1\r\n\r\n', 400], // HTTP/1.1 without host
    ['GET /v1/status HTTP/1.1\nhost: x\n\n', 400], // bare LF
    ['GET /v1/status HTTP/1.1\r\nhost: x\r\nx: a\r\n b\r\n\r\n', 400], // obs-fold
    ['GET /v1/status HTTP/2.0\r\nhost: x\r\n\r\n', 505],
    ['POST /v1/leave HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n', 501],
    [`GET /v1/status HTTP/1.1\r\nhost: x\r\nx: ${'y'.repeat(9000)}\r\n\r\n`, 431],
    [`GET /v1/status HTTP/1.1\r\nhost: x\r\n${'a: b\r\n'.repeat(65)}\r\n`, 431],
    ['POST /v1/leave HTTP/1.1\r\nhost: x\r\ncontent-length: 99999\r\n\r\n', 413],
  ]
  for (const [req, want] of cases) t.is(statusOf(await raw(socket, req)), want, JSON.stringify(req))
  t.like(await getJson<StatusResponse>(socket, '/v1/status'), { healthy: true })
})

test('POST /v1/leave: a body that is not {} answers 400 and does not leave', async (t) => {
  const { socket, calls } = await serve(t)
  const post = (body: string) => raw(socket, `POST /v1/leave HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  for (const body of ['', 'banana', '[]', '"x"', '1', 'null', '{"now":true}', '{']) t.is(statusOf(await post(body)), 400, JSON.stringify(body))
  t.is(statusOf(await post('x'.repeat(5000))), 413)
  t.is(calls.leave, 0, 'nothing was carried out')
  t.like(await postJson<LeaveResponse>(socket, '/v1/leave'), { left: true, host: 'node1' })
  t.is(calls.leave, 1)
  t.is(statusOf(await post('{}')), 409, 'a second leave while leaving')
})

test('answers carry connection: close and a JSON body of their content-length; the server closes the connection', async (t) => {
  const { socket } = await serve(t)
  const answer = await raw(socket, 'GET /v1/status HTTP/1.1\r\nhost: x\r\nconnection: keep-alive\r\n\r\n')
  t.is(statusOf(answer), 200)
  t.regex(answer, /\r\nconnection: close\r\n/i)
  t.regex(answer, /\r\ncontent-type: application\/json\r\n/i)
  t.notRegex(answer, /\r\ndate:/i, 'no Date header (ICU time-zone data stays out of the agent)')
  t.like(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { healthy: true })
  // node:http's keep-alive client, many times in a row and at once
  for (let i = 0; i < 5; i++) t.like(await getJson<StatusResponse>(socket, '/v1/status'), { healthy: true })
  const all = await Promise.all(Array.from({ length: 20 }, () => getJson<StatusResponse>(socket, '/v1/status')))
  t.is(all.filter((s) => s.healthy).length, 20)
})

test('a request that arrives an octet at a time, or whose client shuts its side after sending, is answered', async (t) => {
  const { socket } = await serve(t)
  const text = 'POST /v1/leave HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}'
  const answer = await new Promise<string>((resolve, reject) => {
    const s = connect(socket)
    let out = ''
    s.on('data', (d) => (out += d.toString()))
    s.on('end', () => resolve(out))
    s.on('error', reject)
    let i = 0
    const next = (): void => {
      if (i < text.length) {
        s.write(text[i++]!)
        setTimeout(next, 1)
      } else s.end() // half-close: the answer must still come
    }
    next()
  })
  t.is(statusOf(answer), 200)
  t.like(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { left: true })
})

test('a client that sends part of a request and stalls gets 408 and is disconnected', async (t) => {
  const { socket } = await serve(t, { requestTimeoutMs: 300 })
  const started = Date.now()
  const answer = await raw(socket, 'GET /v1/status HTTP/1.1\r\nhost: x\r\n')
  t.is(statusOf(answer), 408)
  t.true(Date.now() - started < 1500, 'answered at the timeout, not at the 2 s end of raw()')
  const body = await raw(socket, 'POST /v1/leave HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n{}')
  t.is(statusOf(body), 408, 'a body shorter than its content-length too')
  t.like(await getJson<StatusResponse>(socket, '/v1/status'), { healthy: true })
})

test('a handler that throws or rejects answers 500 and the server keeps answering', async (t) => {
  const routes = new Map<string, Handler>([
    ['/throws', () => {
      throw new Error('boom')
    }],
    ['/rejects', async () => Promise.reject(new Error('later boom'))],
    ['/ok', () => json({ ok: true })],
  ])
  const { socket } = await serve(t, { routes })
  const a = await raw(socket, 'GET /throws HTTP/1.1\r\nhost: x\r\n\r\n')
  t.is(statusOf(a), 500)
  t.regex(a, /"error": "boom"/)
  t.is(statusOf(await raw(socket, 'GET /rejects HTTP/1.1\r\nhost: x\r\n\r\n')), 500)
  t.deepEqual(await getJson(socket, '/ok'), { ok: true })
})

test('POST /v1/leave: the agent is told to exit only after the answer went out', async (t) => {
  const { socket, calls } = await serve(t)
  t.like(await postJson<LeaveResponse>(socket, '/v1/leave'), { left: true })
  t.is(calls.afterLeave, 0, 'not at once: the client must get to print first')
  await new Promise((r) => setTimeout(r, 1700))
  t.is(calls.afterLeave, 1)
})

test('/v1/events streams NDJSON until the client closes; closing unsubscribes; close() ends open streams', async (t) => {
  const events = new EventHub()
  const { socket, server } = await serve(t, { events })
  const lines: Record<string, unknown>[] = []
  let head = ''
  const s = connect(socket)
  s.on('data', (d) => {
    head += d.toString()
    const at = head.indexOf('\r\n\r\n')
    if (at < 0) return
    for (const l of head.slice(at + 4).split('\n').slice(lines.length)) if (l.endsWith('}')) lines.push(JSON.parse(l))
  })
  s.write('GET /v1/events HTTP/1.1\r\nhost: x\r\n\r\n')
  const until = async (f: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10))
  }
  await until(() => lines.length >= 1)
  t.is(statusOf(head), 200)
  t.regex(head, /content-type: application\/x-ndjson/)
  t.like(lines[0], { event: 'stream-start', host: 'node1' })
  t.is(events.status().subscribers, 1)
  events.publish('info', 'route-added', { prefix: '10.1.2.0/24' })
  await until(() => lines.length >= 2)
  t.like(lines[1], { event: 'route-added', prefix: '10.1.2.0/24' })
  s.destroy()
  await until(() => events.status().subscribers === 0)
  t.is(events.status().subscribers, 0, 'the closed client is unsubscribed')

  // a second subscriber, still connected when the server closes
  const s2 = connect(socket)
  const closed = new Promise<void>((r) => s2.on('close', () => r()))
  s2.on('error', () => undefined)
  s2.resume()
  s2.write('GET /v1/events HTTP/1.1\r\nhost: x\r\n\r\n')
  await until(() => events.status().subscribers === 1)
  t.is(events.status().subscribers, 1)
  const stopped = Date.now()
  await server.close()
  await closed
  t.true(Date.now() - stopped < 1000, 'close() does not wait for the stream')
  await until(() => events.status().subscribers === 0)
  t.is(events.status().subscribers, 0)
})

test('expect: 100-continue is answered with 100 before the body is sent, then the answer', async (t) => {
  const { socket } = await serve(t)
  const answer = await new Promise<string>((resolve, reject) => {
    const s = connect(socket)
    let out = ''
    s.on('data', (d) => {
      out += d.toString()
      if (out === 'HTTP/1.1 100 Continue\r\n\r\n') s.write('{}')
    })
    s.on('end', () => resolve(out))
    s.on('error', reject)
    s.write('POST /v1/leave HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nexpect: 100-continue\r\n\r\n')
  })
  t.true(answer.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n'), answer.slice(0, 80))
})
