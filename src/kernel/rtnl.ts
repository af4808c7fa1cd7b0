/**
 * A small rtnetlink client over a raw NETLINK_ROUTE socket (from the
 * `netlink` package's native binding; the message codec is ours, in
 * rtnl-codec.ts). Batches many route messages per datagram with a bounded
 * window of unacknowledged requests, so 100k routes go in at tens of
 * thousands per second with one process and no `ip` children.
 */
import { endianness } from 'node:os'
import { RawNetlinkSocket } from 'netlink/dist/raw.js'
import {
  NLMSG, NLM_F, RTM, RTNLGRP, type KernelAddress, type KernelLink, type NlMessage, type RouteSpec,
  decodeAddress, decodeError, decodeLink, decodeRoute, encodeDump, encodeRouteFields, routeFieldsSize, splitMessages,
} from './rtnl-codec.js'
import type { KernelRoute } from './types.js'
import type { Result } from '../util/result.js'

const NETLINK_ROUTE = 0
const LE = endianness() === 'LE'

export type RouteOpKind = 'add' | 'replace' | 'delete'

export interface RouteOp {
  kind: RouteOpKind
  spec: RouteSpec
}

export const OP = { ADD: 0, REPLACE: 1, DELETE: 2 } as const
const OP_KINDS: RouteOpKind[] = ['add', 'replace', 'delete']

/**
 * Route operations as columns of numbers: no object per route, so a batch of
 * a million operations makes no garbage for the collector to promote.
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

  push(kind: number, prefix: { addr: number; len: number }, gateway: number | undefined, metric: number | undefined): number {
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
  /** 0 on success, else errno (e.g. 17 EEXIST, 3 ESRCH, 101 ENETUNREACH) */
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

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 13: 'EACCES', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 101: 'ENETUNREACH', 113: 'EHOSTUNREACH', 105: 'ENOBUFS',
}
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`
}

/** Request/response rtnetlink socket. One per agent; not shared between namespaces. */
export class Rtnl {
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
      for (let i = 0; i < b.n; i++) if (b.errnos[i] === -1) b.errnos[i] = 105
      b.done = b.n
      this.batch = undefined
      b.onAck()
    }
  }

  private receive(buf: Buffer): void {
    const split = splitMessages(buf)
    if (!split.ok) return
    for (const m of split.value) {
      const b = this.batch
      if (b && m.type === NLMSG.ERROR) {
        const i = (m.seq - b.base) >>> 0
        if (i < b.n && b.errnos[i] === -1) {
          const e = decodeError(m.payload)
          const errno = e.ok ? e.value.errno : 22
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
        const e = decodeError(m.payload)
        const errno = e.ok ? e.value.errno : 22
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

  private dump(type: number, onPart?: (m: NlMessage) => void): Promise<NlMessage[]> {
    const run = (): Promise<NlMessage[]> => {
      const seq = this.nextSeq()
      return this.request(encodeDump(type, seq), seq, onPart)
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
  private async dumpDecoded<T>(request: number, reply: number, decode: (payload: Buffer) => Result<T | undefined, unknown>): Promise<T[]> {
    const out: T[] = []
    for (const m of await this.dump(request)) {
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
  async countRoutes(protocol: number, table = 254): Promise<number> {
    let n = 0
    await this.dump(RTM.GETROUTE, (m) => {
      const p = m.payload
      if (m.type === RTM.NEWROUTE && p.length >= 12 && p[0] === 2 && p[5] === protocol && (p[4] === table || p[4] === 252)) n++
    })
    return n
  }

  /** Streams the IPv4 routes to `onRoute` as the dump arrives; nothing is kept. */
  async streamRoutes(onRoute: (r: KernelRoute) => void): Promise<void> {
    await this.dump(RTM.GETROUTE, (m) => {
      if (m.type !== RTM.NEWROUTE) return
      const r = decodeRoute(m.payload)
      if (r.ok && r.value) onRoute(r.value)
    })
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
  async applyBatch(b: RouteBatch, maxWindow = 2048): Promise<Int32Array> {
    const window = Math.min(maxWindow, this.maxWindow)
    if (this.closed) throw new Error('rtnetlink socket closed')
    if (this.batch) throw new Error('applyBatch is not reentrant')
    const n = b.length
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
              const i = next
              const gw = b.gateway[i]!
              const k = b.kind[i]!
              // metric 0 is the kernel's default on add; deletes keep it so they match exactly
              const metric = k !== OP.DELETE && b.metric[i] === 0 ? -1 : b.metric[i]!
              if (off + routeFieldsSize(metric, gw, -1, b.table) > CHUNK) break
              const type = k === OP.DELETE ? RTM.DELROUTE : RTM.NEWROUTE
              const flags = k === OP.DELETE ? NLM_F.REQUEST
                : k === OP.REPLACE ? NLM_F.REQUEST | NLM_F.CREATE | NLM_F.REPLACE
                  : NLM_F.REQUEST | NLM_F.CREATE | NLM_F.EXCL
              lastOff = off
              off = encodeRouteFields(buf, off, type, flags, (base + i) >>> 0, b.addr[i]!, b.len[i]!, b.table, b.protocol, metric, gw)
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

  /** Kinds of a batch, for messages. */
  static kindName(k: number): RouteOpKind {
    return OP_KINDS[k] ?? 'add'
  }
}

export interface RouteEvent {
  kind: 'new' | 'del'
  route: KernelRoute
}

/**
 * Listens to IPv4 route changes (RTNLGRP_IPV4_ROUTE) so fabric notices a
 * route of its own deleted or changed by hand, or a foreign route appearing.
 */
export class RouteMonitor {
  private readonly sock: RawNetlinkSocket
  private paused = false

  constructor(onEvent: (e: RouteEvent) => void, onOverrun: () => void) {
    this.sock = new RawNetlinkSocket(NETLINK_ROUTE, { recvBufferSize: 4 << 20 } as never)
    this.sock.addMembership(RTNLGRP.IPV4_ROUTE)
    // nothing may throw back into the native binding
    this.sock.on('message', (buf: Buffer) => {
      try {
        if (this.paused) return
        const split = splitMessages(buf)
        if (!split.ok) return onOverrun()
        for (const m of split.value) {
          if (m.type !== RTM.NEWROUTE && m.type !== RTM.DELROUTE) continue
          const r = decodeRoute(m.payload)
          if (r.ok && r.value) onEvent({ kind: m.type === RTM.NEWROUTE ? 'new' : 'del', route: r.value })
        }
      } catch {
        onOverrun()
      }
    })
    // ENOBUFS: events were lost; the caller does a full reconcile
    this.sock.on('error', () => {
      try {
        onOverrun()
      } catch {
        /* ignore */
      }
    })
    this.sock.unref()
  }

  /** Stops receiving events (during fabric's own large batches); resume() rejoins. */
  pause(): void {
    if (this.paused) return
    this.paused = true
    try {
      this.sock.dropMembership(RTNLGRP.IPV4_ROUTE)
    } catch {
      /* closed */
    }
  }

  resume(): void {
    if (!this.paused) return
    this.paused = false
    try {
      this.sock.addMembership(RTNLGRP.IPV4_ROUTE)
    } catch {
      /* closed */
    }
  }

  close(): void {
    this.sock.close()
  }
}
