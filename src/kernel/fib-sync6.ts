/**
 * FIB sync for IPv6: the only writer of fabric's IPv6 kernel routes, with
 * the same contract and per-prefix states as IPv4's FibSync (fib-sync.ts):
 * only routes of fabric's protocol are touched, a prefix another protocol
 * holds is a conflict left alone, a route deleted or changed by hand comes
 * back, fabric's own route events are not drift, next hops are checked
 * before the kernel sees them.
 *
 * A second class rather than FibSync over a family parameter: IPv4's hot
 * path (a million routes in PrefixMap/PrefixBitSet over uint32, columnar
 * batches, incremental runs without a dump) stays as it is, and IPv6 tables
 * in fabric are small (a subnet per host), so every IPv6 run is a full
 * reconcile: dump the kernel's IPv6 routes of the table, diff, apply.
 *
 * The kernel route of a desired route is `prefix via nextHop dev IFACE
 * metric M proto P`: RTA_OIF is always sent (link-local next hops need it;
 * for a global one it is the interface whose prefix holds the next hop),
 * and RTA_PRIORITY is always sent, so a delete matches exactly one route
 * (an IPv6 delete without a metric matches any).
 */
import type { Logger } from '../core/log.js'
import {
  NEXT_HOP_PROBLEM_TEXT6, type NextHopScope6, type Prefix6, PrefixMap6, containsAddress6, formatPrefix6, isLinkLocal6, nextHopProblem6, parseIpv6, formatIpv6,
} from '../net/ipv6.js'
import type { Connected6 } from './connected.js'
import type { ReconcileResult } from './fib-sync.js'
import { ERRNO, errnoName } from './errno.js'
import { type KernelPort6, OP, type OpCode, RouteBatch6, opKind } from './port.js'
import { INSTALLED, type NextHopRefusal, isUnsettled, PENDING, type RouteState, type StateName } from './route-state.js'
import { IP6_RT_PRIO_USER, RTN } from './rtnl-codec.js'
import { type ExpectedEvent, OwnEvents, SyncRunner, conflictReason, conflictsOf, opEvent, zeroCounts } from './sync-common.js'
import { type Timers, systemTimers } from './timers.js'
import type { KernelRoute6 } from './types.js'

/** An IPv6 route fabric wants in the kernel (Route6 of the sources fits it). */
export interface DesiredRoute6 {
  readonly prefix: Prefix6
  /** RFC 5952 text */
  readonly nextHop: string
  /** the interface of the next hop: required for a link-local one; for a global one, checked when given */
  readonly interface?: string
  /** the source's metric (RIPng hop count, MED, 0) */
  readonly metric: number
  /** for messages: which peer/host this route comes from */
  readonly peer: string
  /** seconds since the Unix epoch when the source learned it */
  readonly since?: number
}

/** The desired IPv6 routes, one per prefix (rib6.ts's best routes). */
export interface DesiredTable6 {
  get(prefix: Prefix6): DesiredRoute6 | undefined
  values(): Iterable<DesiredRoute6>
  readonly size: number
}

export interface FibSync6Options {
  port: KernelPort6
  timers?: Timers
  protocol: number
  table: number
  log: Pick<Logger, 'log' | 'limited'>
  desired: DesiredTable6
  /**
   * Where next hops may be: global ones on `underlay` (not in `pools`, not
   * `self`), link-local ones only through `interface` (the underlay
   * interface). Without it only on-link-ness is checked. This host's own
   * addresses are always refused.
   */
  nextHopScope?: NextHopScope6 & { readonly interface?: string }
  /** debounce of change-triggered runs, ms */
  debounceMs?: number
  onRun?: (r: ReconcileResult6) => void
  /**
   * The kernel metric (RTA_PRIORITY) of a route; default `defaultMetric6`:
   * 1024 (what the kernel gives user routes) plus the source's metric.
   */
  metricOf?: (r: DesiredRoute6) => number
}

/** An IPv6 run: always a full reconcile. */
export interface ReconcileResult6 extends ReconcileResult {
  kind: 'full'
}

export interface FibStats6 {
  reconciles: number
  opsApplied: number
  opsFailed: number
  lastReconcile?: ReconcileResult6
  lastError?: string
}

/** 1024 + the source's metric: fabric's IPv6 routes sit where `ip -6 route add` puts routes, ordered by the source metric. */
export function defaultMetric6(r: DesiredRoute6): number {
  return IP6_RT_PRIO_USER + Math.max(0, Math.min(0xfffffbff, Math.floor(r.metric)))
}

const LOG_EACH_MAX = 64
/** how long the events of an applied batch are still expected (queued on the event socket behind a busy loop) */
const EXPECT_MS = 30_000

/** What fabric has (or would have) in the kernel for a prefix. */
interface Inst {
  gateway: string
  oif: number
  metric: number
}

interface Slot6 {
  route: DesiredRoute6
  state: RouteState
  /** the route fabric installed for this prefix (undefined: none known) */
  inst: Inst | undefined
  /** seconds since the FibSync6 was made, when `route` was set */
  since: number
}

interface Expected6 extends ExpectedEvent<string | undefined> {
  oif: number
}

type Check = { ok: true; inst: Inst } | { ok: false; refused: NextHopRefusal; reason: string; iface: string | null }

export class FibSync6 extends SyncRunner<ReconcileResult6> {
  /** false during startup grace: stale routes are adopted, not deleted (removals of withdrawn prefixes still go) */
  allowDeletes = false
  readonly stats: FibStats6 = { reconciles: 0, opsApplied: 0, opsFailed: 0 }
  private readonly slots = new PrefixMap6<Slot6>()
  /** what fabric installed for prefixes nobody wants any more: deleted on the next run */
  private readonly removals = new PrefixMap6<Inst>()
  private readonly own = new OwnEvents<Prefix6, Expected6>(new PrefixMap6<Expected6[]>())
  private conflictKeys = new PrefixMap6<true>()
  private readonly metricOf: (r: DesiredRoute6) => number
  private readonly epoch: number
  private readonly debounceMs: number
  private requested = false
  private batchSeq = 0
  private lastRunEnd = 0
  /** reconcile interval (ms), and whether start() made runs recur */
  private intervalMs = 0
  private periodic = false

  constructor(private readonly opts: FibSync6Options) {
    super(opts.timers ?? systemTimers, opts.log, { family: 6 })
    this.metricOf = opts.metricOf ?? defaultMetric6
    this.epoch = this.timers.now()
    this.debounceMs = opts.debounceMs ?? 50
  }

  private now(): number {
    return Math.round((this.timers.now() - this.epoch) / 1000)
  }

  /** The desired route of a prefix changed (rib6's listener calls this; `previous` is accepted for the IPv4 signature). */
  setDesired(prefix: Prefix6, route: DesiredRoute6 | undefined, _previous?: DesiredRoute6): void {
    const slot = this.slots.get(prefix)
    if (route === undefined) {
      if (slot) {
        this.slots.delete(prefix)
        if (slot.inst) this.removals.set(prefix, slot.inst)
      }
      this.conflictKeys.delete(prefix)
    } else if (slot) {
      if (slot.route !== route) {
        slot.route = route
        slot.since = this.now()
        if (slot.state.state !== 'conflict') slot.state = PENDING
      }
    } else {
      this.slots.set(prefix, { route, state: PENDING, inst: undefined, since: this.now() })
      this.removals.delete(prefix)
    }
    this.request(this.debounceMs)
  }

  stateOf(prefix: Prefix6): RouteState | undefined {
    return this.desiredSlot(prefix)?.state
  }

  /** ms since the Unix epoch when the current route of a prefix was set */
  sinceOf(prefix: Prefix6): number | undefined {
    const s = this.desiredSlot(prefix)
    if (s === undefined) return undefined
    return s.route.since !== undefined ? s.route.since * 1000 : this.epoch + s.since * 1000
  }

  get size(): number {
    return this.opts.desired.size
  }

  stateCounts(): Record<StateName, number> {
    const c = zeroCounts()
    for (const r of this.opts.desired.values()) c[this.desiredSlot(r.prefix)?.state.state ?? 'pending']++
    return c
  }

  conflicts(): { prefix: string; reason: string }[] {
    return conflictsOf(this.slots.values(), formatPrefix6)
  }

  /** every desired route installed or explained (conflict, not on-link), nothing left to delete */
  inSync(): boolean {
    if (this.requested || this.running || this.removals.size > 0) return false
    for (const r of this.opts.desired.values()) {
      const s = this.desiredSlot(r.prefix)
      if (s === undefined || isUnsettled(s.state)) return false
    }
    return true
  }

  /** The Slot of a prefix, made for desired routes set without setDesired (a table filled before the FibSync6). */
  private desiredSlot(prefix: Prefix6): Slot6 | undefined {
    const route = this.opts.desired.get(prefix)
    if (route === undefined) return undefined
    let s = this.slots.get(prefix)
    if (s === undefined) {
      s = { route, state: PENDING, inst: undefined, since: this.now() }
      this.slots.set(prefix, s)
    } else if (s.route !== route) {
      s.route = route
    }
    return s
  }

  /** Starts the periodic reconcile and the kernel's IPv6 event subscription. */
  start(intervalSeconds: number): void {
    this.intervalMs = intervalSeconds * 1000
    this.periodic = true
    this.periodicAt((this.lastRunEnd > 0 ? this.lastRunEnd : this.timers.now()) + this.intervalMs, () => this.periodicRun())
    this.subscription = this.opts.port.subscribe6({
      route: (kind, r) => this.guard(() => this.onRouteEvent(kind, r)),
      interfaces: () => this.guard(() => this.request(this.debounceMs)),
      overrun: () => this.guard(() => this.request(this.debounceMs)),
    })
  }

  protected requestReconcile(): void {
    this.requested = true
  }

  protected pending(): boolean {
    return this.requested
  }

  protected async step(): Promise<void> {
    this.requested = false
    let done = false
    try {
      await this.run()
      done = true
    } finally {
      // the next periodic run counts from the end of this one (or, after a failure, from now)
      if (this.periodic) this.periodicAt((done ? this.lastRunEnd : this.timers.now()) + this.intervalMs, () => this.periodicRun())
    }
  }

  protected failed(): void {
    this.retry(1000)
  }

  /** The periodic run, at once in its timer's callback (no second timer through a kick). */
  private periodicRun(): void {
    this.requested = true
    this.runNow()
  }

  private request(delay: number): void {
    this.requested = true
    this.kick(delay)
  }

  /** A later run (after errors): not before its time. */
  private retry(delay: number): void {
    this.later(delay, () => this.request(0))
  }

  // ---- route events -----------------------------------------------------------

  private onRouteEvent(kind: 'new' | 'del', r: KernelRoute6): void {
    if (r.table !== this.opts.table) return
    const slot = this.slots.get(r.prefix)
    if (r.protocol !== this.opts.protocol) {
      // a foreign route on a desired prefix: a conflict starts (or ends)
      if (slot !== undefined || this.conflictKeys.has(r.prefix)) this.request(this.debounceMs)
      return
    }
    if (this.ownEvent(kind, r)) return
    const inst = slot?.inst
    if (inst === undefined) return // not something fabric installed
    const matches = r.gateway === inst.gateway && (r.oif ?? -1) === inst.oif && r.metric === inst.metric
    if ((kind === 'del' && matches) || (kind === 'new' && !matches)) {
      const change = kind === 'del' ? 'deleted' : 'changed'
      const p = formatPrefix6(r.prefix)
      this.opts.log.limited('warn', 'kernel-route-drift', `${p} ${change}`, { prefix: p, change, gateway: r.gateway ?? null })
      this.request(this.debounceMs)
    }
  }

  private ownEvent(kind: 'new' | 'del', r: KernelRoute6): boolean {
    const oif = r.oif ?? -1
    return this.own.take(r.prefix, (e) => e.kind === kind && e.gateway === r.gateway && e.metric === r.metric && (e.oif < 0 || e.oif === oif))
  }

  private expect(batch: RouteBatch6, id: number): void {
    for (const op of batch.ops) this.own.expect(op.prefix, { kind: op.kind === OP.DELETE ? 'del' : 'new', gateway: op.gateway, oif: op.oif, metric: op.metric, batch: id })
  }

  /** Forgets the expectations of the batch's failed operations. */
  private unexpectFailed(batch: RouteBatch6, id: number, errnos: Int32Array): void {
    batch.ops.forEach((op, i) => {
      if (errnos[i] === 0) return
      const kind = op.kind === OP.DELETE ? 'del' : 'new'
      this.own.take(op.prefix, (e) => e.batch === id && e.kind === kind && e.gateway === op.gateway && e.metric === op.metric)
    })
  }

  private unexpect(batch: RouteBatch6, id: number): void {
    for (const op of batch.ops) this.own.forgetBatch(op.prefix, id)
  }

  // ---- next hops --------------------------------------------------------------

  /** Whether `want` may go to the kernel, and as which kernel route. */
  private check(want: DesiredRoute6, connected: Connected6[]): Check {
    const nh = want.nextHop
    const bytes = parseIpv6(nh)
    const text = bytes ? formatIpv6(bytes) : nh
    const who = `next hop ${text} of peer ${want.peer}`
    const scope = this.opts.nextHopScope
    const metric = this.metricOf(want)
    if (bytes === undefined) return { ok: false, refused: 'bad-next-hop', iface: null, reason: `${who} is not an IPv6 address` }
    const own = connected.find((c) => c.local === text)
    if (own !== undefined) return { ok: false, refused: 'not-on-link', iface: own.name, reason: `${who} is this host's own address on ${own.name}` }
    let on: Connected6 | undefined
    if (isLinkLocal6(bytes)) {
      const iface = want.interface
      if (iface === undefined) return { ok: false, refused: 'not-on-link', iface: null, reason: `link-local ${who} names no interface` }
      on = connected.find((c) => c.linkLocal && c.name === iface)
      if (on === undefined) return { ok: false, refused: 'not-on-link', iface, reason: `link-local ${who} is on ${iface}, which is down or has no IPv6 link-local address` }
      if (scope?.interface !== undefined && iface !== scope.interface) {
        return { ok: false, refused: 'bad-next-hop', iface, reason: `link-local ${who} is on ${iface}, not on the underlay interface ${scope.interface}` }
      }
    } else {
      on = connected.find((c) => !c.linkLocal && (want.interface === undefined || c.name === want.interface) && containsAddress6(c.net, bytes))
      if (on === undefined) {
        const nets = connected.filter((c) => !c.linkLocal).map((c) => `${c.name} ${formatPrefix6(c.net)}`).join(', ') || 'none'
        return { ok: false, refused: 'not-on-link', iface: want.interface ?? null, reason: `${who} is not on a directly connected IPv6 network${want.interface ? ` of ${want.interface}` : ''} (connected: ${nets})` }
      }
    }
    if (scope !== undefined) {
      const problem = nextHopProblem6(bytes, scope)
      if (problem !== undefined) return { ok: false, refused: 'bad-next-hop', iface: on.name, reason: `${who} is ${NEXT_HOP_PROBLEM_TEXT6[problem]}` }
    }
    return { ok: true, inst: { gateway: text, oif: on.index, metric } }
  }

  private refuse(slot: Slot6, c: Check & { ok: false }): void {
    const prev = slot.state
    if (prev.state === 'not-on-link' && prev.reason === c.reason) return
    slot.state = { state: 'not-on-link', refused: c.refused, reason: c.reason }
    this.opts.log.log('warn', 'route-refused', { prefix: formatPrefix6(slot.route.prefix), peer: slot.route.peer, nextHop: slot.route.nextHop, interface: c.iface, reason: c.reason })
  }

  // ---- the run ----------------------------------------------------------------

  /** Dump, diff, apply. */
  private async run(): Promise<void> {
    const t0 = this.timers.now()
    const { protocol, table, log, port } = this.opts
    const connected = await port.connected6()
    // every desired prefix: installable (as which kernel route) or refused
    const want = new PrefixMap6<{ slot: Slot6; inst: Inst }>()
    for (const route of this.opts.desired.values()) {
      const slot = this.desiredSlot(route.prefix)!
      const c = this.check(route, connected)
      if (c.ok) want.set(route.prefix, { slot, inst: c.inst })
      else this.refuse(slot, c)
    }
    for (const [p] of [...this.slots.entries()]) if (!this.opts.desired.get(p)) this.slots.delete(p)
    // the kernel's IPv6 routes of the table, by prefix
    const ours = new PrefixMap6<KernelRoute6[]>()
    const foreign = new PrefixMap6<KernelRoute6>()
    await port.streamRoutes6((r) => {
      if (r.table !== table) return
      if (r.protocol === protocol) {
        const l = ours.get(r.prefix)
        if (l) l.push(r)
        else ours.set(r.prefix, [r])
      } else if (this.slots.has(r.prefix) && !foreign.has(r.prefix)) {
        foreign.set(r.prefix, r)
      }
    }, table)
    const batch = new RouteBatch6(table, protocol)
    const late: KernelRoute6[] = []
    /** for each op: the Slot it settles (adds/replaces), or undefined (deletes) */
    const opSlots: (Slot6 | undefined)[] = []
    const del = (r: KernelRoute6, into?: KernelRoute6[]): void => {
      if (into) return void into.push(r)
      batch.push(OP.DELETE, r.prefix, r.gateway, r.oif, r.metric)
      opSlots.push(undefined)
    }
    const put = (kind: OpCode, slot: Slot6, inst: Inst): void => {
      batch.push(kind, slot.route.prefix, inst.gateway, inst.oif, inst.metric)
      opSlots.push(slot)
    }
    let conflicts = 0
    let unchanged = 0
    let keptStale = 0
    const newConflicts = new PrefixMap6<true>()
    for (const [p, routes] of ours.entries()) {
      if (this.slots.has(p)) continue
      // ours on a prefix nobody wants: withdrawn ones go at once, others after the startup grace
      if (this.removals.has(p) || this.allowDeletes) for (const r of routes) del(r)
      else keptStale += routes.length
    }
    for (const slot of this.slots.values()) {
      const p = slot.route.prefix
      const mine = ours.get(p) ?? []
      const w = want.get(p)
      const other = foreign.get(p)
      if (other !== undefined) {
        // another protocol holds the prefix: fabric leaves it, and its own route there, alone
        conflicts++
        newConflicts.set(p, true)
        slot.inst = undefined
        const reason = conflictReason(other.protocol, other.gateway, other.metric)
        if (slot.state.state !== 'conflict' || slot.state.reason !== reason) {
          slot.state = { state: 'conflict', reason }
          log.log('warn', 'route-conflict', { prefix: formatPrefix6(p), peer: slot.route.peer, reason })
        }
        continue
      }
      if (this.conflictKeys.has(p)) {
        log.log('info', 'route-conflict-cleared', { prefix: formatPrefix6(p) })
        if (slot.state.state === 'conflict') slot.state = PENDING
      }
      if (w === undefined) {
        // refused: fabric's route of the prefix (if any) goes
        for (const r of mine) del(r)
        slot.inst = undefined
        continue
      }
      const exact = mine.find((r) => r.type === RTN.UNICAST && r.gateway === w.inst.gateway && r.oif === w.inst.oif && r.metric === w.inst.metric)
      if (exact !== undefined) {
        unchanged++
        for (const r of mine) if (r !== exact) del(r) // duplicates of ours
        slot.inst = w.inst
        slot.state = INSTALLED
        continue
      }
      const sameKey = mine.find((r) => r.metric === w.inst.metric)
      if (sameKey !== undefined) {
        put(OP.REPLACE, slot, w.inst)
        for (const r of mine) if (r !== sameKey) del(r)
      } else {
        // a new kernel key (metric): the new route first, the old ones after, so traffic never lacks a route
        put(OP.ADD, slot, w.inst)
        for (const r of mine) del(r, late)
      }
    }
    // deletes first so an add at the same key never collides; then the late deletes
    const order = batch.ops.map((_, i) => i).sort((a, b) => (batch.ops[a]!.kind === OP.DELETE ? 0 : 1) - (batch.ops[b]!.kind === OP.DELETE ? 0 : 1))
    const sorted = new RouteBatch6(table, protocol)
    const sortedSlots: (Slot6 | undefined)[] = []
    for (const i of order) {
      const op = batch.ops[i]!
      sorted.push(op.kind, op.prefix, op.gateway, op.oif, op.metric)
      sortedSlots.push(opSlots[i])
    }
    for (const r of late) {
      sorted.push(OP.DELETE, r.prefix, r.gateway, r.oif, r.metric)
      sortedSlots.push(undefined)
    }
    this.conflictKeys = newConflicts
    const errnos = await this.apply(sorted)
    let applied = 0
    let failed = 0
    const logEach = sorted.length <= LOG_EACH_MAX
    for (let i = 0; i < sorted.length; i++) {
      const op = sorted.ops[i]!
      const slot = sortedSlots[i]
      const errno = errnos[i]!
      const kind = opKind(op.kind)
      const p = formatPrefix6(op.prefix)
      if (errno === 0 || (op.kind === OP.DELETE && errno === ERRNO.ESRCH)) {
        applied++
        if (op.kind === OP.DELETE) {
          if (this.removals.has(op.prefix)) this.removals.delete(op.prefix)
          log.log(logEach ? 'info' : 'debug', opEvent(kind), { prefix: p, gateway: op.gateway ?? null })
        } else if (slot !== undefined) {
          slot.inst = { gateway: op.gateway!, oif: op.oif, metric: op.metric }
          if (this.slots.get(op.prefix) === slot) slot.state = INSTALLED
          log.log(logEach ? 'info' : 'debug', opEvent(kind), { prefix: p, nextHop: op.gateway, peer: slot.route.peer })
        }
        continue
      }
      failed++
      const reason = `${kind} failed: ${errnoName(errno)}`
      log.log('error', 'route-op-failed', { prefix: p, op: kind, errno, reason })
      if (slot !== undefined) {
        if (op.kind === OP.REPLACE) slot.inst = undefined
        slot.state = { state: 'error', errno, reason }
      }
    }
    // removals no run could find in the kernel (deleted by hand meanwhile) are done
    for (const [p] of [...this.removals.entries()]) if (!ours.has(p)) this.removals.delete(p)
    if (!logEach) log.log('info', 'routes-changed', { family: 6, operations: sorted.length, failed })
    const durationMs = this.timers.now() - t0
    const result: ReconcileResult6 = { kind: 'full', applied, failed, conflicts, unchanged, keptStale, durationMs }
    this.stats.reconciles++
    this.stats.opsApplied += applied
    this.stats.opsFailed += failed
    this.stats.lastReconcile = result
    this.lastRunEnd = this.timers.now()
    this.opts.onRun?.(result)
    if (failed > 0) this.retry(Math.max(1000, durationMs * 5))
  }

  /** Applies a batch; its own route events are expected (they are not drift). */
  private async apply(batch: RouteBatch6): Promise<Int32Array> {
    if (batch.length === 0) return new Int32Array(0)
    const id = ++this.batchSeq
    const sub = this.subscription
    if (sub !== undefined) this.expect(batch, id)
    let errnos: Int32Array | undefined
    try {
      errnos = await this.opts.port.applyBatch6(batch)
      return errnos
    } finally {
      if (sub !== undefined) {
        // a failed operation changed nothing: no event will come for it (as fib-sync.ts does)
        if (errnos) this.unexpectFailed(batch, id, errnos)
        else this.unexpect(batch, id)
        // the others' events may still be queued on the event socket
        this.timers.after(EXPECT_MS, () => this.guard(() => this.unexpect(batch, id)))
      }
    }
  }
}
