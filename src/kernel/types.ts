import type { Prefix } from '../net/ipv4.js'
import type { Prefix6 } from '../net/ipv6.js'

export const MAIN_TABLE = 254

/** A route as the kernel reports it (IPv4, one next hop). */
export interface KernelRoute {
  prefix: Prefix
  table: number
  protocol: number
  /** kernel route priority ("metric") */
  metric: number
  /** RTN_* route type: 1 unicast, 6 blackhole, 7 unreachable, ... */
  type: number
  scope: number
  gateway?: number
  oif?: number
}

/** A route fabric wants in the kernel. */
export interface DesiredRoute {
  prefix: Prefix
  nextHop: number
  metric: number
  /** for messages: which peer/host this route comes from */
  peer: string
}

export type KernelOp =
  | { op: 'add'; route: DesiredRoute }
  | { op: 'replace'; route: DesiredRoute }
  | { op: 'delete'; route: KernelRoute }

/** An IPv6 route as the kernel reports it (one next hop; multipath routes come without RTA_GATEWAY). */
export interface KernelRoute6 {
  prefix: Prefix6
  table: number
  protocol: number
  /** RTA_PRIORITY: 1024 for routes added without one */
  metric: number
  type: number
  scope: number
  /** RFC 5952 text */
  gateway?: string
  oif?: number
}
