/** /v1/events: a subscriber's queue is bounded; slow ones lose events (counted), stalled ones are disconnected. */
import { mkdtempSync, rmSync } from 'node:fs'
import { type Server, createServer } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ServerResponse } from 'node:http'
import test from 'ava'
import { EventHub } from '../../../src/agent/events.js'

/** A real HTTP server on a Unix socket streaming the hub; a client that connects and never reads. */
async function setup(t: { teardown(f: () => Promise<void> | void): void }, hub: EventHub) {
  const dir = mkdtempSync(join(tmpdir(), `fabric-ev-${process.pid}-`))
  const socket = join(dir, 'ev.sock')
  let res: ServerResponse | undefined
  const server: Server = createServer((_req, r) => {
    r.writeHead(200, { 'content-type': 'application/x-ndjson' })
    hub.stream(r, { event: 'stream-start' })
    res = r
  })
  await new Promise<void>((resolve) => server.listen(socket, resolve))
  const client = connect(socket)
  client.write('GET /v1/events HTTP/1.1\r\nhost: x\r\n\r\n')
  client.pause() // never reads
  t.teardown(async () => {
    client.destroy()
    server.closeAllConnections()
    await new Promise<void>((r) => server.close(() => r()))
    rmSync(dir, { recursive: true, force: true })
  })
  while (!res) await new Promise((r) => setTimeout(r, 10))
  return { res: res as ServerResponse, client }
}

const payload = { note: 'x'.repeat(1000) }

test('a client that never reads holds at most the bound; the rest is dropped and counted', async (t) => {
  let now = 0
  const hub = new EventHub({ maxQueuedBytes: 256 << 10, now: () => now })
  const { res } = await setup(t, hub)
  let maxQueued = 0
  for (let i = 0; i < 20_000; i++) { // ~20 MB of events
    hub.publish('info', 'route-added', { ...payload, i })
    maxQueued = Math.max(maxQueued, res.writableLength)
    if (i % 1000 === 0) await new Promise((r) => setImmediate(r))
    now += 1
  }
  t.true(maxQueued <= (256 << 10) + 2048, `queued ${maxQueued} octets`)
  const s = hub.status()
  t.is(s.subscribers, 1)
  t.true(s.dropped > 15_000, `dropped ${s.dropped}`)
})

test('a subscriber over its bound for stallMs is disconnected', async (t) => {
  let now = 0
  const hub = new EventHub({ maxQueuedBytes: 64 << 10, stallMs: 60_000, now: () => now })
  const { res } = await setup(t, hub)
  for (let i = 0; i < 2000; i++) hub.publish('info', 'route-added', { ...payload, i })
  t.is(hub.status().subscribers, 1)
  now += 61_000
  hub.publish('info', 'route-added', payload)
  t.deepEqual({ ...hub.status(), dropped: undefined }, { subscribers: 0, dropped: undefined, disconnected: 1 })
  t.true(res.destroyed)
})

test('a client that catches up is told how many events it missed', async (t) => {
  const hub = new EventHub({ maxQueuedBytes: 64 << 10 })
  const { client } = await setup(t, hub)
  for (let i = 0; i < 500; i++) hub.publish('info', 'route-added', { ...payload, i })
  t.true(hub.status().dropped > 0)
  let text = ''
  client.on('data', (d: Buffer) => (text += d.toString()))
  client.resume()
  const deadline = Date.now() + 5000
  while (!text.includes('events-dropped') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  t.regex(text, /"event":"events-dropped","count":\d+/)
})
