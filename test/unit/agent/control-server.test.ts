/** The control socket against malformed requests: a real ControlServer on a Unix socket of this run. */
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { type AgentApi, controlApi } from '../../../src/agent/control-api.js'
import { ControlServer, parseTarget } from '../../../src/agent/control-server.js'
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

async function serve(t: { teardown(f: () => Promise<void> | void): void }) {
  const dir = mkdtempSync(join(tmpdir(), `fabric-cs-${process.pid}-`))
  const socket = join(dir, 'fabric.sock')
  const calls = { leave: 0 }
  const api: AgentApi = {
    hostName: 'node1',
    status: async () => ({ healthy: true, host: { name: 'node1' } }) as unknown as StatusResponse,
    routes: async () => ({ host: 'node1', routes: [] }),
    peers: () => ({ host: 'node1', peers: [] }),
    leave: async (): Promise<LeaveResponse> => {
      calls.leave++
      return { left: true, host: 'node1', routesRemoved: 0, routesFailed: 0 }
    },
    afterLeave: () => undefined,
  }
  const server = new ControlServer(socket, controlApi(api))
  await server.listen()
  t.teardown(async () => {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { socket, calls }
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
