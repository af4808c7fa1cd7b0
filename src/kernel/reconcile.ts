/**
 * The pure part of FIB sync: desired routes vs the kernel's, into the
 * minimal list of operations. Routes of other protocols are never touched;
 * a prefix another protocol already holds is reported as a conflict instead.
 */
import { prefixId } from '../net/ipv4.js'
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

/**
 * @param desired one route per prefix, keyed by prefixId
 * @param kernel every IPv4 route of `table` (any protocol)
 */
export function planReconcile(desired: ReadonlyMap<number, DesiredRoute>, kernel: readonly KernelRoute[], opts: PlanOptions): Plan {
  const ours = new Map<number, KernelRoute[]>()
  const foreign = new Map<number, KernelRoute>()
  for (const r of kernel) {
    if (r.table !== opts.table) continue
    const key = prefixId(r.prefix)
    if (r.protocol === opts.protocol) {
      const list = ours.get(key)
      if (list) list.push(r)
      else ours.set(key, [r])
    } else if (!foreign.has(key)) {
      foreign.set(key, r)
    }
  }
  const metricOf = opts.metricOf ?? ((r: DesiredRoute) => r.metric)
  const ops: KernelOp[] = []
  const late: KernelOp[] = []
  const conflicts: Conflict[] = []
  let unchanged = 0
  let keptStale = 0
  for (const [key, want] of desired) {
    const other = foreign.get(key)
    const mine = ours.get(key)
    if (other !== undefined) {
      conflicts.push({ desired: want, foreign: other })
      // A route of ours on a prefix another protocol now holds is left as it
      // is: removing it could black-hole traffic, overriding is not ours to do.
      if (mine) ours.delete(key)
      continue
    }
    if (mine === undefined) {
      ops.push({ op: 'add', route: want })
      continue
    }
    ours.delete(key)
    const metric = metricOf(want)
    const exact = mine.find((r) => r.gateway === want.nextHop && r.metric === metric && r.type === 1)
    if (exact !== undefined) {
      unchanged++
      for (const r of mine) if (r !== exact) ops.push({ op: 'delete', route: r })
      continue
    }
    const sameMetric = mine.find((r) => r.metric === metric)
    if (sameMetric !== undefined) {
      ops.push({ op: 'replace', route: want, old: sameMetric })
      for (const r of mine) if (r !== sameMetric) ops.push({ op: 'delete', route: r })
    } else {
      // only the metric differs: add the new route first (a different kernel
      // key), then remove the old one, so traffic never lacks a route
      ops.push({ op: 'add', route: want })
      for (const r of mine) late.push({ op: 'delete', route: r })
    }
  }
  for (const stale of ours.values()) {
    if (!opts.allowDeletes) {
      keptStale += stale.length
      continue
    }
    for (const r of stale) ops.push({ op: 'delete', route: r })
  }
  // deletes first so an add at the same key never collides
  ops.sort((a, b) => (a.op === 'delete' ? 0 : 1) - (b.op === 'delete' ? 0 : 1))
  ops.push(...late)
  return { ops, conflicts, unchanged, keptStale }
}
