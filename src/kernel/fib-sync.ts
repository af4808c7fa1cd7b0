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
import { type Prefix, containsAddress, formatAddress, formatPrefix } from '../net/ipv4.js'
import { PrefixMap, PrefixSet } from '../net/prefix-map.js'
import { PrefixBitSet, PrefixQueue } from '../net/prefix-queue.js'
import { type Conflict, type DesiredView, ReconcilePlanner } from './reconcile.js'
import { OP, RouteBatch, type RouteOpKind, Rtnl, RouteMonitor, errnoName } from './rtnl.js'
import { type Connected, connectedNetworks } from './connected.js'
import type { DesiredRoute, KernelRoute } from './types.js'

export type RouteState =
  | { state: 'installed' }
  | { state: 'pending' }
  | { state: 'conflict'; reason: string }
  | { state: 'not-on-link'; reason: string }
  | { state: 'error'; reason: string }

const INSTALLED: RouteState = Object.freeze({ state: 'installed' })
const PENDING: RouteState = Object.freeze({ state: 'pending' })

/**
 * A prefix whose route is pending, refused, in conflict or changing: the
 * desired route as last notified, what became of it, and what fabric has in
 * the kernel for it. A prefix without a Slot is settled: the kernel holds
 * exactly its desired route.
 */
class Slot {
  constructor(
    public route: DesiredRoute,
    public state: RouteState,
    /** the route fabric installed for this prefix (undefined: none known) */
    public inst: DesiredRoute | undefined,
    /** seconds since the FibSync was made, when `route` was set (for routes without their own `since`) */
    public since: number,
  ) {}
}

/** The desired routes, one per prefix (the RIB's best routes). */
export interface DesiredTable {
  get(prefix: Prefix): DesiredRoute | undefined
  values(): Iterable<DesiredRoute>
  readonly size: number
}

/** A stand-alone desired table (for callers without a RIB). */
export class SimpleDesiredTable implements DesiredTable {
  private readonly map = new PrefixMap<DesiredRoute>()
  get size(): number {
    return this.map.size
  }
  get(p: Prefix): DesiredRoute | undefined {
    return this.map.get(p)
  }
  values(): Iterable<DesiredRoute> {
    return this.map.values()
  }
  /** Sets a route and tells the FIB sync, as the RIB's listener would. */
  set(fib: FibSync, p: Prefix, r: DesiredRoute | undefined): void {
    const previous = this.map.get(p)
    if (r) this.map.set(p, r)
    else this.map.delete(p)
    fib.setDesired(p, r, previous)
  }
}

export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>) => void

export interface FibSyncOptions {
  rtnl: Rtnl
  protocol: number
  table: number
  log: LogFn
  /** the desired routes (the RIB's best routes) */
  desired: DesiredTable
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

export class FibSync {
  /** false during startup grace: stale routes are adopted, not deleted */
  allowDeletes = false
  readonly stats: FibStats = { reconciles: 0, incrementals: 0, opsApplied: 0, opsFailed: 0 }
  private readonly desired: DesiredTable
  /** the exceptions: prefixes not settled */
  private readonly slots = new PrefixMap<Slot>()
  private dirty = new PrefixQueue()
  /** installed routes whose prefix is no longer desired: to delete */
  private removals = new PrefixMap<DesiredRoute>()
  private conflictKeys = new PrefixSet()
  /** the dirty prefixes a running full reconcile took over */
  private inFlight: PrefixQueue | undefined
  private readonly epoch = Date.now()
  private readonly metricOf: (r: DesiredRoute) => number
  private fullRequested = false
  private lastFullEnd = 0
  private lastFullMs = 0
  private timer: NodeJS.Timeout | undefined
  private fullTimer: NodeJS.Timeout | undefined
  private interval: NodeJS.Timeout | undefined
  private intervalMs = 5000
  private monitor: RouteMonitor | undefined
  private worker: Promise<void> | undefined
  private readonly debounceMs: number

  constructor(private readonly opts: FibSyncOptions) {
    this.debounceMs = opts.debounceMs ?? 50
    this.metricOf = opts.metricOf ?? ((r) => r.metric)
    this.desired = opts.desired
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
      if (slot) this.slots.delete(prefix)
      if (inst) this.removals.set(prefix, inst)
    } else if (slot) {
      slot.route = route
      slot.state = PENDING
      slot.since = this.now()
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
    return Math.round((Date.now() - this.epoch) / 1000)
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
    slot.inst = route
    if (slot.route !== route) return
    slot.state = INSTALLED
    // without its own `since`, the Slot keeps the route's age
    if ((route as { since?: number }).since !== undefined && this.desired.get(route.prefix) === route) this.slots.delete(route.prefix)
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
  stateCounts(): Record<RouteState['state'], number> {
    const c = { installed: 0, pending: 0, conflict: 0, 'not-on-link': 0, error: 0 }
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
    const out: { prefix: string; reason: string }[] = []
    for (const s of this.slots.values()) if (s.state.state === 'conflict') out.push({ prefix: formatPrefix(s.route.prefix), reason: s.state.reason })
    return out
  }

  /** in sync: every desired route installed or explained (conflict, not on-link) */
  inSync(): boolean {
    if (this.dirty.size > 0 || this.removals.size > 0 || (this.inFlight?.size ?? 0) > 0) return false
    for (const s of this.slots.values()) if (s.state.state === 'pending' || s.state.state === 'error') return false
    return true
  }

  /** Starts the periodic full reconcile and the route monitor. */
  start(intervalSeconds: number): void {
    this.intervalMs = intervalSeconds * 1000
    this.interval = setInterval(() => {
      // with huge tables a full dump costs; never spend more than ~5% of the time on it
      if (Date.now() - this.lastFullEnd >= Math.max(this.intervalMs, this.lastFullMs * 20)) this.requestFull(0)
    }, Math.min(this.intervalMs, 1000))
    this.monitor = new RouteMonitor((e) => this.onRouteEvent(e.kind, e.route), () => this.onOverrun())
  }

  stop(): void {
    if (this.interval) clearInterval(this.interval)
    if (this.timer) clearTimeout(this.timer)
    if (this.fullTimer) clearTimeout(this.fullTimer)
    this.fullTimer = undefined
    this.interval = undefined
    this.timer = undefined
    this.monitor?.close()
    this.monitor = undefined
  }

  /** Runs a full reconcile now (after any run in progress) and returns its result. */
  async flush(): Promise<ReconcileResult> {
    this.fullRequested = true
    await this.drain()
    return this.stats.lastReconcile!
  }

  /** Waits until no work is pending. */
  async drain(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    for (;;) {
      if (this.worker) await this.worker
      else if (this.fullRequested || this.dirty.size > 0 || this.removals.size > 0) {
        this.worker = this.work()
      } else return
    }
  }

  private requestFull(delay = this.debounceMs): void {
    if (delay > this.debounceMs) {
      // a later full reconcile (after errors, overruns): not before its time
      if (this.fullTimer) return
      this.fullTimer = setTimeout(() => {
        this.fullTimer = undefined
        this.requestFull(0)
      }, delay)
      this.fullTimer.unref?.()
      return
    }
    this.fullRequested = true
    this.kick(delay)
  }

  private kick(delay: number): void {
    if (this.worker || this.timer) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (!this.worker) this.worker = this.work()
    }, delay)
  }

  private async work(): Promise<void> {
    try {
      while (this.fullRequested || this.dirty.size > 0 || this.removals.size > 0) {
        try {
          if (this.fullRequested) {
            this.fullRequested = false
            await this.full()
          } else {
            await this.incremental()
          }
        } catch (e) {
          this.stats.lastError = (e as Error).message
          this.opts.log('error', 'kernel-sync-failed', { error: (e as Error).message })
          // back off, then try a full reconcile
          this.worker = undefined
          this.requestFull(1000)
          return
        }
      }
    } finally {
      this.worker = undefined
    }
  }

  private onRouteEvent(kind: 'new' | 'del', r: KernelRoute): void {
    if (r.table !== this.opts.table) return
    const slot = this.slots.get(r.prefix)
    const entry = slot ?? this.desired.get(r.prefix)
    if (r.protocol === this.opts.protocol) {
      const want = slot ? slot.inst : (entry as DesiredRoute | undefined)
      if (want === undefined) return // not something we installed
      const matches = r.gateway === want.nextHop && r.metric === this.metricOf(want)
      if ((kind === 'del' && matches) || (kind === 'new' && !matches)) {
        this.opts.log('warn', 'kernel-route-drift', { prefix: formatPrefix(r.prefix), change: kind === 'del' ? 'deleted' : 'changed', gateway: r.gateway !== undefined ? formatAddress(r.gateway) : null })
        this.requestFull()
      }
    } else if (entry !== undefined || this.conflictKeys.has(r.prefix)) {
      this.requestFull()
    }
  }

  private onOverrun(): void {
    // events were lost: only a dump tells the truth, but not more often than it is worth
    const wait = Math.max(0, Math.max(1000, this.lastFullMs * 20) - (Date.now() - this.lastFullEnd))
    this.requestFull(wait)
  }

  private async refreshConnected(): Promise<Connected[]> {
    const [addrs, links] = await Promise.all([this.opts.rtnl.dumpAddresses(), this.opts.rtnl.dumpLinks()])
    return connectedNetworks(addrs, links)
  }

  /** undefined when on-link; else the reason it is refused */
  private offLink(want: DesiredRoute, connected: Connected[]): { reason: string; iface: string | null } | undefined {
    const on = connected.find((c) => containsAddress(c.net, want.nextHop))
    if (on !== undefined && on.local !== want.nextHop) return undefined
    return {
      iface: on?.name ?? null,
      reason: on === undefined
        ? `next hop ${formatAddress(want.nextHop)} of peer ${want.peer} is not on a directly connected network (connected: ${connected.map((c) => `${c.name} ${formatPrefix(c.net)}`).join(', ') || 'none'})`
        : `next hop ${formatAddress(want.nextHop)} of peer ${want.peer} is this host's own address on ${on.name}`,
    }
  }

  private refuse(slot: Slot, off: { reason: string; iface: string | null }): void {
    const prev = slot.state
    if (prev.state !== 'not-on-link' || prev.reason !== off.reason) {
      this.opts.log('warn', 'route-refused', { prefix: formatPrefix(slot.route.prefix), peer: slot.route.peer, nextHop: formatAddress(slot.route.nextHop), interface: off.iface, reason: off.reason })
    }
    slot.state = { state: 'not-on-link', reason: off.reason }
  }

  /** Applies only what changed since the last run, from what fabric installed, in bounded chunks. */
  private async incremental(): Promise<void> {
    const t0 = performance.now()
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
      const keys = this.takeDirty(CHUNK)
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
        if (this.conflictKeys.has(key)) continue // a full reconcile decides
        const off = this.offLink(want, connected)
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
        } else if (inst.nextHop === want.nextHop && metricOf(inst) === metricOf(want)) {
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
        const kind = Rtnl.kindName(k)
        const route = routes[i]!
        const errno = errnos[i]!
        if (errno === 0 || (k === OP.DELETE && errno === 3 /* ESRCH: already gone */)) {
          applied++
          if (k !== OP.DELETE) this.settle(route)
          this.logOp(kind, route, logEach)
          continue
        }
        failed++
        needFull = true
        if (k === OP.ADD && errno === 17 /* EEXIST */) continue // held already: ours from before, or another protocol's
        const reason = `${kind} failed: ${errnoName(errno)}`
        this.opts.log('error', 'route-op-failed', { prefix: formatPrefix(route.prefix), op: kind, errno, reason })
        if (k === OP.DELETE) continue
        const sl = this.slots.get(route.prefix) ?? this.newSlot(route, undefined)
        if (sl.route === route) sl.state = { state: 'error', reason }
        if (k === OP.REPLACE) sl.inst = undefined
      }
    }
    if (total > LOG_EACH_MAX) this.opts.log('info', 'routes-changed', { operations: total, failed })
    const result: ReconcileResult = { kind: 'incremental', applied, failed, conflicts: 0, unchanged, keptStale: 0, durationMs: performance.now() - t0 }
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
    if ((route as { since?: number }).since === undefined && this.desired.get(route.prefix) === route) {
      this.slots.set(route.prefix, new Slot(route, INSTALLED, route, this.now()))
    }
  }

  /** Removes and returns up to n dirty prefixes, oldest first. */
  private takeDirty(n: number): Prefix[] {
    return this.dirty.take(n)
  }

  private logOp(kind: RouteOpKind, r: DesiredRoute, each: boolean): void {
    const fields = kind === 'delete'
      ? { prefix: formatPrefix(r.prefix), gateway: formatAddress(r.nextHop) }
      : { prefix: formatPrefix(r.prefix), nextHop: formatAddress(r.nextHop), peer: r.peer }
    const event = kind === 'add' ? 'route-added' : kind === 'replace' ? 'route-replaced' : 'route-removed'
    this.opts.log(each ? 'info' : 'debug', event, fields)
  }

  /** Applies a batch; big batches pause the route monitor, which would only see our own changes. */
  private async apply(batch: RouteBatch): Promise<Int32Array> {
    if (batch.length === 0) return new Int32Array(0)
    const quiet = batch.length > QUIET_BATCH && this.monitor !== undefined
    if (quiet) this.monitor!.pause()
    try {
      return await this.opts.rtnl.applyBatch(batch)
    } finally {
      if (quiet) this.monitor?.resume()
    }
  }

  /** Dump (streamed into the planner), diff everything, apply in chunks. */
  private async full(): Promise<void> {
    const t0 = performance.now()
    // everything dirty is covered by this run; changes during it are queued anew.
    // Removals stay queued: they are deleted even during the startup grace.
    this.inFlight = this.dirty
    this.dirty = new PrefixQueue()
    for (const [p] of this.removals.entries()) this.dirty.add(p)
    try {
      await this.fullRun(t0)
    } finally {
      this.inFlight = undefined
    }
  }

  private async fullRun(t0: number): Promise<void> {
    const { rtnl, protocol, table, log } = this.opts
    const connected = await this.refreshConnected()
    const offLink = new PrefixBitSet()
    for (const route of this.desired.values()) {
      const off = this.offLink(route, connected)
      if (off) {
        this.refuse(this.slot(route.prefix)!, off)
        offLink.add(route.prefix)
      }
    }
    const desired = this.desired
    // routes found exactly right in the kernel during this run
    const found = new PrefixBitSet()
    const view: DesiredView = {
      get: (p) => (offLink.size > 0 && offLink.has(p) ? undefined : desired.get(p)),
      *values() {
        for (const r of desired.values()) if (offLink.size === 0 || !offLink.has(r.prefix)) yield r
      },
      markInKernel: (want) => {
        if (found.has(want.prefix)) return false
        found.add(want.prefix)
        const slot = this.slots.get(want.prefix)
        if (slot) this.installed(slot, want)
        return true
      },
      inKernel: (want) => found.has(want.prefix),
    }
    const planner = new ReconcilePlanner(view, { protocol, table, allowDeletes: this.allowDeletes, metricOf: this.metricOf })
    await rtnl.streamRoutes((r) => planner.observe(r))
    const plan = planner.finish()
    const newConflicts = new PrefixSet()
    for (const c of plan.conflicts) {
      newConflicts.add(c.desired.prefix)
      const reason = conflictReason(c)
      const slot = this.slot(c.desired.prefix)!
      const prev = slot.state
      if (prev.state !== 'conflict' || prev.reason !== reason) log('warn', 'route-conflict', { prefix: formatPrefix(c.desired.prefix), peer: c.desired.peer, reason })
      slot.state = { state: 'conflict', reason }
      slot.inst = undefined
    }
    for (const key of this.conflictKeys) {
      if (!newConflicts.has(key) && desired.get(key)) log('info', 'route-conflict-cleared', { prefix: formatPrefix(key) })
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
        if (errno === 0 || (planned.op === 'delete' && errno === 3)) {
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
        log('error', 'route-op-failed', { prefix: formatPrefix(planned.route.prefix), op: planned.op, errno, reason })
        if (planned.op !== 'delete' && desired.get(planned.route.prefix) !== undefined) {
          const sl = this.slots.get(planned.route.prefix) ?? this.newSlot(planned.route, undefined)
          if (sl.route === planned.route) sl.state = { state: 'error', reason }
          sl.inst = undefined
        }
      }
    }
    if (!logEach && plan.ops.length > 0) log('info', 'routes-changed', { operations: plan.ops.length, failed })
    const durationMs = performance.now() - t0
    const result: ReconcileResult = { kind: 'full', applied, failed, conflicts: plan.conflicts.length, unchanged: plan.unchanged, keptStale: plan.keptStale, durationMs }
    this.stats.reconciles++
    this.stats.opsApplied += applied
    this.stats.opsFailed += failed
    this.stats.lastReconcile = result
    this.lastFullEnd = Date.now()
    this.lastFullMs = durationMs
    this.opts.onRun?.(result)
    if (applied > 0 || failed > 0) log('debug', 'kernel-reconciled', { ...result })
    if (failed > 0) this.requestFull(Math.max(1000, durationMs * 5))
  }
}


function conflictReason(c: Conflict): string {
  const f = c.foreign
  const via = f.gateway !== undefined ? ` via ${formatAddress(f.gateway)}` : ''
  return `prefix held by a route of protocol ${f.protocol}${via} (metric ${f.metric}); fabric does not override it`
}

