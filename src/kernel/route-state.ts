/**
 * What became of each desired prefix in FIB sync, and the transitions
 * between those states as functions. A prefix is
 *   installed (settled): the kernel holds exactly its desired route;
 *   pending: not applied yet;
 *   refused: fabric will not or the kernel did not install it
 *     ('not-on-link': its next hop is off-link or not acceptable as a next hop,
 *      'error': the kernel answered an errno);
 *   conflict: another protocol holds the prefix, fabric leaves it alone.
 */
import type { DesiredRoute } from './types.js'

export type NextHopRefusal = 'not-on-link' | 'bad-next-hop'

export type RouteState =
  | { readonly state: 'installed' }
  | { readonly state: 'pending' }
  | { readonly state: 'conflict'; readonly reason: string }
  | { readonly state: 'not-on-link'; readonly refused: NextHopRefusal; readonly reason: string }
  | { readonly state: 'error'; readonly errno: number; readonly reason: string }

export type StateName = RouteState['state']

export const INSTALLED: RouteState = Object.freeze({ state: 'installed' })
export const PENDING: RouteState = Object.freeze({ state: 'pending' })

/**
 * A prefix whose route is pending, refused, in conflict or changing: the
 * desired route as last seen, what became of it, and what fabric has in
 * the kernel for it. A prefix without a Slot is settled.
 */
export class Slot {
  constructor(
    public route: DesiredRoute,
    public state: RouteState,
    /** the route fabric installed for this prefix (undefined: none known) */
    public inst: DesiredRoute | undefined,
    /** seconds since the FibSync was made, when `route` was set (for routes without their own `since`) */
    public since: number,
  ) {}
}

export type MetricOf = (r: DesiredRoute) => number

/** Two routes the kernel cannot tell apart: same next hop and kernel metric. */
export function sameInKernel(a: DesiredRoute, b: DesiredRoute, metricOf: MetricOf): boolean {
  return a === b || (a.nextHop === b.nextHop && metricOf(a) === metricOf(b))
}

/** The desired route changed: pending until applied. */
export function toPending(slot: Slot, route: DesiredRoute, now: number): void {
  slot.route = route
  slot.state = PENDING
  slot.since = now
}

/**
 * The kernel now holds `route`. Settled when it is what the prefix wants
 * (the same object, or one the kernel cannot tell from it: a reload hands
 * over equal routes as new objects). Returns whether it settled.
 */
export function toInstalled(slot: Slot, route: DesiredRoute, metricOf: MetricOf): boolean {
  slot.inst = route
  if (!sameInKernel(slot.route, route, metricOf)) return false
  slot.state = INSTALLED
  return true
}

/** fabric refuses the next hop. Returns whether the state changed (a log line is due). */
export function toRefused(slot: Slot, refused: NextHopRefusal, reason: string): boolean {
  const prev = slot.state
  const changed = prev.state !== 'not-on-link' || prev.reason !== reason
  if (changed) slot.state = { state: 'not-on-link', refused, reason }
  return changed
}

/** The kernel refused `route` with `errno` (only recorded when `route` is still what the prefix wants). */
export function toKernelError(slot: Slot, route: DesiredRoute, errno: number, reason: string, metricOf: MetricOf): void {
  if (sameInKernel(slot.route, route, metricOf)) slot.state = { state: 'error', errno, reason }
}

/** Another protocol holds the prefix. Returns whether the state changed. */
export function toConflict(slot: Slot, reason: string): boolean {
  const prev = slot.state
  slot.inst = undefined
  if (prev.state === 'conflict' && prev.reason === reason) return false
  slot.state = { state: 'conflict', reason }
  return true
}

/** The conflict is gone: the route is to be installed again. */
export function conflictCleared(slot: Slot): void {
  if (slot.state.state === 'conflict') slot.state = PENDING
}

/** States that leave the table out of sync (pending work or a kernel refusal). */
export function isUnsettled(s: RouteState): boolean {
  return s.state === 'pending' || s.state === 'error'
}
