/**
 * The kernel port: what FIB sync needs of the kernel, and nothing else
 * (BIRD's krt_sys hooks). src/kernel/rtnl.ts implements it over rtnetlink;
 * unit tests implement it in memory.
 */
import type { Prefix6 } from '../net/ipv6.js'
import type { Connected, Connected6 } from './connected.js'
import type { KernelRoute, KernelRoute6 } from './types.js'

export const OP = { ADD: 0, REPLACE: 1, DELETE: 2 } as const
export type OpCode = (typeof OP)[keyof typeof OP]
export type RouteOpKind = 'add' | 'replace' | 'delete'
const OP_KINDS: readonly RouteOpKind[] = ['add', 'replace', 'delete']

/** The name of an op code, for messages. */
export function opKind(k: number): RouteOpKind {
  return OP_KINDS[k] ?? 'add'
}

/**
 * Route operations of one table and protocol as columns of numbers: no
 * object per route, so a batch of a million operations makes no garbage for
 * the collector to promote.
 *
 * add: create, fail with EEXIST when the kernel key (prefix, metric) is taken;
 * replace: create or replace the route at that key;
 * delete: the route of this protocol at that key (ESRCH when there is none).
 */
export class RouteBatch {
  kind: Uint8Array
  addr: Uint32Array
  len: Uint8Array
  /** -1: absent */
  gateway: Float64Array
  metric: Float64Array
  length = 0

  constructor(capacity: number, readonly table: number, readonly protocol: number) {
    const c = Math.max(1, capacity)
    this.kind = new Uint8Array(c)
    this.addr = new Uint32Array(c)
    this.len = new Uint8Array(c)
    this.gateway = new Float64Array(c)
    this.metric = new Float64Array(c)
  }

  push(kind: OpCode, prefix: { addr: number; len: number }, gateway: number | undefined, metric: number | undefined): number {
    if (this.length === this.kind.length) this.grow()
    const i = this.length++
    this.kind[i] = kind
    this.addr[i] = prefix.addr
    this.len[i] = prefix.len
    this.gateway[i] = gateway ?? -1
    this.metric[i] = metric ?? -1
    return i
  }

  private grow(): void {
    const c = this.kind.length * 2
    const k = new Uint8Array(c); k.set(this.kind); this.kind = k
    const a = new Uint32Array(c); a.set(this.addr); this.addr = a
    const l = new Uint8Array(c); l.set(this.len); this.len = l
    const g = new Float64Array(c); g.set(this.gateway); this.gateway = g
    const m = new Float64Array(c); m.set(this.metric); this.metric = m
  }
}

/** What the kernel tells about changes of one family (RTNLGRP_IPV4_ROUTE or _IPV6_ROUTE, _LINK, _IPV4_IFADDR or _IPV6_IFADDR). */
export interface KernelListenerOf<R> {
  route(kind: 'new' | 'del', route: R): void
  /** a link or an address of the family appeared, changed or went: connected networks may differ */
  interfaces(): void
  /** events were lost (receive buffer overrun, undecodable datagram) */
  overrun(): void
}

export type KernelListener = KernelListenerOf<KernelRoute>

export interface KernelSubscription {
  /** stops route events (during fabric's own large batches); link and address events go on */
  pause(): void
  resume(): void
  close(): void
}

export interface KernelPort {
  /** Applies a batch; one errno per operation, 0 when done. One failure does not stop the others. */
  applyBatch(batch: RouteBatch): Promise<Int32Array>
  /**
   * Streams the IPv4 routes of `table`, of every protocol (FIB sync needs the
   * others' routes to see conflicts), to `onRoute` as they arrive.
   */
  streamRoutes(onRoute: (r: KernelRoute) => void, table?: number): Promise<void>
  /** The connected networks of up interfaces. */
  connected(): Promise<Connected[]>
  /** Route, link and address events until the subscription is closed. */
  subscribe(listener: KernelListener): KernelSubscription
}

// ---- IPv6 -----------------------------------------------------------------------

/** One IPv6 route operation (IPv6 tables are small: an object per route is fine). */
export interface RouteOp6 {
  kind: OpCode
  prefix: Prefix6
  /** RFC 5952 text */
  gateway: string | undefined
  /** RTA_OIF: required with a link-local gateway; -1: absent */
  oif: number
  /** RTA_PRIORITY, always sent (IPv6 has no metric 0: the kernel turns it into 1024, and a delete without one matches any metric) */
  metric: number
}

/** IPv6 route operations of one table and protocol (same semantics as RouteBatch). */
export class RouteBatch6 {
  readonly ops: RouteOp6[] = []

  constructor(readonly table: number, readonly protocol: number) {}

  get length(): number {
    return this.ops.length
  }

  push(kind: OpCode, prefix: Prefix6, gateway: string | undefined, oif: number | undefined, metric: number): number {
    this.ops.push({ kind, prefix, gateway, oif: oif ?? -1, metric })
    return this.ops.length - 1
  }
}

export type KernelListener6 = KernelListenerOf<KernelRoute6>

/** The IPv6 half of the kernel port (Rtnl implements both). */
export interface KernelPort6 {
  applyBatch6(batch: RouteBatch6): Promise<Int32Array>
  /** Streams the IPv6 routes of `table` (every protocol) to `onRoute`. */
  streamRoutes6(onRoute: (r: KernelRoute6) => void, table?: number): Promise<void>
  /** IPv6 addresses of up interfaces, link-local ones included. */
  connected6(): Promise<Connected6[]>
  subscribe6(listener: KernelListener6): KernelSubscription
}
