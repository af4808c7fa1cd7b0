/**
 * An in-memory kernel behind the KernelPort, for FIB sync's unit tests. It
 * behaves like Linux's IPv4 FIB where fabric can tell: routes keyed by
 * (table, prefix, metric); add on a taken key answers EEXIST, delete of a
 * missing route ESRCH, a gateway off every connected network ENETUNREACH,
 * the broadcast or network address of a connected network EINVAL; every
 * change emits a route event, by default before the batch's acks (the race
 * fabric meets on a real kernel, where events come on another socket).
 */
import type { Connected } from '../../../src/kernel/connected.js'
import { ERRNO } from '../../../src/kernel/errno.js'
import { type KernelListener, type KernelPort, type KernelSubscription, OP, type RouteBatch } from '../../../src/kernel/port.js'
import type { Timer, Timers } from '../../../src/kernel/timers.js'
import type { KernelRoute } from '../../../src/kernel/types.js'
import { type Prefix, containsAddress, formatPrefix, maskOf, } from '../../../src/net/ipv4.js'
export { P, A } from '../../helpers/net.js'
import { P, A } from '../../helpers/net.js'


const key = (table: number, p: Prefix, metric: number): string => `${table} ${formatPrefix(p)} ${metric}`

export class FakeKernel implements KernelPort {
  readonly routes = new Map<string, KernelRoute>()
  connectedNets: Connected[]
  /** 'before-ack': events arrive before applyBatch resolves; 'after-ack': after; 'late': when releaseEvents() is called (a monitor socket read long after the acks); 'none': never */
  events: 'before-ack' | 'after-ack' | 'late' | 'none' = 'before-ack'
  private lateEvents: ['new' | 'del', KernelRoute][] = []
  private listeners = new Set<{ l: KernelListener; paused: boolean }>()
  /** when set, applyBatch waits for this before answering (a batch "in flight") */
  gate: Promise<void> | undefined
  batches = 0
  dumps = 0

  constructor(connected: Connected[] = [{ name: 'up0', net: P('10.0.0.0/24'), local: A('10.0.0.1') }]) {
    this.connectedNets = connected
  }

  /** holds the next batches until the returned function is called */
  hold(): () => void {
    let release!: () => void
    this.gate = new Promise((r) => { release = r })
    return () => { this.gate = undefined; release() }
  }

  private gatewayErrno(gw: number): number {
    const on = this.connectedNets.find((c) => containsAddress(c.net, gw))
    if (on === undefined) return ERRNO.ENETUNREACH
    const bcast = (on.net.addr | ~maskOf(on.net.len)) >>> 0
    if (on.net.len <= 30 && (gw === bcast || gw === on.net.addr)) return ERRNO.EINVAL
    if (gw === on.local) return ERRNO.EINVAL
    return 0
  }

  private emit(kind: 'new' | 'del', r: KernelRoute): void {
    if (this.events === 'none') return
    for (const s of this.listeners) if (!s.paused) s.l.route(kind, { ...r })
  }

  async applyBatch(b: RouteBatch): Promise<Int32Array> {
    this.batches++
    if (this.gate) await this.gate
    const errnos = new Int32Array(b.length)
    const events: ['new' | 'del', KernelRoute][] = []
    for (let i = 0; i < b.length; i++) {
      const prefix = { addr: b.addr[i]!, len: b.len[i]! }
      const metric = Math.max(0, b.metric[i]!)
      const gw = b.gateway[i]! < 0 ? undefined : b.gateway[i]!
      const k = key(b.table, prefix, metric)
      const held = this.routes.get(k)
      if (b.kind[i] === OP.DELETE) {
        if (held === undefined || held.protocol !== b.protocol || (gw !== undefined && held.gateway !== gw)) { errnos[i] = ERRNO.ESRCH; continue }
        this.routes.delete(k)
        events.push(['del', held])
        continue
      }
      if (gw !== undefined) {
        const e = this.gatewayErrno(gw)
        if (e !== 0) { errnos[i] = e; continue }
      }
      if (b.kind[i] === OP.ADD && held !== undefined) { errnos[i] = ERRNO.EEXIST; continue }
      const r: KernelRoute = { prefix, table: b.table, protocol: b.protocol, metric, type: 1, scope: 0, gateway: gw }
      this.routes.set(k, r)
      events.push(['new', r])
    }
    if (this.events === 'before-ack') for (const [kind, r] of events) this.emit(kind, r)
    else if (this.events === 'after-ack') setImmediate(() => { for (const [kind, r] of events) this.emit(kind, r) })
    else if (this.events === 'late') this.lateEvents.push(...events)
    return errnos
  }

  /** delivers the events held in mode 'late' */
  releaseEvents(): void {
    const held = this.lateEvents
    this.lateEvents = []
    for (const [kind, r] of held) for (const s of this.listeners) if (!s.paused) s.l.route(kind, { ...r })
  }

  async streamRoutes(onRoute: (r: KernelRoute) => void, table?: number): Promise<void> {
    this.dumps++
    await Promise.resolve()
    for (const r of [...this.routes.values()]) if (table === undefined || r.table === table) onRoute({ ...r })
  }

  async connected(): Promise<Connected[]> {
    return this.connectedNets
  }

  subscribe(l: KernelListener): KernelSubscription {
    const s = { l, paused: false }
    this.listeners.add(s)
    return { pause: () => { s.paused = true }, resume: () => { s.paused = false }, close: () => { this.listeners.delete(s) } }
  }

  /** A change made behind fabric's back (`ip route ...` by hand, another daemon). */
  external(op: 'add' | 'delete', r: { prefix: string; gateway?: string; protocol: number; metric?: number }): void {
    const route: KernelRoute = { prefix: P(r.prefix), table: 254, protocol: r.protocol, metric: r.metric ?? 0, type: 1, scope: 0, gateway: r.gateway ? A(r.gateway) : undefined }
    const k = key(254, route.prefix, route.metric)
    if (op === 'add') {
      this.routes.set(k, route)
      this.emit('new', route)
    } else {
      const held = this.routes.get(k)
      if (held) {
        this.routes.delete(k)
        this.emit('del', held)
      }
    }
  }

  setConnected(c: Connected[]): void {
    this.connectedNets = c
    for (const s of this.listeners) s.l.interfaces()
  }

  /** fabric's routes as "prefix via gateway" lines, sorted */
  ours(protocol = 233): string[] {
    return [...this.routes.values()].filter((r) => r.protocol === protocol).map((r) => `${formatPrefix(r.prefix)} via ${r.gateway !== undefined ? fmt(r.gateway) : '-'}${r.metric ? ` metric ${r.metric}` : ''}`).sort()
  }
}

const fmt = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`

/** A clock moved by hand. */
export class ManualTimers implements Timers {
  private t = 1_700_000_000_000
  private seq = 0
  private readonly due = new Map<number, { at: number; fn: () => void; every?: number }>()

  now(): number {
    return this.t
  }

  after(ms: number, fn: () => void): Timer {
    const id = ++this.seq
    this.due.set(id, { at: this.t + ms, fn })
    return { cancel: () => { this.due.delete(id) } }
  }

  every(ms: number, fn: () => void): Timer {
    const id = ++this.seq
    this.due.set(id, { at: this.t + ms, fn, every: ms })
    return { cancel: () => { this.due.delete(id) } }
  }

  /** moves the clock, running every timer that comes due, in order */
  advance(ms: number): void {
    const end = this.t + ms
    for (;;) {
      let next: [number, { at: number; fn: () => void; every?: number }] | undefined
      for (const e of this.due) if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e
      if (next === undefined) break
      const [id, timer] = next
      this.t = Math.max(this.t, timer.at)
      if (timer.every !== undefined) timer.at += timer.every
      else this.due.delete(id)
      timer.fn()
    }
    this.t = end
  }
}

export interface LogLine { level: string; event: string; fields: Record<string, unknown> }

/** A logger that keeps its lines (limited() is not rate-limited here: every line counts). */
export function memoryLog(): { lines: LogLine[]; log: (level: 'debug' | 'info' | 'warn' | 'error', event: string, fields?: Record<string, unknown>) => void; limited: (level: 'debug' | 'info' | 'warn' | 'error', event: string, key: string, fields?: Record<string, unknown>) => void; events: (name: string) => LogLine[] } {
  const lines: LogLine[] = []
  return {
    lines,
    log: (level, event, fields = {}) => { lines.push({ level, event, fields }) },
    limited: (level, event, _key, fields = {}) => { lines.push({ level, event, fields }) },
    events: (name) => lines.filter((l) => l.event === name),
  }
}
