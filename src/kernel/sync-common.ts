/**
 * What FibSync (IPv4) and FibSync6 share: the one worker that serialises
 * their runs, the bookkeeping of the route events fabric's own operations
 * cause (so they are not taken for drift), and the texts of conflicts and
 * route operations. Family-specific parts (prefix maps, batches, next-hop
 * checks) stay in fib-sync.ts and fib-sync6.ts.
 */
import type { Logger } from '../core/log.js'
import type { KernelSubscription, RouteOpKind } from './port.js'
import type { RouteState, StateName } from './route-state.js'
import type { Timer, Timers } from './timers.js'

/** The map a family keys its prefixes by (PrefixMap, PrefixMap6). */
export interface KeyedMap<K, V> {
  get(k: K): V | undefined
  set(k: K, v: V): void
  delete(k: K): boolean
}

/** A route event fabric's own operation will cause. */
export interface ExpectedEvent<G> {
  kind: 'new' | 'del'
  gateway: G
  metric: number
  /** the operation's batch */
  batch: number
}

/** The route events fabric's own operations will cause, by prefix. */
export class OwnEvents<K, E extends ExpectedEvent<unknown>> {
  /** how many are expected in all */
  count = 0

  constructor(private readonly byPrefix: KeyedMap<K, E[]>) {}

  /** One operation on `p` will cause `e`. */
  expect(p: K, e: E): void {
    const list = this.byPrefix.get(p)
    if (list) list.push(e)
    else this.byPrefix.set(p, [e])
    this.count++
  }

  /** The event on `p` that `matches` is fabric's own: consumed (true), or none such is expected (false). */
  take(p: K, matches: (e: E) => boolean): boolean {
    const list = this.byPrefix.get(p)
    if (!list) return false
    const i = list.findIndex(matches)
    if (i < 0) return false
    list.splice(i, 1)
    this.count--
    if (list.length === 0) this.byPrefix.delete(p)
    return true
  }

  /** Forgets everything batch `id` expected on `p` (its events came, or will not). */
  forgetBatch(p: K, id: number): void {
    const list = this.byPrefix.get(p)
    if (!list) return
    const kept = list.filter((e) => e.batch !== id)
    this.count -= list.length - kept.length
    if (kept.length === 0) this.byPrefix.delete(p)
    else this.byPrefix.set(p, kept)
  }
}

/**
 * The lifecycle FibSync and FibSync6 share: one worker runs their steps one
 * at a time (debounced kicks, a later run after errors, drain), a periodic
 * timer and a kernel event subscription, stopped together.
 */
export abstract class SyncRunner<R> {
  abstract readonly stats: { lastReconcile?: R; lastError?: string }
  protected interval: Timer | undefined
  protected subscription: KernelSubscription | undefined
  private worker: Promise<void> | undefined
  private timer: Timer | undefined
  private laterTimer: Timer | undefined
  /** after stop(): the kernel is left as it is (SIGTERM keeps fabric's routes while the sources close) */
  private stopped = false

  constructor(protected readonly timers: Timers, private readonly logTo: Pick<Logger, 'log'>, private readonly logFields: Record<string, unknown>) {}

  /** whether there is work to run */
  protected abstract pending(): boolean
  /** runs one step of the work */
  protected abstract step(): Promise<void>
  /** a step threw (logged already): the worker stops until kicked again */
  protected abstract failed(e: Error): void
  /** asks for a full reconcile (flush) */
  protected abstract requestReconcile(): void

  protected get running(): boolean {
    return this.worker !== undefined
  }

  /** Starts the work after `delay` ms, unless it runs or is scheduled already. */
  protected kick(delay: number): void {
    if (this.stopped || this.worker || this.timer) return
    this.timer = this.timers.after(delay, () => {
      this.timer = undefined
      if (!this.worker) this.worker = this.work()
    })
  }

  /** Starts the work now (the periodic run: already late enough), unless it runs or a kick is scheduled. */
  protected runNow(): void {
    if (this.stopped || this.worker || this.timer) return
    this.worker = this.work()
  }

  /** Calls `fn` after `delay` ms (a later run, after errors: not before its time); once while one is waiting. */
  protected later(delay: number, fn: () => void): void {
    if (this.stopped || this.laterTimer) return
    this.laterTimer = this.timers.after(delay, () => {
      this.laterTimer = undefined
      this.guard(fn)
    })
  }

  /**
   * The periodic run: one timer, set for the moment it is due (`due`, in
   * timers.now() terms), replacing the one set before. No tick that wakes the
   * process only to find nothing due; the subclass sets it again after each run.
   */
  protected periodicAt(due: number, fn: () => void): void {
    this.interval?.cancel()
    this.interval = undefined
    if (this.stopped) return
    this.interval = this.timers.after(Math.max(0, due - this.timers.now()), () => {
      this.interval = undefined
      this.guard(fn)
    })
  }

  /** Nothing thrown in an event or timer callback may reach the process. */
  protected guard(fn: () => void): void {
    try {
      fn()
    } catch (e) {
      this.logTo.log('error', 'kernel-sync-failed', { ...this.logFields, error: (e as Error).message })
    }
  }

  /** Runs a full reconcile now (after any run in progress) and returns its result. */
  async flush(): Promise<R> {
    this.requestReconcile()
    await this.drain()
    return this.stats.lastReconcile!
  }

  /** Waits until no work is pending (starting it now if it waits for a kick). */
  async drain(): Promise<void> {
    this.timer?.cancel()
    this.timer = undefined
    for (;;) {
      if (this.worker) await this.worker
      else if (!this.stopped && this.pending()) this.worker = this.work()
      else return
    }
  }

  /**
   * Stops the timers and the event subscription, for good: what the sources
   * change afterwards (their sessions closing withdraw routes) no longer
   * reaches the kernel; a step in progress finishes, no other starts.
   */
  stop(): void {
    this.stopped = true
    for (const t of [this.interval, this.timer, this.laterTimer]) t?.cancel()
    this.interval = this.timer = this.laterTimer = undefined
    this.subscription?.close()
    this.subscription = undefined
  }

  private async work(): Promise<void> {
    try {
      while (!this.stopped && this.pending()) {
        try {
          await this.step()
        } catch (e) {
          this.worker = undefined
          this.stats.lastError = (e as Error).message
          this.logTo.log('error', 'kernel-sync-failed', { ...this.logFields, error: (e as Error).message })
          this.failed(e as Error)
          return
        }
      }
    } finally {
      this.worker = undefined
    }
  }
}

/** Why fabric leaves a prefix another protocol's route holds. */
export function conflictReason(protocol: number, gateway: string | undefined, metric: number): string {
  const via = gateway !== undefined ? ` via ${gateway}` : ''
  return `prefix held by a route of protocol ${protocol}${via} (metric ${metric}); fabric does not override it`
}

/** The log event of a route operation that succeeded. */
export function opEvent(kind: RouteOpKind): 'route-added' | 'route-replaced' | 'route-removed' {
  return kind === 'add' ? 'route-added' : kind === 'replace' ? 'route-replaced' : 'route-removed'
}


/** Every state at count 0. */
export function zeroCounts(): Record<StateName, number> {
  return { installed: 0, pending: 0, conflict: 0, 'not-on-link': 0, error: 0 }
}

/** The prefixes in conflict among `slots`, with their reasons. */
export function conflictsOf<P>(slots: Iterable<{ route: { prefix: P }; state: RouteState }>, format: (p: P) => string): { prefix: string; reason: string }[] {
  const out: { prefix: string; reason: string }[] = []
  for (const s of slots) if (s.state.state === 'conflict') out.push({ prefix: format(s.route.prefix), reason: s.state.reason })
  return out
}
