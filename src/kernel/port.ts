/**
 * The kernel port: what FIB sync needs of the kernel, and nothing else
 * (BIRD's krt_sys hooks). src/kernel/rtnl.ts implements it over rtnetlink;
 * unit tests implement it in memory.
 */
import type { Connected } from './connected.js'
import type { KernelRoute } from './types.js'

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

/** What the kernel tells about changes (RTNLGRP_IPV4_ROUTE, _LINK, _IPV4_IFADDR). */
export interface KernelListener {
  route(kind: 'new' | 'del', route: KernelRoute): void
  /** a link or an IPv4 address appeared, changed or went: connected networks may differ */
  interfaces(): void
  /** events were lost (receive buffer overrun, undecodable datagram) */
  overrun(): void
}

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
