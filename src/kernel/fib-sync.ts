/**
 * FIB sync: the only writer of kernel routes. Keeps the desired table (one
 * route per prefix, from the RIB) and makes the kernel's routes of fabric's
 * protocol number match it, recording a state per prefix for `fabric routes`.
 *
 * The desired table is read from its owner (the RIB's best routes, through
 * `DesiredTable`); FIB sync keeps only the exceptions: prefixes pending,
 * refused, in conflict or changing. A settled prefix costs it nothing, so
 * a million-route table is held once, by the RIB.
 *
 * Two kinds of run, serialised by one worker:
 * - incremental: only the prefixes that changed since the last run, using
 *   what fabric itself installed (no kernel dump), so a million-route table
 *   takes changes at kernel speed;
 * - full reconcile: dump the kernel's routes and diff everything (at start,
 *   periodically, and when a route event or an error shows drift: a route
 *   deleted or changed by hand, a foreign route appearing, lost events).
 */
import type { Logger } from '../core/log.js'
import { type Prefix, containsAddress, formatAddress, formatPrefix } from '../net/ipv4.js'
import { NEXT_HOP_PROBLEM_TEXT, type NextHopScope, nextHopProblem } from '../net/next-hop.js'
import { PrefixMap, PrefixSet } from '../net/prefix-map.js'
import { PrefixBitSet, PrefixQueue } from '../net/prefix-queue.js'
import type { Connected } from './connected.js'
import { ERRNO, errnoName } from './errno.js'
import { type KernelPort, OP, RouteBatch, type RouteOpKind, opKind } from './port.js'
import { type Conflict, type DesiredView, ReconcilePlanner } from './reconcile.js'
import {
  INSTALLED, type NextHopRefusal, PENDING, type RouteState, Slot, type StateName, conflictCleared, isUnsettled, sameInKernel,
  toConflict, toInstalled, toKernelError, toPending, toRefused,
} from './route-state.js'
import { type ExpectedEvent, OwnEvents, SyncRunner, conflictReason as conflictText, conflictsOf, opEvent, zeroCounts } from './sync-common.js'
import { type Timers, systemTimers } from './timers.js'
import type { DesiredRoute, KernelRoute } from './types.js'

export type { RouteState } from './route-state.js'

/** The desired routes, one per prefix (the RIB's best routes). */
export interface DesiredTable {
  get(prefix: Prefix): DesiredRoute | undefined
  values(): Iterable<DesiredRoute>
  readonly size: number
}

export type FibLogger = Pick<Logger, 'log' | 'limited'>

export interface FibSyncOptions {
  /** the kernel (src/kernel/rtnl.ts's Rtnl, or an in-memory one in tests) */
  port: KernelPort
  /** clock and timers (default: Node's) */
  timers?: Timers
  protocol: number
  table: number
  log: FibLogger
  /** the desired routes (the RIB's best routes) */
  desired: DesiredTable
  /**
   * Where next hops may be (net/next-hop.ts): routes whose next hop
   * nextHopProblem() rejects are refused before the kernel sees them. The
   * sources refuse them first; this is the last line. Without it only
   * on-link-ness is checked.
   */
  nextHopScope?: NextHopScope
  /** debounce of change-triggered runs, ms */
  debounceMs?: number
  /** called after every run (metrics) */
  onRun?: (r: ReconcileResult) => void
  /** the kernel metric of a route (default: its metric) */
  metricOf?: (r: DesiredRoute) => number
}

export interface ReconcileResult {
  kind: 'full' | 'incremental'
  applied: number
  failed: number
  conflicts: number
  unchanged: number
  keptStale: number
  durationMs: number
}

export interface FibStats {
  reconciles: number
  incrementals: number
  opsApplied: number
  opsFailed: number
  lastReconcile?: ReconcileResult
  lastError?: string
}

/** Batches larger than this pause the route monitor (our own events would flood it). */
const QUIET_BATCH = 512
/** Operations per kernel batch: bounds the memory of a run whatever the table size. */
const CHUNK = 8192
/** Prefixes one incremental run takes before yielding to a requested full reconcile. */
const RUN_MAX = 65536
/** Per-route log lines above this many operations go to debug; info gets a summary. */
const LOG_EACH_MAX = 64
/**
 * How long after a batch the route events of its successful operations are
 * still expected. The kernel queues them on the monitor socket before it
 * acknowledges the batch, but a busy agent may read that socket much later
 * (a flood of updates): so they are kept until they come, and forgotten only
 * after this safety time. Failed operations cause no event and are forgotten
 * at their ack.
 */
const EXPECT_MS = 30_000
/** Most own route events expected at once; a batch that would exceed it pauses the monitor instead. */
const EXPECT_MAX = 16384

/** A route event fabric's own operation will cause. */
type Expected = ExpectedEvent<number>

/** a full reconcile re-reads the connected networks when they are older than this (events keep them current) */
const CONNECTED_MAX_AGE_MS = 60_000

/** Why a desired route is not given to the kernel. */
interface Refusal {
  refused: NextHopRefusal
  reason: string
  iface: string | null
}

export class FibSync extends SyncRunner<ReconcileResult> {
  /** false during startup grace: stale routes are adopted, not deleted */
  allowDeletes = false
  readonly stats: FibStats = { reconciles: 0, incrementals: 0, opsApplied: 0, opsFailed: 0 }
  private readonly desired: DesiredTable
  private readonly port: KernelPort
  /** the exceptions: prefixes not settled */
  private readonly slots = new PrefixMap<Slot>()
  private dirty = new PrefixQueue()
  /** installed routes whose prefix is no longer desired: to delete */
  private readonly removals = new PrefixMap<DesiredRoute>()
  private conflictKeys = new PrefixSet()
  /** the dirty prefixes a running full reconcile took over */
  private inFlight: PrefixQueue | undefined
  /** route events our own recent operations cause (not drift) */
  private readonly own = new OwnEvents<Prefix, Expected>(new PrefixMap<Expected[]>())
  private batchSeq = 0
  private readonly epoch: number
  private readonly metricOf: (r: DesiredRoute) => number
  private fullRequested = false
  private lastFullEnd = 0
  private lastFullMs = 0
  private intervalMs = 5000
  /** start() was called: full reconciles recur */
  private periodic = false
  /** connected networks, kept while the subscription tells of interface changes */
  private connectedCache: Connected[] | undefined
  /** when connectedCache was read from the kernel (timers.now()) */
  private connectedAt = 0
  private readonly debounceMs: number

  constructor(private readonly opts: FibSyncOptions) {
    super(opts.timers ?? systemTimers, opts.log, {})
    this.debounceMs = opts.debounceMs ?? 50
    this.metricOf = opts.metricOf ?? ((r) => r.metric)
    this.desired = opts.desired
    this.port = opts.port
    this.epoch = this.timers.now()
  }

  /**
   * The desired route of a prefix changed (the RIB's listener calls this).
   * `previous` is the route desired before: for a settled prefix, it is what
   * the kernel holds.
   */
  setDesired(prefix: Prefix, route: DesiredRoute | undefined, previous: DesiredRoute | undefined): void {
    const slot = this.slots.get(prefix)
    // a prefix with no Slot is settled (the kernel holds `previous`) or new and not yet applied
    const inst = slot ? slot.inst : this.isUnapplied(prefix) ? undefined : previous
    if (route === undefined) {
      // nobody wants the prefix: no state is left behind, only the delete of what fabric installed
      if (slot) this.slots.delete(prefix)
      this.conflictKeys.delete(prefix)
      if (inst) this.removals.set(prefix, inst)
    } else if (slot) {
      toPending(slot, route, this.now())
    } else if (inst) {
      this.slots.set(prefix, new Slot(route, PENDING, inst, this.now()))
    } else {
      // new: the dirty set alone says it is pending, no Slot needed
      this.removals.delete(prefix)
    }
    this.dirty.add(prefix)
    this.kick(this.debounceMs)
  }

  /** Dirty without a Slot, or covered by a full reconcile in progress: added to the desired table, not yet applied. */
  private isUnapplied(prefix: Prefix): boolean {
    return !this.slots.has(prefix) && (this.dirty.has(prefix) || (this.inFlight?.has(prefix) ?? false))
  }

  private now(): number {
    return Math.round((this.timers.now() - this.epoch) / 1000)
  }

  /** The desired route of a prefix when it is (in the kernel's terms) `route`; else undefined. */
  private stillWanted(route: DesiredRoute): DesiredRoute | undefined {
    const current = this.desired.get(route.prefix)
    return current !== undefined && sameInKernel(current, route, this.metricOf) ? current : undefined
  }

  /** The Slot of a desired prefix (a settled one gets a Slot describing it). */
  private slot(prefix: Prefix): Slot | undefined {
    const s = this.slots.get(prefix)
    if (s) return s
    const route = this.desired.get(prefix)
    if (route === undefined) return undefined
    const made = this.isUnapplied(prefix) ? new Slot(route, PENDING, undefined, this.now()) : new Slot(route, INSTALLED, route, this.now())
    this.slots.set(prefix, made)
    return made
  }

  /** Records that the kernel holds `route`; the prefix settles when that is what is desired. */
  private installed(slot: Slot, route: DesiredRoute): void {
    if (!toInstalled(slot, route, this.metricOf)) return
    const current = this.stillWanted(route)
    if (current === undefined) return
    slot.route = current
    // without its own `since`, the Slot keeps the route's age
    if ((current as { since?: number }).since !== undefined) this.slots.delete(route.prefix)
  }

  stateOf(prefix: Prefix): RouteState | undefined {
    const s = this.slots.get(prefix)
    if (s) return s.state
    if (!this.desired.get(prefix)) return undefined
    return this.isUnapplied(prefix) ? PENDING : INSTALLED
  }

  /** ms since epoch when the current route of a prefix was set */
  sinceOf(prefix: Prefix): number | undefined {
    const s = this.slots.get(prefix)
    const route = s ? s.route : this.desired.get(prefix)
    if (route === undefined) return undefined
    const own = (route as { since?: number }).since
    if (own !== undefined) return own * 1000
    return s ? this.epoch + s.since * 1000 : undefined
  }

  get size(): number {
    return this.desired.size
  }

  /**
   * Counts of desired routes by state. Cheap on huge tables: it walks the
   * Slots (the unsettled few), not the queue of new prefixes.
   */
  stateCounts(): Record<StateName, number> {
    const c = zeroCounts()
    let unsettled = 0
    let queuedWithSlot = 0
    for (const s of this.slots.values()) {
      const p = s.route.prefix
      if (this.dirty.has(p) || this.inFlight?.has(p)) queuedWithSlot++
      if (s.state.state === 'installed') continue
      c[s.state.state]++
      unsettled++
    }
    // queued prefixes without a Slot are new routes not applied yet (removals are queued too)
    const queued = this.dirty.size + (this.inFlight?.size ?? 0)
    const fresh = Math.max(0, queued - queuedWithSlot - this.removals.size)
    c.pending += fresh
    unsettled += fresh
    c.installed = Math.max(0, this.desired.size - unsettled)
    return c
  }

  conflicts(): { prefix: string; reason: string }[] {
    return conflictsOf(this.slots.values(), formatPrefix)
  }

  /** in sync: every desired route installed or explained (conflict, not on-link) */
  inSync(): boolean {
    if (this.dirty.size > 0 || this.removals.size > 0 || (this.inFlight?.size ?? 0) > 0) return false
    for (const s of this.slots.values()) if (isUnsettled(s.state)) return false
    return true
  }

  /** Starts the periodic full reconcile and the kernel's event subscription. */
  start(intervalSeconds: number): void {
    this.intervalMs = intervalSeconds * 1000
    this.periodic = true
    this.schedulePeriodic(this.lastFullEnd > 0 ? this.lastFullEnd : this.timers.now())
    this.subscription = this.port.subscribe({
      route: (kind, r) => this.guard(() => this.onRouteEvent(kind, r)),
      interfaces: () => this.guard(() => this.onInterfaces()),
      overrun: () => this.guard(() => this.onOverrun()),
    })
  }

  override stop(): void {
    super.stop()
    this.connectedCache = undefined
  }

  protected requestReconcile(): void {
    this.fullRequested = true
  }

  protected pending(): boolean {
    return this.fullRequested || this.dirty.size > 0 || this.removals.size > 0
  }

  protected async step(): Promise<void> {
    if (this.fullRequested) {
      this.fullRequested = false
      await this.full()
    } else {
      await this.incremental()
    }
  }

  protected failed(): void {
    // back off, then try a full reconcile
    this.requestFull(1000)
  }

  private requestFull(delay = this.debounceMs): void {
    if (delay > this.debounceMs) {
      // a later full reconcile (after errors, overruns): not before its time
      this.later(delay, () => this.requestFull(0))
      return
    }
    this.fullRequested = true
    this.kick(delay)
  }

  /** Registers the route events the batch's operations will cause. */
  private expect(batch: RouteBatch, id: number): void {
    for (let i = 0; i < batch.length; i++) {
      const p = { addr: batch.addr[i]!, len: batch.len[i]! }
      this.own.expect(p, { kind: batch.kind[i] === OP.DELETE ? 'del' : 'new', gateway: batch.gateway[i]!, metric: Math.max(0, batch.metric[i]!), batch: id })
    }
  }

  /** Forgets the expectations of the batch's failed operations (no event comes for them). */
  private unexpectFailed(batch: RouteBatch, id: number, errnos: Int32Array): void {
    for (let i = 0; i < batch.length; i++) {
      if (errnos[i] === 0) continue
      const kind = batch.kind[i] === OP.DELETE ? 'del' : 'new'
      const gateway = batch.gateway[i]
      const metric = Math.max(0, batch.metric[i]!)
      this.own.take({ addr: batch.addr[i]!, len: batch.len[i]! }, (e) => e.batch === id && e.kind === kind && e.gateway === gateway && e.metric === metric)
    }
  }

  /** Forgets what a batch's operations were expected to cause (their events came, or will not). */
  private unexpect(batch: RouteBatch, id: number): void {
    for (let i = 0; i < batch.length; i++) this.own.forgetBatch({ addr: batch.addr[i]!, len: batch.len[i]! }, id)
  }

  /** The event is one of fabric's own operations: consume it. */
  private ownEvent(kind: 'new' | 'del', r: KernelRoute): boolean {
    const gateway = r.gateway ?? -1
    return this.own.take(r.prefix, (e) => e.kind === kind && e.gateway === gateway && e.metric === r.metric)
  }

  private onRouteEvent(kind: 'new' | 'del', r: KernelRoute): void {
    if (r.table !== this.opts.table) return
    const slot = this.slots.get(r.prefix)
    const entry = slot ?? this.desired.get(r.prefix)
    if (r.protocol === this.opts.protocol) {
      if (this.ownEvent(kind, r)) return
      const want = slot ? slot.inst : (entry as DesiredRoute | undefined)
      if (want === undefined) return // not something we installed
      const matches = r.gateway === want.nextHop && r.metric === this.metricOf(want)
      if ((kind === 'del' && matches) || (kind === 'new' && !matches)) {
        const change = kind === 'del' ? 'deleted' : 'changed'
        // repeated drift of one prefix (another daemon fighting fabric) is summarised, not logged each time
        this.opts.log.limited('warn', 'kernel-route-drift', `${formatPrefix(r.prefix)} ${change}`, { prefix: formatPrefix(r.prefix), change, gateway: r.gateway !== undefined ? formatAddress(r.gateway) : null })
        this.requestFull()
      }
    } else if (entry !== undefined || this.conflictKeys.has(r.prefix)) {
      this.requestFull()
    }
  }

  /** Waits before a full reconcile that events (not changes) ask for: not more often than it is worth. */
  private paced(): number {
    return Math.max(0, Math.max(1000, this.lastFullMs * 20) - (this.timers.now() - this.lastFullEnd))
  }

  private onOverrun(): void {
    // events were lost: only a dump tells the truth
    this.connectedCache = undefined
    this.requestFull(this.paced())
  }

  private onInterfaces(): void {
    // what is on-link may have changed: refused routes may now go in, others out
    this.connectedCache = undefined
    this.requestFull(this.paced())
  }

  private async refreshConnected(): Promise<Connected[]> {
    if (this.connectedCache) return this.connectedCache
    const c = await this.port.connected()
    // kept only while interface events would tell that it changed
    if (this.subscription) {
      this.connectedCache = c
      this.connectedAt = this.timers.now()
    }
    return c
  }

  /** undefined when the route may go to the kernel; else why not */
  private refusal(want: DesiredRoute, connected: Connected[]): Refusal | undefined {
    const on = connected.find((c) => containsAddress(c.net, want.nextHop))
    if (on !== undefined && on.local !== want.nextHop) {
      // on-link: and an address a host's subnet may be reached through?
      const scope = this.opts.nextHopScope
      const problem = scope === undefined ? undefined : nextHopProblem(want.nextHop, scope)
      if (problem === undefined) return undefined
      return { refused: 'bad-next-hop', iface: on.name, reason: `next hop ${formatAddress(want.nextHop)} of peer ${want.peer} is ${NEXT_HOP_PROBLEM_TEXT[problem]}` }
    }
    return {
      refused: 'not-on-link',
      iface: on?.name ?? null,
      reason: on === undefined
        ? `next hop ${formatAddress(want.nextHop)} of peer ${want.peer} is not on a directly connected network (connected: ${connected.map((c) => `${c.name} ${formatPrefix(c.net)}`).join(', ') || 'none'})`
        : `next hop ${formatAddress(want.nextHop)} of peer ${want.peer} is this host's own address on ${on.name}`,
    }
  }

  private refuse(slot: Slot, off: Refusal): void {
    if (toRefused(slot, off.refused, off.reason)) {
      this.opts.log.log('warn', 'route-refused', { prefix: formatPrefix(slot.route.prefix), peer: slot.route.peer, nextHop: formatAddress(slot.route.nextHop), interface: off.iface, reason: off.reason })
    }
  }

  /** The kernel refused an add or replace of `route`. */
  private kernelRefused(route: DesiredRoute, op: RouteOpKind, errno: number, reason: string): void {
    // a prefix withdrawn (or changed) while the batch was in flight keeps no state for it
    const current = this.stillWanted(route)
    if (current === undefined) return
    const sl = this.slots.get(route.prefix) ?? this.newSlot(current, undefined)
    toKernelError(sl, route, errno, reason, this.metricOf)
    if (op === 'replace') sl.inst = undefined
  }

  /** Applies only what changed since the last run, from what fabric installed, in bounded chunks. */
  private async incremental(): Promise<void> {
    const t0 = this.timers.now()
    const connected = await this.refreshConnected()
    const { protocol, table } = this.opts
    const metricOf = this.metricOf
    let applied = 0
    let failed = 0
    let unchanged = 0
    let taken = 0
    let needFull = false
    let total = 0
    while (taken < RUN_MAX && !this.fullRequested) {
      const keys = this.dirty.take(CHUNK)
      if (keys.length === 0) break
      taken += keys.length
      // columns of numbers for the kernel, and the route of each operation (its prefix is the key)
      const batch = new RouteBatch(keys.length + 16, table, protocol)
      const routes: DesiredRoute[] = []
      const lateRoutes: DesiredRoute[] = []
      for (const key of keys) {
        const slot = this.slots.get(key)
        const want = this.desired.get(key)
        if (want === undefined) {
          const gone = this.removals.get(key)
          if (gone) {
            this.removals.delete(key)
            batch.push(OP.DELETE, gone.prefix, gone.nextHop, metricOf(gone))
            routes.push(gone)
          }
          continue
        }
        if (this.conflictKeys.has(key)) {
          needFull = true // a full reconcile decides
          continue
        }
        const off = this.refusal(want, connected)
        if (off) {
          const sl = slot ?? this.newSlot(want, undefined)
          this.refuse(sl, off)
          if (sl.inst) {
            batch.push(OP.DELETE, sl.inst.prefix, sl.inst.nextHop, metricOf(sl.inst))
            routes.push(sl.inst)
            sl.inst = undefined
          }
          continue
        }
        const inst = slot?.inst
        if (inst === undefined) {
          batch.push(OP.ADD, want.prefix, want.nextHop, metricOf(want))
          routes.push(want)
        } else if (sameInKernel(inst, want, metricOf)) {
          this.installed(slot!, want)
          unchanged++
        } else if (metricOf(inst) === metricOf(want)) {
          batch.push(OP.REPLACE, want.prefix, want.nextHop, metricOf(want))
          routes.push(want)
        } else {
          // only the metric differs: the new route first (another kernel key), the old one after
          batch.push(OP.ADD, want.prefix, want.nextHop, metricOf(want))
          routes.push(want)
          lateRoutes.push(inst)
        }
      }
      for (const r of lateRoutes) {
        batch.push(OP.DELETE, r.prefix, r.nextHop, metricOf(r))
        routes.push(r)
      }
      const errnos = await this.apply(batch)
      total += batch.length
      const logEach = batch.length <= LOG_EACH_MAX && taken <= LOG_EACH_MAX
      for (let i = 0; i < batch.length; i++) {
        const k = batch.kind[i]!
        const kind = opKind(k)
        const route = routes[i]!
        const errno = errnos[i]!
        if (errno === 0 || (k === OP.DELETE && errno === ERRNO.ESRCH)) {
          applied++
          if (k !== OP.DELETE) this.settle(route)
          this.logOp(kind, route, logEach)
          continue
        }
        failed++
        needFull = true
        if (k === OP.ADD && errno === ERRNO.EEXIST) continue // held already: ours from before, or another protocol's
        const reason = `${kind} failed: ${errnoName(errno)}`
        this.opts.log.log('error', 'route-op-failed', { prefix: formatPrefix(route.prefix), op: kind, errno, reason })
        if (k !== OP.DELETE) this.kernelRefused(route, kind, errno, reason)
      }
    }
    if (total > LOG_EACH_MAX) this.opts.log.log('info', 'routes-changed', { operations: total, failed })
    const result: ReconcileResult = { kind: 'incremental', applied, failed, conflicts: 0, unchanged, keptStale: 0, durationMs: this.timers.now() - t0 }
    this.stats.incrementals++
    this.stats.opsApplied += applied
    this.stats.opsFailed += failed
    this.opts.onRun?.(result)
    if (needFull) this.requestFull(failed > 0 ? 200 : 0)
  }

  /** A Slot for a prefix that has none yet. */
  private newSlot(route: DesiredRoute, inst: DesiredRoute | undefined): Slot {
    const s = new Slot(route, PENDING, inst, this.now())
    this.slots.set(route.prefix, s)
    return s
  }

  /** The kernel now holds `route` (added or replaced). */
  private settle(route: DesiredRoute): void {
    const slot = this.slots.get(route.prefix)
    if (slot) return this.installed(slot, route)
    // no Slot: settled at once, unless the route has no age of its own to keep
    const current = this.stillWanted(route)
    if (current !== undefined && (current as { since?: number }).since === undefined) {
      this.slots.set(route.prefix, new Slot(current, INSTALLED, route, this.now()))
    }
  }

  private logOp(kind: RouteOpKind, r: DesiredRoute, each: boolean): void {
    const fields = kind === 'delete'
      ? { prefix: formatPrefix(r.prefix), gateway: formatAddress(r.nextHop) }
      : { prefix: formatPrefix(r.prefix), nextHop: formatAddress(r.nextHop), peer: r.peer }
    this.opts.log.log(each ? 'info' : 'debug', opEvent(kind), fields)
  }

  /**
   * Applies a batch. Its own route events are expected (they are not
   * drift); big batches instead pause the route events, which would only
   * be fabric's own.
   */
  private async apply(batch: RouteBatch): Promise<Int32Array> {
    if (batch.length === 0) return new Int32Array(0)
    const sub = this.subscription
    const quiet = sub !== undefined && (batch.length > QUIET_BATCH || this.own.count + batch.length > EXPECT_MAX)
    const id = ++this.batchSeq
    if (quiet) sub.pause()
    else if (sub !== undefined) this.expect(batch, id)
    let errnos: Int32Array | undefined
    try {
      errnos = await this.port.applyBatch(batch)
      return errnos
    } finally {
      if (quiet) this.subscription?.resume()
      else if (sub !== undefined) {
        // a failed operation changed nothing: no event will come for it
        if (errnos) this.unexpectFailed(batch, id, errnos)
        else this.unexpect(batch, id)
        // the others' events may still be queued on the event socket
        this.timers.after(EXPECT_MS, () => this.guard(() => this.unexpect(batch, id)))
      }
    }
  }

  /** Dump (streamed into the planner), diff everything, apply in chunks. */
  private async full(): Promise<void> {
    const t0 = this.timers.now()
    // everything dirty is covered by this run; changes during it are queued anew.
    // Removals stay queued: they are deleted even during the startup grace.
    this.inFlight = this.dirty
    this.dirty = new PrefixQueue()
    for (const [p] of this.removals.entries()) this.dirty.add(p)
    let done = false
    try {
      await this.fullRun(t0)
      done = true
    } finally {
      this.inFlight = undefined
      // the next periodic one counts from the end of this one (or, after a failure, from now)
      if (this.periodic) this.schedulePeriodic(done ? this.lastFullEnd : this.timers.now())
    }
  }

  /**
   * The next periodic full reconcile, one reconcile interval after `from`;
   * with huge tables a full dump costs, so never more than ~5% of the time
   * goes to it (20x its last duration).
   */
  private schedulePeriodic(from: number): void {
    this.periodicAt(from + Math.max(this.intervalMs, this.lastFullMs * 20), () => {
      // at once, in this timer's callback (not through a kick: a second timer, a second wakeup)
      this.fullRequested = true
      this.runNow()
    })
  }

  private async fullRun(t0: number): Promise<void> {
    const { protocol, table, log } = this.opts
    // connected networks: interface events and overruns drop the cache at once; besides, a full
    // reconcile reads them afresh once a minute (not every time: an idle agent would dump links
    // and addresses every reconcile interval for nothing)
    if (this.timers.now() - this.connectedAt >= CONNECTED_MAX_AGE_MS) this.connectedCache = undefined
    const connected = await this.refreshConnected()
    // slots of prefixes nobody wants any more, and the current objects of those still wanted
    for (const [p, slot] of [...this.slots.entries()]) {
      const current = this.desired.get(p)
      if (current === undefined) this.slots.delete(p)
      else if (current !== slot.route && sameInKernel(current, slot.route, this.metricOf)) slot.route = current
    }
    const refused = new PrefixBitSet()
    for (const route of this.desired.values()) {
      const off = this.refusal(route, connected)
      if (off) {
        this.refuse(this.slot(route.prefix)!, off)
        refused.add(route.prefix)
      }
    }
    const desired = this.desired
    // routes found exactly right in the kernel during this run
    const found = new PrefixBitSet()
    let keptAdds = 0
    const view: DesiredView = {
      get: (p) => (refused.size > 0 && refused.has(p) ? undefined : desired.get(p)),
      *values() {
        for (const r of desired.values()) if (refused.size === 0 || !refused.has(r.prefix)) yield r
      },
      markInKernel: (want) => {
        if (found.has(want.prefix)) return false
        found.add(want.prefix)
        const slot = this.slots.get(want.prefix)
        if (slot) this.installed(slot, want)
        return true
      },
      inKernel: (want) => found.has(want.prefix),
      // past one chunk of plain adds, the rest go to the incremental queue (the same kernel
      // operation, CHUNK at a time): the plan of a full reconcile during an ingest would
      // otherwise hold an op and a route object for every route not installed yet
      deferAdd: (want) => {
        if (keptAdds < CHUNK) {
          keptAdds++
          return false
        }
        this.dirty.add(want.prefix)
        return true
      },
    }
    const planner = new ReconcilePlanner(view, { protocol, table, allowDeletes: this.allowDeletes, metricOf: this.metricOf })
    await this.port.streamRoutes((r) => planner.observe(r), table)
    const plan = planner.finish()
    const newConflicts = new PrefixSet()
    for (const c of plan.conflicts) {
      newConflicts.add(c.desired.prefix)
      const reason = conflictReason(c)
      if (toConflict(this.slot(c.desired.prefix)!, reason)) log.log('warn', 'route-conflict', { prefix: formatPrefix(c.desired.prefix), peer: c.desired.peer, reason })
    }
    for (const key of this.conflictKeys) {
      if (!newConflicts.has(key) && desired.get(key)) log.log('info', 'route-conflict-cleared', { prefix: formatPrefix(key) })
    }
    // every conflict is decided anew on each reconcile: a prefix no longer held by another protocol is installed again
    for (const slot of this.slots.values()) {
      if (slot.state.state === 'conflict' && !newConflicts.has(slot.route.prefix)) {
        conflictCleared(slot)
        if (found.has(slot.route.prefix)) this.installed(slot, slot.route)
      }
    }
    this.conflictKeys = newConflicts
    const logEach = plan.ops.length <= LOG_EACH_MAX
    let applied = 0
    let failed = 0
    for (let from = 0; from < plan.ops.length; from += CHUNK) {
      const chunk = plan.ops.slice(from, from + CHUNK)
      const batch = new RouteBatch(chunk.length, table, protocol)
      for (const op of chunk) {
        if (op.op === 'delete') batch.push(OP.DELETE, op.route.prefix, op.route.gateway, op.route.metric)
        else batch.push(op.op === 'add' ? OP.ADD : OP.REPLACE, op.route.prefix, op.route.nextHop, this.metricOf(op.route))
      }
      const errnos = await this.apply(batch)
      for (let i = 0; i < chunk.length; i++) {
        const planned = chunk[i]!
        const errno = errnos[i]!
        if (errno === 0 || (planned.op === 'delete' && errno === ERRNO.ESRCH)) {
          applied++
          if (planned.op === 'delete') {
            this.removals.delete(planned.route.prefix)
            if (!view.get(planned.route.prefix)) this.logOp('delete', { prefix: planned.route.prefix, nextHop: planned.route.gateway ?? 0, metric: planned.route.metric, peer: '' }, logEach)
          } else {
            this.logOp(planned.op, planned.route, logEach)
            this.settle(planned.route)
          }
          continue
        }
        failed++
        const reason = `${planned.op} failed: ${errnoName(errno)}`
        log.log('error', 'route-op-failed', { prefix: formatPrefix(planned.route.prefix), op: planned.op, errno, reason })
        if (planned.op !== 'delete') {
          this.kernelRefused(planned.route, planned.op, errno, reason)
          const sl = this.slots.get(planned.route.prefix)
          if (sl) sl.inst = undefined
        }
      }
    }
    if (!logEach && plan.ops.length > 0) log.log('info', 'routes-changed', { operations: plan.ops.length, failed })
    const durationMs = this.timers.now() - t0
    const result: ReconcileResult = { kind: 'full', applied, failed, conflicts: plan.conflicts.length, unchanged: plan.unchanged, keptStale: plan.keptStale, durationMs }
    this.stats.reconciles++
    this.stats.opsApplied += applied
    this.stats.opsFailed += failed
    this.stats.lastReconcile = result
    this.lastFullEnd = this.timers.now()
    this.lastFullMs = durationMs
    this.opts.onRun?.(result)
    if (applied > 0 || failed > 0) log.log('debug', 'kernel-reconciled', { ...result })
    if (failed > 0) this.requestFull(Math.max(1000, durationMs * 5))
  }
}

function conflictReason(c: Conflict): string {
  const f = c.foreign
  return conflictText(f.protocol, f.gateway !== undefined ? formatAddress(f.gateway) : undefined, f.metric)
}

