/**
 * The pure part of FIB sync: desired routes vs the kernel's, into the
 * minimal list of operations. Routes of other protocols are never touched;
 * a prefix another protocol already holds is reported as a conflict instead.
 *
 * The planner is fed the kernel's routes one at a time (as a dump streams
 * in), so a million-route table is diffed without holding the dump: only
 * routes that need an operation, and conflicts, are kept.
 */
import type { Prefix } from '../net/ipv4.js'
import { PrefixMap } from '../net/prefix-map.js'
import type { DesiredRoute, KernelOp, KernelRoute } from './types.js'

export interface Conflict {
  desired: DesiredRoute
  foreign: KernelRoute
}

export interface Plan {
  ops: KernelOp[]
  conflicts: Conflict[]
  /** desired routes already right in the kernel */
  unchanged: number
  /** our stale routes kept because deletes are held back (startup grace) */
  keptStale: number
}

export interface PlanOptions {
  protocol: number
  table: number
  /** false during startup grace: adopt, add and fix, but delete nothing yet */
  allowDeletes: boolean
  /** the kernel metric of a desired route (default: its metric) */
  metricOf?: (r: DesiredRoute) => number
}

/** What the planner needs of the desired table. */
export interface DesiredView {
  /** the desired (and installable) route for a prefix */
  get(p: Prefix): DesiredRoute | undefined
  values(): Iterable<DesiredRoute>
  /**
   * The kernel holds exactly `want`: remember it (for the rest of this plan).
   * Returns false when it was already marked (the kernel route is a duplicate).
   */
  markInKernel(want: DesiredRoute): boolean
  inKernel(want: DesiredRoute): boolean
  /**
   * Optional: a plain add (nothing of ours or another protocol's on the
   * prefix) the caller makes itself later instead; true: no op is planned
   * for it. FIB sync hands a huge plan's adds to its incremental queue, so
   * the plan holds no object per route of a million-route ingest.
   */
  deferAdd?(want: DesiredRoute): boolean
}

export class ReconcilePlanner {
  private readonly metricOf: (r: DesiredRoute) => number
  /** our routes on desired prefixes that are not exactly right */
  private readonly wrong = new PrefixMap<KernelRoute[]>()
  private readonly foreign = new PrefixMap<KernelRoute>()
  private readonly stale: KernelRoute[] = []
  private keptStale = 0

  constructor(private readonly desired: DesiredView, private readonly opts: PlanOptions) {
    this.metricOf = opts.metricOf ?? ((r) => r.metric)
  }

  observe(r: KernelRoute): void {
    if (r.table !== this.opts.table) return
    const want = this.desired.get(r.prefix)
    if (r.protocol !== this.opts.protocol) {
      if (want !== undefined && !this.foreign.has(r.prefix)) this.foreign.set(r.prefix, r)
      return
    }
    if (want === undefined) {
      if (this.opts.allowDeletes) this.stale.push(r)
      else this.keptStale++
      return
    }
    if (r.gateway === want.nextHop && r.metric === this.metricOf(want) && r.type === 1 && this.desired.markInKernel(want)) return
    const list = this.wrong.get(r.prefix)
    if (list) list.push(r)
    else this.wrong.set(r.prefix, [r])
  }

  finish(): Plan {
    const ops: KernelOp[] = []
    const late: KernelOp[] = []
    const conflicts: Conflict[] = []
    let unchanged = 0
    for (const r of this.stale) ops.push({ op: 'delete', route: r })
    for (const want of this.desired.values()) {
      const other = this.foreign.get(want.prefix)
      const mine = this.wrong.get(want.prefix)
      if (other !== undefined) {
        // A route of ours on a prefix another protocol now holds is left as it
        // is: removing it could black-hole traffic, overriding is not ours to do.
        conflicts.push({ desired: want, foreign: other })
        continue
      }
      if (this.desired.inKernel(want)) {
        unchanged++
        for (const r of mine ?? []) ops.push({ op: 'delete', route: r }) // duplicates of ours
        continue
      }
      if (mine === undefined) {
        if (this.desired.deferAdd?.(want) !== true) ops.push({ op: 'add', route: want })
        continue
      }
      const metric = this.metricOf(want)
      const sameMetric = mine.find((r) => r.metric === metric)
      if (sameMetric !== undefined) {
        ops.push({ op: 'replace', route: want })
        for (const r of mine) if (r !== sameMetric) ops.push({ op: 'delete', route: r })
      } else {
        // only the metric differs: add the new route first (a different kernel
        // key), then remove the old one, so traffic never lacks a route
        ops.push({ op: 'add', route: want })
        for (const r of mine) late.push({ op: 'delete', route: r })
      }
    }
    // deletes first so an add at the same key never collides
    ops.sort((a, b) => (a.op === 'delete' ? 0 : 1) - (b.op === 'delete' ? 0 : 1))
    ops.push(...late)
    return { ops, conflicts, unchanged, keptStale: this.keptStale }
  }
}

/** A plain in-memory view of a desired table (tests, small callers). */
export function desiredView(routes: Iterable<DesiredRoute>): DesiredView {
  const map = new PrefixMap<DesiredRoute>()
  for (const r of routes) map.set(r.prefix, r)
  const marked = new Set<DesiredRoute>()
  return {
    get: (p) => map.get(p),
    values: () => map.values(),
    markInKernel: (w) => {
      if (marked.has(w)) return false
      marked.add(w)
      return true
    },
    inKernel: (w) => marked.has(w),
  }
}

/** Plans from a complete list of kernel routes. */
export function planReconcile(desired: Iterable<DesiredRoute>, kernel: Iterable<KernelRoute>, opts: PlanOptions): Plan {
  const planner = new ReconcilePlanner(desiredView(desired), opts)
  for (const r of kernel) planner.observe(r)
  return planner.finish()
}
