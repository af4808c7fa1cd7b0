/**
 * BfdService: BFD (RFC 5880 asynchronous mode, RFC 5881 single hop) for the
 * main thread. Sessions, sockets and timers live in a worker thread
 * (worker.ts), so main-loop stalls cannot cause a false down.
 *
 *   const bfd = await BfdService.start({ gtsm: true })
 *   bfd.on('up', (key) => ...)              // session reached Up
 *   bfd.on('down', (key, diag, remote) => ...)   // left Up (diag: codec.ts Diag, DIAG_TEXT;
 *                                           // remote: the neighbour's state that caused it)
 *   bfd.on('state', (key, from, to, diag, remote) => ...)   // every transition
 *   bfd.on('error', (err) => ...)           // socket errors (not per packet)
 *   bfd.on('late', (timers, worstMs) => ...) // BFD's thread was starved (timers >= 100 ms late)
 *   await bfd.add({ key: 'peer1', local: '10.0.0.1', remote: '10.0.0.2',
 *                   desiredMinTx: 100, requiredMinRx: 100, multiplier: 3,
 *                   auth: { type: 'sha1', keys: [{ id: 1, secret }] } })
 *   await bfd.status()   // { sessions: BfdSessionStatus[], unmatched, ttlDrops, loop }
 *   await bfd.remove('peer1')   // sends AdminDown (diag 7) first
 *   await bfd.close()
 *
 * Intervals are in milliseconds. add() rejects when the local address cannot
 * be bound (named in the message) or the key / address pair is taken.
 * 'down' is emitted only for a session that was Up; a session that never came
 * up stays silent. Events are delivered in order; while the main thread is
 * busy they queue, BFD itself keeps running.
 */
import { EventEmitter } from 'node:events'
import { Worker } from 'node:worker_threads'
import { BFD_PORT, type BfdState } from './codec.js'
import { gtsmDrops, installGtsm, removeGtsm } from './gtsm.js'
import type { BfdLoopStatus, BfdSessionSpec, BfdSessionStatus, BfdWorkerOptions, FromWorker, ToWorker } from './messages.js'

export type { BfdSessionSpec, BfdSessionStatus } from './messages.js'

export interface BfdServiceOptions {
  /** UDP port (default 3784) */
  port?: number
  /** install the TTL 255 check (gtsm.ts; needs iptables and CAP_NET_ADMIN). Default false. */
  gtsm?: boolean
  /** source port range (default 49152..65535) */
  sourcePortMin?: number
  sourcePortMax?: number
}

export interface BfdStatus {
  sessions: BfdSessionStatus[]
  /** per local address: packets that failed decoding or matched no session, by reason */
  unmatched: Record<string, Record<string, number>>
  /** packets dropped by the TTL check (gtsm), when installed */
  ttlDrops?: number
  /** the BFD thread's timer lateness and the detection expiries a late read undid */
  loop: BfdLoopStatus
}

export interface BfdServiceEvents {
  up: [key: string]
  down: [key: string, diag: number, remote: BfdState]
  state: [key: string, from: BfdState, to: BfdState, diag: number, remote: BfdState]
  error: [error: Error]
  /** the BFD thread's timers fired late (>= 100 ms): it did not get a CPU in time; at most one event per 10 s */
  late: [timers: number, worstMs: number]
}

type Pending = { resolve: (m: Extract<FromWorker, { ev: 'reply' }>) => void; reject: (e: Error) => void }

function workerEntry(): URL {
  if (!import.meta.url.endsWith('.ts')) return new URL('./worker.js', import.meta.url)
  // under tsx (tests, `node --import tsx`) the worker is a .ts file: Node 20 does not
  // apply the parent's --import loader to a worker's entry, so register tsx first
  const tsx = import.meta.resolve('tsx/esm/api')
  const entry = new URL('./worker.ts', import.meta.url).href
  const code = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry)});`
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`)
}

export class BfdService extends EventEmitter<BfdServiceEvents> {
  readonly #worker: Worker
  readonly #pending = new Map<number, Pending>()
  readonly #port: number
  readonly #gtsm: boolean
  #nextId = 1
  #closed = false
  #exited: Promise<void>

  private constructor(worker: Worker, port: number, gtsm: boolean) {
    super()
    this.#worker = worker
    this.#port = port
    this.#gtsm = gtsm
    worker.on('message', (m: FromWorker) => this.#onMessage(m))
    worker.on('error', (e) => this.#fail(e))
    this.#exited = new Promise((resolve) => {
      worker.once('exit', (code) => {
        if (!this.#closed) this.#fail(new Error(`BFD worker exited (code ${code})`))
        resolve()
      })
    })
  }

  static async start(opts: BfdServiceOptions = {}): Promise<BfdService> {
    const options: BfdWorkerOptions = { port: opts.port ?? BFD_PORT, ttl: 255, sourcePortMin: opts.sourcePortMin ?? 49152, sourcePortMax: opts.sourcePortMax ?? 65535 }
    if (opts.gtsm) await installGtsm(options.port)
    const worker = new Worker(workerEntry(), { workerData: { bfdWorker: true, options } })
    return new BfdService(worker, options.port, opts.gtsm ?? false)
  }

  #fail(e: Error): void {
    for (const p of this.#pending.values()) p.reject(e)
    this.#pending.clear()
    if (this.listenerCount('error') > 0) this.emit('error', e)
  }

  #onMessage(m: FromWorker): void {
    if (m.ev === 'reply') {
      const p = this.#pending.get(m.id)
      this.#pending.delete(m.id)
      p?.resolve(m)
    } else if (m.ev === 'state') {
      this.emit('state', m.key, m.from, m.to, m.diag, m.remote)
      if (m.to === 'Up') this.emit('up', m.key)
      else if (m.from === 'Up') this.emit('down', m.key, m.diag, m.remote)
    } else if (m.ev === 'late') {
      this.emit('late', m.timers, m.worstMs)
    } else if (m.ev === 'error') {
      if (this.listenerCount('error') > 0) this.emit('error', new Error(`BFD ${m.where}: ${m.message}`))
    }
  }

  #call(msg: ToWorker): Promise<Extract<FromWorker, { ev: 'reply' }>> {
    if (this.#closed && msg.op !== 'close') return Promise.reject(new Error('BFD service is closed'))
    return new Promise((resolve, reject) => {
      this.#pending.set(msg.id, {
        resolve: (r) => (r.error !== undefined ? reject(new Error(r.error)) : resolve(r)),
        reject,
      })
      this.#worker.postMessage(msg)
    })
  }

  /** Adds a session; it starts in Down and sends at once. */
  async add(spec: BfdSessionSpec): Promise<void> {
    await this.#call({ op: 'add', id: this.#nextId++, spec })
  }

  /** Removes a session after telling the neighbour AdminDown. Unknown keys are ignored. */
  async remove(key: string): Promise<void> {
    await this.#call({ op: 'remove', id: this.#nextId++, key })
  }

  /** Puts a session into AdminDown (diag 7) or back to Down. */
  async setAdminDown(key: string, down: boolean): Promise<void> {
    await this.#call({ op: 'admin', id: this.#nextId++, key, down })
  }

  async status(): Promise<BfdStatus> {
    const r = await this.#call({ op: 'status', id: this.#nextId++ })
    const out: BfdStatus = { sessions: r.status ?? [], unmatched: r.unmatched ?? {}, loop: r.loop ?? { timerLate: [], heldSaved: 0 } }
    if (this.#gtsm) out.ttlDrops = await gtsmDrops(this.#port).catch(() => 0)
    return out
  }

  /** Removes every session (AdminDown to each neighbour), stops the worker and removes the TTL rule. */
  async close(): Promise<void> {
    if (this.#closed) return
    try {
      await this.#call({ op: 'close', id: this.#nextId++ })
    } catch {
      // the worker is gone already
    }
    this.#closed = true
    await this.#worker.terminate()
    await this.#exited
    if (this.#gtsm) await removeGtsm().catch(() => undefined)
  }
}
