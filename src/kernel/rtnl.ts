/**
 * A small rtnetlink client over a raw NETLINK_ROUTE socket (from the
 * `netlink` package's native binding; the message codec is ours, in
 * rtnl-codec.ts). Batches many route messages per datagram with a bounded
 * window of unacknowledged requests, so 100k routes go in at tens of
 * thousands per second with one process and no `ip` children.
 */
import { endianness } from 'node:os'
import type { RawNetlinkSocket as NetlinkSocket } from 'netlink/dist/raw.js'
import { requireCjs } from '../util/cjs.js'
import type { Result } from '../util/result.js'
import { parseIpv6 } from '../net/ipv6.js'
import { type Connected, type Connected6, connectedNetworks, connectedNetworks6 } from './connected.js'
import { ERRNO, errnoName } from './errno.js'
import {
  type KernelListener, type KernelListener6, type KernelPort, type KernelPort6, type KernelSubscription, OP, RouteBatch, type RouteBatch6, type RouteOpKind,
} from './port.js'
import {
  AF_INET, AF_INET6, NLMSG, NLM_F, RTM, RTNLGRP, RT_TABLE_COMPAT, type KernelAddress, type KernelAddress6, type KernelLink, type NlMessage, type RouteSpec,
  type RouteSpec6, decodeAck, decodeAddress, decodeAddress6, decodeLink, decodeMessages, decodeRoute, decodeRoute6, encodeDumpRequest, encodeRoute6Into,
  encodeRouteRaw, route6EncodingLength, routeRawEncodingLength,
} from './rtnl-codec.js'
import { MAIN_TABLE, type KernelRoute, type KernelRoute6 } from './types.js'

// the CommonJS package through require, not an ESM import (util/cjs.ts)
const { RawNetlinkSocket } = requireCjs('netlink/dist/raw.js') as typeof import('netlink/dist/raw.js')
type RawNetlinkSocket = NetlinkSocket

const NETLINK_ROUTE = 0
const LE = endianness() === 'LE'

export interface RouteOp {
  kind: RouteOpKind
  spec: RouteSpec
}

/**
 * A batch in flight. Only the last message of each datagram asks for an ack:
 * the kernel handles a datagram's messages in order and reports every
 * failure anyway, so that ack settles all the datagram's messages without an
 * error of their own. One ack per ~300 routes instead of one per route.
 */
interface BatchAcks {
  base: number
  n: number
  errnos: Int32Array
  done: number
  /** index of the first message of the datagram whose last message has index i (else -1) */
  firstOf: Int32Array
  onAck: () => void
}

export interface RouteOpResult {
  op: RouteOp
  /** 0 on success, else errno (ERRNO.EEXIST, ERRNO.ESRCH, ERRNO.ENETUNREACH, ...) */
  errno: number
}

export class RtnlError extends Error {
  constructor(message: string, readonly errno: number) {
    super(message)
    this.name = 'RtnlError'
  }
}

interface Pending {
  resolve: (msgs: NlMessage[]) => void
  reject: (e: Error) => void
  parts: NlMessage[]
  /** streaming dumps: each part is handed over as it arrives, none kept */
  onPart?: (m: NlMessage) => void
}

/** Request/response rtnetlink socket. One per agent; not shared between namespaces. */
export class Rtnl implements KernelPort, KernelPort6 {
  private readonly sock: RawNetlinkSocket
  private seq = Math.floor(Math.random() * 0x7fffffff)
  private readonly pending = new Map<number, Pending>()
  private batch: BatchAcks | undefined
  private closed = false
  private readonly maxWindow: number
  /** the kernel runs one dump per socket at a time (EBUSY otherwise) */
  private dumpChain: Promise<unknown> = Promise.resolve()

  constructor() {
    this.sock = new RawNetlinkSocket(NETLINK_ROUTE, { recvBufferSize: 8 << 20, sendBufferSize: 4 << 20 } as never)
    // Nothing may throw back into the native binding (it aborts the process).
    this.sock.on('message', (buf: Buffer) => {
      try {
        this.receive(buf)
      } catch (e) {
        this.failAll(e as Error)
      }
    })
    this.sock.on('error', (e: Error) => {
      try {
        this.failAll(e)
      } catch {
        /* already failing */
      }
    })
    // acks queue as separate skbs (~1 KiB of receive buffer each); more
    // unacknowledged requests than the buffer holds would lose acks (ENOBUFS)
    this.maxWindow = Math.max(32, Math.min(2048, Math.floor(this.sock.getRecvBufferSize() / 2048)))
    this.sock.unref()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.failAll(new Error('rtnetlink socket closed'))
    this.sock.close()
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1
    return this.seq
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e)
    this.pending.clear()
    const b = this.batch
    if (b) {
      // unacknowledged operations: reported as ENOBUFS, the caller reconciles later
      for (let i = 0; i < b.n; i++) if (b.errnos[i] === -1) b.errnos[i] = ERRNO.ENOBUFS
      b.done = b.n
      this.batch = undefined
      b.onAck()
    }
  }

  private receive(buf: Buffer): void {
    const split = decodeMessages(buf)
    if (!split.ok) return
    for (const m of split.value) {
      const b = this.batch
      if (b && m.type === NLMSG.ERROR) {
        const i = (m.seq - b.base) >>> 0
        if (i < b.n && b.errnos[i] === -1) {
          const e = decodeAck(m.payload)
          const errno = e.ok ? e.value.errno : ERRNO.EINVAL
          const first = b.firstOf[i]!
          if (errno !== 0 || first < 0) {
            // a failure (any message) or the ack of a message that asked for one
            b.errnos[i] = errno
            b.done++
          }
          if (first >= 0) {
            // the datagram's last message is acknowledged: the rest of it succeeded
            for (let j = first; j <= i; j++) {
              if (b.errnos[j] === -1) {
                b.errnos[j] = 0
                b.done++
              }
            }
          }
          b.onAck()
          continue
        }
      }
      const p = this.pending.get(m.seq)
      if (!p) continue
      if (m.type === NLMSG.DONE) {
        this.pending.delete(m.seq)
        p.resolve(p.parts)
      } else if (m.type === NLMSG.ERROR) {
        this.pending.delete(m.seq)
        const e = decodeAck(m.payload)
        const errno = e.ok ? e.value.errno : ERRNO.EINVAL
        if (errno === 0) p.resolve(p.parts)
        else p.reject(new RtnlError(`rtnetlink: ${errnoName(errno)}`, errno))
      } else {
        if (p.onPart) p.onPart(m)
        else p.parts.push(m)
        if ((m.flags & NLM_F.MULTI) === 0) {
          this.pending.delete(m.seq)
          p.resolve(p.parts)
        }
      }
    }
  }

  private dump(type: number, onPart?: (m: NlMessage) => void, family: typeof AF_INET | typeof AF_INET6 = AF_INET): Promise<NlMessage[]> {
    const run = (): Promise<NlMessage[]> => {
      const seq = this.nextSeq()
      return this.request(encodeDumpRequest(type, seq, family), seq, onPart)
    }
    const p = this.dumpChain.then(run, run)
    this.dumpChain = p.catch(() => undefined)
    return p
  }

  private request(msg: Buffer, seq: number, onPart?: (m: NlMessage) => void): Promise<NlMessage[]> {
    if (this.closed) return Promise.reject(new Error('rtnetlink socket closed'))
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject, parts: [], onPart })
      this.sock.ref()
      this.sock.send(msg, {}, (e?: Error) => {
        if (e) {
          this.pending.delete(seq)
          reject(e)
        }
      })
    }).finally(() => {
      if (this.pending.size === 0 && !this.batch) this.sock.unref()
    }) as Promise<NlMessage[]>
  }

  /** Dumps one kind of object and decodes the replies of type `reply`; undecodable ones are skipped. */
  private async dumpDecoded<T>(request: number, reply: number, decode: (payload: Buffer) => Result<T | undefined, unknown>, family: typeof AF_INET | typeof AF_INET6 = AF_INET): Promise<T[]> {
    const out: T[] = []
    for (const m of await this.dump(request, undefined, family)) {
      if (m.type !== reply) continue
      const r = decode(m.payload)
      if (r.ok && r.value !== undefined) out.push(r.value)
    }
    return out
  }

  dumpRoutes(): Promise<KernelRoute[]> {
    return this.dumpDecoded(RTM.GETROUTE, RTM.NEWROUTE, decodeRoute)
  }

  /** Counts the IPv4 routes of a protocol in a table from a dump, without decoding them (cheap on huge tables). */
  async countRoutes(protocol: number, table = MAIN_TABLE): Promise<number> {
    let n = 0
    await this.dump(RTM.GETROUTE, (m) => {
      const p = m.payload
      // rtmsg: family, dst_len, src_len, tos, table, protocol, ...
      if (m.type === RTM.NEWROUTE && p.length >= 12 && p[0] === AF_INET && p[5] === protocol && (p[4] === table || p[4] === RT_TABLE_COMPAT)) n++
    })
    return n
  }

  /** Streams the IPv4 routes (of `table`, when given) to `onRoute` as the dump arrives; nothing is kept. */
  async streamRoutes(onRoute: (r: KernelRoute) => void, table?: number): Promise<void> {
    await this.dump(RTM.GETROUTE, (m) => {
      if (m.type !== RTM.NEWROUTE) return
      const r = decodeRoute(m.payload)
      if (r.ok && r.value && (table === undefined || r.value.table === table)) onRoute(r.value)
    })
  }

  async connected(): Promise<Connected[]> {
    const [addrs, links] = await Promise.all([this.dumpAddresses(), this.dumpLinks()])
    return connectedNetworks(addrs, links)
  }

  subscribe(listener: KernelListener): KernelSubscription {
    return new KernelMonitor(listener, RTNLGRP.IPV4_ROUTE, RTNLGRP.IPV4_IFADDR, decodeRoute)
  }

  dumpAddresses(): Promise<KernelAddress[]> {
    return this.dumpDecoded(RTM.GETADDR, RTM.NEWADDR, decodeAddress)
  }

  dumpLinks(): Promise<KernelLink[]> {
    return this.dumpDecoded(RTM.GETLINK, RTM.NEWLINK, decodeLink)
  }

  /**
   * Applies route operations, many per datagram, with at most `window`
   * unacknowledged at once. Every op gets its own result; one failure does
   * not stop the others.
   */
  async applyRoutes(ops: readonly RouteOp[], maxWindow = 2048): Promise<RouteOpResult[]> {
    if (ops.length === 0) return []
    const batch = new RouteBatch(ops.length, ops[0]!.spec.table, ops[0]!.spec.protocol)
    for (const op of ops) {
      if (op.spec.table !== batch.table || op.spec.protocol !== batch.protocol) throw new Error('applyRoutes: one table and protocol per call')
      batch.push(op.kind === 'add' ? OP.ADD : op.kind === 'replace' ? OP.REPLACE : OP.DELETE, op.spec.prefix, op.spec.gateway, op.spec.metric)
    }
    const errnos = await this.applyBatch(batch, maxWindow)
    return ops.map((op, i) => ({ op, errno: errnos[i]! }))
  }

  /** Applies a columnar batch; returns one errno per operation (0: done). */
  applyBatch(b: RouteBatch, maxWindow = 2048): Promise<Int32Array> {
    const { table, protocol } = b
    return this.sendBatch(b.length, maxWindow, (buf, off, limit, i, seq) => {
      const gw = b.gateway[i]!
      const k = b.kind[i]!
      // metric 0 is the kernel's default on add; deletes keep it so they match exactly
      const metric = k !== OP.DELETE && b.metric[i] === 0 ? -1 : b.metric[i]!
      if (off + routeRawEncodingLength(metric, gw, -1, table) > limit) return -1
      return encodeRouteRaw(buf, off, k === OP.DELETE ? RTM.DELROUTE : RTM.NEWROUTE, flagsOf(k), seq, b.addr[i]!, b.len[i]!, table, protocol, metric, gw)
    })
  }

  /**
   * Applies IPv6 route operations; one errno per operation. Every operation
   * carries its metric (RTA_PRIORITY) so deletes match exactly. Throws a
   * RangeError before sending anything when an operation is malformed (a
   * program error: FIB sync only builds them from validated addresses).
   */
  applyBatch6(b: RouteBatch6, maxWindow = 2048): Promise<Int32Array> {
    const specs: RouteSpec6[] = b.ops.map((op) => {
      if (op.gateway !== undefined && parseIpv6(op.gateway) === undefined) throw new RangeError(`applyBatch6: gateway "${op.gateway}" is not an IPv6 address`)
      if (parseIpv6(op.prefix.addr) === undefined || !(op.prefix.len >= 0 && op.prefix.len <= 128)) throw new RangeError(`applyBatch6: bad prefix ${op.prefix.addr}/${op.prefix.len}`)
      if (!(op.metric >= 1 && op.metric <= 0xffffffff)) throw new RangeError(`applyBatch6: metric ${op.metric} (IPv6 routes need 1..2^32-1)`)
      return { prefix: op.prefix, table: b.table, protocol: b.protocol, metric: op.metric, gateway: op.gateway, oif: op.oif >= 0 ? op.oif : undefined }
    })
    return this.sendBatch(specs.length, maxWindow, (buf, off, limit, i, seq) => {
      const spec = specs[i]!
      if (off + route6EncodingLength(spec) > limit) return -1
      const k = b.ops[i]!.kind
      return encodeRoute6Into(buf, off, { type: k === OP.DELETE ? RTM.DELROUTE : RTM.NEWROUTE, flags: flagsOf(k), seq }, spec)
    })
  }

  /**
   * Sends `n` messages, many per datagram, at most `window` unacknowledged.
   * `encodeAt` writes message i with its sequence number at `off` and
   * returns the offset after it, or -1 when it would pass `limit`.
   */
  private async sendBatch(n: number, maxWindow: number, encodeAt: (buf: Buffer, off: number, limit: number, i: number, seq: number) => number): Promise<Int32Array> {
    const window = Math.min(maxWindow, this.maxWindow)
    if (this.closed) throw new Error('rtnetlink socket closed')
    if (this.batch) throw new Error('applyBatch is not reentrant')
    const errnos = new Int32Array(n).fill(-1)
    if (n === 0) return errnos
    const base = (this.seq + 1) >>> 0
    this.seq = (this.seq + n) >>> 0
    const CHUNK = Math.min(16384, window * 48)
    const buf = Buffer.allocUnsafe(CHUNK + 128)
    this.sock.ref()
    try {
      await new Promise<void>((resolve) => {
        let next = 0
        const firstOf = new Int32Array(n).fill(-1)
        const acks: BatchAcks = {
          base, n, errnos, done: 0, firstOf,
          onAck: () => {
            if (acks.done >= n) resolve()
            else if (!scheduled && next < n && next - acks.done < window / 2) {
              scheduled = true
              setImmediate(pump)
            }
          },
        }
        this.batch = acks
        let scheduled = false
        const pump = (): void => {
          scheduled = false
          while (next < n && next - acks.done < window) {
            let off = 0
            const first = next
            let lastOff = 0
            while (next < n && next - acks.done < window) {
              const end = encodeAt(buf, off, CHUNK, next, (base + next) >>> 0)
              if (end < 0) break
              lastOff = off
              off = end
              next++
            }
            // the datagram's last message asks for the ack that settles them all
            if (LE) buf.writeUInt16LE(buf.readUInt16LE(lastOff + 6) | NLM_F.ACK, lastOff + 6)
            else buf.writeUInt16BE(buf.readUInt16BE(lastOff + 6) | NLM_F.ACK, lastOff + 6)
            firstOf[next - 1] = first
            // the send completes later: it gets its own copy, the encode buffer is reused
            this.sock.send(Buffer.from(buf.subarray(0, off)), {}, (e?: Error) => {
              if (e) this.failAll(e)
            })
          }
        }
        pump()
      })
    } finally {
      this.batch = undefined
      if (this.pending.size === 0) this.sock.unref()
    }
    return errnos
  }

  // ---- IPv6 ---------------------------------------------------------------------

  /** Streams the IPv6 routes (of `table`, when given) to `onRoute`; nothing is kept. */
  async streamRoutes6(onRoute: (r: KernelRoute6) => void, table?: number): Promise<void> {
    await this.dump(RTM.GETROUTE, (m) => {
      if (m.type !== RTM.NEWROUTE) return
      const r = decodeRoute6(m.payload)
      if (r.ok && r.value && (table === undefined || r.value.table === table)) onRoute(r.value)
    }, AF_INET6)
  }

  async dumpRoutes6(): Promise<KernelRoute6[]> {
    const out: KernelRoute6[] = []
    await this.streamRoutes6((r) => out.push(r))
    return out
  }

  dumpAddresses6(): Promise<KernelAddress6[]> {
    return this.dumpDecoded(RTM.GETADDR, RTM.NEWADDR, decodeAddress6, AF_INET6)
  }

  async connected6(): Promise<Connected6[]> {
    const [addrs, links] = await Promise.all([this.dumpAddresses6(), this.dumpLinks()])
    return connectedNetworks6(addrs, links)
  }

  subscribe6(listener: KernelListener6): KernelSubscription {
    return new KernelMonitor(listener, RTNLGRP.IPV6_ROUTE, RTNLGRP.IPV6_IFADDR, decodeRoute6)
  }
}

/** netlink flags of an operation: add fails on a taken key, replace creates or replaces, delete matches */
function flagsOf(k: number): number {
  return k === OP.DELETE ? NLM_F.REQUEST
    : k === OP.REPLACE ? NLM_F.REQUEST | NLM_F.CREATE | NLM_F.REPLACE
      : NLM_F.REQUEST | NLM_F.CREATE | NLM_F.EXCL
}

/**
 * Listens to the route changes of one family (RTNLGRP_IPV4_ROUTE or
 * _IPV6_ROUTE) so fabric notices a route of its own deleted or changed by
 * hand, or a foreign route appearing, and to links and that family's
 * addresses (RTNLGRP_LINK, _IPV4_IFADDR / _IPV6_IFADDR), which change what
 * is on-link.
 */
class KernelMonitor<R> implements KernelSubscription {
  private readonly sock: RawNetlinkSocket
  private paused = false

  constructor(
    private readonly listener: { route(kind: 'new' | 'del', r: R): void; interfaces(): void; overrun(): void },
    private readonly routeGroup: number,
    addrGroup: number,
    private readonly decode: (payload: Buffer) => Result<R | undefined, unknown>,
  ) {
    this.sock = new RawNetlinkSocket(NETLINK_ROUTE, { recvBufferSize: 4 << 20 } as never)
    for (const g of [routeGroup, RTNLGRP.LINK, addrGroup]) this.sock.addMembership(g)
    // nothing may throw back into the native binding
    this.sock.on('message', (buf: Buffer) => {
      try {
        this.receive(buf)
      } catch {
        this.overrun()
      }
    })
    // ENOBUFS: events were lost; the listener does a full reconcile
    this.sock.on('error', () => this.overrun())
    this.sock.unref()
  }

  private overrun(): void {
    try {
      this.listener.overrun()
    } catch {
      /* the listener's own failure: nothing to add */
    }
  }

  private receive(buf: Buffer): void {
    const split = decodeMessages(buf)
    if (!split.ok) return this.overrun()
    let interfaces = false
    for (const m of split.value) {
      if (m.type === RTM.NEWROUTE || m.type === RTM.DELROUTE) {
        if (this.paused) continue
        const r = this.decode(m.payload)
        if (r.ok && r.value) this.listener.route(m.type === RTM.NEWROUTE ? 'new' : 'del', r.value)
      } else if (m.type === RTM.NEWLINK || m.type === RTM.DELLINK || m.type === RTM.NEWADDR || m.type === RTM.DELADDR) {
        interfaces = true
      }
    }
    if (interfaces) this.listener.interfaces()
  }

  pause(): void {
    if (this.paused) return
    this.paused = true
    try {
      this.sock.dropMembership(this.routeGroup)
    } catch {
      /* closed */
    }
  }

  resume(): void {
    if (!this.paused) return
    this.paused = false
    try {
      this.sock.addMembership(this.routeGroup)
    } catch {
      /* closed */
    }
  }

  close(): void {
    this.sock.close()
  }
}
