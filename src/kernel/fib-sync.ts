/**
 * FIB sync: the only writer of kernel routes. Keeps the desired table (one
 * route per prefix, from the RIB), reconciles it with the kernel's routes of
 * fabric's protocol number, and records a state per prefix for `fabric routes`.
 * Reconciles run debounced after changes, when a watched route event shows
 * drift (a route deleted or changed by hand), and periodically.
 */
import { containsAddress, formatAddress, formatPrefix, prefixId } from '../net/ipv4.js'
import { type Conflict, planReconcile } from './reconcile.js'
import { type RouteOp, type Rtnl, RouteMonitor, errnoName } from './rtnl.js'
import type { KernelAddress, KernelLink } from './rtnl-codec.js'
import type { DesiredRoute, KernelOp, KernelRoute } from './types.js'

export type RouteState =
  | { state: 'installed' }
  | { state: 'pending' }
  | { state: 'conflict'; reason: string }
  | { state: 'not-on-link'; reason: string }
  | { state: 'error'; reason: string }

const INSTALLED: RouteState = Object.freeze({ state: 'installed' })
const PENDING: RouteState = Object.freeze({ state: 'pending' })

/** A desired route and what became of it; one per prefix. */
interface Slot {
  route: DesiredRoute
  state: RouteState
}

export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>) => void

export interface FibSyncOptions {
  rtnl: Rtnl
  protocol: number
  table: number
  log: LogFn
  /** debounce of change-triggered reconciles, ms */
  debounceMs?: number
}

export interface ReconcileResult {
  applied: number
  failed: number
  conflicts: number
  unchanged: number
  keptStale: number
  durationMs: number
}

export interface FibStats {
  reconciles: number
  opsApplied: number
  opsFailed: number
  lastReconcile?: ReconcileResult
  lastError?: string
}

export class FibSync {
  /** false during startup grace: stale routes are adopted, not deleted */
  allowDeletes = false
  readonly stats: FibStats = { reconciles: 0, opsApplied: 0, opsFailed: 0 }
  private readonly desired = new Map<number, Slot>()
  private conflictKeys = new Set<number>()
  private timer: NodeJS.Timeout | undefined
  private interval: NodeJS.Timeout | undefined
  private monitor: RouteMonitor | undefined
  private running: Promise<ReconcileResult> | undefined
  private again = false
  private readonly debounceMs: number

  constructor(private readonly opts: FibSyncOptions) {
    this.debounceMs = opts.debounceMs ?? 50
  }

  /** Sets (or, with undefined, removes) the route wanted for a prefix id. */
  setDesired(key: number, route: DesiredRoute | undefined): void {
    if (route === undefined) {
      if (!this.desired.delete(key)) return
    } else {
      this.desired.set(key, { route, state: PENDING })
    }
    this.schedule()
  }

  stateOf(key: number): RouteState | undefined {
    return this.desired.get(key)?.state
  }

  get size(): number {
    return this.desired.size
  }

  /** Counts of desired routes by state. */
  stateCounts(): Record<RouteState['state'], number> {
    const c = { installed: 0, pending: 0, conflict: 0, 'not-on-link': 0, error: 0 }
    for (const s of this.desired.values()) c[s.state.state]++
    return c
  }

  conflicts(): { prefix: string; reason: string }[] {
    const out: { prefix: string; reason: string }[] = []
    for (const s of this.desired.values()) if (s.state.state === 'conflict') out.push({ prefix: formatPrefix(s.route.prefix), reason: s.state.reason })
    return out
  }

  /** in sync: every desired route installed or explained (conflict, not on-link) */
  inSync(): boolean {
    for (const s of this.desired.values()) if (s.state.state === 'pending' || s.state.state === 'error') return false
    return true
  }

  /** Starts the periodic reconcile and the route monitor. */
  start(intervalSeconds: number): void {
    this.interval = setInterval(() => this.schedule(0), intervalSeconds * 1000)
    this.monitor = new RouteMonitor((e) => this.onRouteEvent(e.kind, e.route), () => this.schedule())
  }

  stop(): void {
    if (this.interval) clearInterval(this.interval)
    if (this.timer) clearTimeout(this.timer)
    this.interval = undefined
    this.timer = undefined
    this.monitor?.close()
    this.monitor = undefined
  }

  /** Waits for any running or scheduled reconcile, then runs one. */
  async flush(): Promise<ReconcileResult> {
    if (this.timer) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (this.running) await this.running.catch(() => undefined)
    return this.reconcile()
  }

  private schedule(delay = this.debounceMs): void {
    if (this.running) {
      this.again = true
      return
    }
    if (this.timer) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.reconcile().catch((e: Error) => {
        this.stats.lastError = e.message
        this.opts.log('error', 'kernel-reconcile-failed', { error: e.message })
      })
    }, delay)
  }

  private onRouteEvent(kind: 'new' | 'del', r: KernelRoute): void {
    if (r.table !== this.opts.table) return
    const key = prefixId(r.prefix)
    const want = this.desired.get(key)?.route
    if (r.protocol === this.opts.protocol) {
      if (want === undefined) return // our stale route coming or going: nothing to restore
      const matches = r.gateway === want.nextHop && r.metric === want.metric
      if ((kind === 'del' && matches) || (kind === 'new' && !matches)) {
        this.opts.log('warn', 'kernel-route-drift', { prefix: formatPrefix(r.prefix), change: kind === 'del' ? 'deleted' : 'changed', gateway: r.gateway !== undefined ? formatAddress(r.gateway) : null })
        this.schedule()
      }
    } else if (want !== undefined || this.conflictKeys.has(key)) {
      this.schedule()
    }
  }

  /** One full reconcile: dump, plan, apply. Serialised. */
  async reconcile(): Promise<ReconcileResult> {
    if (this.running) {
      this.again = true
      await this.running.catch(() => undefined)
    }
    this.running = this.doReconcile()
    try {
      return await this.running
    } finally {
      this.running = undefined
      if (this.again) {
        this.again = false
        this.schedule(0)
      }
    }
  }

  private async doReconcile(): Promise<ReconcileResult> {
    const t0 = performance.now()
    const { rtnl, protocol, table, log } = this.opts
    const [kernel, addrs, links] = await Promise.all([rtnl.dumpRoutes(), rtnl.dumpAddresses(), rtnl.dumpLinks()])
    // next hops must be on a directly connected network of an up interface
    const connected = connectedNetworks(addrs, links)
    const installable = new Map<number, DesiredRoute>()
    for (const [key, slot] of this.desired) {
      const want = slot.route
      const on = connected.find((c) => containsAddress({ addr: c.network, len: c.len }, want.nextHop))
      if (on === undefined || on.local === want.nextHop) {
        const reason = on === undefined
          ? `next hop ${formatAddress(want.nextHop)} of peer ${want.peer} is not on a directly connected network (connected: ${connected.map((c) => `${c.name} ${formatAddress(c.network)}/${c.len}`).join(', ') || 'none'})`
          : `next hop ${formatAddress(want.nextHop)} of peer ${want.peer} is this host's own address on ${on.name}`
        const prev = slot.state
        if (prev.state !== 'not-on-link' || prev.reason !== reason) log('warn', 'route-refused', { prefix: formatPrefix(want.prefix), peer: want.peer, nextHop: formatAddress(want.nextHop), interface: on?.name ?? null, reason })
        slot.state = { state: 'not-on-link', reason }
        continue
      }
      installable.set(key, want)
    }
    const plan = planReconcile(installable, kernel, { protocol, table, allowDeletes: this.allowDeletes })
    const newConflicts = new Set<number>()
    for (const c of plan.conflicts) {
      const key = prefixId(c.desired.prefix)
      newConflicts.add(key)
      const reason = conflictReason(c)
      const slot = this.desired.get(key)!
      const prev = slot.state
      if (prev.state !== 'conflict' || prev.reason !== reason) log('warn', 'route-conflict', { prefix: formatPrefix(c.desired.prefix), peer: c.desired.peer, reason })
      slot.state = { state: 'conflict', reason }
    }
    for (const key of this.conflictKeys) {
      const slot = this.desired.get(key)
      if (!newConflicts.has(key) && slot) log('info', 'route-conflict-cleared', { prefix: formatPrefix(slot.route.prefix) })
    }
    this.conflictKeys = newConflicts
    const ops = plan.ops.map(toRouteOp(protocol, table))
    const results = ops.length > 0 ? await rtnl.applyRoutes(ops) : []
    let failed = 0
    const failedKeys = new Set<number>()
    for (let i = 0; i < results.length; i++) {
      const planned = plan.ops[i]!
      const r = results[i]!
      const key = prefixId(planned.route.prefix)
      const text = formatPrefix(planned.route.prefix)
      if (r.errno === 0 || (planned.op === 'delete' && r.errno === 3 /* ESRCH: already gone */)) {
        if (planned.op === 'delete') {
          if (!installable.has(key)) log('info', 'route-removed', { prefix: text, gateway: planned.route.gateway !== undefined ? formatAddress(planned.route.gateway) : null })
        } else {
          const want = planned.route as DesiredRoute
          log('info', planned.op === 'add' ? 'route-added' : 'route-replaced', { prefix: text, nextHop: formatAddress(want.nextHop), peer: want.peer })
        }
        continue
      }
      failed++
      failedKeys.add(key)
      const reason = `${planned.op} failed: ${errnoName(r.errno)}`
      log('error', 'route-op-failed', { prefix: text, op: planned.op, errno: r.errno, reason })
      const slot = this.desired.get(key)
      if (planned.op !== 'delete' && slot) slot.state = { state: 'error', reason }
    }
    for (const key of installable.keys()) {
      if (newConflicts.has(key) || failedKeys.has(key)) continue
      const slot = this.desired.get(key)
      // the desired route may have changed while the ops were in flight
      if (slot && slot.route === installable.get(key)) slot.state = INSTALLED
    }
    const result: ReconcileResult = {
      applied: results.length - failed,
      failed,
      conflicts: plan.conflicts.length,
      unchanged: plan.unchanged,
      keptStale: plan.keptStale,
      durationMs: performance.now() - t0,
    }
    this.stats.reconciles++
    this.stats.opsApplied += result.applied
    this.stats.opsFailed += failed
    this.stats.lastReconcile = result
    if (results.length > 0 || failed > 0) log('debug', 'kernel-reconciled', { ...result })
    return result
  }
}

interface Connected { name: string; network: number; len: number; local: number }

export function connectedNetworks(addrs: KernelAddress[], links: KernelLink[]): Connected[] {
  const byIndex = new Map(links.map((l) => [l.index, l]))
  const out: Connected[] = []
  for (const a of addrs) {
    const link = byIndex.get(a.index)
    if (link === undefined || (link.flags & 0x1) === 0) continue // down
    if (a.scope === 254 /* host */ || a.prefixLen >= 32) continue
    const mask = a.prefixLen === 0 ? 0 : (0xffffffff << (32 - a.prefixLen)) >>> 0
    out.push({ name: link.name, network: (a.address & mask) >>> 0, len: a.prefixLen, local: a.address })
  }
  return out
}

function conflictReason(c: Conflict): string {
  const f = c.foreign
  const via = f.gateway !== undefined ? ` via ${formatAddress(f.gateway)}` : ''
  return `prefix held by a route of protocol ${f.protocol}${via} (metric ${f.metric}); fabric does not override it`
}

function toRouteOp(protocol: number, table: number) {
  return (op: KernelOp): RouteOp => {
    if (op.op === 'delete') {
      return { kind: 'delete', spec: { prefix: op.route.prefix, table, protocol, metric: op.route.metric, gateway: op.route.gateway } }
    }
    return { kind: op.op, spec: { prefix: op.route.prefix, table, protocol, metric: op.route.metric, gateway: op.route.nextHop } }
  }
}
