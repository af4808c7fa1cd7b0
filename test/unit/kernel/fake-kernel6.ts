/**
 * An in-memory IPv6 kernel behind KernelPort6, for FibSync6's unit tests. It
 * behaves like Linux's IPv6 FIB where fabric can tell: routes keyed by
 * (table, prefix, metric); add on a taken key answers EEXIST, delete of a
 * missing route (or one of another protocol, gateway or metric) ESRCH, a
 * global gateway off every connected prefix ENETUNREACH, a link-local one
 * without its interface EINVAL; every change emits a route event before the
 * batch's acks.
 */
import type { Connected6 } from '../../../src/kernel/connected.js'
import { ERRNO } from '../../../src/kernel/errno.js'
import { type KernelListener6, type KernelPort6, type KernelSubscription, OP, type RouteBatch6 } from '../../../src/kernel/port.js'
import type { KernelRoute6 } from '../../../src/kernel/types.js'
import { type Prefix6, containsAddress6, formatPrefix6, isLinkLocal6, parsePrefix6 } from '../../../src/net/ipv6.js'

export const P6 = (s: string): Prefix6 => { const r = parsePrefix6(s); if (!r.ok) throw new Error(r.error); return r.value }

const key = (table: number, p: Prefix6, metric: number): string => `${table} ${formatPrefix6(p)} ${metric}`

/** up0 (index 3): fd00:99::1/64 and fe80::1; up1 (index 4): fe80::a */
export const UNDERLAY6: Connected6[] = [
  { name: 'up0', index: 3, net: P6('fd00:99::/64'), local: 'fd00:99::1', linkLocal: false },
  { name: 'up0', index: 3, net: P6('fe80::/64'), local: 'fe80::1', linkLocal: true },
  { name: 'up1', index: 4, net: P6('fe80::/64'), local: 'fe80::a', linkLocal: true },
]

export class FakeKernel6 implements KernelPort6 {
  readonly routes = new Map<string, KernelRoute6>()
  private listeners = new Set<{ l: KernelListener6 }>()
  batches = 0
  dumps = 0

  constructor(public connectedNets: Connected6[] = UNDERLAY6) {}

  private gatewayErrno(gw: string, oif: number): number {
    if (isLinkLocal6(gw)) return oif < 0 ? ERRNO.EINVAL : this.connectedNets.some((c) => c.index === oif && c.linkLocal) ? 0 : ERRNO.ENETUNREACH
    if (this.connectedNets.some((c) => c.local === gw)) return ERRNO.EINVAL
    return this.connectedNets.some((c) => !c.linkLocal && containsAddress6(c.net, gw) && (oif < 0 || c.index === oif)) ? 0 : ERRNO.ENETUNREACH
  }

  private emit(kind: 'new' | 'del', r: KernelRoute6): void {
    for (const s of this.listeners) s.l.route(kind, { ...r })
  }

  async applyBatch6(b: RouteBatch6): Promise<Int32Array> {
    this.batches++
    const errnos = new Int32Array(b.length)
    b.ops.forEach((op, i) => {
      const k = key(b.table, op.prefix, op.metric)
      const held = this.routes.get(k)
      if (op.kind === OP.DELETE) {
        if (held === undefined || held.protocol !== b.protocol || (op.gateway !== undefined && held.gateway !== op.gateway)) { errnos[i] = ERRNO.ESRCH; return }
        this.routes.delete(k)
        this.emit('del', held)
        return
      }
      if (op.gateway !== undefined) {
        const e = this.gatewayErrno(op.gateway, op.oif)
        if (e !== 0) { errnos[i] = e; return }
      }
      if (op.kind === OP.ADD && held !== undefined) { errnos[i] = ERRNO.EEXIST; return }
      const r: KernelRoute6 = { prefix: op.prefix, table: b.table, protocol: b.protocol, metric: op.metric, type: 1, scope: 0, gateway: op.gateway, oif: op.oif >= 0 ? op.oif : undefined }
      this.routes.set(k, r)
      this.emit('new', r)
    })
    return errnos
  }

  async streamRoutes6(onRoute: (r: KernelRoute6) => void, table?: number): Promise<void> {
    this.dumps++
    await Promise.resolve()
    for (const r of [...this.routes.values()]) if (table === undefined || r.table === table) onRoute({ ...r })
  }

  async connected6(): Promise<Connected6[]> {
    return this.connectedNets
  }

  subscribe6(l: KernelListener6): KernelSubscription {
    const s = { l }
    this.listeners.add(s)
    return { pause: () => undefined, resume: () => undefined, close: () => { this.listeners.delete(s) } }
  }

  /** A change made behind fabric's back (`ip -6 route ...` by hand, another daemon). */
  external(op: 'add' | 'delete', r: { prefix: string; gateway?: string; oif?: number; protocol: number; metric?: number }): void {
    const route: KernelRoute6 = { prefix: P6(r.prefix), table: 254, protocol: r.protocol, metric: r.metric ?? 1024, type: 1, scope: 0, gateway: r.gateway, oif: r.oif ?? 3 }
    const k = key(254, route.prefix, route.metric)
    if (op === 'add') {
      this.routes.set(k, route)
      this.emit('new', route)
    } else {
      const held = this.routes.get(k)
      if (held) {
        this.routes.delete(k)
        this.emit('del', held)
      }
    }
  }

  setConnected(c: Connected6[]): void {
    this.connectedNets = c
    for (const s of this.listeners) s.l.interfaces()
  }

  /** fabric's routes as `ip -6 route` lines, sorted */
  ours(protocol = 233): string[] {
    return [...this.routes.values()].filter((r) => r.protocol === protocol)
      .map((r) => `${formatPrefix6(r.prefix)} via ${r.gateway ?? '-'} dev ${this.connectedNets.find((c) => c.index === r.oif)?.name ?? r.oif} metric ${r.metric}`).sort()
  }
}
