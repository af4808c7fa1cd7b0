/**
 * The BFD worker after a stall of its own thread: the neighbour's packets that
 * arrived meanwhile are read before an expired detection time is acted on (no
 * false down), the late timers are counted and reported, and a neighbour that
 * really went silent is still declared down. The subject is a BfdWorker on
 * this test's thread (so the test can stall it), the neighbour a BfdService
 * (its own worker thread, not stalled); both on loopback addresses of this
 * run, on a UDP port of this run. Serial: a stall stops every test of this file's thread.
 */
import { createSocket } from 'node:dgram'
import test from 'ava'
import { Diag, decodePacket } from '../../../../src/protocols/bfd/codec.js'
import { BfdSession, type BfdOutput } from '../../../../src/protocols/bfd/fsm.js'
import { BfdService } from '../../../../src/protocols/bfd/service.js'
import { LATE_REPORT_MS, BfdWorker } from '../../../../src/protocols/bfd/worker.js'
import type { FromWorker } from '../../../../src/protocols/bfd/messages.js'

/** blocks this thread (its event loop does not run) for ms */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

async function until(pred: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await pred()) return true
    await new Promise((r) => setTimeout(r, 20))
  }
  return pred()
}

async function pair(t: import('ava').ExecutionContext, subjectMultiplier: number) {
  const net = `127.${10 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}`
  const [a, b] = [`${net}.2`, `${net}.3`]
  const port = 20000 + Math.floor(Math.random() * 20000)
  const posted: FromWorker[] = []
  const subject = new BfdWorker({ port, ttl: 255, sourcePortMin: 49152, sourcePortMax: 65535 }, (m) => posted.push(m))
  const peer = await BfdService.start({ port })
  t.teardown(async () => {
    await subject.close()
    await peer.close()
  })
  // the peer's detection of the subject is subjectMultiplier x 100 ms, the subject's of the peer 300 ms
  await subject.handle({ op: 'add', id: 1, spec: { key: 'peer', local: a, remote: b, desiredMinTx: 100, requiredMinRx: 100, multiplier: subjectMultiplier } })
  await peer.add({ key: 'subject', local: b, remote: a, desiredMinTx: 100, requiredMinRx: 100, multiplier: 3 })
  const status = async () => {
    const n = posted.length
    await subject.handle({ op: 'status', id: 2 })
    const r = posted.splice(n, 1)[0]
    if (r?.ev !== 'reply' || !r.status) throw new Error('no status reply')
    return { session: r.status[0]!, loop: r.loop! }
  }
  const states = () => posted.filter((m): m is Extract<FromWorker, { ev: 'state' }> => m.ev === 'state')
  // Up, and the Poll Sequence done: 100 ms on both sides
  t.true(await until(async () => (await status()).session.detectionTime === 300, 8000), 'subject Up at 100 ms x 3')
  t.true(await until(async () => (await peer.status()).sessions[0]?.state === 'Up', 3000), 'peer Up')
  return { subject, peer, posted, status, states }
}

test.serial('a stall of the worker past its detection time: the packets that waited are read first, no false down, the late timers reported', async (t) => {
  const { peer, posted, status, states } = await pair(t, 10)
  const before = await status()
  const downsBefore = states().filter((c) => c.from === 'Up').length
  // 450 ms without this thread: the subject's detection time (300 ms after the last packet, at most
  // ~100 ms before the stall) expires during it; the peer (not stalled, detection 1 s) keeps sending
  stall(450)
  await new Promise((r) => setTimeout(r, 400))
  const after = await status()
  t.is(states().filter((c) => c.from === 'Up').length, downsBefore, `no state change: ${JSON.stringify(states())}`)
  t.is(after.session.state, 'Up')
  t.true(after.loop.heldSaved > before.loop.heldSaved, 'the expiry was undone by a packet read after the stall')
  const late = after.loop.timerLate.map((n, i) => n - (before.loop.timerLate[i] ?? 0))
  t.true(late[4]! >= 1, `a timer fired >= 200 ms late: ${late}`)
  const report = posted.find((m): m is Extract<FromWorker, { ev: 'late' }> => m.ev === 'late')
  t.truthy(report, 'reported')
  t.true(report!.worstMs >= LATE_REPORT_MS && report!.timers >= 1, JSON.stringify(report))
  t.is((await peer.status()).sessions[0]!.state, 'Up')
})

test.serial('a neighbour that goes silent is still declared down at its detection time (diag 1)', async (t) => {
  // the neighbour: a BfdSession (fsm.ts) on a UDP socket of this thread, so it can stop without a word
  const net = `127.${10 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}`
  const [a, b] = [`${net}.2`, `${net}.3`]
  const port = 20000 + Math.floor(Math.random() * 20000)
  const posted: FromWorker[] = []
  const subject = new BfdWorker({ port, ttl: 255, sourcePortMin: 49152, sourcePortMax: 65535 }, (m) => posted.push(m))
  const sock = createSocket('udp4')
  await new Promise<void>((r) => sock.bind({ address: b, port }, r))
  const fsm = new BfdSession({ localDiscriminator: 0x5151, desiredMinTx: 100_000, requiredMinRx: 100_000, detectMult: 3 }, performance.now())
  const send = (o: BfdOutput) => {
    for (const p of o.packets) sock.send(p, port, a)
  }
  sock.on('message', (msg) => {
    const d = decodePacket(msg)
    if (d.ok) send(fsm.receive(d.value, msg, performance.now()).output)
  })
  send(fsm.start(performance.now()))
  const tick = setInterval(() => {
    if (fsm.nextWake() <= performance.now()) send(fsm.expire(performance.now()))
  }, 5)
  t.teardown(async () => {
    clearInterval(tick)
    sock.close()
    await subject.close()
  })
  await subject.handle({ op: 'add', id: 1, spec: { key: 'peer', local: a, remote: b, desiredMinTx: 100, requiredMinRx: 100, multiplier: 3 } })
  const states = () => posted.filter((m): m is Extract<FromWorker, { ev: 'state' }> => m.ev === 'state')
  t.true(await until(() => states().some((c) => c.to === 'Up') && fsm.state === 'Up', 5000), 'Up')
  await new Promise((r) => setTimeout(r, 1500)) // the Poll Sequence: 100 ms x 3
  clearInterval(tick)
  sock.removeAllListeners('message')
  const t0 = performance.now()
  t.true(await until(() => states().some((c) => c.from === 'Up'), 3000), 'Down')
  const down = states().find((c) => c.from === 'Up')!
  t.is(down.to, 'Down')
  t.is(down.diag, Diag.ControlDetectionTimeExpired)
  const after = performance.now() - t0
  t.true(after < 1000, `declared down ${Math.round(after)} ms after the last packet could have left (detection time 300 ms)`)
})
