import test from 'ava'
import type { BfdAuthConfig } from '../../../../src/protocols/bfd/auth.js'
import { type BfdControlPacket, Diag, decodePacket } from '../../../../src/protocols/bfd/codec.js'
import { BfdSession, type BfdOutput, type BfdSessionOptions, type BfdStateChange } from '../../../../src/protocols/bfd/fsm.js'

/** Two sessions on a simulated link with a 1 ms delay and an injected clock. */
class Link {
  now = 0
  readonly a: BfdSession
  readonly b: BfdSession
  /** packets in flight: deliver at, to, bytes */
  #queue: { at: number; to: 'a' | 'b'; bytes: Buffer }[] = []
  cutAtoB = false
  cutBtoA = false
  readonly changes: { side: 'a' | 'b'; at: number; change: BfdStateChange }[] = []
  readonly sent: { side: 'a' | 'b'; at: number; pkt: BfdControlPacket }[] = []

  constructor(a: Partial<BfdSessionOptions>, b: Partial<BfdSessionOptions>, random = () => 0.5, cut = false) {
    this.cutAtoB = cut
    this.cutBtoA = cut
    const d = { desiredMinTx: 100_000, requiredMinRx: 100_000, detectMult: 3, random }
    this.a = new BfdSession({ ...d, localDiscriminator: 0xa, ...a }, 0)
    this.b = new BfdSession({ ...d, localDiscriminator: 0xb, ...b }, 0)
    this.out('a', this.a.start(0))
    this.out('b', this.b.start(0))
  }

  out(side: 'a' | 'b', o: BfdOutput): void {
    for (const c of o.changes) this.changes.push({ side, at: this.now, change: c })
    for (const bytes of o.packets) {
      const d = decodePacket(bytes)
      if (!d.ok) throw new Error(`sent an undecodable packet: ${d.error.reason}`)
      this.sent.push({ side, at: this.now, pkt: d.value })
      if (side === 'a' ? this.cutAtoB : this.cutBtoA) continue
      this.#queue.push({ at: this.now + 1, to: side === 'a' ? 'b' : 'a', bytes })
    }
  }

  /** Runs the clock to `until` ms, delivering packets and firing timers in order. */
  run(until: number): void {
    for (;;) {
      const next = Math.min(this.a.nextWake(), this.b.nextWake(), ...this.#queue.map((q) => q.at))
      if (next > until) break
      this.now = Math.max(this.now, next)
      const due = this.#queue.filter((q) => q.at <= this.now)
      this.#queue = this.#queue.filter((q) => q.at > this.now)
      for (const q of due) {
        const s = q.to === 'a' ? this.a : this.b
        const d = decodePacket(q.bytes)
        if (d.ok) this.out(q.to, s.receive(d.value, q.bytes, this.now).output)
      }
      if (this.a.nextWake() <= this.now) this.out('a', this.a.expire(this.now))
      if (this.b.nextWake() <= this.now) this.out('b', this.b.expire(this.now))
    }
    this.now = until
  }
}

test('three-way handshake: Down -> Init -> Up on both sides, both discriminators learned', (t) => {
  const l = new Link({}, {})
  l.run(10)
  t.is(l.a.state, 'Up')
  t.is(l.b.state, 'Up')
  t.is(l.a.remoteDiscr, 0xb)
  t.is(l.b.remoteDiscr, 0xa)
  t.deepEqual(l.changes.filter((c) => c.side === 'a').map((c) => `${c.change.from}>${c.change.to}`), ['Down>Init', 'Init>Up'])
})

test('handshake from one side: Down receiving Init goes straight to Up', (t) => {
  const s = new BfdSession({ localDiscriminator: 1, desiredMinTx: 100_000, requiredMinRx: 100_000, detectMult: 3 }, 0)
  s.start(0)
  const init: BfdControlPacket = { diag: 0, state: 'Init', poll: false, final: false, cpi: false, demand: false, detectMult: 3, myDiscriminator: 9, yourDiscriminator: 1, desiredMinTx: 1_000_000, requiredMinRx: 1_000_000, requiredMinEchoRx: 0 }
  const r = s.receive(init, Buffer.alloc(0), 5)
  t.is(s.state, 'Up')
  t.deepEqual(r.output.changes, [{ from: 'Down', to: 'Up', diag: 0, remote: 'Init' }])
  t.true(r.output.packets.length >= 1, 'sends at once on the state change')
})

test('slow transmission (>= 1 s, jittered 75-100%) while not Up', (t) => {
  for (const [rand, gap] of [[0, 750], [0.999999, 1000]] as const) {
    const l = new Link({}, {}, () => rand, true)
    l.run(5000)
    const times = l.sent.filter((s) => s.side === 'a').map((s) => s.at)
    t.true(times.length >= 5)
    for (let i = 1; i < times.length; i++) t.true(Math.abs(times[i]! - times[i - 1]! - gap) < 0.01, `gap ${times[i]! - times[i - 1]!} != ${gap}`)
    t.true(l.sent.every((s) => s.pkt.desiredMinTx === 1_000_000), 'advertises 1 s while Down')
  }
})

test('after Up: Poll announces the configured rate, Final ends it, tx = max(desired tx, remote rx) with jitter', (t) => {
  const l = new Link({}, {}, () => 0)
  l.run(10)
  const polls = l.sent.filter((s) => s.side === 'a' && s.pkt.poll)
  t.true(polls.length >= 1, 'a Poll announces the faster rate')
  t.true(l.sent.some((s) => s.side === 'b' && s.pkt.final && !s.pkt.poll), 'b answers with Final, never P and F together')
  t.false(l.a.pollActive)
  t.is(l.a.txInterval, 100_000)
  t.is(l.a.detectionTime, 300_000)
  const before = l.sent.length
  l.run(1010)
  const gaps = l.sent.slice(before).filter((s) => s.side === 'a').map((s) => s.at)
  for (let i = 1; i < gaps.length; i++) t.true(Math.abs(gaps[i]! - gaps[i - 1]! - 75) < 0.01, `75% jitter floor: ${gaps[i]! - gaps[i - 1]!}`)
  t.true(l.sent.every((s) => !(s.pkt.poll && s.pkt.final)))
})

test('timer negotiation with unequal parameters', (t) => {
  const l = new Link({ desiredMinTx: 100_000, requiredMinRx: 100_000, detectMult: 3 }, { desiredMinTx: 300_000, requiredMinRx: 50_000, detectMult: 5 })
  l.run(50)
  t.is(l.a.state, 'Up')
  // a sends at max(100 ms, b's rx 50 ms); b sends at max(300 ms, a's rx 100 ms)
  t.is(l.a.txInterval, 100_000)
  t.is(l.b.txInterval, 300_000)
  // a detects b after b's mult 5 x max(a's rx 100, b's tx 300) = 1500 ms; b detects a after 3 x max(50, 100)
  t.is(l.a.detectionTime, 1_500_000)
  t.is(l.b.detectionTime, 300_000)
  t.is(l.a.rxInterval, 300_000)
})

test('jitter is 75-90% with Detect Mult 1', (t) => {
  const l = new Link({ detectMult: 1 }, {}, () => 0.999999)
  l.run(10)
  const before = l.sent.length
  l.run(1000)
  const times = l.sent.slice(before).filter((s) => s.side === 'a').map((s) => s.at)
  t.true(times.length > 5)
  for (let i = 1; i < times.length; i++) t.true(Math.abs(times[i]! - times[i - 1]! - 90) < 0.01, `gap ${times[i]! - times[i - 1]!}`)
})

test('detection time expiry: Down with diag 1 exactly one detection time after the last packet; remote discr reset', (t) => {
  const l = new Link({}, {})
  l.run(500)
  t.is(l.a.state, 'Up')
  l.cutBtoA = true
  const lastFromB = Math.max(...l.sent.filter((s) => s.side === 'b').map((s) => s.at)) + 1
  l.run(lastFromB + 299)
  t.is(l.a.state, 'Up')
  l.run(lastFromB + 300)
  t.is(l.a.state, 'Down')
  t.is(l.a.diag, Diag.ControlDetectionTimeExpired)
  t.is(l.a.lastDownDiag, Diag.ControlDetectionTimeExpired)
  t.is(l.a.remoteDiscr, 0)
  // b hears a's Down and goes down too (diag 3), then both come back once the link heals
  l.run(lastFromB + 310)
  t.is(l.b.state, 'Down')
  t.is(l.b.diag, Diag.NeighborSignaledDown)
  t.like(l.changes.filter((c) => c.side === 'b').at(-1)!.change, { from: 'Up', to: 'Down', remote: 'Down' })
  l.cutBtoA = false
  l.run(lastFromB + 3000)
  t.is(l.a.state, 'Up')
  t.is(l.b.state, 'Up')
})

test('transmitDue sends what is due without acting on an expired detection time; a packet read before expire() keeps the session Up', (t) => {
  const l = new Link({}, {})
  l.run(500)
  t.is(l.a.state, 'Up')
  const lastFromB = Math.max(...l.sent.filter((s) => s.side === 'b').map((s) => s.at)) + 1
  // a's thread stalls past its detection time while b keeps sending (the packets wait unread)
  const late = lastFromB + 450
  t.true(l.a.detectionDue(late))
  t.true(l.a.nextWake() <= late)
  const tx = l.a.transmitDue(late)
  t.is(tx.packets.length, 1, 'the periodic packet that was due')
  t.deepEqual(tx.changes, [])
  t.is(l.a.state, 'Up')
  t.true(l.a.detectionDue(late), 'transmitDue leaves the detection time alone')
  // b's packet, read after the stall (b's own clock: only its transmission, b is not stalled)
  const fromB = l.b.transmitDue(late).packets[0]
  t.truthy(fromB)
  const d = decodePacket(fromB!)
  if (!d.ok) return t.fail(d.error.reason)
  l.a.receive(d.value, fromB!, late)
  t.false(l.a.detectionDue(late))
  t.deepEqual(l.a.expire(late).changes, [])
  t.is(l.a.state, 'Up')
  // without that packet the same expire() is a Down with diag 1
  const m = new Link({}, {})
  m.run(500)
  const lastFromB2 = Math.max(...m.sent.filter((s) => s.side === 'b').map((s) => s.at)) + 1
  m.a.transmitDue(lastFromB2 + 450)
  t.deepEqual(m.a.expire(lastFromB2 + 450).changes, [{ from: 'Up', to: 'Down', diag: Diag.ControlDetectionTimeExpired, remote: 'Down' }])
})

test('AdminDown: the neighbour goes Down with diag 3, the admin side sends diag 7 and ignores packets', (t) => {
  const l = new Link({}, {})
  l.run(100)
  l.out('b', l.b.setAdminDown(true, l.now))
  t.is(l.b.state, 'AdminDown')
  t.is(l.b.diag, Diag.AdministrativelyDown)
  l.run(110)
  t.is(l.a.state, 'Down')
  t.is(l.a.diag, Diag.NeighborSignaledDown)
  // the change says what caused it: the neighbour's AdminDown (RFC 5882 3.2: no failure), unlike a
  // neighbour's Down after its own detection (the detection-expiry test: remote 'Down', diag 3)
  t.like(l.changes.filter((c) => c.side === 'a').at(-1)!.change, { from: 'Up', to: 'Down', diag: Diag.NeighborSignaledDown, remote: 'AdminDown' })
  l.run(5000)
  t.is(l.a.state, 'Down', 'never comes up against AdminDown')
  t.is(l.b.state, 'AdminDown')
  t.true((l.b.counters.drops['admin-down'] ?? 0) > 0)
  const adminPkts = l.sent.filter((s) => s.side === 'b' && s.pkt.state === 'AdminDown').map((s) => s.at)
  t.true(adminPkts.length >= 4, 'AdminDown is still signalled')
  for (let i = 2; i < adminPkts.length; i++) t.true(adminPkts[i]! - adminPkts[i - 1]! >= 750)
  l.out('b', l.b.setAdminDown(false, l.now))
  l.run(5020)
  t.is(l.a.state, 'Up')
  t.is(l.b.state, 'Up')
})

test('Poll Sequence: an increased tx interval takes effect only after the Final', (t) => {
  const l = new Link({}, {})
  l.run(500)
  l.cutBtoA = true // hold back b's Final
  l.out('a', l.a.setTimers({ desiredMinTx: 250_000, requiredMinRx: 100_000, detectMult: 3 }, l.now))
  t.true(l.a.pollActive)
  t.is(l.a.desiredMinTx, 250_000)
  t.is(l.a.txInterval, 100_000, 'old rate until the Final')
  l.run(520)
  t.true(l.sent.filter((s) => s.side === 'a' && s.at >= 500).every((s) => s.pkt.poll), 'Poll repeated until answered')
  l.cutBtoA = false
  l.run(700)
  t.false(l.a.pollActive)
  t.is(l.a.txInterval, 250_000)
  t.is(l.b.detectionTime, 750_000, 'b computes the new detection time from the new Desired Min TX')
  t.is(l.a.state, 'Up')
  t.is(l.b.state, 'Up')
})

test('Poll Sequence: a reduced rx interval keeps the old one for detection until the Final', (t) => {
  const l = new Link({ requiredMinRx: 300_000 }, {})
  l.run(500)
  t.is(l.a.detectionTime, 900_000)
  l.cutBtoA = true
  l.out('a', l.a.setTimers({ desiredMinTx: 100_000, requiredMinRx: 100_000, detectMult: 3 }, l.now))
  t.is(l.a.detectionTime, 900_000)
  l.cutBtoA = false
  l.run(1200)
  t.false(l.a.pollActive)
  t.is(l.a.detectionTime, 300_000)
})

test('no periodic packets while the remote asks for Required Min RX 0', (t) => {
  const s = new BfdSession({ localDiscriminator: 1, desiredMinTx: 100_000, requiredMinRx: 100_000, detectMult: 3 }, 0)
  s.start(0)
  const pkt: BfdControlPacket = { diag: 0, state: 'Down', poll: false, final: false, cpi: false, demand: false, detectMult: 3, myDiscriminator: 9, yourDiscriminator: 0, desiredMinTx: 1_000_000, requiredMinRx: 0, requiredMinEchoRx: 0 }
  s.receive(pkt, Buffer.alloc(0), 1)
  t.is(s.txInterval, 0)
  t.is(s.expire(2000).packets.length, 0)
  t.is(s.nextWake(), 1 + 3000, 'only the detection timer is left')
})

test('packets for another discriminator are dropped and counted', (t) => {
  const s = new BfdSession({ localDiscriminator: 1, desiredMinTx: 100_000, requiredMinRx: 100_000, detectMult: 3 }, 0)
  const pkt: BfdControlPacket = { diag: 0, state: 'Up', poll: false, final: false, cpi: false, demand: false, detectMult: 3, myDiscriminator: 9, yourDiscriminator: 2, desiredMinTx: 1_000_000, requiredMinRx: 1_000_000, requiredMinEchoRx: 0 }
  t.is(s.receive(pkt, Buffer.alloc(0), 1).drop, 'discriminator-mismatch')
  t.is(s.counters.drops['discriminator-mismatch'], 1)
  t.is(s.state, 'Down')
})

const sha1 = (secret: string): BfdAuthConfig => ({ type: 'meticulous-sha1', keys: [{ id: 1, secret: Buffer.from(secret) }] })

test('authenticated sessions come up; a wrong key never does', (t) => {
  const good = new Link({ auth: sha1('k1') }, { auth: sha1('k1') })
  good.run(3000)
  t.is(good.a.state, 'Up')
  t.true(good.sent.every((s) => s.pkt.auth?.type === 'meticulous-sha1'))
  const seqs = good.sent.filter((s) => s.side === 'a').map((s) => (s.pkt.auth as { sequence: number }).sequence)
  for (let i = 1; i < seqs.length; i++) t.is(seqs[i], (seqs[i - 1]! + 1) >>> 0, 'meticulous: sequence increments per packet')
  const bad = new Link({ auth: sha1('k1') }, { auth: sha1('k2') })
  bad.run(5000)
  t.is(bad.a.state, 'Down')
  t.is(bad.b.state, 'Down')
  t.true((bad.a.counters.drops['auth-digest'] ?? 0) > 0)
  const half = new Link({ auth: sha1('k1') }, {})
  half.run(5000)
  t.is(half.a.state, 'Down')
  t.true((half.a.counters.drops['auth-missing'] ?? 0) > 0)
  t.true((half.b.counters.drops['auth-unexpected'] ?? 0) > 0)
})

test('the remote in Demand mode with both Up stops our periodic packets', (t) => {
  const l = new Link({}, {})
  l.run(500)
  const pkt: BfdControlPacket = { diag: 0, state: 'Up', poll: false, final: false, cpi: false, demand: true, detectMult: 3, myDiscriminator: 0xb, yourDiscriminator: 0xa, desiredMinTx: 100_000, requiredMinRx: 100_000, requiredMinEchoRx: 0 }
  l.a.receive(pkt, Buffer.alloc(0), l.now)
  t.is(l.a.expire(l.now + 200).packets.length, 0)
})
