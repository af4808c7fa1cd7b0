/**
 * The BFD worker thread: owns the UDP sockets and every session's timers, in
 * its own event loop (node:worker_threads), so that a stalled main thread (a
 * 1M-prefix ingest, a full kernel reconcile, a GC pause of the agent's heap)
 * cannot delay a BFD packet or a detection. The main thread talks to it only
 * through messages (messages.ts); state changes are posted as they happen
 * and wait in the main thread's queue if it is busy, without holding up BFD.
 *
 * Transport (RFC 5881):
 *   receive  one socket per local address, bound to LOCAL:3784. Datagrams
 *            are demultiplexed by Your Discriminator when it is non-zero,
 *            else by (local address, source address); a packet whose source
 *            is not the session's remote is dropped (source-mismatch).
 *   send     one socket per local address, bound to LOCAL:PORT with PORT
 *            picked at random in 49152..65535 (the same port for all of a
 *            session's packets), IP TTL 255.
 *   TTL      Node's dgram cannot read a received datagram's TTL (no
 *            recvmsg/IP_RECVTTL, and no setsockopt for IP_MINTTL), so the
 *            RFC 5881 5 check (drop unless TTL 255) is done by the kernel
 *            with a rule in a chain fabric owns (gtsm.ts), whose drop
 *            counter BfdService reports as drops.ttl.
 *   device   Node cannot bind to a device (SO_BINDTODEVICE); binding to the
 *            local address and matching the source address stands in for
 *            the interface; `interface` is a label in status.
 */
import { type Socket, createSocket } from 'node:dgram'
import { parentPort, workerData } from 'node:worker_threads'
import { decodePacket } from './codec.js'
import { BfdSession, type BfdOutput } from './fsm.js'
import type { BfdLoopStatus, BfdSessionSpec, BfdSessionStatus, BfdWorkerOptions, FromWorker, ToWorker } from './messages.js'

interface Entry {
  spec: BfdSessionSpec
  session: BfdSession
  timer: NodeJS.Timeout | undefined
  /** when the timer is due (performance.now() ms) */
  timerAt: number
  /** a detection expiry waits in #held for the receive sockets to be read */
  held: boolean
  local: LocalSockets
  txErrors: number
}

interface LocalSockets {
  address: string
  rx: Socket
  tx: Socket
  txPort: number
  users: number
  /** drops of packets that matched no session of this address, by reason */
  drops: Record<string, number>
  /** datagrams read since the held detections were last checked */
  reads: number
}

/**
 * libuv reads at most this many datagrams from one socket per turn of the
 * event loop (uv__udp_io): a turn that read this many may have left more
 */
const READS_PER_TURN = 32
/** at most this many turns a detection expiry waits for the sockets to be drained */
const MAX_HOLD_TURNS = 64
/** timer lateness buckets (ms): < 10, < 50, < 100, < 200, >= 200 */
export const LATE_BUCKETS_MS = [10, 50, 100, 200] as const

/** a timer this late (ms) is reported ('late'), at most once per LATE_REPORT_GAP_MS */
export const LATE_REPORT_MS = 100
const LATE_REPORT_GAP_MS = 10_000

const now = (): number => performance.now()

function bindSocket(sock: Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e)
    sock.once('error', onError)
    sock.bind({ address, port, exclusive: true }, () => {
      sock.off('error', onError)
      resolve()
    })
  })
}

export class BfdWorker {
  readonly #opts: BfdWorkerOptions
  readonly #post: (m: FromWorker) => void
  readonly #byKey = new Map<string, Entry>()
  readonly #byDiscr = new Map<number, Entry>()
  /** `${local}|${remote}` */
  readonly #byPeer = new Map<string, Entry>()
  readonly #locals = new Map<string, Promise<LocalSockets>>()
  /** the bound sockets of #locals */
  readonly #open = new Set<LocalSockets>()
  /** sessions whose detection time expired, checked again once the sockets are read */
  readonly #held: Entry[] = []
  #holdTurns = 0
  #holdImmediate: NodeJS.Immediate | undefined
  /** how late timers fired, counts per LATE_BUCKETS_MS bucket */
  readonly #late = [0, 0, 0, 0, 0]
  /** detection expiries a datagram read after the timer saved (the session stayed Up) */
  #heldSaved = 0
  /** timers >= LATE_REPORT_MS late since the last 'late' report, the worst of them, and when it was sent */
  #lateCount = 0
  #lateWorst = 0
  #lateReportedAt = -Infinity
  #closed = false

  constructor(opts: BfdWorkerOptions, post: (m: FromWorker) => void) {
    this.#opts = opts
    this.#post = post
  }

  async handle(m: ToWorker): Promise<void> {
    try {
      switch (m.op) {
        case 'add':
          await this.#add(m.spec)
          this.#post({ ev: 'reply', id: m.id })
          break
        case 'remove':
          await this.#remove(m.key)
          this.#post({ ev: 'reply', id: m.id })
          break
        case 'admin': {
          const e = this.#byKey.get(m.key)
          if (!e) throw new Error(`no BFD session ${m.key}`)
          this.#apply(e, e.session.setAdminDown(m.down, now()))
          this.#post({ ev: 'reply', id: m.id })
          break
        }
        case 'status':
          this.#post({ ev: 'reply', id: m.id, status: [...this.#byKey.values()].map((e) => this.#status(e)), unmatched: this.#unmatched(), loop: this.#loop() })
          break
        case 'close':
          await this.close()
          this.#post({ ev: 'reply', id: m.id })
          break
      }
    } catch (e) {
      this.#post({ ev: 'reply', id: m.id, error: (e as Error).message })
    }
  }

  #newDiscr(): number {
    for (;;) {
      const d = (Math.floor(Math.random() * 0xffff_fffe) + 1) >>> 0
      if (d !== 0 && !this.#byDiscr.has(d)) return d
    }
  }

  async #local(address: string): Promise<LocalSockets> {
    let p = this.#locals.get(address)
    if (!p) {
      p = this.#openLocal(address)
      this.#locals.set(address, p)
      p.catch(() => this.#locals.delete(address))
    }
    return p
  }

  async #openLocal(address: string): Promise<LocalSockets> {
    const rx = createSocket({ type: 'udp4', reuseAddr: false })
    try {
      await bindSocket(rx, address, this.#opts.port)
    } catch (e) {
      rx.close()
      throw new Error(`cannot bind UDP ${address}:${this.#opts.port} for BFD: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}${(e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? ' (another BFD speaker, e.g. bfdd or BIRD, runs on this address?)' : ''}`)
    }
    let tx: Socket | undefined
    let txPort = 0
    const span = this.#opts.sourcePortMax - this.#opts.sourcePortMin + 1
    for (let attempt = 0; attempt < 64 && !tx; attempt++) {
      const port = this.#opts.sourcePortMin + Math.floor(Math.random() * span)
      const s = createSocket({ type: 'udp4', reuseAddr: false })
      try {
        await bindSocket(s, address, port)
        tx = s
        txPort = port
      } catch {
        s.close()
      }
    }
    if (!tx) {
      rx.close()
      throw new Error(`cannot bind a BFD source port in ${this.#opts.sourcePortMin}..${this.#opts.sourcePortMax} on ${address}`)
    }
    tx.setTTL(this.#opts.ttl)
    const l: LocalSockets = { address, rx, tx, txPort, users: 0, drops: {}, reads: 0 }
    rx.on('message', (msg, rinfo) => this.#receive(l, msg, rinfo.address))
    rx.on('error', (e) => this.#post({ ev: 'error', where: `receive on ${address}:${this.#opts.port}`, message: e.message }))
    tx.on('error', (e) => this.#post({ ev: 'error', where: `send socket ${address}:${txPort}`, message: e.message }))
    // the send socket receives nothing we want; drain anything that arrives on it
    tx.on('message', () => undefined)
    this.#open.add(l)
    return l
  }

  async #add(spec: BfdSessionSpec): Promise<void> {
    if (this.#closed) throw new Error('BFD is closed')
    if (this.#byKey.has(spec.key)) throw new Error(`BFD session ${spec.key} already exists`)
    const peerKey = `${spec.local}|${spec.remote}`
    if (this.#byPeer.has(peerKey)) throw new Error(`a BFD session from ${spec.local} to ${spec.remote} already exists (${this.#byPeer.get(peerKey)!.spec.key})`)
    const local = await this.#local(spec.local)
    if (this.#byKey.has(spec.key) || this.#byPeer.has(peerKey)) throw new Error(`BFD session ${spec.key} already exists`)
    const t = now()
    const session = new BfdSession(
      {
        localDiscriminator: this.#newDiscr(),
        desiredMinTx: Math.round(spec.desiredMinTx * 1000),
        requiredMinRx: Math.round(spec.requiredMinRx * 1000),
        detectMult: spec.multiplier,
        ...(spec.auth ? { auth: { type: spec.auth.type, keys: spec.auth.keys.map((k) => ({ id: k.id, secret: Buffer.from(k.secret) })) } } : {}),
        ...(spec.adminDown ? { adminDown: true } : {}),
      },
      t,
    )
    const e: Entry = { spec, session, timer: undefined, timerAt: Infinity, held: false, local, txErrors: 0 }
    local.users++
    this.#byKey.set(spec.key, e)
    this.#byDiscr.set(session.localDiscr, e)
    this.#byPeer.set(peerKey, e)
    this.#apply(e, session.start(t))
  }

  async #remove(key: string): Promise<void> {
    const e = this.#byKey.get(key)
    if (!e) return
    // tell the neighbour (AdminDown, diag 7) so it does not declare a failure
    // (no state event: the caller removed it)
    const out = e.session.setAdminDown(true, now())
    this.#apply(e, { packets: out.packets, changes: [] }, false)
    clearTimeout(e.timer)
    this.#byKey.delete(key)
    this.#byDiscr.delete(e.session.localDiscr)
    this.#byPeer.delete(`${e.spec.local}|${e.spec.remote}`)
    e.local.users--
    if (e.local.users === 0) {
      this.#locals.delete(e.local.address)
      this.#open.delete(e.local)
      await new Promise<void>((r) => setTimeout(r, 5)) // let the AdminDown packet leave
      e.local.rx.close()
      e.local.tx.close()
    }
  }

  #apply(e: Entry, out: BfdOutput, reschedule = true): void {
    for (const p of out.packets) {
      e.local.tx.send(p, this.#opts.port, e.spec.remote, (error) => {
        if (error) e.txErrors++
      })
    }
    for (const c of out.changes) this.#post({ ev: 'state', key: e.spec.key, from: c.from, to: c.to, diag: c.diag, remote: c.remote })
    if (reschedule) this.#schedule(e)
  }

  #schedule(e: Entry): void {
    if (this.#closed || this.#byKey.get(e.spec.key) !== e) {
      clearTimeout(e.timer)
      e.timer = undefined
      return
    }
    const at = e.session.nextWake()
    // a timer due no later than the next wake stays (it fires, finds nothing due
    // or something earlier, and sets the next): a received packet usually moves
    // only the detection time, which is after the next transmission
    if (e.timer !== undefined && e.timerAt <= at) return
    clearTimeout(e.timer)
    e.timer = undefined
    e.timerAt = at
    if (at === Infinity) return
    e.timer = setTimeout(() => this.#fire(e), Math.max(0, at - now()))
  }

  #fire(e: Entry): void {
    e.timer = undefined
    const t = now()
    const late = t - e.timerAt
    e.timerAt = Infinity
    let b = 0
    while (b < LATE_BUCKETS_MS.length && late >= LATE_BUCKETS_MS[b]!) b++
    this.#late[b]!++
    if (late >= LATE_REPORT_MS) this.#reportLate(t, late)
    try {
      if (!e.held && e.session.detectionDue(t)) {
        // libuv runs due timers before it reads the sockets: after a stall of this
        // thread the neighbour's packets may be waiting unread. Send what is due,
        // then decide on the detection time once the sockets have been read.
        this.#apply(e, e.session.transmitDue(t), false)
        this.#hold(e)
        return
      }
      this.#apply(e, e.session.expire(t))
    } catch (error) {
      this.#post({ ev: 'error', where: `session ${e.spec.key} timer`, message: (error as Error).message })
    }
  }

  /**
   * A timer that fires this late means this thread did not get a CPU (or its
   * heap was being collected) for that long: with detection times of a few
   * hundred ms, neighbours may see us as down and we them. Reported so the
   * operator can tell a starved host from a network failure.
   */
  #reportLate(t: number, late: number): void {
    this.#lateCount++
    this.#lateWorst = Math.max(this.#lateWorst, late)
    if (t - this.#lateReportedAt < LATE_REPORT_GAP_MS) return
    this.#post({ ev: 'late', timers: this.#lateCount, worstMs: Math.round(this.#lateWorst) })
    this.#lateReportedAt = t
    this.#lateCount = 0
    this.#lateWorst = 0
  }

  #hold(e: Entry): void {
    e.held = true
    this.#held.push(e)
    if (this.#holdImmediate === undefined) {
      this.#holdTurns = 0
      for (const l of this.#open) l.reads = 0
      this.#holdImmediate = setImmediate(() => this.#checkHeld())
    }
  }

  /** Runs after a poll phase: expires the held sessions once no socket may have more to read. */
  #checkHeld(): void {
    this.#holdImmediate = undefined
    let more = false
    for (const l of this.#open) {
      if (l.reads >= READS_PER_TURN) more = true
      l.reads = 0
    }
    if (more && ++this.#holdTurns < MAX_HOLD_TURNS) {
      this.#holdImmediate = setImmediate(() => this.#checkHeld())
      return
    }
    const held = this.#held.splice(0)
    const t = now()
    for (const e of held) {
      e.held = false
      if (this.#byKey.get(e.spec.key) !== e) continue
      if (!e.session.detectionDue(t)) this.#heldSaved++
      try {
        this.#apply(e, e.session.expire(t))
      } catch (error) {
        this.#post({ ev: 'error', where: `session ${e.spec.key} timer`, message: (error as Error).message })
      }
    }
  }

  #receive(l: LocalSockets, msg: Buffer, from: string): void {
    l.reads++
    try {
      const d = decodePacket(msg)
      if (!d.ok) {
        l.drops[d.error.reason] = (l.drops[d.error.reason] ?? 0) + 1
        return
      }
      const pkt = d.value
      const e = pkt.yourDiscriminator !== 0 ? this.#byDiscr.get(pkt.yourDiscriminator) : this.#byPeer.get(`${l.address}|${from}`)
      if (!e || e.local !== l) {
        l.drops['no-session'] = (l.drops['no-session'] ?? 0) + 1
        return
      }
      if (e.spec.remote !== from) {
        l.drops['source-mismatch'] = (l.drops['source-mismatch'] ?? 0) + 1
        return
      }
      const r = e.session.receive(pkt, msg, now())
      this.#apply(e, r.output)
    } catch (error) {
      this.#post({ ev: 'error', where: `packet from ${from}`, message: (error as Error).message })
    }
  }

  #status(e: Entry): BfdSessionStatus {
    const s = e.session
    const t = now()
    const drops: Record<string, number> = {}
    for (const [k, n] of Object.entries(s.counters.drops)) drops[k] = n ?? 0
    if (e.txErrors > 0) drops['tx-error'] = e.txErrors
    const since = s.sinceLastRx(t)
    return {
      key: e.spec.key,
      local: e.spec.local,
      remote: e.spec.remote,
      ...(e.spec.interface ? { interface: e.spec.interface } : {}),
      state: s.state,
      remoteState: s.remoteState,
      localDiscriminator: s.localDiscr,
      remoteDiscriminator: s.remoteDiscr,
      txInterval: s.txInterval / 1000,
      rxInterval: s.rxInterval / 1000,
      detectionTime: s.detectionTime / 1000,
      lastDownDiag: s.lastDownDiag,
      diag: s.diag,
      packetsIn: s.counters.rx,
      packetsOut: s.counters.tx,
      drops,
      lastRxAgo: Number.isFinite(since) ? Math.round(since) : null,
      sourcePort: e.local.txPort,
    }
  }

  #loop(): BfdLoopStatus {
    return { timerLate: [...this.#late], heldSaved: this.#heldSaved }
  }

  /** Drops of packets that matched no session (or failed decoding), per local address. */
  #unmatched(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {}
    for (const l of this.#open) if (l.users > 0) out[l.address] = { ...l.drops }
    return out
  }

  async close(): Promise<void> {
    if (this.#closed) return
    for (const key of [...this.#byKey.keys()]) await this.#remove(key)
    this.#closed = true
  }
}

if (parentPort && workerData && (workerData as { bfdWorker?: boolean }).bfdWorker) {
  const port = parentPort
  const w = new BfdWorker((workerData as { options: BfdWorkerOptions }).options, (m) => port.postMessage(m))
  port.on('message', (m: ToWorker) => {
    void w.handle(m).then(() => {
      if (m.op === 'close') port.close()
    })
  })
}
